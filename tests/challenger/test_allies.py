"""Allied challengers (prover.allies): when we hold our bond back, and every way an ally stops covering.

Pure decisions over synthetic L1 views, the trace check over a real chain and
a wrong history of it, the referee's round over a fake L1 (hold back, then
join once the ally's clock runs low), and the `[challenger]` keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from l1.faults.trace import FaultMode, compute_faulty_trace
from node.chain import Chain
from node.fraud.game import Claim, Phase, Respond, Side, Status, apply_move, new_game
from node.service import ConfigError
from prover.allies import AllyPolicy, HoldBack, Join, decide_join, rank_members, trace_checker
from prover.conduct import HonestConduct
from prover.config import challenger_config_from_dict
from prover.games import GameView, OutputView
from prover.oracle import TraceOracle
from prover.referee import Referee
from tests.challenger.test_challenger_strategy import CLOCK, FakeContracts, view_of
from tests.fraud.support import CONFIG, build_kinds_chain

ME, ALLY, OTHER_ALLY, PUPPET, PROPOSER, LATE_DEFENDER = (bytes([i]) * 20 for i in range(1, 7))
POLICY = AllyPolicy(frozenset({ALLY, OTHER_ALLY}), backstop_blocks=4, stagger_blocks=2)
WRONG = b"\xee" * 32


def output(challengers: tuple[bytes, ...] = (), defenders: tuple[bytes, ...] = (PROPOSER,), **kw: Any) -> OutputView:
    base = OutputView(3, 6, WRONG, PROPOSER, 10, 100, 140, "disputed" if challengers else "pending")
    return replace(base, challengers=challengers, defenders=defenders, **kw)


def game(challenger: bytes, defender: bytes = PROPOSER, game_id: int = 1, **kw: Any) -> GameView:
    """A running game of output 3, defender on turn, both clocks at 10 blocks unless said otherwise."""
    played = new_game(2, b"\x01" * 32, 6, WRONG, CLOCK, 100)
    view = replace(view_of(played, 100, game_id), output_index=3, challenger=challenger, defender=defender)
    return replace(view, **{"remaining": {Side.CHALLENGER: 10, Side.DEFENDER: 10}, **kw})


def decide(out: OutputView, games: list[GameView], head: int = 105, first_seen: int = 101, me: bytes = ME) -> Any:
    return decide_join(out, games, head, me, POLICY, first_seen, lambda g: True)


def test_without_allies_we_always_join() -> None:
    decision = decide_join(output((ALLY,)), [game(ALLY)], 105, ME, AllyPolicy(), 101, lambda g: True)
    assert isinstance(decision, Join)


def test_an_ally_that_plays_every_defender_in_time_makes_us_hold_back() -> None:
    decision = decide(output((ALLY,)), [game(ALLY)])
    assert isinstance(decision, HoldBack) and "keeps up" in decision.reason
    won = game(ALLY, status=Status.CHALLENGER_WON)
    assert isinstance(decide(output((ALLY,)), [won], head=139), HoldBack)  # done: nothing left to back up


@pytest.mark.parametrize(
    ("games", "defenders", "head", "why"),
    [
        ([game(ALLY, remaining={Side.CHALLENGER: 4, Side.DEFENDER: 10})], (PROPOSER,), 105, "clock"),
        (
            [game(ALLY, turn=Side.CHALLENGER, remaining={Side.CHALLENGER: 5, Side.DEFENDER: 9})],
            (PROPOSER,),
            105,
            "clock",
        ),
        ([game(ALLY, status=Status.DEFENDER_WON)], (PROPOSER,), 105, "lost"),
        ([game(ALLY)], (PROPOSER, LATE_DEFENDER), 105, "no game against"),  # a defender it does not play yet
        ([game(ALLY)], (PROPOSER,), 136, "window closes"),  # finalizes at 140, backstop 4: join while we may
    ],
)
def test_an_ally_that_falls_behind_or_cannot_win_makes_us_join(
    games: list[GameView], defenders: tuple[bytes, ...], head: int, why: str
) -> None:
    decision = decide(output((ALLY,), defenders), games, head=head)
    assert isinstance(decision, Join) and why in decision.reason, decision


def test_an_ally_off_our_trace_makes_us_join() -> None:
    decision = decide_join(output((ALLY,)), [game(ALLY)], 105, ME, POLICY, 101, lambda g: False)
    assert isinstance(decision, Join) and "trace" in decision.reason


def test_a_late_defender_is_covered_once_the_ally_plays_it_too() -> None:
    games = [game(ALLY), game(ALLY, LATE_DEFENDER, game_id=2)]
    assert isinstance(decide(output((ALLY,), (PROPOSER, LATE_DEFENDER)), games), HoldBack)


MEMBERS = frozenset({ME, ALLY, OTHER_ALLY})


def as_member(me: bytes) -> AllyPolicy:
    """The policy of one of three mutually allied challengers."""
    return AllyPolicy(MEMBERS - {me}, backstop_blocks=4, stagger_blocks=2)


def test_a_non_ally_in_the_dispute_never_makes_us_wait_longer_than_our_rank() -> None:
    out = output((PUPPET,))
    first, second, third = rank_members(out, MEMBERS)
    assert all(rank_members(out, as_member(m).allies | {m}) == [first, second, third] for m in MEMBERS)
    puppet = [game(PUPPET)]
    assert isinstance(decide_join(out, puppet, 101, first, as_member(first), 101, lambda g: True), Join)
    held = decide_join(out, puppet, 101, second, as_member(second), 101, lambda g: True)
    assert isinstance(held, HoldBack) and held.until == 103
    assert isinstance(decide_join(out, puppet, 103, second, as_member(second), 101, lambda g: True), Join)
    late = decide_join(out, [], 101, third, as_member(third), 101, lambda g: True)
    assert isinstance(late, HoldBack) and late.until == 105


def test_the_stagger_never_passes_the_backstop_before_the_window_closes() -> None:
    out = output(finalizes_at=104)
    last = rank_members(out, MEMBERS)[-1]
    held = decide_join(out, [], 99, last, as_member(last), 99, lambda g: True)
    assert isinstance(held, HoldBack) and held.until == 100  # 104 - backstop 4, not 99 + 2 * 2


def test_the_first_rank_changes_from_output_to_output() -> None:
    firsts = {rank_members(replace(output(), index=i), MEMBERS)[0] for i in range(30)}
    assert firsts == MEMBERS


# -- the trace check, over a real chain and a wrong history of it --


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    chain = build_kinds_chain(tmp_path_factory.mktemp("allies"), 7)
    yield chain
    chain.store.close()


def test_trace_check_follows_an_allys_answers(chain: Chain) -> None:
    oracle = TraceOracle(chain.store, CONFIG)
    on_track = trace_checker(oracle)
    wrong = compute_faulty_trace(chain.store, CONFIG, FaultMode.TX_POST_STATE, 3, 6)
    start = new_game(2, oracle.output_root(2), 6, wrong.output_root(6), CLOCK, 10)
    assert on_track(view_of(start, 10))
    claimed = apply_move(start, Claim(Side.DEFENDER, wrong.output_root(4)), 11)  # wrong from block 3 on
    right = apply_move(claimed, Respond(Side.CHALLENGER, False), 12)  # disagree: hi = 4, disputed
    assert on_track(view_of(right, 12))
    bad = apply_move(claimed, Respond(Side.CHALLENGER, True), 12)  # agreed to a wrong root: lo = 4
    assert not on_track(view_of(bad, 12))
    honest = new_game(2, oracle.output_root(2), 6, oracle.output_root(6), CLOCK, 10)
    assert not on_track(view_of(honest, 10))  # disputing a root that is ours
    assert not on_track(replace(view_of(start, 10), phase=Phase.STEPS, block_number=None))


# -- the referee's round: hold back while the ally keeps up, join when its clock runs low --


def test_referee_holds_back_then_joins_when_the_ally_stalls(chain: Chain) -> None:
    oracle = TraceOracle(chain.store, CONFIG)
    good2, wrong6 = oracle.output_root(2), b"\xee" * 32
    anchor = OutputView(0, 2, good2, PROPOSER, 10, 0, 40, "finalized")
    disputed = OutputView(1, 6, wrong6, PROPOSER, 10, 25, 70, "disputed", (ALLY,), (PROPOSER,))
    ally_game = replace(
        view_of(new_game(2, good2, 6, wrong6, CLOCK, 26), 30), output_index=1, challenger=ALLY, defender=PROPOSER
    )
    fake = FakeContracts([anchor, disputed], [ally_game])
    policy = AllyPolicy(frozenset({ALLY}), backstop_blocks=5, stagger_blocks=2)
    referee = Referee(fake, oracle, ME, HonestConduct(oracle), policy)
    asyncio.run(referee.play_round())
    assert fake.sent == [] and referee.held_back == {1} and "keeps up" in referee.holding[1]
    # the ally has stopped answering: its clock is down to the backstop
    fake._games = [replace(ally_game, turn=Side.CHALLENGER, remaining={Side.CHALLENGER: 5, Side.DEFENDER: 40})]
    asyncio.run(referee.play_round())
    assert fake.sent == [("dispute", 1)] and 1 not in referee.holding
    # a non-allied challenger in the dispute never holds us back beyond our rank's stagger
    puppet = FakeContracts([anchor, replace(disputed, challengers=(PUPPET,))], [replace(ally_game, challenger=PUPPET)])
    first = rank_members(disputed, policy.allies | {ME})[0] == ME
    asyncio.run(Referee(puppet, oracle, ME, HonestConduct(oracle), policy).play_round())
    assert puppet.sent == ([("dispute", 1)] if first else [])


# -- config --


def doc(**challenger: Any) -> dict[str, Any]:
    return {
        "node": {"data_dir": "/tmp/allies-test"},
        "rollup": {"chain_id": 901, "l1_chain_id": 900, "fee_recipient": "0x000000000000000000000000000000000000fee1"},
        "challenger": {"l1_rpc": "http://127.0.0.1:8545/", "key": "dev6", **challenger},
    }


def test_allies_config() -> None:
    config = challenger_config_from_dict(doc(allies=["0x" + ALLY.hex()], backstop_blocks=7, ally_stagger_blocks=3))
    assert config.challenger.allies == AllyPolicy(frozenset({ALLY}), 7, 3)
    assert challenger_config_from_dict(doc()).challenger.allies == AllyPolicy()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"allies": "0x" + ALLY.hex()}, "allies must be a list"),
        ({"allies": ["0x1234"]}, "challenger.allies"),
        ({"allies": [42]}, "allies must be a list"),
        ({"backstop_blocks": 0}, "backstop_blocks"),
        ({"backstop_blocks": "5"}, "backstop_blocks"),
        ({"ally_stagger_blocks": 0}, "ally_stagger_blocks"),
        ({"ally_stagger_blocks": 10**7}, "ally_stagger_blocks"),
    ],
)
def test_bad_allies_config_is_rejected(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        challenger_config_from_dict(doc(**values))
