"""Attackers against the dispute contracts, in-process: fixed players, parties on both sides, settlement, bonds.

A real L2 chain's batches sit in a real L1 chain (tests.l1.support.World). Each test is an attack
from the threat model (docs/protocol.md section 9) and checks that the attacker loses and honest parties keep
their bonds:

- an attacker disputes an honest output while its proposer is offline: an honest party joins the defence,
  beats the attacker, the output finalizes and the offline proposer's bond comes back;
- an attacker tries to move for the honest side: refused;
- a wrong output defended by a puppet defender and "disputed" by a puppet challenger that loses on purpose: the
  honest challenger beats every defender and takes their bonds;
- an attacker without the proposer key, or naming a block the L1 has not derived, cannot propose; once the
  fallback opens its wrong output is beaten like any other;
- defences are refused when nobody disputes, after the window with no game running, twice, or on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from l1.chain.accounts import get_balance
from l1.contracts.dispute_state import PartySide, get_dispute_counts, get_party
from l1.contracts.errors import (
    AlreadyAParty,
    L2BlockNotDerived,
    NotDisputed,
    NotProposer,
    NotThePlayer,
    OutputNotDisputable,
)
from l1.contracts.events import OutputDisputed
from l1.contracts.payloads import DefendOutput, DisputeOutput, GameMove, L1Transfer, ProposeOutput, ResolveGame
from l1.contracts.state import OutputStatus, get_output
from node.crypto import PrivateKey
from node.fraud.game import Claim, Side
from node.fraud.trace import get_block_output
from node.keys.hd import dev_account
from tests.l1.support import (
    BOND,
    CHALLENGER,
    CLOCK,
    HELPER,
    PROPOSER,
    USER,
    WINDOW,
    View,
    World,
    defend,
    dispute,
    expect_failure,
    play,
    play_together,
    status_of,
)

ATTACKER = USER  # an L1 account with funds and no role
PUPPET = dev_account(5)  # a second attacker identity (no L1 funds in World: funded below)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, faulty_block=5)
    w.build_scenario()
    yield w
    w.close()


def settle(world: World, index: int) -> OutputStatus:
    output = get_output(world.l1.kv, index)
    assert output is not None
    world.mine_until(output.finalizes_at(WINDOW))
    return status_of(world, index)


def resolve_on_time(world: World, game_id: int) -> None:
    """Let the side on turn run out of clock, then resolve (anyone may)."""
    record = world.game(game_id)
    used = record.game.defender_used if record.game.turn is Side.DEFENDER else record.game.challenger_used
    world.mine_until(record.game.turn_started_at + CLOCK - used)
    assert world.run(HELPER, ResolveGame(game_id)).receipt.status == 1


def test_honest_output_survives_an_attacker_while_its_proposer_is_offline(world: World) -> None:
    supply = world.total_supply()
    index = world.propose(6)
    proposer_before = get_balance(world.l1.kv, PROPOSER.address)
    attacker_before, attacker_txs = get_balance(world.l1.kv, ATTACKER.address), count_txs(world, ATTACKER)
    helper_before, helper_txs = get_balance(world.l1.kv, HELPER.address), count_txs(world, HELPER)
    vs_proposer = dispute(world, index, key=ATTACKER)
    # the attacker cannot speak for the offline proposer, nor the helper for it: fixed players
    root = View(world.honest).root_at(world.game(vs_proposer), world.game(vs_proposer).game.mid)
    expect_failure(world, ATTACKER, GameMove(vs_proposer, Claim(Side.DEFENDER, b"\x0b" * 32)), NotThePlayer)
    expect_failure(world, HELPER, GameMove(vs_proposer, Claim(Side.DEFENDER, root)), NotThePlayer)
    # an honest party joins the defence: its own game against the attacker
    (vs_helper,) = defend(world, index, HELPER)
    assert (world.game(vs_helper).challenger, world.game(vs_helper).defender) == (ATTACKER.address, HELPER.address)
    play(world, vs_helper, View(world.honest), None, prover=HELPER, defender_key=HELPER, challenger_key=ATTACKER)
    assert world.game(vs_helper).game.defender_won
    resolve_on_time(world, vs_proposer)  # the proposer is offline: it loses its own game on time
    assert world.game(vs_proposer).game.challenger_won
    # one defender beat the attacker: the output stands, and every defender's bond comes back
    assert settle(world, index) is OutputStatus.FINALIZED
    assert get_balance(world.l1.kv, PROPOSER.address) == proposer_before + BOND  # its bond back, no fee spent
    gained = get_balance(world.l1.kv, HELPER.address) - helper_before
    assert gained == BOND - (count_txs(world, HELPER) - helper_txs)  # the attacker's bond, minus its L1 fees (1 each)
    spent = attacker_before - get_balance(world.l1.kv, ATTACKER.address)
    assert spent == BOND + count_txs(world, ATTACKER) - attacker_txs  # its bond and its fees
    assert world.total_supply() == supply


def test_wrong_output_falls_to_one_honest_challenger_whatever_the_puppets_do(world: World) -> None:
    supply = world.total_supply()
    assert world.run(ATTACKER, L1Transfer(PUPPET.address), 10 * BOND).receipt.status == 1
    index = world.propose(6, faulty=True)  # the proposer lies about block 5
    # a puppet challenger disputes first and will lose on purpose; a puppet defender joins the wrong output
    (puppet_vs_proposer,) = join(world, DisputeOutput(index), PUPPET)
    (puppet_vs_puppet,) = defend(world, index, ATTACKER)
    honest_games = join(world, DisputeOutput(index), CHALLENGER)  # one game per defender
    assert [world.game(g).defender for g in honest_games] == [PROPOSER.address, ATTACKER.address]
    assert get_dispute_counts(world.l1.kv, index).open_games == 4
    # all four games run at once: the liars defend with the faulty history everywhere; the puppet challenger
    # never answers (it loses on time), the honest one proves the liars wrong
    faulty, honest = View.faulty(world), View(world.honest)
    for game_id in (puppet_vs_proposer, puppet_vs_puppet):
        record = world.game(game_id)
        world.send(
            key_of(record.defender), GameMove(game_id, Claim(Side.DEFENDER, faulty.root_at(record, record.game.mid)))
        )
    play_together(
        world, [(g, faulty, honest, key_of(world.game(g).defender), CHALLENGER) for g in honest_games], CHALLENGER
    )
    assert all(world.game(g).game.challenger_won for g in honest_games)
    for game_id in (puppet_vs_proposer, puppet_vs_puppet):
        resolve_on_time(world, game_id)
        assert world.game(game_id).game.defender_won
    challenger_before = get_balance(world.l1.kv, CHALLENGER.address)
    assert settle(world, index) is OutputStatus.DEFEATED
    # the honest challenger beat every defender: it takes both defenders' bonds; the puppet's comes back
    assert get_balance(world.l1.kv, CHALLENGER.address) == challenger_before + 3 * BOND
    assert world.total_supply() + get_balance(world.l1.kv, PUPPET.address) == supply  # the puppet's funds aside


def test_only_the_proposer_proposes_and_only_derived_blocks(tmp_path: Path) -> None:
    w = World(tmp_path, faulty_block=5, fallback=60)
    try:
        w.build_scenario()
        wrong = get_block_output(w.faulty.store, 6).output_root  # type: ignore[union-attr]
        expect_failure(w, ATTACKER, ProposeOutput(6, wrong), NotProposer, BOND)
        expect_failure(w, PROPOSER, ProposeOutput(10**9, b"\x01" * 32), L2BlockNotDerived, BOND)
        expect_failure(w, PROPOSER, ProposeOutput(7, b"\x01" * 32), L2BlockNotDerived, BOND)
        w.mine_until(61)  # no output finalized for 60 L1 blocks: the fallback opens
        receipt = w.run(ATTACKER, ProposeOutput(6, wrong), BOND)
        assert receipt.receipt.status == 1
        index = int(receipt.events[0].index)
        game_id = dispute(w, index)
        play(w, game_id, View.faulty(w), View(w.honest), prover=CHALLENGER, defender_key=ATTACKER)
        assert settle(w, index) is OutputStatus.DEFEATED
    finally:
        w.close()


def test_defence_rules(world: World) -> None:
    index = world.propose(6)
    expect_failure(world, HELPER, DefendOutput(index), NotDisputed, BOND)  # nobody disputes it
    dispute(world, index, key=ATTACKER)
    defend(world, index, HELPER)
    expect_failure(world, HELPER, DefendOutput(index), AlreadyAParty, BOND)
    expect_failure(world, HELPER, DisputeOutput(index), AlreadyAParty, BOND)
    expect_failure(world, PROPOSER, DefendOutput(index), AlreadyAParty, BOND)  # it defends already (slot 0)
    assert get_party(world.l1.kv, index, PartySide.DEFENDER, 0).address == PROPOSER.address  # type: ignore[union-attr]
    # every game ends; after the window, with no game running, nobody can join any more
    for game_id in (0, 1):
        resolve_on_time(world, game_id)
    assert get_dispute_counts(world.l1.kv, index).open_games == 0
    output = get_output(world.l1.kv, index)
    assert output is not None
    world.mine_until(output.finalizes_at(WINDOW) - 2)
    assert status_of(world, index) is OutputStatus.PENDING  # games over, window open: joinable again
    world.mine_until(output.finalizes_at(WINDOW))
    assert status_of(world, index) in (OutputStatus.FINALIZED, OutputStatus.DEFEATED)
    expect_failure(world, CHALLENGER, DefendOutput(index), OutputNotDisputable, BOND)
    expect_failure(world, CHALLENGER, DisputeOutput(index), OutputNotDisputable, BOND)


# -- helpers --


def join(world: World, payload: DisputeOutput | DefendOutput, key: PrivateKey) -> list[int]:
    """Join output's dispute with a bond; return the ids of the games this starts."""
    receipt = world.run(key, payload, BOND)
    assert receipt.receipt.status == 1, receipt.receipt.error
    return [int(e.game_id) for e in receipt.events if isinstance(e, OutputDisputed)]


