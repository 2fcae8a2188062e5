#!/usr/bin/env python3
"""Devnet control costs: `devnet up`, snapshot, revert, snapshot+revert per test, and a withdrawal finalized by mining.

Times `rollup devnet up --detach --executors 1` `--up-runs` times (each brought down again but the
last; median, min and max), with each run's steps in seconds from the CLI's launch (config writing
and fork server start, each preload, each process forked and answering, the first seal, the first
batch sent and in an L1 block, the executor's first safe block, the venue seeded, the CLI's exit),
from the fork server's and the processes' logs and the CLI's own stamped lines, and each step's
median. `--up-compare TREE` alternates the runs with another source tree (A/B in one sitting);
`--up-only` stops there.
Then, on the last devnet, lets the sequencer build
`--blocks` L2 blocks (at `--block-time-ms`, fast by default so 1,000 blocks take ~20 s), then:

- takes `--rounds` snapshots through the control endpoint (node.devnet.handle): wall time each,
  and the controller's own split (processes frozen, files copied / hard-linked);
- reverts `--rounds` times to the first snapshot, `--gap` seconds apart (a test's body: the control
  endpoint's pre-imported standbys, node.devnet.warm, are ready again by then; back to back, a revert
  waits for their imports): wall time each and the controller's split (kill, restore the data dirs,
  each process's seconds until it answers /health and JSON-RPC);
- snapshot + revert: what a test isolated by snapshot/revert (fn_isolation) pays; and measured so: a
  pytest run (`--isolated-tests` tests using the plugin's fn_isolation, as many without it, on this
  devnet through --rollup-devnet) gives each test's time with setup and teardown (JUnit XML): the
  median isolated test less the median plain one; `--fn-runs` such runs give a median and a range;

Snapshots and reverts take the in-process path (node.devnet.inproc: every role checkpoints or swaps
its own store and keeps running) where every process can; `--no-inproc` starts the devnet with
ROLLUP_DEVNET_NO_INPROC=1, so its control endpoint freezes/kills and restarts instead (to compare).
Which path each process took is reported (`snapshot_paths`, `revert_paths`; in place, `revert_ways`:
"undo" when its stores were rewound by the undo log, "swap" when its data dir was exchanged and
reopened), with the median, min and max of every figure over the rounds (each role's revert steps as
`revert_inproc_<name>_<step>_s`). `--fn-compare-dir DIR` alternates the fn_isolation runs with those
of a second running devnet (one started with ROLLUP_DEVNET_NO_UNDO=1 compares against swap-and-reopen).
- the withdrawal journey with the handle and node.devnet.withdrawal_journey: deposit 1 eth from
  dev1's L1 account to L2, withdraw 0.5 eth, mine L1 blocks (in chunks of `--mine-chunk`, so the
  batcher stays inside its sequencing window) until the output covering it has passed the challenge
  window, prove and finalize it on L1: wall time from the deposit to the L1 payout.

Prints progress on stderr and one final JSON line on stdout. `--dir` uses a running devnet instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.crypto import to_checksum_address  # noqa: E402
from node.devnet.handle import Devnet  # noqa: E402
from node.devnet.ports import random_free_base_port  # noqa: E402
from node.devnet.snapshot_ops import NO_INPROC_ENV  # noqa: E402
from node.devnet.waiting import Deadline  # noqa: E402
from node.devnet.withdrawal_journey import complete_withdrawal  # noqa: E402
from node.keys.hd import dev_account  # noqa: E402
from node.rpc.client import SyncRpcClient  # noqa: E402
from node.tx import Withdrawal, sign_tx  # noqa: E402

ROLLUP = [str(Path(sys.executable).parent / "rollup")]


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_devnet(
    directory: Path, block_time_ms: int, in_process: bool = True, tree: Path | None = None
) -> tuple[float, list[tuple[float, str]]]:
    """`devnet up --detach` (from the source tree `tree` when given); its wall time and its stderr lines,
    each stamped (epoch seconds) as it arrived."""
    base = random_free_base_port(1)
    command = [*(ROLLUP if tree is None else [sys.executable, "-m", "node.cli.main"])]
    command += ["devnet", "up", "--detach", "--executors", "1", "--dir", str(directory)]
    command += ["--base-port", str(base), "--block-time-ms", str(block_time_ms)]
    env = {**os.environ, **({} if in_process else {NO_INPROC_ENV: "1"})}
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    lines: list[tuple[float, str]] = []
    began = time.monotonic()
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tree, text=True
    ) as popen:
        for line in popen.stderr or ():
            lines.append((time.time(), line.rstrip("\n")))
        code = popen.wait(timeout=180)
    wall = time.monotonic() - began
    if code != 0:
        raise RuntimeError(f"devnet up exited with {code}: " + "\n".join(text for _, text in lines[-20:]))
    return wall, lines


def stop_devnet(directory: Path) -> None:
    subprocess.run([*ROLLUP, "devnet", "down", "--dir", str(directory)], capture_output=True, timeout=120)


# (step name, log file stem, the first line containing this text); the step's time is that line's stamp
LOG_STEPS: tuple[tuple[str, str, str], ...] = (
    ("forkserver listening", "forkserver", " listening on "),
    ("l1 forked", "forkserver", "forked l1 "),
    ("l1 rpc", "l1", "listening on http"),
    ("sequencer forked", "forkserver", "forked sequencer "),
    ("sequencer first seal", "sequencer", "sealed L2 block"),
    ("sequencer rpc", "sequencer", "listening on http"),
    ("settler forked", "forkserver", "forked settler "),
    ("settler rpc", "settler", "listening on http"),
    ("executor-0 forked", "forkserver", "forked executor-0 "),
    ("executor-0 rpc", "executor-0", "listening on http"),
    ("challenger forked", "forkserver", "forked challenger "),
    ("challenger rpc", "challenger", "listening on http"),
    ("control forked", "forkserver", "forked control "),
    ("control rpc", "control", "listening on http"),
    ("settler first batch sent", "settler", "sent batch of L2 blocks"),
    ("l1 first batch block", "l1", " batches"),
    ("executor-0 first safe", "executor-0", "derived L2 blocks"),
)
# (step name, the first `devnet up` stderr line starting with this text)
CLI_STEPS: tuple[tuple[str, str], ...] = (
    ("cli first line", ""),
    ("cli: l1 ready", "ready: l1"),
    ("cli: sequencer ready", "ready: sequencer"),
    ("cli: the rest ready", "ready: settler"),
    ("cli: venue seeded", "venue: "),
    ("cli: exit", "\x00"),  # the end of its stderr
)


def _log_stamp(line: str) -> float | None:
    import datetime as dt

    try:
        stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
    except ValueError:
        return None
    return stamp.astimezone(dt.UTC).timestamp()


def up_timeline(directory: Path, origin: float, cli: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Seconds from `origin` (epoch: the CLI's launch) to each step of `devnet up` (LOG_STEPS, CLI_STEPS)."""
    steps: dict[str, float] = {}
    logs = {path.stem: path.read_text().splitlines() for path in (directory / "logs").glob("*.log")}
    for name, stem, text in LOG_STEPS:
        for line in logs.get(stem, []):
            stamp = _log_stamp(line)
            if stamp is not None and text in line:
                steps[name] = stamp - origin
                break
    for line in logs.get("forkserver", []):  # the end of each preload
        stamp = _log_stamp(line)
        if stamp is not None and " preloaded " in line:
            steps["preloaded " + line.split(" preloaded ", 1)[1].split(" in ")[0]] = stamp - origin
    for name, prefix in CLI_STEPS:
        if prefix == "\x00":
            steps[name] = end - origin
            continue
        stamp_text = next(((stamp, text) for stamp, text in cli if text.startswith(prefix)), None)
        if stamp_text is not None:
            steps[name] = stamp_text[0] - origin
    return {name: round(value, 3) for name, value in sorted(steps.items(), key=lambda item: item[1])}


