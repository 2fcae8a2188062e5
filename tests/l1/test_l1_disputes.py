"""Dispute games on the L1 contracts, end to end in-process: a real L2 chain, its batches in a real L1 chain.

Figures (printed with -s): L1 transactions per game, witness bytes per
one-step proof, L1 blocks from dispute to resolution with a clock of 20.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from l1.chain.accounts import get_balance
from l1.chain.config import l1_config_from_dict
from l1.contracts.errors import (
    AlreadyAParty,
    BondTooLow,
    ClockExpired,
    ClockNotExpired,
    DisputesDisabled,
    GameAlreadyOver,
    GameNotFound,
    IllegalMove,
    InvalidWitness,
    L2BlockNotDerived,
    NoAgreedOutput,
    NotThePlayer,
    NotYourTurn,
    OutputNotDisputable,
    OutputNotFound,
    UnderivableOpening,
)
from l1.contracts.l2_genesis import compute_l2_genesis_output_root
from l1.contracts.params import DisputeParams
from l1.contracts.payloads import DefendOutput, DisputeOutput, GameMove, ProposeOutput, ProveStepTx, ResolveGame
from l1.contracts.state import OutputStatus, get_output
from node.chain import Chain
from node.derivation import system_transactions
from node.fraud.game import Claim, OpenOutputs, Phase, Respond, Side
from node.fraud.partial_tree import WitnessEntry
from node.fraud.trace import get_block_output
from node.fraud.witness import Witness
from node.keys.hd import dev_account
from node.service import ConfigError
from node.stf import ChainConfig
from node.stf.end_of_block import MAX_END_OF_BLOCK_CHUNKS
from node.store.chain import ChainStore
from tests.fraud.support import ALLOC, CONFIG
from tests.l1.support import (
    BOND,
    CHALLENGER,
    CLOCK,
    HELPER,
    L1_START_MS,
    PROPOSER,
    WINDOW,
    View,
    World,
    dispute,
    expect_failure,
    l1_block_data,
    play,
    status_of,
)

FIGURES: dict[str, object] = {}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, faulty_block=5)
    w.build_scenario()
    yield w
    w.close()


# -- full games --


def test_honest_defender_beats_bogus_dispute_and_output_finalizes(world: World) -> None:
    supply = world.total_supply()
    index = world.propose(6)
    proposer_before = get_balance(world.l1.kv, PROPOSER.address)
    challenger_before = get_balance(world.l1.kv, CHALLENGER.address)
    game_id = dispute(world, index)
    disputed_at = world.l1.head.number
    assert status_of(world, index) is OutputStatus.DISPUTED
    # a contrarian challenger: disagrees with every claim; the honest defender proves the last step
    stats = play(world, game_id, View(world.honest), None, prover=HELPER)
    record = world.game(game_id)
    assert record.game.defender_won and record.resolved_at == world.l1.head.number
    assert record.game.lo == 0 and record.game.disputed_header is not None and record.game.disputed_header.number == 1
    FIGURES["bogus dispute: L1 txs (dispute + moves)"] = stats.txs + 1
    FIGURES["bogus dispute: witness bytes of the one-step proof (a deposit step)"] = stats.witness_bytes
    FIGURES["bogus dispute: L1 blocks dispute -> resolution"] = world.l1.head.number - disputed_at
    # the proposer won the counter-bond; its own bond comes back when the output finalizes
    assert status_of(world, index) is OutputStatus.PENDING
    world.mine_until(get_output(world.l1.kv, index).finalizes_at(WINDOW))  # type: ignore[union-attr]
    assert status_of(world, index) is OutputStatus.FINALIZED
    gained = get_balance(world.l1.kv, PROPOSER.address) - proposer_before
    lost = challenger_before - get_balance(world.l1.kv, CHALLENGER.address)
    proposer_txs, challenger_txs = count_senders(world, game_id)
    assert gained == BOND + BOND - proposer_txs  # counter-bond won + own bond back, minus fees (1 each)
    assert lost == BOND + 1 + challenger_txs  # counter-bond lost, dispute fee, response fees
    assert world.total_supply() == supply


def count_senders(world: World, game_id: int) -> tuple[int, int]:
    """(proposer, challenger) game_move transactions of a game, from the blocks' receipts."""
    proposer = challenger = 0
    for number in range(1, world.l1.head.number + 1):
        block = world.l1.get_block(number)
        assert block is not None
        for tx_hash in block.tx_hashes():
            included = world.l1.get_receipt(tx_hash)
            assert included is not None
            receipt = included.receipt
            if receipt.kind != "game_move":
                continue
            if receipt.sender == PROPOSER.address:
                proposer += 1
            elif receipt.sender == CHALLENGER.address:
                challenger += 1
    return proposer, challenger


