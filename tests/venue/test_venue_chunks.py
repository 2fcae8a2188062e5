"""Every crossing account is liquidated in the block that moved the price, however many there are.

40 accounts hold a 1-lot long on their initial margin; one oracle update
takes them all under maintenance. A chunk of the end-of-block phase covers
about 9 of them (its key budget bounds its fraud-proof witness), so the
block's end-of-block phase runs in several chunks, each one fraud-proof
step. Checked on a RocksDB-backed chain:

- all 40 are flat after the price-update block, nothing is left pending,
  and no chunk state (the end-of-block key, the scan cursor) outlives it;
- each chunk run over its witness alone gives the chain's intermediate
  roots, and each witness stays within the budget;
- a wrong step count is provable: a chunk past the phase's end and a last
  chunk declared too early both give INVALID_ROOT, and a defender that
  skips the last chunks loses the dispute game at the one-step proof;
- 250 accounts in one block: every chunk is provable within the L1's
  witness limits (the scan's memory is per-account marks, not one value);
- a crowd of accounts that fire but stay healthy is walked chunk by chunk
  within the budget.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.chain import Chain
from node.crypto import Address, Hash32, PrivateKey
from node.encoding import DecodeError, pack
from node.fraud.game import Claim, OpenOutputs, Phase, ProveStep, Respond, Side, apply_move, get_step_position, new_game
from node.fraud.onestep import compute_step_result, execute_step
from node.fraud.steps import INVALID_ROOT, STEP_END_OF_BLOCK, StepOutcome, get_block_step
from node.fraud.trace import compute_intermediate_roots, compute_step_proof, get_block_output, iter_block_trace
from node.fraud.witness import Witness
from node.output import compute_output_root
from node.state.view import DictState, Overlay
from node.stf.end_of_block import (
    END_OF_BLOCK_KEY,
    Chunk,
    EndOfBlockOverrun,
    EndOfBlockStateError,
    apply_end_of_block_chunk,
)
from node.store.chain import ChainStore
from node.venue.keys import SCAN_CURSOR_KEY
from node.venue.liquidation import KEY_BUDGET, process_chunk, process_end_of_block
from node.venue.markets import genesis_writes
from node.venue.payloads import OracleUpdate, OrderType, PlaceOrder
from node.venue.positions import process_trade
from node.venue.records import (
    ScanCursor,
    ScanWalk,
    decode_venue_account,
    get_market_state,
    get_position,
    get_scan_cursor,
    set_scan_cursor,
)
from node.venue.reindex import process_reindex_account
from node.venue.side import Side as VenueSide
from tests.venue.support import CONFIG, FEE, FUND, MARKETS, ORACLE_KEY, START_MS, E, Venue, new_venue
from tests.venue.test_venue_onestep import RICH, Signer

VICTIMS = [PrivateKey((5_000 + i).to_bytes(32, "big")) for i in range(250)]
E_KEY = PrivateKey((204).to_bytes(32, "big"))
CRASH_BLOCK = 2
PER_BLOCK = 60  # CONFIG.max_block_txs is 64


def build_chain(path: Path, n_victims: int) -> tuple[Chain, int]:
    """n victims long 1 lot each on their initial margin, then a -7 % oracle update: (chain, its block)."""
    assert E_KEY.address == E
    victims = VICTIMS[:n_victims]
    alloc = {ORACLE_KEY.address: 10_000, E: RICH, FUND: 1_000_000, **{v.address: 100 + FEE for v in victims}}
    chain = Chain(ChainStore(path), CONFIG)
    chain.init_genesis(alloc, extra_writes=genesis_writes(MARKETS, ORACLE_KEY.address, FUND))
    tx = Signer()
    ts = START_MS + 1_000
    setup = [
        tx(ORACLE_KEY, OracleUpdate(0, 1000, START_MS + 500)),
        tx(E_KEY, PlaceOrder(0, VenueSide.SELL, n_victims, 1000, OrderType.POST_ONLY)),
    ]
    opens = [
        tx(v, PlaceOrder(0, VenueSide.BUY, 1, 1000, OrderType.IOC)) for v in victims
    ]  # long 1 on the initial margin
    batches = [setup + opens[:PER_BLOCK]] + [opens[i : i + PER_BLOCK] for i in range(PER_BLOCK, len(opens), PER_BLOCK)]
    for batch in batches:
        _, build = chain.seal_block(batch, ts, (1, bytes([1]) * 32))
        assert not build.rejected, [str(r.error) for r in build.rejected]
        ts += 100
    # -7 %: every victim is under maintenance; no bids, so the insurance fund takes each over
    _, build = chain.seal_block([tx(ORACLE_KEY, OracleUpdate(0, 930, ts))], ts + 100, (1, bytes([1]) * 32))
    assert not build.rejected
    crash_block = chain.head().number
    chain.seal_block([], ts + 1_000, (1, bytes([1]) * 32))  # the next block: nothing left to do
    return chain, crash_block


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    chain, crash_block = build_chain(tmp_path_factory.mktemp("venue-chunks"), 40)
    assert crash_block == CRASH_BLOCK
    yield chain
    chain.store.close()


def test_every_victim_is_liquidated_in_the_price_update_block(chain: Chain) -> None:
    before, after = chain.store.state_at(CRASH_BLOCK - 1), chain.store.state_at(CRASH_BLOCK)
    victims = VICTIMS[:40]
    assert all(get_position(before, v.address, 0).size == 1 for v in victims)
    assert all(get_position(after, v.address, 0).size == 0 for v in victims)
    assert get_position(after, FUND, 0).size == len(victims)  # the fund took every long over
    assert not get_market_state(after, 0).pending
    assert after.get(END_OF_BLOCK_KEY) is None and after.get(SCAN_CURSOR_KEY) is None
    # the next block has nothing left: one chunk, which changes nothing but funding marks
    roots = compute_intermediate_roots(chain.store, CONFIG, CRASH_BLOCK + 1)
    assert len(roots) == 2


def test_each_chunk_over_its_witness_gives_the_chains_roots(chain: Chain) -> None:
    store = chain.store
    block = store.get_block(CRASH_BLOCK)
    assert block is not None
    roots = compute_intermediate_roots(store, CONFIG, CRASH_BLOCK)
    chunks = len(roots) - 1 - len(block.transactions)
    assert chunks >= 4, chunks  # ~9 accounts per chunk
    assert roots[-1] == block.header.state_root
    sizes = []
    for traced in iter_block_trace(store, CONFIG, CRASH_BLOCK, with_witness=True):
        k = traced.step.index
        assert traced.witness is not None and traced.outcome is StepOutcome.APPLIED
        witness = Witness.decode(traced.witness.encode())
        assert compute_step_result(roots[k], traced.step, witness, CONFIG).post_root == roots[k + 1], k
        if traced.step.kind == STEP_END_OF_BLOCK:
            assert traced.step.chunk == k - len(block.transactions)
            assert traced.step.last == (k == len(roots) - 2)
            assert len(witness.entries) <= KEY_BUDGET + 16  # the budget, plus the last account's own keys
            sizes.append(len(witness.encode()))
    print(f"\n40 liquidations in {chunks} end-of-block chunks; witness bytes per chunk {sizes}")


def test_a_crash_of_250_accounts_is_liquidated_in_one_block_and_every_chunk_is_provable(tmp_path: Path) -> None:
    chain, crash_block = build_chain(tmp_path / "big", 250)
    try:
        after = chain.store.state_at(crash_block)
        assert all(get_position(after, v.address, 0).size == 0 for v in VICTIMS)
        roots = compute_intermediate_roots(chain.store, CONFIG, crash_block)
        largest = 0
        for traced in iter_block_trace(chain.store, CONFIG, crash_block, with_witness=True):
            assert traced.witness is not None
            witness = Witness.decode(traced.witness.encode())  # within the L1's witness limits
            k = traced.step.index
            assert execute_step(roots[k], traced.step, witness, CONFIG) == roots[k + 1], k
            largest = max(largest, len(witness.entries))
        assert len(roots) - 2 > 15 and largest <= KEY_BUDGET + 16
    finally:
        chain.store.close()


def test_a_wrong_chunk_count_gives_the_invalid_root(chain: Chain) -> None:
    store = chain.store
    roots = compute_intermediate_roots(store, CONFIG, CRASH_BLOCK)
    count = len(roots) - 1
    # a chunk past the end (the opening said one step more): it starts with the phase closed
    past = compute_step_proof(store, CONFIG, CRASH_BLOCK, count, count + 1)
    assert past.pre_root == roots[-1] and past.post_root == INVALID_ROOT
    assert execute_step(past.pre_root, past.step, past.witness, CONFIG) == INVALID_ROOT
    # and every step after it stays there, without a witness
    beyond = compute_step_proof(store, CONFIG, CRASH_BLOCK, count + 1, count + 3)
    assert beyond.pre_root == INVALID_ROOT and beyond.witness == Witness(())
    assert execute_step(INVALID_ROOT, beyond.step, Witness(()), CONFIG) == INVALID_ROOT
    # the last chunk declared one too early: the phase is still open after it
    early = compute_step_proof(store, CONFIG, CRASH_BLOCK, count - 2, count - 1)
    assert early.step.last and early.pre_root == roots[count - 2] and early.post_root == INVALID_ROOT
    assert execute_step(early.pre_root, early.step, early.witness, CONFIG) == INVALID_ROOT
    # declared as it really is, the same chunk runs normally
    normal = compute_step_proof(store, CONFIG, CRASH_BLOCK, count - 2, count)
    assert not normal.step.last and normal.post_root == roots[count - 1]


def test_a_defender_skipping_the_last_chunks_loses_the_game(chain: Chain) -> None:
    """A sequencer that stops liquidating early: its block ends after chunk E-3, with the phase still open."""
    store = chain.store
    block = store.get_block(CRASH_BLOCK)
    assert block is not None
    honest = compute_intermediate_roots(store, CONFIG, CRASH_BLOCK)
    short = honest[:-2]  # its trace: the honest one cut two chunks short
    count = len(short) - 1
    lo_out, hi_out = get_block_output(store, CRASH_BLOCK - 1), get_block_output(store, CRASH_BLOCK)
    wrong_header = replace(block.header, state_root=Hash32(short[-1]))
    game = new_game(
        CRASH_BLOCK - 1,
        lo_out.output_root,
        CRASH_BLOCK,
        compute_output_root(CRASH_BLOCK, wrong_header.state_root, wrong_header.hash()),
        100,
        now=0,
    )
    game = apply_move(game, OpenOutputs(Side.DEFENDER, lo_out.state_root, lo_out.block_hash, wrong_header, count), 1)
    now = 1
    while game.phase is Phase.STEPS:
        now += 1
        if game.mid_claim is None:
            game = apply_move(game, Claim(Side.DEFENDER, short[game.mid]), now)
        else:
            game = apply_move(game, Respond(Side.CHALLENGER, game.mid_claim == honest[game.mid]), now)
    number, index, pre_root, _ = get_step_position(game)
    assert (index, game.hi) == (count - 1, count)  # the step it declared last
    proof = compute_step_proof(store, CONFIG, number, index, game.step_count)
    assert proof.step == get_block_step(block, index, game.step_count) and proof.step.last
    game = apply_move(
        game, ProveStep(Side.CHALLENGER, execute_step(pre_root, proof.step, proof.witness, CONFIG)), now + 1
    )
    assert game.challenger_won
    assert hi_out.state_root == honest[-1] != short[-1]


# -- the chunk driver, the last allowed chunk, the cursor codec (over a DictState venue) --


def crashed_venue(n_risky: int, balance: int = 100, price: int = 930) -> tuple[Venue, list[Address]]:
    """n accounts long 1 lot at 1000 with `balance` (100: the initial margin) against one whale, then the
    mark at `price` (930 takes the 100s under maintenance; 940 makes 107s fire yet stay healthy)."""
    risky = [Address(i.to_bytes(4, "big") + b"\x66" * 16) for i in range(n_risky)]
    whale = Address(b"\x55" * 20)
    venue = new_venue({**{a: balance for a in risky}, whale: 10**9, FUND: 10**9}, prices={0: 1000, 1: 2000})
    overlay = Overlay(venue.state)
    state = get_market_state(overlay, 0)
    for account in risky:
        process_trade(overlay, account, 0, state, 1, 1000)
        process_trade(overlay, whale, 0, state, -1, 1000)
    for account in [*risky, whale]:
        process_reindex_account(overlay, account)
    venue.state.apply(overlay.writes)
    venue.end_block()
    venue.set_price(0, price)
    return venue, risky


def test_the_last_allowed_chunk_defers_what_is_left_to_the_next_block() -> None:
    venue, risky = crashed_venue(30)
    run = venue.run(process_chunk, CONFIG, venue.ctx, Chunk(resume=False, final=True))
    done = sum(1 for a in risky if venue.position(a)[0] == 0)
    assert run.complete and 0 < done < len(risky)
    assert get_market_state(venue.state, 0).pending and venue.state.get(SCAN_CURSOR_KEY) is None
    venue.number += 1
    venue.end_block()  # the next block picks the rest up (the market is pending)
    assert all(venue.position(a)[0] == 0 for a in risky)
    assert not get_market_state(venue.state, 0).pending


def test_the_driver_runs_chunks_until_the_phase_closes() -> None:
    venue, risky = crashed_venue(30)
    overlay = Overlay(venue.state)
    with pytest.raises(EndOfBlockOverrun):
        apply_end_of_block_chunk(overlay, CONFIG, venue.ctx, 1)  # no chunk 0 ran: the phase is closed
    closed = [apply_end_of_block_chunk(overlay, CONFIG, venue.ctx, 0)]
    assert closed == [False] and overlay.get(END_OF_BLOCK_KEY) is not None and overlay.get(SCAN_CURSOR_KEY) is not None
    with pytest.raises(EndOfBlockStateError):
        apply_end_of_block_chunk(overlay, CONFIG, venue.ctx, 0)  # a new phase while one is open
    while not closed[-1]:
        closed.append(apply_end_of_block_chunk(overlay, CONFIG, venue.ctx, len(closed)))
    assert len(closed) >= 3 and overlay.get(END_OF_BLOCK_KEY) is None and overlay.get(SCAN_CURSOR_KEY) is None
    venue.state.apply(overlay.writes)
    assert all(venue.position(a)[0] == 0 for a in risky)
    with pytest.raises(EndOfBlockOverrun):
        apply_end_of_block_chunk(Overlay(venue.state), CONFIG, venue.ctx, len(closed))


def test_a_crowd_of_healthy_accounts_is_walked_within_the_budget() -> None:
    """Accounts whose trigger bucket fires but that stay healthy: each chunk walks on from where the last
    one stopped, so no chunk touches much more than the budget."""
    venue, crowd = crashed_venue(300, balance=107, price=940)
    overlay = Overlay(venue.state)
    runs = process_end_of_block(overlay, CONFIG, venue.ctx)
    venue.state.apply(overlay.writes)
    assert all(venue.position(a)[0] == 1 for a in crowd)  # none was liquidatable
    assert sum(r.checks for r in runs) == len(crowd)  # each evaluated once
    assert len(runs) > 3 and max(r.touched for r in runs) <= KEY_BUDGET + 8, [r.touched for r in runs]


@given(
    st.frozensets(st.integers(0, 0xFFFF), max_size=5),
    st.none()
    | st.builds(
        ScanWalk,
        st.integers(0, 0xFFFF),
        st.sampled_from(VenueSide),
        st.integers(0, 2**64 - 1),
        st.binary(min_size=20, max_size=20).map(Address),
    ),
)
@settings(max_examples=100, deadline=None)
def test_scan_cursor_round_trips(deferred: frozenset[int], walk: ScanWalk | None) -> None:
    cursor = ScanCursor(tuple(sorted(deferred)), walk)
    overlay = Overlay(DictState())
    set_scan_cursor(overlay, cursor)
    assert get_scan_cursor(overlay) == cursor


@pytest.mark.parametrize(
    "fields, message",
    [
        ([[2, 1], []], "sorted"),
        ([[], [1, 0, 5]], "walk"),
        ([[], [1, 2, 5, b"\x01" * 20]], "side"),
        ([[], [1, 0, 5, b"\x01" * 19]], "20 bytes"),
        ([[]], "scan cursor"),
    ],
)
def test_scan_cursor_decoding_is_strict(fields: list[object], message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        get_scan_cursor(DictState({SCAN_CURSOR_KEY: pack(fields)}))


@pytest.mark.parametrize(
    "marks, message", [([0, 1, 1], "block number"), ([5, 256, 0], "scan_rounds"), ([5, 1, 2], "scan_done")]
)
def test_scan_marks_decoding_is_strict(marks: list[int], message: str) -> None:
    raw = pack([b"", b"", [0], [], marks])
    with pytest.raises(DecodeError, match=message):
        decode_venue_account(raw)
    assert decode_venue_account(pack([b"", b"", [0], [], [5, 2, 1]])).scan_rounds == 2