def measure_up(
    directory: Path, block_time_ms: int, runs: int, in_process: bool = True, compare: Path | None = None
) -> dict[str, Any]:
    """`devnet up` `runs` times (all but the last brought down again); the last devnet stays up.

    With `compare` (another source tree, e.g. a `git worktree` of the old code), runs alternate
    between it (odd) and this tree (even, the last one), for A/B figures from one sitting.
    """
    walls: dict[str, list[float]] = {"this": [], "compare": []}
    timelines: dict[str, list[dict[str, float]]] = {"this": [], "compare": []}
    for index in range(runs):
        which = "compare" if compare is not None and (runs - 1 - index) % 2 == 1 else "this"
        run_dir = directory if index == runs - 1 else directory.with_name(f"{directory.name}-up{index}")
        origin = time.time()
        wall, cli = start_devnet(run_dir, block_time_ms, in_process, compare if which == "compare" else None)
        timeline = up_timeline(run_dir, origin, cli, origin + wall)
        walls[which].append(wall)
        timelines[which].append(timeline)
        load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
        say(f"devnet up {index + 1}/{runs} ({which}): {wall:.2f} s, load {load}; steps (s from launch): {timeline}")
        if run_dir != directory:
            stop_devnet(run_dir)
    results: dict[str, Any] = {
        "up_s": median(walls["this"]),
        "up_min_s": round(min(walls["this"]), 3),
        "up_max_s": round(max(walls["this"]), 3),
        "up_runs": [round(wall, 3) for wall in walls["this"]],
        "up_steps_median_s": median_steps(timelines["this"]),
    }
    if walls["compare"]:
        results.update(
            {
                "up_compare_s": median(walls["compare"]),
                "up_compare_min_s": round(min(walls["compare"]), 3),
                "up_compare_max_s": round(max(walls["compare"]), 3),
                "up_compare_runs": [round(wall, 3) for wall in walls["compare"]],
                "up_compare_steps_median_s": median_steps(timelines["compare"]),
            }
        )
    return results