def test_wrong_output_defeated_by_bisection_and_one_step_proof(world: World) -> None:
    supply = world.total_supply()
    index = world.propose(6, faulty=True)  # block 5 executed with another fee recipient
    challenger_before = get_balance(world.l1.kv, CHALLENGER.address)
    game_id = dispute(world, index)
    disputed_at = world.l1.head.number
    stats = play(world, game_id, View.faulty(world), View(world.honest), prover=CHALLENGER)
    record = world.game(game_id)
    assert record.game.challenger_won
    assert record.game.disputed_header is not None and record.game.disputed_header.number == 5
    FIGURES["wrong output: L1 txs (dispute + moves + proof)"] = stats.txs + 1
    FIGURES["wrong output: witness bytes of the one-step proof"] = stats.witness_bytes
    FIGURES["wrong output: L1 blocks dispute -> resolution"] = world.l1.head.number - disputed_at
    # a correct output for block 6 is accepted at once (proposals need no order)
    again = world.propose(6)
    assert again == index + 1 and status_of(world, again) is OutputStatus.PENDING
    # the output is settled when its window passes: defeated, the challenger beat its only defender
    assert status_of(world, index) is OutputStatus.PENDING
    world.mine_until(get_output(world.l1.kv, index).finalizes_at(WINDOW))  # type: ignore[union-attr]
    assert status_of(world, index) is OutputStatus.DEFEATED
    # the challenger gets both bonds (its fees aside); bonds are conserved
    challenger_txs = 1 + count_senders(world, game_id)[1] + 1  # dispute, responses, proof
    assert get_balance(world.l1.kv, CHALLENGER.address) == challenger_before + BOND - challenger_txs
    assert world.total_supply() == supply


def test_defender_win_after_the_deadline_finalizes_at_resolution(tmp_path: Path) -> None:
    w = World(tmp_path, window=3)
    try:
        w.build_scenario()
        index = w.propose(3)
        game_id = dispute(w, index)
        play(w, game_id, View(w.honest), None, prover=HELPER)
        assert w.l1.head.number > get_output(w.l1.kv, index).finalizes_at(3)  # type: ignore[union-attr]
        assert status_of(w, index) is OutputStatus.FINALIZED
        expect_failure(w, CHALLENGER, DisputeOutput(index), OutputNotDisputable, BOND)
    finally:
        w.close()


def test_step_count_outside_the_blocks_range_rejected(world: World) -> None:
    index = world.propose(1, faulty=False)
    game_id = dispute(world, index)  # start: genesis (0), end: 1 -> straight to the opening
    record = world.game(game_id)
    assert record.game.phase is Phase.OPENING
    honest = View(world.honest)
    opening = honest.opening(record)
    m = len(honest.block(1).transactions)
    for count in (m, m + MAX_END_OF_BLOCK_CHUNKS + 1):  # no end-of-block step / more chunks than allowed
        lying = honest.open_move(world, record, replace(opening, step_count=count))
        message = expect_failure(world, PROPOSER, lying, UnderivableOpening)
        assert "step count" in message and world.game(game_id).game.phase is Phase.OPENING
    assert world.run(PROPOSER, honest.open_move(world, record)).receipt.status == 1


def test_a_correct_output_opened_with_too_many_steps_loses_the_first_extra_step(world: World) -> None:
    """The count is the defender's claim, in range: an end-of-block chunk past the phase's end is INVALID."""
    index = world.propose(1, faulty=False)
    game_id = dispute(world, index)
    honest = View(world.honest)
    count = len(honest.step_roots(1)) - 1
    play(world, game_id, View(world.honest, extra_steps=3), honest, prover=CHALLENGER)
    game = world.game(game_id).game
    assert game.challenger_won and game.step_count == count + 3
    assert (game.lo, game.hi) == (count, count + 1)


