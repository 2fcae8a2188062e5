#!/usr/bin/env python3
"""Profile the venue's order path in one process: blocks of signed orders executed over an in-memory state.

No devnet, no database, no network: the same pure state transition the
sequencer, the executors and the challenger run (node.stf), over a DictState
holding the devnet's two markets (node.devnet.params.VENUE_MARKETS), a
resting book of `--depth` levels per side per market (`--makers` accounts,
at most 8 orders each), and `--pairs` trader pairs. Each block holds
`--block-orders` orders shaped as scripts/bench_venue.py sends them: pair
(A, B) sends A sells 1 lot at the oracle price and B buys 1 lot at it, the
sides alternating each round, so one order rests and the next one fills it
(a resting + crossing mix). A share `--eth-share` of the pairs trade the ETH
market, the rest BTC.

Every transaction is signed and its sender recovered BEFORE the clock
starts; the timed phases are, per block:

- `execute`: node.stf.execute_block (what an executor and the challenger run
  per block), writes applied to the state after the clock stops;
- `build`:   node.stf.build_block_transactions (what the sequencer runs to
  seal a block; the same blocks, from the same starting state);
- `check`:   node.stf.validate_transaction of each order against the block's
  pre-state (the sequencer's admission check);
- `recover`: node.stf.execute.recover_transaction of each raw order (decoding
  and signature recovery, which every process does once per order).

Prints CPU microseconds per order (process time) of each phase, the Python
function calls per order of `execute` (cProfile), and a digest of the final
state and of every receipt: two builds of the venue must print the same
digest. `--profile N` prints the N most expensive functions of `execute` by
own time (and `--profile-out FILE` writes the pstats file).
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import node.venue  # noqa: E402,F401  (registers the venue's kinds and end-of-block hook)
from node.crypto import Address, PrivateKey  # noqa: E402
from node.devnet import params as p  # noqa: E402
from node.state.schema import Account, set_account, set_supply  # noqa: E402
from node.state.view import DictState, Overlay  # noqa: E402
from node.stf import BlockContext, ChainConfig, build_block_transactions, execute_block  # noqa: E402
from node.stf.execute import apply_transaction, recover_transaction, validate_transaction  # noqa: E402
from node.tx import RecoveredTx, sign_tx  # noqa: E402
from node.venue.markets import MarketParams, genesis_writes  # noqa: E402
from node.venue.payloads import OracleUpdate, OrderType, PlaceOrder  # noqa: E402
from node.venue.side import Side  # noqa: E402

CHAIN_ID = 901
FEE = 10**9
BALANCE = 10**24
START_MS = 1_700_000_000_000
BLOCK_MS = 200
FEE_RECIPIENT = Address(b"\xfe" * 20)
FUND = b"\xf0" * 20
MAX_ORDERS_PER_MAKER = 8


def derived_key(label: str, index: int) -> PrivateKey:
    return PrivateKey(hashlib.sha256(f"profile-venue {label} {index}".encode()).digest())


@dataclass
class Setup:
    state: DictState
    config: ChainConfig
    blocks: list[list[RecoveredTx]]
    raws: list[list[bytes]]
    first_number: int


def make_markets() -> tuple[MarketParams, ...]:
    return tuple(MarketParams(market_id=m["id"], **{k: v for k, v in m.items() if k != "id"}) for m in p.VENUE_MARKETS)


class Chain:
    """The harness's signer and committer: nonces per key, transactions applied one by one during setup."""

    def __init__(self, state: DictState, config: ChainConfig) -> None:
        self.state, self.config = state, config
        self.nonces: dict[bytes, int] = {}
        self.number = 1
        self.timestamp_ms = START_MS

    def sign(self, key: PrivateKey, payload: Any) -> bytes:
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        return sign_tx(key, CHAIN_ID, nonce, FEE, payload).encode()

    def apply(self, key: PrivateKey, payload: Any) -> None:
        overlay = Overlay(self.state)
        ctx = BlockContext(self.number, self.timestamp_ms, 0)
        apply_transaction(overlay, self.config, ctx, recover_transaction(self.sign(key, payload)))
        self.state.apply(overlay.writes)