def median_steps(timelines: list[dict[str, float]]) -> dict[str, float]:
    """Each step's median over the runs that logged it, in time order."""
    names = {name for timeline in timelines for name in timeline}
    steps = {name: median([t[name] for t in timelines if name in t]) for name in names}
    return dict(sorted(steps.items(), key=lambda item: item[1]))


ISOLATION_TESTS = """
import pytest


@pytest.mark.parametrize("index", range({count}))
def test_isolated(fn_isolation, rollup_client, index):
    assert rollup_client.chain_id() > 0


@pytest.mark.parametrize("index", range({count}))
def test_plain(rollup_client, index):
    assert rollup_client.chain_id() > 0
"""


def measure_fn_isolation(directory: Path, count: int) -> dict[str, Any]:
    """Per-test cost of the plugin's fn_isolation: pytest's time for an isolated test less a plain one's."""
    with tempfile.TemporaryDirectory(prefix="bench-isolation-") as tmp:
        module = Path(tmp) / "test_isolation_cost.py"
        module.write_text(ISOLATION_TESTS.replace("{count}", str(count)))
        report = Path(tmp) / "report.xml"
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)]
        command += ["--rollup-devnet", str(directory), f"--junitxml={report}", "-o", "junit_duration_report=total"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp)
        if run.returncode != 0:
            raise SystemExit(f"the fn_isolation run failed:\n{run.stdout}{run.stderr}")
        times: dict[str, list[float]] = {"isolated": [], "plain": []}
        for case in ElementTree.parse(report).iter("testcase"):
            kind = "isolated" if case.get("name", "").startswith("test_isolated") else "plain"
            times[kind].append(float(case.get("time", "0")))
    isolated, plain = times["isolated"][1:], times["plain"]  # the first isolated test also takes the snapshot
    say(
        f"fn_isolation: isolated tests {[round(t, 3) for t in times['isolated']]}, plain {[round(t, 3) for t in plain]}"
    )
    return {
        "fn_isolation_first_test_s": round(times["isolated"][0], 4),
        "fn_isolation_test_s": median(isolated),
        "plain_test_s": median(plain),
        "fn_isolation_per_test_s": round(median(isolated) - median(plain), 4),
    }


def head(devnet: Devnet) -> int:
    return int(SyncRpcClient(devnet.endpoints["sequencer"]).call("rollup_syncStatus")["unsafe"]["number"])