def fake_block_one(world: World, tmp_path: Path, shift_ms: int) -> Chain:
    """A chain from the same genesis whose block 1 has block 1's origin, but no user txs and/or a shifted timestamp."""
    fake = Chain(ChainStore(tmp_path / "fake"), CONFIG)
    fake.init_genesis(ALLOC, timestamp_ms=L1_START_MS, l1_origin=(0, world.l1.get_block(0).hash()))  # type: ignore[union-attr]
    real = View(world.honest).block(1).header
    origin = world.l1.get_block(real.l1_origin_number)
    assert origin is not None
    deposits, forced = system_transactions(l1_block_data(origin))
    fake.seal_block([], real.timestamp_ms + shift_ms, (origin.number, origin.hash()), deposits, forced)
    assert get_block_output(fake.store, 0).output_root == world.genesis_root
    return fake


@pytest.mark.parametrize(
    "shift_ms, needle",
    [
        (0, "commits to"),  # the batch's user txs are left out: tx root differs
        (7, "derived with timestamp"),  # and the timestamp is shifted
    ],
)
def test_opening_a_header_the_l1_did_not_derive_rejected_then_defender_loses_on_time(
    world: World, tmp_path: Path, shift_ms: int, needle: str
) -> None:
    fake = fake_block_one(world, tmp_path, shift_ms)
    try:
        root = get_block_output(fake.store, 1).output_root
        assert root != get_block_output(world.honest.store, 1).output_root
        receipt = world.run(PROPOSER, ProposeOutput(1, root), BOND)
        assert receipt.receipt.status == 1, receipt.receipt.error
        fake_index = int(receipt.events[0].index)
        game_id = dispute(world, fake_index)
        record = world.game(game_id)
        assert record.game.phase is Phase.OPENING
        move = View(fake).open_move(world, record)  # self-consistent: opens the proposed output root
        message = expect_failure(world, PROPOSER, move, UnderivableOpening)
        assert needle in message, message
        assert world.game(game_id).game.phase is Phase.OPENING
        world.mine_until(record.created_at + CLOCK)
        expect_failure(world, PROPOSER, move, ClockExpired)
        assert world.run(HELPER, ResolveGame(game_id)).receipt.status == 1
        assert world.game(game_id).game.challenger_won
        world.mine_until(get_output(world.l1.kv, fake_index).finalizes_at(WINDOW))  # type: ignore[union-attr]
        assert status_of(world, fake_index) is OutputStatus.DEFEATED
    finally:
        fake.store.close()


def test_opening_a_default_block_where_the_l1_derived_a_batch_block_rejected(world: World, tmp_path: Path) -> None:
    """A default block is what derivation makes only once its epoch's sequencing window closed with no batch:
    claiming one where the L1 derived the sequencer's block (the window still open) is refused."""
    real = View(world.honest).block(1)
    origin = world.l1.get_block(real.header.l1_origin_number)
    assert origin is not None and real.header.timestamp_ms != origin.header.timestamp_ms
    default = Chain(ChainStore(tmp_path / "default"), CONFIG)
    try:
        default.init_genesis(ALLOC, timestamp_ms=L1_START_MS, l1_origin=(0, world.l1.get_block(0).hash()))  # type: ignore[union-attr]
        deposits, forced = system_transactions(l1_block_data(origin))
        default.seal_block([], origin.header.timestamp_ms, (origin.number, origin.hash()), deposits, forced)
        receipt = world.run(PROPOSER, ProposeOutput(1, get_block_output(default.store, 1).output_root), BOND)
        game_id = dispute(world, int(receipt.events[0].index))
        message = expect_failure(
            world, PROPOSER, View(default).open_move(world, world.game(game_id)), UnderivableOpening
        )
        assert "derived with timestamp" in message
    finally:
        default.store.close()


# -- rejected moves --


def reach_one_step(world: World) -> int:
    """A game over the faulty output of block 6, played up to the one-step proof."""
    game_id = dispute(world, world.propose(6, faulty=True))
    faulty, honest = View.faulty(world), View(world.honest)
    while world.game(game_id).game.phase is not Phase.ONE_STEP:
        record = world.game(game_id)
        game = record.game
        if game.phase is Phase.OPENING:
            world.run(PROPOSER, faulty.open_move(world, record))
        elif game.mid_claim is None:
            world.run(PROPOSER, GameMove(game_id, Claim(Side.DEFENDER, faulty.root_at(record, game.mid))))
        else:
            agree = honest.root_at(record, game.mid) == game.mid_claim
            world.run(CHALLENGER, GameMove(game_id, Respond(Side.CHALLENGER, agree)))
    return game_id


