"""One-step fraud proofs over the venue: every step of a RocksDB-backed chain, run over its witness alone,
gives the chain's intermediate roots; among them an order that sweeps many price levels and end-of-block
steps that liquidate (partially against the book, then with the insurance fund taking over).

Witness bytes per step are printed (pytest -s) for the figures the lead collects.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain import Chain
from node.crypto import PrivateKey
from node.fraud.onestep import compute_step_result
from node.fraud.steps import STEP_END_OF_BLOCK, StepOutcome
from node.fraud.trace import compute_intermediate_roots, iter_block_trace
from node.fraud.witness import Witness
from node.stf import recover_transaction
from node.store.chain import ChainStore
from node.tx import RecoveredTx, sign_tx
from node.venue.keys import compute_order_id
from node.venue.markets import genesis_writes
from node.venue.matching import MAX_MATCH_STEPS
from node.venue.payloads import CancelAll, CancelOrder, OracleUpdate, OrderType, PlaceOrder
from node.venue.records import get_position
from node.venue.side import Side
from tests.venue.support import CHAIN_ID, CONFIG, F_, FEE, FUND, KEYS, MARKETS, ORACLE_KEY, START_MS, A, B, C, D, E

RICH = 10_000_000
ALLOC = {ORACLE_KEY.address: 10_000, A: 500 + 2 * FEE, B: RICH, C: RICH, D: RICH, E: RICH, F_: RICH, FUND: 1_000_000}


class Signer:
    def __init__(self) -> None:
        self.nonces: dict[bytes, int] = {}

    def __call__(self, key: PrivateKey, payload: object) -> RecoveredTx:
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        return recover_transaction(sign_tx(key, CHAIN_ID, nonce, FEE, payload).encode())


def build_chain(path: Path) -> Chain:
    chain = Chain(ChainStore(path), CONFIG)
    chain.init_genesis(ALLOC, extra_writes=genesis_writes(MARKETS, ORACLE_KEY.address, FUND))
    tx = Signer()
    key = {a.address: a for a in [*KEYS]}
    makers = [key[B], key[C], key[D]]
    block1 = [
        tx(ORACLE_KEY, OracleUpdate(0, 1000, START_MS + 500)),
        tx(key[E], PlaceOrder(0, Side.SELL, 5, 1000, OrderType.POST_ONLY)),
        tx(key[A], PlaceOrder(0, Side.BUY, 5, 1000, OrderType.IOC)),  # A: long 5 at 1000 on its initial margin
        *(tx(makers[i % 3], PlaceOrder(0, Side.SELL, 1, 1001 + i)) for i in range(MAX_MATCH_STEPS + 2)),
        tx(key[F_], PlaceOrder(0, Side.BUY, MAX_MATCH_STEPS + 2, 1020)),  # sweeps MAX_MATCH_STEPS levels
        tx(key[C], PlaceOrder(0, Side.BUY, 3, 930)),
        tx(key[D], CancelOrder(compute_order_id(0, 11))),  # seq 11: D's ask at 1009, which the sweep left
        tx(key[B], CancelAll(0)),
    ]
    _, build = chain.seal_block(block1, START_MS + 1_000, (1, bytes([1]) * 32))
    assert not build.rejected, [str(r.error) for r in build.rejected]
    # block 2: the mark drops 7 %: A is under maintenance, the book takes 3 of its 5 lots
    _, build = chain.seal_block(
        [tx(ORACLE_KEY, OracleUpdate(0, 930, START_MS + 1_500))], START_MS + 2_000, (1, bytes([1]) * 32)
    )
    assert not build.rejected
    # block 3: a gap to 800: A is bankrupt, no bids are left, the insurance fund takes the rest over
    updates = [
        tx(ORACLE_KEY, OracleUpdate(0, 860, START_MS + 2_500)),
        tx(ORACLE_KEY, OracleUpdate(0, 800, START_MS + 2_600)),
    ]
    _, build = chain.seal_block(updates, START_MS + 3_000, (2, bytes([2]) * 32))
    assert not build.rejected
    return chain


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = build_chain(tmp_path_factory.mktemp("venue-onestep"))
    yield chain  # type: ignore[misc]
    chain.store.close()


def describe(raw: bytes, kind: int) -> str:
    if kind == STEP_END_OF_BLOCK:
        return "end_of_block"
    payload = recover_transaction(raw).tx.payload  # type: ignore[union-attr]
    return (
        f"{payload.NAME}{'(sweep)' if isinstance(payload, PlaceOrder) and payload.size == MAX_MATCH_STEPS + 2 else ''}"
    )


def test_every_venue_step_over_its_witness_gives_the_chains_roots(chain: Chain) -> None:
    store = chain.store
    figures: list[tuple[int, int, str, int, int]] = []
    for number in (1, 2, 3):
        block = store.get_block(number)
        assert block is not None
        roots = compute_intermediate_roots(store, CONFIG, number)
        assert len(roots) == len(block.transactions) + 2 and roots[-1] == block.header.state_root
        for traced in iter_block_trace(store, CONFIG, number, with_witness=True):
            k = traced.step.index
            assert traced.witness is not None and traced.outcome is StepOutcome.APPLIED
            witness = Witness.decode(traced.witness.encode())
            result = compute_step_result(roots[k], traced.step, witness, CONFIG)
            assert result.post_root == roots[k + 1], (number, k)
            figures.append(
                (number, k, describe(traced.step.tx, traced.step.kind), len(witness.entries), len(witness.encode()))
            )
    print("\nblock step kind                     entries  witness bytes")
    for number, k, kind, entries, size in figures:
        print(f"{number:5} {k:4} {kind:24} {entries:7} {size:14,}")
    by_kind = {kind: size for _, _, kind, _, size in figures}
    assert "place_order(sweep)" in by_kind and "oracle_update" in by_kind and "cancel_all" in by_kind


def test_the_end_of_block_steps_liquidated(chain: Chain) -> None:
    store = chain.store
    after1, after2, after3 = (store.state_at(n) for n in (1, 2, 3))
    assert get_position(after1, A, 0).size == 5
    assert get_position(after1, C, 0).size == -3  # C sold 3 lots into the sweep
    assert get_position(after2, A, 0).size == 2 and get_position(after2, C, 0).size == 0  # partial: C's bid took 3
    assert get_position(after3, A, 0).size == 0 and get_position(after3, FUND, 0).size == 2  # the fund took the rest
    for number in (2, 3):  # the liquidations happened in the end-of-block step, not in a transaction
        roots = compute_intermediate_roots(store, CONFIG, number)
        assert roots[-2] != roots[-1]
    sweep = get_position(after1, F_, 0)
    assert sweep.size == MAX_MATCH_STEPS and sweep.bid_lots == 0  # the remainder still crossed: cancelled