def key_of(address: bytes) -> PrivateKey:
    return next(k for k in (PROPOSER, ATTACKER, HELPER, CHALLENGER, PUPPET) if k.address == address)


def count_txs(world: World, key: PrivateKey) -> int:
    """L1 transactions `key` had included so far (each paid a fee of 1)."""
    return world.l1.get_pending_nonce(key.address)


def test_wrong_outputs_for_past_duplicate_or_odd_blocks_are_defeated_too(world: World) -> None:
    """Whatever block a wrong output names (below a finalized one, the same block again, any number), it is
    disputed and defeated like any other: its game starts from the newest finalized output below it."""
    good = world.propose(6)
    assert settle(world, good) is OutputStatus.FINALIZED
    faulty, honest = View.faulty(world), View(world.honest)
    wrong = [world.propose(number, faulty=True) for number in (6, 5)]  # the same block again; an earlier one
    games = [dispute(world, index) for index in wrong]
    play_together(world, [(g, faulty, honest, PROPOSER, CHALLENGER) for g in games], CHALLENGER)
    assert all(world.game(g).game.challenger_won for g in games)
    assert [world.game(g).game.start_block for g in games] == [0, 0]  # block 6's finalized output is not below them
    assert [settle(world, index) for index in wrong] == [OutputStatus.DEFEATED, OutputStatus.DEFEATED]
    assert status_of(world, good) is OutputStatus.FINALIZED
