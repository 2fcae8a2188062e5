#!/usr/bin/env python3
"""Chaos soak: a devnet under steady transfer load while its processes crash and restart.

Starts a fresh devnet in --dir (default: a temporary directory, kept with its logs when a check
fails), funds --senders fresh accounts and sends signed transfers at --rate per second for
--seconds (pre-signed on a process pool; one thread and one nonce stream per sender, so each
sender's transfers arrive in nonce order). It records every hash the sequencer acknowledged and
each receipt the sequencer served. Meanwhile, every --kill-every seconds it kill -9s a random
process (--roles; default the sequencer, the settler, each executor, the challenger and the L1)
and restarts it 0.5-2 s later through node.devnet.roles (what `rollup devnet restart` runs); once,
a third into the run, it stops the settler for --outage-seconds, longer than the sequencing window
read from the configs. Then it stops the load, waits until the sequencer's mempool drains and every
node's safe head reaches the sequencer's head (the common safe height H) and checks:

  acknowledged_accounted    every acknowledged transaction is included at or below H (its receipt on an
                            executor) or the sequencer reports it dropped with a reason
                            (rollup_getTransactionStatus); the rest are lost
  receipted_not_lost        every transaction the sequencer served a receipt for is included (dropped
                            with a reason does not excuse a soft confirmation), unless a heal replaced
                            its block and its sender then signed another included one with its nonce
  roots_agree               the sequencer, every executor and the challenger have the same block hash and
                            state root at H and at sampled heights (some around the outage)
  balances_conserved        at H: senders' + recipients' balances + fee x included transfers = the funding
  no_honest_output_defeated no output the settler proposed is `defeated` on L1
  roles_recovered           every restarted process became healthy and caught up

It prints its figures (kills per role; transactions acknowledged, included, dropped, lost; the
longest recovery, from a restart until the role is healthy and caught up) and one final JSON line
with all of them and `ok`. Exit code: 0 when every check holds, 1 when one fails, 2 when the soak
could not run (the devnet did not start, the funding did not land, the nodes never settled).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from bench_venue import percentile  # noqa: E402

from node.crypto import to_checksum_address  # noqa: E402
from node.devnet import params as p  # noqa: E402
from node.devnet.control import down  # noqa: E402
from node.devnet.errors import DevnetError  # noqa: E402
from node.devnet.layout import ROLE_CHALLENGER, ROLE_EXECUTOR, ROLE_L1, ROLE_SEQUENCER, DevnetLayout  # noqa: E402
from node.devnet.liveness import split_processes  # noqa: E402
from node.devnet.ports import random_free_base_port  # noqa: E402
from node.devnet.roles import restart_dead  # noqa: E402
from node.devnet.soak.chaos import Chaos, plan_chaos, sequencing_window_seconds  # noqa: E402
from node.devnet.soak.checks import (  # noqa: E402
    Check,
    SettleTimeout,
    check_balances,
    check_outputs,
    check_roots,
    check_transactions,
    sample_heights,
    settle,
    wait_stable,
)
from node.devnet.soak.load import (  # noqa: E402
    Accounts,
    FundingError,
    Ledger,
    NonceStream,
    ReceiptTracker,
    SenderThread,
    fund,
    sign_transfers,
)
from node.devnet.state import read_state, recorded_processes  # noqa: E402
from node.devnet.up import UpOptions, run_up  # noqa: E402
from node.keys.hd import dev_account  # noqa: E402
from node.rpc.client import SyncRpcClient  # noqa: E402

FEE = p.L2_MIN_FEE
FUNDING = 10**20  # per sender: ~10^11 transfers' fees
FUNDERS = (0, 1, 2, 3)
PROGRESS_EVERY_S = 10.0


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, help="devnet directory, started afresh (default: a temporary one)")
    ap.add_argument("--rate", type=float, default=300.0, help="offered transfers per second (default 300)")
    ap.add_argument("--senders", type=int, default=16, help="sender accounts, one thread each (default 16)")
    ap.add_argument("--seconds", type=float, default=300.0, help="seconds of load (default 300)")
    ap.add_argument("--kill-every", type=float, default=20.0, help="seconds between kills (default 20)")
    ap.add_argument(
        "--outage-seconds",
        type=float,
        help="the settler outage; must exceed the sequencing window (default: window + max(5 s, window/4))",
    )
    ap.add_argument("--seed", type=int, help="seeds the kill plan and the accounts (default: random, printed)")
    ap.add_argument("--roles", help="comma-separated processes to kill from (default: every one the devnet has)")
    ap.add_argument("--executors", type=int, default=2, help="executors of the devnet (default 2)")
    ap.add_argument(
        "--l1-block-time-ms",
        type=int,
        help=f"the devnet's L1 block time (default {p.L1_BLOCK_TIME_MS}); the sequencing window is "
        f"{p.SEQUENCING_WINDOW} L1 blocks",
    )
    ap.add_argument(
        "--drain-seconds",
        type=float,
        default=180.0,
        help="how long to wait for the mempool to drain and the safe heads to catch up (default 180)",
    )
    ap.add_argument("--keep", action="store_true", help="leave the devnet running at the end")
    args = ap.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.kill_every <= 0 or args.senders < 1:
        ap.error("--rate, --seconds and --kill-every must be positive, --senders at least 1")
    return args


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def start_devnet(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    """A fresh detached devnet in `directory` (node.devnet.up, as `rollup devnet up --detach --reset`)."""
    base = random_free_base_port(args.executors)
    options = UpOptions(
        directory=directory,
        executors=args.executors,
        base_port=base,
        l1_block_time_ms=args.l1_block_time_ms,
        detach=True,
        reset=True,
    )
    ready: dict[str, Any] = {}
    code = run_up(options, lambda state, seconds: ready.update(state, _seconds=seconds), lambda line: None)
    if code != 0 or not ready:
        raise DevnetError(f"devnet up exited with {code}")
    progress(f"devnet up in {ready['_seconds']:.1f} s in {directory} (base port {base})")
    return ready


class Soak:
    """One run: the devnet's endpoints, the load's threads, the chaos thread, and the figures they leave."""

    def __init__(self, args: argparse.Namespace, directory: Path, seed: int) -> None:
        self.args, self.directory, self.seed = args, directory, seed
        self.layout = DevnetLayout.at(directory)
        specs = [spec for spec, _ in recorded_processes(read_state(self.layout))]
        self.urls = {spec.name: spec.rpc for spec in specs}
        self.sequencer = next(s.rpc for s in specs if s.role == ROLE_SEQUENCER)
        self.executors = [s.rpc for s in specs if s.role == ROLE_EXECUTOR]
        self.l1 = next(s.rpc for s in specs if s.role == ROLE_L1)
        self.l2_nodes = {
            s.name: s.rpc for s in specs if s.role in (ROLE_SEQUENCER, ROLE_EXECUTOR) or s.name == "challenger"
        }
        roles = [s.name for s in specs if s.role != ROLE_CHALLENGER or s.name == "challenger"]
        self.roles = args.roles.split(",") if args.roles else roles
        unknown = sorted(set(self.roles) - set(roles))
        if unknown:
            raise DevnetError(f"--roles names {', '.join(unknown)}; the devnet has {', '.join(roles)}")
        self.window_s = sequencing_window_seconds(self.layout)
        self.outage_s = args.outage_seconds or self.window_s + max(5.0, self.window_s / 4)
        if self.outage_s <= self.window_s:
            raise DevnetError(
                f"--outage-seconds {self.outage_s:.0f} must exceed the sequencing window ({self.window_s:.0f} s)"
            )
        self.accounts = Accounts.derive(seed, args.senders)
        self.ledger = Ledger()

    def presign(self, pool: Any, chain_id: int) -> list[NonceStream]:
        per_sender = math.ceil(self.args.rate * self.args.seconds / self.args.senders * 1.05) + 64
        jobs = [
            (k.secret, chain_id, FEE, bytes(r), 0, 0, per_sender)
            for k, r in zip(self.accounts.senders, self.accounts.recipients)
        ]
        began = time.monotonic()
        signed = pool.map(sign_transfers, jobs)
        pool.close()
        progress(f"signed {per_sender * len(jobs):,} transfers in {time.monotonic() - began:.1f} s")
        return [NonceStream(job, txs) for job, txs in zip(jobs, signed)]

    def run(self, pool: Any) -> dict[str, Any]:
        args = self.args
        client = SyncRpcClient(self.sequencer)
        chain_id = int(client.call("rollup_chainId"))
        stable = wait_stable(self.sequencer, 120.0, progress)
        progress(f"L2 block {stable} safe as sealed: the settler's batches land within the window")
        fund(client, chain_id, FEE, [dev_account(i) for i in FUNDERS], self.accounts.senders, FUNDING)
        streams = self.presign(pool, chain_id)
        plan = plan_chaos(random.Random(self.seed), self.roles, args.seconds, args.kill_every, self.outage_s)
        progress(
            f"sequencing window {self.window_s:.1f} s, settler outage {self.outage_s:.1f} s; plan: "
            + ", ".join(f"{e.at:.0f}s {e.role}{' (outage)' if e.outage else ''}" for e in plan)
        )
        stop_load, stop_tracker, stop_chaos = threading.Event(), threading.Event(), threading.Event()
        t0 = time.monotonic() + 0.5
        rate = args.rate / args.senders
        senders = [
            SenderThread(
                i,
                stream,
                to_checksum_address(key.address),
                self.sequencer,
                rate,
                i / args.senders,
                t0,
                self.ledger,
                stop_load,
            )
            for i, (stream, key) in enumerate(zip(streams, self.accounts.senders))
        ]
        tracker = ReceiptTracker(self.sequencer, self.ledger, stop_tracker)
        chaos = Chaos(self.directory, plan, t0, stop_chaos, progress)
        for thread in [*senders, tracker, chaos]:
            thread.start()
        self._watch_load(t0, args.seconds)
        stop_load.set()
        for thread in senders:
            thread.join()
        load_s = time.monotonic() - t0
        chaos.finish()
        self._restart_anything_down()
        progress("load stopped; waiting for the devnet to settle")
        try:
            settled = settle(self.l2_nodes, self.sequencer, args.drain_seconds, progress, list(self.ledger.acks))
        finally:
            stop_tracker.set()
            tracker.join()
        checks = self.check(settled.height, chaos)
        gap, gap_at = longest_gap([r.at for r in list(self.ledger.receipts.values())], t0, t0 + load_s)
        return {
            **self.figures(load_s, settled.height, chaos, checks),
            "stranded_in_mempool": settled.stranded,
            "longest_receipt_gap_s": gap,
            "longest_receipt_gap_at_s": gap_at,
        }

    def _watch_load(self, t0: float, seconds: float) -> None:
        next_report = t0 + PROGRESS_EVERY_S
        while time.monotonic() < t0 + seconds:
            time.sleep(min(1.0, max(0.0, t0 + seconds - time.monotonic())))
            if time.monotonic() >= next_report:
                next_report += PROGRESS_EVERY_S
                ledger = self.ledger
                elapsed = time.monotonic() - t0
                progress(
                    f"[{elapsed:6.1f} s] offered {ledger.offered:,}, acknowledged {len(ledger.acks):,} "
                    f"({len(ledger.acks) / elapsed:.0f}/s), receipted {len(ledger.receipts):,}, "
                    f"rejected {sum(ledger.rejections.values()):,}, failed sends {ledger.failed_sends}, "
                    f"stream restarts {ledger.resyncs}+{ledger.unstuck}"
                )

    def _restart_anything_down(self) -> None:
        _, dead = split_processes(read_state(self.layout))
        if dead:
            progress(f"restarting what is still down: {', '.join(spec.name for spec in dead)}")
            restart_dead(self.layout, progress)

    def check(self, height: int, chaos: Chaos) -> list[Check]:
        executor = self.executors[0]
        outage = sorted(chaos.outage_heads.values())
        around = [h + d for h in outage for d in (-1, 0, 1)]
        if len(outage) == 2:
            around.append((outage[0] + outage[1]) // 2)
        heights = sample_heights(random.Random(self.seed), height, around)
        proposer = to_checksum_address(dev_account(int(p.PROPOSER_KEY[3:])).address)
        recovered = Check(
            "roles_recovered",
            all(r.recovered_s is not None for r in chaos.recoveries),
            {"not_recovered": [r.to_json() for r in chaos.recoveries if r.recovered_s is None]},
        )
        return [
            *check_transactions(self.ledger, executor, self.sequencer, height, chaos.kill_times(ROLE_SEQUENCER)),
            check_roots(self.l2_nodes, heights),
            check_balances(executor, self.accounts.addresses(), self.args.senders, FUNDING, FEE, height),
            check_outputs(self.l1, proposer, executor, height),
            recovered,
        ]

    def figures(self, load_s: float, height: int, chaos: Chaos, checks: list[Check]) -> dict[str, Any]:
        ledger, args = self.ledger, self.args
        tx = {**checks[0].figures, **checks[1].figures}
        kills = [r for r in chaos.recoveries if not r.outage]
        outage = next((r for r in chaos.recoveries if r.outage), None)
        recovered = [r for r in chaos.recoveries if r.recovered_s is not None]
        longest = max(recovered, key=lambda r: r.recovered_s or 0.0, default=None)
        soft = sorted(ledger.receipts[h].at - a.at for h, a in list(ledger.acks.items()) if h in ledger.receipts)
        return {
            "ok": all(c.ok for c in checks),
            "checks": {c.name: c.ok for c in checks},
            "seed": self.seed,
            "seconds": round(load_s, 1),
            "rate": args.rate,
            "senders": args.senders,
            "offered": ledger.offered,
            "shed": ledger.shed,
            "failed_sends": ledger.failed_sends,
            "stream_restarts": ledger.resyncs,
            "stuck_stream_restarts": ledger.unstuck,
            "acknowledged_per_s": round(len(ledger.acks) / load_s, 1),
            "included_per_s": round(tx["included"] / load_s, 1),
            **{
                k: tx[k]
                for k in (
                    "acknowledged",
                    "receipted_by_sequencer",
                    "included",
                    "included_skipped",
                    "dropped",
                    "dropped_reasons",
                    "lost",
                    "lost_receipted",
                    "lost_sequencer_says",
                    "receipted_not_included",
                )
            },
            "rejections": dict(ledger.rejections.most_common()),
            "receipt_after_ack_p50_s": round(percentile(soft, 50) or 0.0, 3),
            "receipt_after_ack_p99_s": round(percentile(soft, 99) or 0.0, 3),
            "kills": {role: sum(1 for r in kills if r.role == role) for role in sorted({r.role for r in kills})},
            "sequencing_window_s": self.window_s,
            "settler_outage": outage.to_json() if outage else None,
            "longest_recovery_s": longest.recovered_s if longest else None,
            "longest_recovery_role": longest.role if longest else None,
            "median_recovery_s": round(statistics.median(r.recovered_s or 0.0 for r in recovered), 2)
            if recovered
            else None,
            "safe_height": height,
            "recoveries": [r.to_json() for r in chaos.recoveries],
            "details": {c.name: c.figures for c in checks},
        }


def longest_gap(times: list[float], start: float, end: float) -> tuple[float, float]:
    """The longest stretch of [start, end] without one of `times`: (its seconds, where it began after `start`)."""
    points = [start, *sorted(t for t in times if start < t < end), end]
    gap, at = max((b - a, a) for a, b in zip(points, points[1:]))
    return round(gap, 2), round(at - start, 1)


def print_summary(result: dict[str, Any]) -> None:
    kills = ", ".join(f"{role} {n}" for role, n in result["kills"].items()) or "none"
    outage = result["settler_outage"]
    lines = [
        f"soak: {result['seconds']:.0f} s at {result['rate']:.0f} transfers/s offered from {result['senders']} senders "
        f"(seed {result['seed']})",
        f"  kills: {kills}; settler outage {outage['down_s'] if outage else '-'} s "
        f"(sequencing window {result['sequencing_window_s']:.0f} s)",
        f"  transactions: {result['acknowledged']:,} acknowledged ({result['acknowledged_per_s']}/s), "
        f"{result['receipted_by_sequencer']:,} receipted by the sequencer, {result['included']:,} included "
        f"({result['included_skipped']} skipped), {result['dropped']} dropped {result['dropped_reasons'] or ''}, "
        f"{result['lost']} lost ({result['lost_receipted']} of them receipted; the sequencer says "
        f"{result['lost_sequencer_says'] or '-'}); receipted but not included: {result['receipted_not_included']}; "
        f"left queued behind a nonce gap: {result['stranded_in_mempool']}",
        f"  load: {result['offered']:,} offered, {result['shed']:,} shed while the sequencer was down, "
        f"{result['failed_sends']} sends without an answer, nonce stream restarts {result['stream_restarts']} "
        f"(+{result['stuck_stream_restarts']} when stuck); "
        f"rejections {result['rejections'] or '-'}",
        f"  recovery: longest {result['longest_recovery_s']} s ({result['longest_recovery_role']}), "
        f"median {result['median_recovery_s']} s; receipt after ack p50 {result['receipt_after_ack_p50_s']} s, "
        f"p99 {result['receipt_after_ack_p99_s']} s; longest stretch without a new receipt "
        f"{result['longest_receipt_gap_s']} s (from {result['longest_receipt_gap_at_s']} s)",
        f"  common safe height {result['safe_height']}",
    ]
    for name, ok in result["checks"].items():
        detail = "" if ok else f": {json.dumps(result['details'][name])}"
        lines.append(f"  {'PASS' if ok else 'FAIL'} {name}{detail}")
    progress("\n".join(lines))


def main() -> int:
    args = parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    # forks before any thread of ours; the workers leave Ctrl-C to this process
    pool = multiprocessing.get_context("fork").Pool(os.cpu_count() or 1, signal.signal, (signal.SIGINT, signal.SIG_IGN))
    directory = args.dir.expanduser().resolve() if args.dir else Path(tempfile.mkdtemp(prefix="soak-"))
    try:
        start_devnet(args, directory)
        result = Soak(args, directory, seed).run(pool)
    except (DevnetError, FundingError, SettleTimeout) as exc:
        progress(f"soak could not run: {exc} (devnet logs in {directory}/logs)")
        print(json.dumps({"ok": False, "error": str(exc), "seed": seed}))
        return 2
    except KeyboardInterrupt:
        progress(f"interrupted (devnet logs in {directory}/logs)")
        return 130
    finally:
        if not args.keep and (directory / "devnet.json").exists():
            down(DevnetLayout.at(directory), lambda line: None)
        pool.terminate()
    print_summary(result)
    if not result["ok"] or args.dir:
        progress(f"devnet logs in {directory}/logs")
    elif not args.keep:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