def test_tampered_witness_rejected(world: World) -> None:
    game_id = reach_one_step(world)
    record = world.game(game_id)
    good = View(world.honest).step_witness(record)
    witness = Witness.decode(good)
    entry = next(e for e in witness.entries if e.value is not None)
    tampered_value = bytes(entry.value[:-1]) + bytes([entry.value[-1] ^ 1])  # type: ignore[index]
    entries = tuple(WitnessEntry(e.key_hash, tampered_value, e.proof) if e is entry else e for e in witness.entries)
    tampered = Witness(entries, witness.openings).encode()
    dropped = Witness(witness.entries[1:], witness.openings).encode()
    for bad in (tampered, dropped, good[:-1], b"\x00"):
        expect_failure(world, CHALLENGER, ProveStepTx(game_id, bad), InvalidWitness)
    assert world.game(game_id).game.in_progress
    assert world.run(CHALLENGER, ProveStepTx(game_id, good)).receipt.status == 1
    assert world.game(game_id).game.challenger_won


def test_moves_after_the_clock_ran_out_rejected_then_timeout(world: World) -> None:
    supply = world.total_supply()
    index = world.propose(6)
    game_id = dispute(world, index)
    record = world.game(game_id)
    root = View(world.honest).root_at(record, record.game.mid)
    expect_failure(world, HELPER, ResolveGame(game_id), ClockNotExpired)
    world.mine_until(record.created_at + CLOCK)  # the defender's clock hits 0 at this block
    expect_failure(world, PROPOSER, GameMove(game_id, Claim(Side.DEFENDER, root)), ClockExpired)  # included at +CLOCK+1
    resolved = world.run(HELPER, ResolveGame(game_id))
    assert resolved.receipt.status == 1
    assert world.game(game_id).game.challenger_won and status_of(world, index) is OutputStatus.PENDING
    FIGURES["timeout (defender silent): L1 blocks dispute -> resolution"] = resolved.block_number - record.created_at
    world.mine_until(get_output(world.l1.kv, index).finalizes_at(WINDOW))  # type: ignore[union-attr]
    assert status_of(world, index) is OutputStatus.DEFEATED  # the challenger beat the only defender
    expect_failure(world, PROPOSER, GameMove(game_id, Claim(Side.DEFENDER, root)), GameAlreadyOver)
    expect_failure(world, HELPER, ResolveGame(game_id), GameAlreadyOver)
    assert world.total_supply() == supply


def test_challenger_silent_loses_on_time(world: World) -> None:
    index = world.propose(6)
    game_id = dispute(world, index)
    record = world.game(game_id)
    world.run(PROPOSER, GameMove(game_id, Claim(Side.DEFENDER, View(world.honest).root_at(record, record.game.mid))))
    world.mine_until(world.game(game_id).game.turn_started_at + CLOCK + 1)
    expect_failure(world, CHALLENGER, GameMove(game_id, Respond(Side.CHALLENGER, False)), ClockExpired)
    assert world.run(HELPER, ResolveGame(game_id)).receipt.status == 1
    assert world.game(game_id).game.defender_won and status_of(world, index) is OutputStatus.PENDING