def build_setup(args: argparse.Namespace) -> Setup:
    markets = make_markets()
    oracle = derived_key("oracle", 0)
    makers = [derived_key("maker", i) for i in range(args.makers)]
    pairs = [(derived_key("a", i), derived_key("b", i)) for i in range(args.pairs)]
    config = ChainConfig(chain_id=CHAIN_ID, fee_recipient=FEE_RECIPIENT, min_fee=FEE, max_block_txs=10_000)
    state = DictState(genesis_writes(markets, oracle.address, FUND))
    overlay = Overlay(state)
    everyone = [oracle.address, *(k.address for k in makers), *(k.address for pair in pairs for k in pair)]
    for address in everyone:
        set_account(overlay, address, Account(BALANCE, 0))
    set_supply(overlay, BALANCE * len(everyone))
    state.apply(overlay.writes)
    chain = Chain(state, config)
    for market in markets:
        chain.apply(oracle, OracleUpdate(market.market_id, p.VENUE_START_PRICES[market.market_id], START_MS))
    slots = [(maker, k) for maker in makers for k in range(MAX_ORDERS_PER_MAKER)]
    placed = 0
    for market in markets:  # `depth` levels per side, two orders a level, away from the oracle price
        price, tick = p.VENUE_START_PRICES[market.market_id], market.tick_size
        for level in range(1, args.depth + 1):
            for side, sign in ((Side.BUY, -1), (Side.SELL, 1)):
                for _ in range(2):
                    if placed >= len(slots):
                        raise SystemExit(f"--makers {args.makers} is too few for --depth {args.depth}")
                    maker = slots[placed][0]
                    placed += 1
                    chain.apply(maker, PlaceOrder(market.market_id, side, 1 + level % 3, price + sign * level * tick))
    blocks: list[list[RecoveredTx]] = []
    raws: list[list[bytes]] = []
    eth_pairs = int(len(pairs) * args.eth_share)
    round_no = 0
    for _ in range(args.blocks):
        block_raws: list[bytes] = []
        while len(block_raws) < args.block_orders:
            for i, (a, b) in enumerate(pairs):
                market_id = 1 if i < eth_pairs else 0
                price = p.VENUE_START_PRICES[market_id]
                a_side = Side.SELL if round_no % 2 == 0 else Side.BUY
                block_raws.append(chain.sign(a, PlaceOrder(market_id, a_side, 1, price, OrderType.GTC)))
                block_raws.append(chain.sign(b, PlaceOrder(market_id, a_side.opposite, 1, price, OrderType.GTC)))
                if len(block_raws) >= args.block_orders:
                    break
            round_no += 1
        raws.append(block_raws)
        blocks.append([recover_transaction(raw) for raw in block_raws])
    return Setup(state, config, blocks, raws, chain.number + 1)


def snapshot(state: DictState) -> DictState:
    return DictState(state.items)


def context(setup: Setup, k: int) -> BlockContext:
    return BlockContext(setup.first_number + k, START_MS + (k + 1) * BLOCK_MS, 0)


def run_execute(setup: Setup, state: DictState, digest: Any) -> float:
    cpu = 0.0
    for k, block in enumerate(setup.blocks):
        t0 = time.process_time()
        execution = execute_block(state, setup.config, context(setup, k), block)
        cpu += time.process_time() - t0
        state.apply(execution.writes)
        if digest is not None:
            for receipt in execution.receipts:
                digest.update(repr((receipt.status, receipt.error, receipt.fee, receipt.kind)).encode())
            digest.update(repr(sorted(execution.writes.items())).encode())
    return cpu


def run_build(setup: Setup, state: DictState, digest: Any) -> float:
    cpu = 0.0
    for k, block in enumerate(setup.blocks):
        t0 = time.process_time()
        built = build_block_transactions(state, setup.config, context(setup, k), block)
        cpu += time.process_time() - t0
        if built.rejected:
            raise SystemExit(f"build rejected {len(built.rejected)} orders: {built.rejected[0].error}")
        state.apply(built.execution.writes)
        if digest is not None:
            digest.update(repr(sorted(built.execution.writes.items())).encode())
    return cpu