def wait_blocks(devnet: Devnet, blocks: int) -> int:
    while (number := head(devnet)) < blocks:
        say(f"L2 head {number} / {blocks}")
        time.sleep(2.0)
    return number


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def spread(name: str, values: list[float]) -> dict[str, float]:
    """{name: median, name_min, name_max} of `values` (seconds)."""
    return {name: median(values), f"{name}_min": round(min(values), 4), f"{name}_max": round(max(values), 4)}


def measure_snapshots(devnet: Devnet, rounds: int) -> tuple[str, dict[str, Any]]:
    walls, frozen, server = [], [], []
    first = ""
    paths: dict[str, str] = {}
    for index in range(rounds):
        began = time.monotonic()
        snap = devnet.snapshot()
        walls.append(time.monotonic() - began)
        info = devnet.call("devnet_snapshotInfo")
        frozen.append(info["frozenSeconds"])
        server.append(info["seconds"])
        first = first or snap
        paths = info.get("paths") or {}
        say(
            f"snapshot {snap}: {walls[-1] * 1000:.0f} ms (held or frozen {info['frozenSeconds'] * 1000:.0f} ms, "
            f"{info['files']} files, {info['linked']} linked, {info['bytesCopied']} bytes copied; paths {paths})"
        )
        if index == 0:
            copied = {"files": info["files"], "linked": info["linked"], "bytes_copied": info["bytesCopied"]}
    return first, {
        **spread("snapshot_s", walls),
        "snapshot_frozen_s": median(frozen),
        "snapshot_server_s": median(server),
        "snapshot_paths": paths,
        **copied,
    }


def measure_reverts(devnet: Devnet, snap: str, rounds: int, gap: float) -> dict[str, Any]:
    walls: list[float] = []
    splits: dict[str, list[float]] = {}
    paths: dict[str, str] = {}
    ways: dict[str, str] = {}
    for _ in range(rounds):
        time.sleep(gap)  # a test's body: the control endpoint's standbys finish importing meanwhile
        began = time.monotonic()
        result = devnet.revert(snap)
        walls.append(time.monotonic() - began)
        paths = result.get("paths") or {}
        ways = result.get("ways") or {}  # in place: "undo" (stores rewound in the open store) or "swap"
        for key, value in result["timings"].items():
            if isinstance(value, int | float):
                splits.setdefault(key, []).append(value)
        say(f"revert to {snap}: {walls[-1] * 1000:.0f} ms {result['timings']}")
    return {
        **spread("revert_s", walls),
        "revert_paths": paths,
        "revert_ways": ways,
        **{f"revert_{key}_s": median(values) for key, values in splits.items()},
    }


