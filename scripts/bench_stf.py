#!/usr/bin/env python3
"""State-transition throughput: signature recovery, execution + Merkle root, write-back.

A state of `--accounts` funded accounts (default 1,000,000) in RocksDB; blocks
of `--block-txs` (default 2,000) signed transfers, each from a random funded
key-holding account to a random account of the whole state. Signing happens
before the clock starts. Two runs over fresh blocks:

- 1 core: recover senders, execute and compute the root, commit, one block
  after the other in this process;
- pool: sender recovery for block i+1 runs in a `--workers` process pool while
  this process executes and commits block i.

Prints a human summary, then one JSON line (keys include tx_per_s_1core and
tx_per_s_pool, and cpu_us_per_tx_1core: the CPU time of the thread running
the blocks, per transaction of the one-core run, leaving out RocksDB's
background compactions; other load on a shared machine moves it far less
than the wall-clock rates, so compare builds with it). calls_per_tx is the
number of Python function calls per transfer (cProfile's count over one
more block, recovery to commit, run after the timed runs): the same on any
machine, it shows what a change removed from the hot path.
Senders come from `--senders` keyed accounts (deriving a million secp256k1
keys would take minutes and changes nothing: receivers are spread over the
whole state, so every transfer touches two random leaves).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.block import ZERO_HASH  # noqa: E402
from node.chain import Chain  # noqa: E402
from node.crypto import Address, PrivateKey  # noqa: E402
from node.recovery import SenderRecovery  # noqa: E402
from node.stf import BlockBuild, ChainConfig  # noqa: E402
from node.stf.execute import recover_transaction  # noqa: E402
from node.store.chain import ChainStore  # noqa: E402
from node.tx import Transfer, sign_tx  # noqa: E402

CHAIN_ID = 901
FEE = 10**12
BALANCE = 10**24


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--accounts", type=int, default=1_000_000)
    p.add_argument("--senders", type=int, default=20_000)
    p.add_argument("--block-txs", type=int, default=2000)
    p.add_argument("--blocks", type=int, default=8, help="blocks per run (each run gets fresh blocks)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--dir", type=Path, default=None, help="database directory (default: a temp dir, removed)")
    return p.parse_args()


def make_accounts(n_accounts: int, n_senders: int) -> tuple[list[PrivateKey], list[Address]]:
    keys = [PrivateKey(hashlib.sha256(b"bench-sender-%d" % i).digest()) for i in range(n_senders)]
    others = [Address(hashlib.sha256(b"bench-account-%d" % i).digest()[:20]) for i in range(n_accounts - n_senders)]
    return keys, [k.address for k in keys] + others


def make_blocks(
    keys: list[PrivateKey],
    addresses: list[Address],
    n_blocks: int,
    per_block: int,
    nonces: dict[bytes, int],
    rng: random.Random,
) -> list[list[bytes]]:
    blocks = []
    for _ in range(n_blocks):
        raws = []
        for _ in range(per_block):
            key = keys[rng.randrange(len(keys))]
            nonce = nonces.get(key.address, 0)
            nonces[key.address] = nonce + 1
            to = addresses[rng.randrange(len(addresses))]
            raws.append(sign_tx(key, CHAIN_ID, nonce, FEE, Transfer(to, 1 + rng.randrange(10**6))).encode())
        blocks.append(raws)
    return blocks


def run_one_core(chain: Chain, blocks: list[list[bytes]], clock: list[int]) -> dict[str, float]:
    recover_s = state_s = write_s = 0.0
    start = time.perf_counter()
    cpu_start = time.thread_time()
    for raws in blocks:
        t0 = time.perf_counter()
        rtxs = [recover_transaction(raw) for raw in raws]
        t1 = time.perf_counter()
        prepared = chain.prepare_block(rtxs, next_time(clock), (0, ZERO_HASH))
        t2 = time.perf_counter()
        chain.commit(prepared)
        t3 = time.perf_counter()
        check_all_included(prepared.build, len(raws))
        recover_s, state_s, write_s = recover_s + t1 - t0, state_s + t2 - t1, write_s + t3 - t2
    elapsed = time.perf_counter() - start
    cpu = time.thread_time() - cpu_start
    n = sum(len(b) for b in blocks)
    return {
        "tx_per_s": n / elapsed,
        "cpu_us_per_tx": cpu / n * 1e6,
        "recover_us_per_tx": recover_s / n * 1e6,
        "state_and_root_us_per_tx": state_s / n * 1e6,
        "write_us_per_tx": write_s / n * 1e6,
    }


def run_pool(chain: Chain, blocks: list[list[bytes]], workers: int, clock: list[int]) -> dict[str, float]:
    with SenderRecovery(workers) as recovery:
        recovery.recover(blocks[0][: 4 * 64])  # start the workers outside the clock
        start = time.perf_counter()
        pending = recovery.recover_senders_async(blocks[0])
        for i, raws in enumerate(blocks):
            senders = pending.result_list()
            if i + 1 < len(blocks):
                pending = recovery.recover_senders_async(blocks[i + 1])
            rtxs = recovery.assemble(raws, senders)
            sealed, build = chain.seal_block(rtxs, next_time(clock), (0, ZERO_HASH))
            check_all_included(build, len(raws))
        elapsed = time.perf_counter() - start
    return {"tx_per_s": sum(len(b) for b in blocks) / elapsed}


def count_calls_per_tx(chain: Chain, raws: list[bytes], clock: list[int]) -> float:
    """Python calls per transaction over one block, recovery to commit (cProfile's count)."""
    profile = cProfile.Profile()
    profile.enable()
    prepared = chain.prepare_block([recover_transaction(raw) for raw in raws], next_time(clock), (0, ZERO_HASH))
    chain.commit(prepared)
    profile.disable()
    check_all_included(prepared.build, len(raws))
    return int(pstats.Stats(profile).total_calls) / len(raws)  # type: ignore[attr-defined]


def next_time(clock: list[int]) -> int:
    clock[0] += 100
    return clock[0]


def check_all_included(build: BlockBuild, expected: int) -> None:
    if len(build.included) != expected:
        raise SystemExit(f"benchmark bug: {len(build.rejected)} transfers rejected, e.g. {build.rejected[0].error}")


def main() -> None:
    args = parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="bench-stf-"))
    rng = random.Random(7)
    print(f"deriving {args.senders} sender keys and {args.accounts} accounts...", file=sys.stderr)
    keys, addresses = make_accounts(args.accounts, args.senders)
    config = ChainConfig(CHAIN_ID, fee_recipient=Address(b"\xfe" * 20), min_fee=FEE)
    store = ChainStore(workdir / "chain")
    chain = Chain(store, config)
    t = time.perf_counter()
    chain.init_genesis({a: BALANCE for a in addresses})
    genesis_s = time.perf_counter() - t
    print(f"genesis with {args.accounts} accounts: {genesis_s:.1f} s", file=sys.stderr)
    nonces: dict[bytes, int] = {}
    print("signing blocks...", file=sys.stderr)
    warmup = make_blocks(keys, addresses, 2, args.block_txs, nonces, rng)
    core_blocks = make_blocks(keys, addresses, args.blocks, args.block_txs, nonces, rng)
    pool_blocks = make_blocks(keys, addresses, args.blocks, args.block_txs, nonces, rng)
    (count_block,) = make_blocks(keys, addresses, 1, args.block_txs, nonces, rng)
    clock = [0]
    run_one_core(chain, warmup, clock)
    one = run_one_core(chain, core_blocks, clock)
    pool = run_pool(chain, pool_blocks, args.workers, clock)
    calls_per_tx = count_calls_per_tx(chain, count_block, clock)
    store.kv._db.flush()
    disk = store.kv.disk_bytes()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "accounts": args.accounts,
        "block_txs": args.block_txs,
        "blocks_per_run": args.blocks,
        "tx_per_s_1core": round(one["tx_per_s"]),
        "tx_per_s_pool": round(pool["tx_per_s"]),
        "pool_workers": args.workers,
        "cpu_us_per_tx_1core": round(one["cpu_us_per_tx"], 1),
        "calls_per_tx": round(calls_per_tx, 1),
        "recover_us_per_tx": round(one["recover_us_per_tx"], 1),
        "state_and_root_us_per_tx": round(one["state_and_root_us_per_tx"], 1),
        "write_us_per_tx": round(one["write_us_per_tx"], 1),
        "genesis_s": round(genesis_s, 1),
        "peak_rss_mb": round(rss_mb),
        "disk_bytes_per_account": round(disk / args.accounts),
    }
    store.close()
    if args.dir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"1 core: {result['tx_per_s_1core']} tx/s  (recover {result['recover_us_per_tx']} us, "
        f"execute+root {result['state_and_root_us_per_tx']} us, write {result['write_us_per_tx']} us per tx; "
        f"{result['cpu_us_per_tx_1core']} us CPU, {result['calls_per_tx']} Python calls per tx)\n"
        f"pool of {args.workers}: {result['tx_per_s_pool']} tx/s\n"
        f"peak RSS {result['peak_rss_mb']} MB, disk {result['disk_bytes_per_account']} B/account"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