def run_check(setup: Setup, state: DictState, digest: Any) -> float:
    cpu = 0.0
    for k, block in enumerate(setup.blocks):
        overlay = Overlay(state)
        t0 = time.process_time()
        seen: set[bytes] = set()
        for rtx in block:  # each sender's first order of the block is valid on the pre-state
            if rtx.sender in seen:
                continue
            seen.add(rtx.sender)
            validate_transaction(overlay, setup.config, rtx)
        cpu += time.process_time() - t0
        execution = execute_block(state, setup.config, context(setup, k), block)
        state.apply(execution.writes)
    return cpu


def run_recover(setup: Setup, state: DictState, digest: Any) -> float:
    t0 = time.process_time()
    for block_raws in setup.raws:
        for raw in block_raws:
            recover_transaction(raw)
    return time.process_time() - t0


PHASES: dict[str, Callable[[Setup, DictState, Any], float]] = {
    "execute": run_execute,
    "build": run_build,
    "check": run_check,
    "recover": run_recover,
}


def count_checked(setup: Setup, phase: str) -> int:
    if phase == "check":
        return sum(len({rtx.sender for rtx in block}) for block in setup.blocks)
    return sum(len(block) for block in setup.blocks)


def profile_execute(setup: Setup, top: int, out: Path | None) -> tuple[float, str]:
    profiler = cProfile.Profile()
    state = snapshot(setup.state)
    profiler.enable()
    run_execute(setup, state, None)
    profiler.disable()
    stats = pstats.Stats(profiler)
    if out is not None:
        stats.dump_stats(str(out))
    calls = stats.total_calls  # type: ignore[attr-defined]
    text = io.StringIO()
    if top:
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    return calls / count_checked(setup, "execute"), text.getvalue()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=100, help="trader pairs (bench_venue's default 200 traders)")
    ap.add_argument("--makers", type=int, default=50, help="accounts resting the book (8 orders each)")
    ap.add_argument("--depth", type=int, default=40, help="resting levels per side per market")
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument("--block-orders", type=int, default=600, help="orders per block (3,000/s at 200 ms blocks)")
    ap.add_argument("--eth-share", type=float, default=0.2, help="share of the pairs trading ETH-PERP")
    ap.add_argument("--runs", type=int, default=3, help="timed runs per phase (median and range reported)")
    ap.add_argument("--phases", default="execute,build,check,recover", help="comma-separated: " + ",".join(PHASES))
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions")
    ap.add_argument("--profile-out", type=Path, help="write the pstats of one execute pass here")
    ap.add_argument("--json", action="store_true", help="print only the JSON line")
    args = ap.parse_args(argv)
    unknown = [ph for ph in args.phases.split(",") if ph not in PHASES]
    if unknown:
        ap.error(f"unknown phase(s) {unknown}; choose from {list(PHASES)}")
    if min(args.pairs, args.makers, args.depth, args.blocks, args.block_orders, args.runs) < 1:
        ap.error("--pairs, --makers, --depth, --blocks, --block-orders and --runs must be at least 1")
    if not 0 <= args.eth_share <= 1:
        ap.error("--eth-share must be in [0, 1]")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    t_setup = time.monotonic()
    setup = build_setup(args)
    log = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr))
    log(
        f"setup: {len(setup.state.items)} keys, {args.blocks} blocks x {args.block_orders} orders "
        f"in {time.monotonic() - t_setup:.1f} s"
    )
    digest = hashlib.sha256()
    run_execute(setup, snapshot(setup.state), digest)
    result: dict[str, Any] = {"digest": digest.hexdigest()[:16]}
    for phase in args.phases.split(","):
        samples = []
        for _ in range(args.runs):
            cpu = PHASES[phase](setup, snapshot(setup.state), None)
            samples.append(cpu * 1e6 / count_checked(setup, phase))
        result[f"{phase}_us_per_order"] = round(statistics.median(samples), 1)
        result[f"{phase}_us_range"] = [round(min(samples), 1), round(max(samples), 1)]
        log(f"{phase}: {statistics.median(samples):.1f} us/order (range {min(samples):.1f}-{max(samples):.1f})")
    calls, text = profile_execute(setup, args.profile, args.profile_out)
    result["execute_calls_per_order"] = round(calls)
    log(f"execute: {calls:.0f} Python calls per order; digest {result['digest']}")
    if text:
        log(text)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