def withdrawal_journey(devnet: Devnet, mine_chunk: int) -> dict[str, Any]:
    from l1.contracts.client import L1Client
    from l1.contracts.payloads import Deposit

    key = dev_account(1)
    who = to_checksum_address(key.address)
    l2 = SyncRpcClient(devnet.endpoints["sequencer"])
    l1_rpc = devnet.endpoints["l1"]
    began = time.monotonic()
    before = int(l2.call("rollup_getBalance", who, "latest"))

    async def deposit() -> None:
        async with L1Client(l1_rpc) as l1:
            await l1.send_tx(key, Deposit(key.address), 10**18, None)

    asyncio.run(deposit())
    while int(l2.call("rollup_getBalance", who, "latest")) < before + 10**18:
        devnet.mine(1)
        time.sleep(0.05)
    deposited = time.monotonic() - began
    say(f"deposit credited on L2 after {deposited:.2f} s")
    nonce = int(l2.call("rollup_getNonce", who, "latest"))
    tx = sign_tx(key, 901, nonce, 10**9, Withdrawal(key.address, 5 * 10**17))
    withdrawal = str(l2.call("rollup_sendRawTransaction", "0x" + tx.encode().hex()))
    done = threading.Event()

    def miner() -> None:
        while not done.is_set():
            devnet.mine(mine_chunk)
            time.sleep(0.1)

    thread = threading.Thread(target=miner, daemon=True)
    thread.start()
    try:
        result = complete_withdrawal(l1_rpc, devnet.endpoints["challengers"][0], key, withdrawal, Deadline(180.0), say)
    finally:
        done.set()
        thread.join()
    total = time.monotonic() - began
    say(f"withdrawal paid on L1 after {total:.2f} s (output {result['outputIndex']})")
    return {
        "journey_s": round(total, 3),
        "journey_deposit_s": round(deposited, 3),
        "journey_paid": bool(result["paid"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="a running devnet (default: start one in a temporary directory)")
    parser.add_argument("--blocks", type=int, default=1000, help="L2 blocks before measuring (default 1000)")
    parser.add_argument("--block-time-ms", type=int, default=20, help="L2 block time of the started devnet")
    parser.add_argument("--rounds", type=int, default=5, help="snapshots and reverts measured (default 5)")
    parser.add_argument(
        "--gap", type=float, default=5.0, help="seconds between reverts, as a test body would take (default 5)"
    )
    parser.add_argument("--mine-chunk", type=int, default=4, help="L1 blocks per devnet_mine call (default 4)")
    parser.add_argument("--up-runs", type=int, default=5, help="`devnet up` runs timed (default 5)")
    parser.add_argument("--up-only", action="store_true", help="time `devnet up` only (then stop)")
    parser.add_argument(
        "--up-compare",
        type=Path,
        help="another source tree (e.g. a git worktree of older code): `devnet up` runs alternate between it and this",
    )
    parser.add_argument("--isolated-tests", type=int, default=10, help="fn_isolation tests timed (default 10)")
    parser.add_argument("--fn-runs", type=int, default=3, help="pytest runs timing fn_isolation (default 3)")
    parser.add_argument(
        "--fn-compare-dir",
        type=Path,
        help="a second running devnet (e.g. started with ROLLUP_DEVNET_NO_UNDO=1: swap-and-reopen reverts) whose "
        "fn_isolation runs alternate with this one's (compare_fn_isolation_per_test_s)",
    )
    parser.add_argument(
        "--no-inproc", action="store_true", help="start the devnet with the freeze / kill-and-restart path only"
    )
    parser.add_argument("--skip-journey", action="store_true", help="leave out the withdrawal journey")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-control-") as tmp:
        directory = args.dir or Path(tmp) / "net"
        try:
            if args.dir is None:
                results.update(
                    measure_up(directory, args.block_time_ms, max(1, args.up_runs), not args.no_inproc, args.up_compare)
                )
                say(f"devnet up: median {results['up_s']} s, {results['up_min_s']}..{results['up_max_s']} s")
                if "up_compare_s" in results:
                    say(
                        f"devnet up ({args.up_compare}): median {results['up_compare_s']} s, "
                        f"{results['up_compare_min_s']}..{results['up_compare_max_s']} s"
                    )
                results["fork_server"] = os.environ.get("ROLLUP_DEVNET_NO_FORK", "") in ("", "0")
            if args.up_only:
                print(json.dumps(results))
                return 0
            devnet = Devnet.from_dir(directory)
            results["l2_blocks"] = wait_blocks(devnet, args.blocks)
            snap, snapshots = measure_snapshots(devnet, args.rounds)
            results.update(snapshots)
            results.update(measure_reverts(devnet, snap, args.rounds, args.gap))
            results["revert_gap_s"] = args.gap
            results["snapshot_plus_revert_s"] = round(results["snapshot_s"] + results["revert_s"], 4)
            if args.isolated_tests > 0:
                runs, other = [], []
                for _ in range(max(1, args.fn_runs)):  # interleaved with --fn-compare-dir's: A, B, A, B, ...
                    runs.append(measure_fn_isolation(directory, args.isolated_tests))
                    if args.fn_compare_dir is not None:
                        other.append(measure_fn_isolation(args.fn_compare_dir, args.isolated_tests))
                results.update(runs[-1])
                results.update(spread("fn_isolation_per_test_s", [run["fn_isolation_per_test_s"] for run in runs]))
                results["fn_isolation_runs"] = [run["fn_isolation_per_test_s"] for run in runs]
                if other:
                    results.update(
                        spread("compare_fn_isolation_per_test_s", [run["fn_isolation_per_test_s"] for run in other])
                    )
                    results["compare_fn_isolation_runs"] = [run["fn_isolation_per_test_s"] for run in other]
            if not args.skip_journey:
                results.update(withdrawal_journey(devnet, args.mine_chunk))
        finally:
            if args.dir is None:
                stop_devnet(directory)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