def test_wrong_side_and_illegal_moves_rejected(world: World) -> None:
    index = world.propose(6)
    game_id = dispute(world, index)
    record = world.game(game_id)
    root = View(world.honest).root_at(record, record.game.mid)
    expect_failure(world, CHALLENGER, GameMove(game_id, Respond(Side.CHALLENGER, False)), NotYourTurn)
    expect_failure(world, CHALLENGER, GameMove(game_id, Claim(Side.CHALLENGER, root)), NotYourTurn)
    bogus = OpenOutputs(Side.DEFENDER, root, root, View(world.honest).block(6).header, 2)
    expect_failure(world, PROPOSER, GameMove(game_id, bogus), IllegalMove)
    expect_failure(world, HELPER, ProveStepTx(game_id, b""), IllegalMove)
    # fixed players: nobody but the game's defender may move for it, nor but its challenger for the other side
    expect_failure(world, HELPER, GameMove(game_id, Claim(Side.DEFENDER, root)), NotThePlayer)
    expect_failure(world, CHALLENGER, GameMove(game_id, Claim(Side.DEFENDER, root)), NotThePlayer)
    assert world.run(PROPOSER, GameMove(game_id, Claim(Side.DEFENDER, root))).receipt.status == 1
    expect_failure(world, PROPOSER, GameMove(game_id, Claim(Side.DEFENDER, root)), NotYourTurn)
    expect_failure(world, HELPER, GameMove(game_id, Respond(Side.CHALLENGER, True)), NotThePlayer)
    expect_failure(world, PROPOSER, GameMove(game_id, Respond(Side.CHALLENGER, True)), NotThePlayer)
    assert world.run(CHALLENGER, GameMove(game_id, Respond(Side.CHALLENGER, True))).receipt.status == 1
    expect_failure(world, CHALLENGER, GameMove(game_id + 7, Respond(Side.CHALLENGER, True)), GameNotFound)
    assert world.game(game_id).defender == PROPOSER.address


# -- dispute_output rules --


def test_dispute_rules(world: World) -> None:
    expect_failure(world, CHALLENGER, DisputeOutput(0), OutputNotFound, BOND)
    index = world.propose(3)
    expect_failure(world, CHALLENGER, DisputeOutput(index), BondTooLow, BOND - 1)
    game_id = dispute(world, index, bond=BOND + 5)
    assert world.game(game_id).challenger_bond == BOND + 5
    expect_failure(world, CHALLENGER, DisputeOutput(index), AlreadyAParty, BOND)  # one side, once
    expect_failure(world, PROPOSER, DisputeOutput(index), AlreadyAParty, BOND)  # its own output
    expect_failure(world, CHALLENGER, DefendOutput(index), AlreadyAParty, BOND)  # not both sides
    # another proposal for the same block, or an earlier one, needs no order: each is judged on its own
    assert world.run(PROPOSER, ProposeOutput(3, b"\x01" * 32), BOND).receipt.status == 1
    assert world.run(PROPOSER, ProposeOutput(2, b"\x01" * 32), BOND).receipt.status == 1
    # but only for a block the L1 derived: block 7 does not exist yet
    receipt = world.run(PROPOSER, ProposeOutput(7, b"\x01" * 32), BOND)
    assert receipt.receipt.error_code == L2BlockNotDerived.rpc_code
    later = world.propose(6)
    world.mine_until(get_output(world.l1.kv, later).finalizes_at(WINDOW))  # type: ignore[union-attr]
    assert status_of(world, later) is OutputStatus.FINALIZED
    expect_failure(world, CHALLENGER, DisputeOutput(later), OutputNotDisputable, BOND)
    assert world.game(game_id).game.start_block == 0  # anchored at genesis: no finalized output before it


def test_game_anchors_at_the_newest_finalized_output(tmp_path: Path) -> None:
    w = World(tmp_path, window=4)
    try:
        w.build_scenario()
        first = w.propose(2)
        w.mine_until(get_output(w.l1.kv, first).finalizes_at(4))  # type: ignore[union-attr]
        pending = w.propose(4)
        target = w.propose(6)
        assert status_of(w, pending) is OutputStatus.PENDING
        game_id = dispute(w, target)
        game = w.game(game_id).game
        assert (game.start_block, game.lo_claim) == (2, get_output(w.l1.kv, first).output_root)  # type: ignore[union-attr]
        play(w, game_id, View(w.honest), None, prover=HELPER)
        assert w.game(game_id).game.defender_won
    finally:
        w.close()


def test_genesis_disputes_need_the_genesis_root_and_rollup_config(tmp_path: Path) -> None:
    w = World(tmp_path / "a", genesis_root=False)
    try:
        w.build_scenario()
        expect_failure(w, CHALLENGER, DisputeOutput(w.propose(3)), NoAgreedOutput, BOND)
    finally:
        w.close()
    w = World(tmp_path / "b", rollup=None)
    try:
        w.build_scenario()
        expect_failure(w, CHALLENGER, DisputeOutput(w.propose(3)), DisputesDisabled, BOND)
    finally:
        w.close()


