#!/usr/bin/env python3
"""Mempool admission cost: CPU and wall time per transaction through the sequencer's admission path.

In one process, over a real chain store (no network): pre-signed transfers go through
`SequencerMethods.admit` (hex parsing, sender recovery, validation on the head state, the pool's
rules, the journal) and, separately, through validation + `Mempool.add` alone (pre-recovered). Workloads:

  honest   200 funded senders x 10 consecutive nonces (all pending)
  spam     160 unfunded senders x 64 future nonces (the issue's attack: all refused now)
  full     a pool filled to its cap with queued and pending junk, then 500 better-paying newcomers

`--journal off|cache|fsync` picks the journal (cache: written before the hash returns, the chain store's
durability; fsync: synced too). `--concurrency N` admits N at a time (concurrent clients), 1 = one after
another (the entries of one JSON-RPC batch). Prints one line per workload and a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.chain import Chain  # noqa: E402
from node.crypto import Address, PrivateKey  # noqa: E402
from node.mempool_errors import MempoolError  # noqa: E402
from node.rpc.errors import RpcError  # noqa: E402
from node.stf import ChainConfig, StfError  # noqa: E402
from node.stf.execute import recover_transaction  # noqa: E402
from node.store.chain import ChainStore  # noqa: E402
from node.tx import Transfer, sign_tx  # noqa: E402
from sequencer.intake import Recoverer, validate_submission  # noqa: E402
from sequencer.journal import open_journal  # noqa: E402
from sequencer.mempool import Mempool, MempoolLimits  # noqa: E402
from sequencer.rpc import ReceiptWaiters, SequencerMethods  # noqa: E402
from sequencer.txpool import TxPool  # noqa: E402

CHAIN_ID = 901
FEE = 1000
TO = Address(b"\xee" * 20)


def key(i: int) -> PrivateKey:
    return PrivateKey((10_000 + i).to_bytes(32, "big"))


def signed_hex(k: PrivateKey, nonce: int, fee: int = FEE) -> str:
    return "0x" + sign_tx(k, CHAIN_ID, nonce, fee, Transfer(TO, 1)).encode().hex()


def workloads() -> dict[str, list[str]]:
    funded = [key(i) for i in range(200)]
    unfunded = [key(1000 + i) for i in range(160)]
    junk = [key(2000 + i) for i in range(700)]
    return {
        "honest": [signed_hex(k, n) for n in range(10) for k in funded],
        "spam": [signed_hex(k, n) for n in range(1, 65) for k in unfunded],
        "fill": [signed_hex(k, n) for k in junk[:200] for n in range(1, 11)]  # queued junk
        + [signed_hex(k, n) for k in junk[200:] for n in range(16)],  # pending junk
        "full": [signed_hex(k, 10, fee=2 * FEE) for k in funded[:500]]
        + [signed_hex(key(3000 + i), 0, 2 * FEE) for i in range(300)],
    }


def funded_alloc() -> dict[bytes, int]:
    alloc: dict[bytes, int] = {key(i).address: 10**24 for i in range(200)}
    alloc.update({key(2000 + i).address: 10**24 for i in range(700)})
    alloc.update({key(3000 + i).address: 10**24 for i in range(300)})
    return alloc


async def admit_all(methods: SequencerMethods, txs: list[str], concurrency: int) -> tuple[int, int, float, float]:
    ok = refused = 0

    async def one(value: str) -> None:
        nonlocal ok, refused
        try:
            await methods.admit(value)
            ok += 1
        except (MempoolError, StfError, RpcError):
            refused += 1

    cpu, wall = time.process_time(), time.perf_counter()
    if concurrency == 1:  # as the server handles one JSON-RPC batch: one entry after the other
        for value in txs:
            await one(value)
    else:
        for start in range(0, len(txs), concurrency):
            await asyncio.gather(*(one(v) for v in txs[start : start + concurrency]))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return ok, refused, cpu / len(txs) * 1e6, wall / len(txs) * 1e6


def pool_only(chain: Chain, pool: Mempool, txs: list[str]) -> float:
    rtxs = [recover_transaction(bytes.fromhex(v[2:])) for v in txs]
    reader = chain.store.latest_state()
    started = time.process_time()
    for rtx in rtxs:
        try:
            pool.add(rtx, validate_submission(reader, chain.config, rtx), 0)
        except (MempoolError, StfError):
            pass
    return (time.process_time() - started) / len(rtxs) * 1e6


async def run(journal_mode: str, concurrency: int, txs: dict[str, list[str]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        chain = Chain(ChainStore(directory / "chain"), ChainConfig(CHAIN_ID, Address(b"\xfe" * 20), FEE))
        chain.init_genesis(funded_alloc())
        limits = MempoolLimits(max_txs=10_000)
        pool = Mempool(limits)
        journal = None
        if journal_mode != "off":
            journal, _ = open_journal(directory, fsync=journal_mode == "fsync")
            journal.start()
        txpool = TxPool(chain, pool, journal)
        methods = SequencerMethods(chain, txpool, Recoverer(0), ReceiptWaiters())
        results: dict[str, Any] = {}
        for name in ("honest", "spam", "fill", "full"):
            ok, refused, cpu_us, wall_us = await admit_all(methods, txs[name], concurrency)
            results[name] = {
                "accepted": ok,
                "refused": refused,
                "cpu_us_per_tx": round(cpu_us, 1),
                "wall_us_per_tx": round(wall_us, 1),
            }
            print(
                f"{journal_mode:5} c={concurrency:<3} {name:6} accepted {ok:5} refused {refused:5}  "
                f"cpu {cpu_us:6.1f} us/tx  wall {wall_us:6.1f} us/tx",
                flush=True,
            )
        results["pool"] = {"size": len(pool), "queued": pool.status().queued}
        if journal is not None:
            results["journal_writes"] = journal.groups
        await txpool.close()
        # validation + pool only, on a fresh pool (no recovery, no journal)
        fresh = Mempool(limits)
        results["pool_only_cpu_us_per_tx"] = {
            name: round(pool_only(chain, fresh, txs[name]), 1) for name in ("honest", "spam", "fill", "full")
        }
        chain.store.close()
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--journal", choices=["off", "cache", "fsync"], nargs="+", default=["off", "cache", "fsync"])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    args = parser.parse_args()
    txs = workloads()
    summary = {f"{mode}/c{c}": asyncio.run(run(mode, c, txs)) for mode in args.journal for c in args.concurrency}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
