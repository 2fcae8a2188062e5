#!/usr/bin/env python3
"""Devnet control costs: snapshot, revert, snapshot+revert per test, and a withdrawal finalized by mining.

Starts a detached devnet (one executor) in a temporary directory, lets the sequencer build
`--blocks` L2 blocks (at `--block-time-ms`, fast by default so 1,000 blocks take ~20 s), then:

- takes `--rounds` snapshots through the control endpoint (node.devnet.handle): wall time each,
  and the controller's own split (processes frozen, files copied / hard-linked);
- reverts `--rounds` times to the first snapshot, `--gap` seconds apart (a test's body: the control
  endpoint's pre-imported standbys, node.devnet.warm, are ready again by then; back to back, a revert
  waits for their imports): wall time each and the controller's split (kill, restore the data dirs,
  each process's seconds until it answers /health and JSON-RPC);
- snapshot + revert: what a test isolated by snapshot/revert (fn_isolation) pays;
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
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.crypto import to_checksum_address  # noqa: E402
from node.devnet.handle import Devnet  # noqa: E402
from node.devnet.ports import find_free_base_port  # noqa: E402
from node.devnet.waiting import Deadline  # noqa: E402
from node.devnet.withdrawal_journey import complete_withdrawal  # noqa: E402
from node.keys.hd import dev_account  # noqa: E402
from node.rpc.client import SyncRpcClient  # noqa: E402
from node.tx import Withdrawal, sign_tx  # noqa: E402

ROLLUP = [str(Path(sys.executable).parent / "rollup")]


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_devnet(directory: Path, block_time_ms: int) -> float:
    base = find_free_base_port(1, start=30000)
    began = time.monotonic()
    command = [*ROLLUP, "devnet", "up", "--detach", "--executors", "1", "--dir", str(directory)]
    command += ["--base-port", str(base), "--block-time-ms", str(block_time_ms)]
    subprocess.run(command, check=True, capture_output=True, timeout=180)
    return time.monotonic() - began


def head(devnet: Devnet) -> int:
    return int(SyncRpcClient(devnet.endpoints["sequencer"]).call("rollup_syncStatus")["unsafe"]["number"])


def wait_blocks(devnet: Devnet, blocks: int) -> int:
    while (number := head(devnet)) < blocks:
        say(f"L2 head {number} / {blocks}")
        time.sleep(2.0)
    return number


def median(values: list[float]) -> float:
    return round(statistics.median(values), 4)


def measure_snapshots(devnet: Devnet, rounds: int) -> tuple[str, dict[str, Any]]:
    walls, frozen, server = [], [], []
    first = ""
    for index in range(rounds):
        began = time.monotonic()
        snap = devnet.snapshot()
        walls.append(time.monotonic() - began)
        info = devnet.call("devnet_snapshotInfo")
        frozen.append(info["frozenSeconds"])
        server.append(info["seconds"])
        first = first or snap
        say(
            f"snapshot {snap}: {walls[-1] * 1000:.0f} ms (frozen {info['frozenSeconds'] * 1000:.0f} ms, "
            f"{info['files']} files, {info['linked']} linked, {info['bytesCopied']} bytes copied)"
        )
        if index == 0:
            copied = {"files": info["files"], "linked": info["linked"], "bytes_copied": info["bytesCopied"]}
    return first, {
        "snapshot_s": median(walls),
        "snapshot_frozen_s": median(frozen),
        "snapshot_server_s": median(server),
        **copied,
    }


def measure_reverts(devnet: Devnet, snap: str, rounds: int, gap: float) -> dict[str, Any]:
    walls: list[float] = []
    splits: dict[str, list[float]] = {}
    for _ in range(rounds):
        time.sleep(gap)  # a test's body: the control endpoint's standbys finish importing meanwhile
        began = time.monotonic()
        result = devnet.revert(snap)
        walls.append(time.monotonic() - began)
        for key, value in result["timings"].items():
            splits.setdefault(key, []).append(value)
        say(f"revert to {snap}: {walls[-1] * 1000:.0f} ms {result['timings']}")
    return {"revert_s": median(walls), **{f"revert_{key}_s": median(values) for key, values in splits.items()}}


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
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-control-") as tmp:
        directory = args.dir or Path(tmp) / "net"
        try:
            if args.dir is None:
                results["up_s"] = round(start_devnet(directory, args.block_time_ms), 3)
                say(f"devnet up in {results['up_s']} s")
            devnet = Devnet.from_dir(directory)
            results["l2_blocks"] = wait_blocks(devnet, args.blocks)
            snap, snapshots = measure_snapshots(devnet, args.rounds)
            results.update(snapshots)
            results.update(measure_reverts(devnet, snap, args.rounds, args.gap))
            results["revert_gap_s"] = args.gap
            results["snapshot_plus_revert_s"] = round(results["snapshot_s"] + results["revert_s"], 4)
            results.update(withdrawal_journey(devnet, args.mine_chunk))
        finally:
            if args.dir is None:
                subprocess.run([*ROLLUP, "devnet", "down", "--dir", str(directory)], capture_output=True, timeout=120)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