def test_block_zero_proposal_settled_against_the_genesis_root(tmp_path: Path) -> None:
    w = World(tmp_path)
    try:
        assert w.run(PROPOSER, ProposeOutput(0, b"\x02" * 32), BOND).receipt.status == 1
        before = get_balance(w.l1.kv, CHALLENGER.address)
        game_id = dispute(w, 0)
        assert w.game(game_id).game.challenger_won
        w.mine_until(get_output(w.l1.kv, 0).finalizes_at(WINDOW))  # type: ignore[union-attr]
        assert status_of(w, 0) is OutputStatus.DEFEATED
        assert get_balance(w.l1.kv, CHALLENGER.address) == before + BOND - 1
        assert w.run(PROPOSER, ProposeOutput(0, w.genesis_root), BOND).receipt.status == 1
        expect_failure(w, CHALLENGER, DisputeOutput(1), OutputNotDisputable, BOND)
    finally:
        w.close()


def test_opening_a_header_with_a_foreign_l1_origin_rejected(world: World, tmp_path: Path) -> None:
    fake = Chain(ChainStore(tmp_path / "fake"), CONFIG)
    try:
        fake.init_genesis(ALLOC, timestamp_ms=10_000, l1_origin=(0, world.l1.get_block(0).hash()))  # type: ignore[union-attr]
        real = View(world.honest).block(1).header
        fake.seal_block([], real.timestamp_ms, (1, b"\xee" * 32))
        root = get_block_output(fake.store, 1).output_root
        receipt = world.run(PROPOSER, ProposeOutput(1, root), BOND)
        game_id = dispute(world, int(receipt.events[0].index))
        record = world.game(game_id)
        opening = View(fake).opening(record)
        message = expect_failure(world, PROPOSER, GameMove(game_id, opening), UnderivableOpening)
        assert "is not L1 block 1's" in message
        assert world.game(game_id).game.phase is Phase.OPENING
    finally:
        fake.store.close()


def test_l1_computes_the_l2_genesis_output_root_like_the_l2_chain(world: World) -> None:
    block0 = world.l1.get_block(0)
    assert block0 is not None
    assert (
        compute_l2_genesis_output_root(ALLOC.items(), block0.header.timestamp_ms, block0.hash()) == world.genesis_root
    )
    assert (
        compute_l2_genesis_output_root(ALLOC.items(), block0.header.timestamp_ms + 1, block0.hash())
        != world.genesis_root
    )


def test_dispute_config_keys() -> None:
    base = {"node": {"data_dir": "x"}}
    config = l1_config_from_dict(base)
    assert config.params.disputes == DisputeParams() and config.l2_genesis_alloc is None
    root = "0x" + "ab" * 32
    rollup = {"chain_id": 901, "fee_recipient": "dev5", "min_fee": "3", "genesis": {"dev6": "100"}}
    config = l1_config_from_dict(
        {**base, "l1": {"game_clock_blocks": 7, "l2_genesis_output_root": root, "rollup": rollup}}
    )
    disputes = config.params.disputes
    assert disputes.game_clock_blocks == 7 and disputes.genesis_output_root == bytes.fromhex("ab" * 32)
    assert disputes.rollup == ChainConfig(901, dev_account(5).address, 3, 10_000)
    assert config.l2_genesis_alloc == ((dev_account(6).address, 100),)
    for bad, message in (
        ({"game_clock_blocks": 0}, "game_clock_blocks"),
        ({"l2_genesis_output_root": "0x12"}, "l2_genesis_output_root"),
        ({"rollup": {"chain_id": 901}}, "fee_recipient is required"),
        ({"rollup": {**rollup, "sequencing_windows": 3}}, "unknown key"),
        ({"rollup": {**rollup, "sequencing_window": 0}}, "sequencing_window"),
        ({"rollup": {**rollup, "genesis": {"nope": 1}}}, "l1.rollup.genesis"),
    ):
        with pytest.raises(ConfigError, match=message):
            l1_config_from_dict({**base, "l1": bad})


def test_report_figures() -> None:
    """Runs last in this module: print the figures the other tests recorded."""
    for name, value in FIGURES.items():
        print(f"FIGURE {name}: {value}")
