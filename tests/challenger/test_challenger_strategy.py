"""The challenger's decisions, played out on the reference game (node.fraud.game) over real chains.

An honest chain and a faulty proposer's wrong history (l1.faults.trace) of
the same blocks; the challenger's strategy (prover.strategy) and players
(prover.players) drive node.fraud.game to the end, the one-step proof being
run by node.fraud.onestep exactly as the L1 does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from l1.faults.challenger import ContrarianPlayer
from l1.faults.trace import FaultMode, compute_faulty_trace, find_fault_point
from node.chain import Chain
from node.fraud.game import (
    Claim,
    Game,
    OpenOutputs,
    Phase,
    ProveStep,
    Respond,
    Side,
    Status,
    apply_move,
    get_remaining,
    new_game,
    resolve_timeout,
)
from node.fraud.onestep import execute_step
from node.fraud.steps import get_block_step
from node.fraud.trace import get_block_output
from node.fraud.witness import Witness
from prover.games import GameView
from prover.oracle import Opening, TraceOracle
from prover.players import HonestPlayer
from prover.strategy import (
    PostClaim,
    PostOpening,
    PostResponse,
    ProveOneStep,
    Resolve,
    StepResult,
    Wait,
    decide,
)
from tests.fraud.support import CONFIG, build_kinds_chain

CLOCK = 50
D, C = Side.DEFENDER, Side.CHALLENGER


def view_of(game: Game, now: int, game_id: int = 1) -> GameView:
    """What the L1 would show of `game` at L1 block `now`."""
    return GameView(
        game_id=game_id,
        output_index=0,
        challenger=b"\x01" * 20,
        defender=b"\x02" * 20,
        status=game.status,
        phase=game.phase,
        lo=game.lo,
        hi=game.hi,
        lo_claim=game.lo_claim,
        hi_claim=game.hi_claim,
        mid_claim=game.mid_claim,
        turn=game.turn,
        remaining={side: get_remaining(game, side, now) for side in Side},
        now=now,
        block_number=game.disputed_header.number if game.disputed_header is not None else None,
        step_count=game.step_count,
        start_block=game.start_block,
        end_block=game.end_block,
        moves=game.moves,
        created_at=0,
        resolved_at=None,
        bonds={},
        raw={},
    )


class FaultyPlayer:
    """The faulty proposer's defence, from its wrong history (what the settler plays)."""

    def __init__(self, trace: Any) -> None:
        self.trace = trace

    def claim(self, game: GameView) -> bytes:
        if game.phase is Phase.BLOCKS:
            return self.trace.output_root(game.mid)
        return self.trace.step_root(game.block_number, game.mid)

    def agrees(self, game: GameView) -> bool:
        raise AssertionError("the proposer only defends")

    def opening(self, game: GameView) -> Opening | None:
        if not self.trace.can_open(game.hi):
            return None
        lo = self.trace.header(game.lo)
        return Opening(lo.state_root, lo.hash(), self.trace.header(game.hi), self.trace.step_count(game.hi))

    def step_result(self, game: GameView) -> StepResult | None:
        return None


def run_game(
    chain: Chain, game: Game, players: dict[Side, Any], now: int = 10, max_moves: int = 200
) -> tuple[Game, list[str]]:
    """Let both sides act in turn until the game is over: decided on the game at `now`, included at now + 1."""
    log: list[str] = []
    for _ in range(max_moves):
        if not game.in_progress:
            return game, log
        now += 1
        acted = False
        for side in (game.turn, D if game.turn is C else C):
            action = decide(view_of(game, now), side, players[side])
            if isinstance(action, Wait):
                continue
            game = apply_action(chain, game, side, action, now + 1)
            log.append(f"{side.value}:{type(action).__name__}")
            acted = True
            break
        if not acted:
            now += CLOCK  # nobody can move: let the clocks run
    raise AssertionError(f"the game did not end: {game}")


def apply_action(chain: Chain, game: Game, side: Side, action: Any, now: int) -> Game:
    if isinstance(action, PostClaim):
        return apply_move(game, Claim(side, action.root), now)
    if isinstance(action, PostResponse):
        return apply_move(game, Respond(side, action.agree), now)
    if isinstance(action, PostOpening):
        o = action.opening
        return apply_move(game, OpenOutputs(side, o.lo_state_root, o.lo_block_hash, o.hi_header, o.step_count), now)
    if isinstance(action, ProveOneStep):
        # The L1 rebuilds the step from its own data and runs it from the agreed lo claim.
        block = chain.store.get_block(action.result.block_number)
        step = get_block_step(block, action.result.index, game.step_count)
        post = execute_step(game.lo_claim, step, Witness.decode(action.result.witness), CONFIG)
        return apply_move(game, ProveStep(side, post), now)
    if isinstance(action, Resolve):
        return resolve_timeout(game, now)
    raise AssertionError(action)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = build_kinds_chain(tmp_path_factory.mktemp("strategy"), 7)
    yield chain  # type: ignore[misc]
    chain.store.close()


def start_game(chain: Chain, start: int, end: int, disputed: bytes, now: int = 10) -> Game:
    return new_game(start, get_block_output(chain.store, start).output_root, end, disputed, CLOCK, now)


def test_faulty_tx_post_state_loses_by_one_step_proof(chain: Chain) -> None:
    oracle = TraceOracle(chain.store, CONFIG)
    trace = compute_faulty_trace(chain.store, CONFIG, FaultMode.TX_POST_STATE, 3, 6)
    point = find_fault_point(chain.store, CONFIG, 3, 6)
    assert point.block == 3 and trace.first_bad == 3
    assert trace.output_root(2) == oracle.output_root(2)
    assert trace.output_root(3) != oracle.output_root(3) and trace.output_root(6) != oracle.output_root(6)
    assert trace.step_root(3, point.step) == oracle.step_root(3, point.step)
    assert trace.step_root(3, point.step + 1) != oracle.step_root(3, point.step + 1)
    game = start_game(chain, 0, 6, trace.output_root(6))
    final, log = run_game(chain, game, {C: HonestPlayer(oracle), D: FaultyPlayer(trace)})
    assert final.status is Status.CHALLENGER_WON
    assert log[-1] == "challenger:ProveOneStep"
    assert final.disputed_header is not None and final.disputed_header.number == 3
    assert final.lo == point.step


def test_garbage_root_loses_on_time(chain: Chain) -> None:
    oracle = TraceOracle(chain.store, CONFIG)
    trace = compute_faulty_trace(chain.store, CONFIG, FaultMode.GARBAGE, 1, 6)
    game = start_game(chain, 2, 6, trace.output_root(6))
    final, log = run_game(chain, game, {C: HonestPlayer(oracle), D: FaultyPlayer(trace)})
    assert final.status is Status.CHALLENGER_WON
    assert log[-1] == "challenger:Resolve"
    assert final.phase is Phase.OVER and final.lo == 5


def test_contrarian_challenger_loses_to_the_honest_defender(chain: Chain) -> None:
    oracle = TraceOracle(chain.store, CONFIG)
    game = start_game(chain, 0, 6, oracle.output_root(6))
    final, log = run_game(chain, game, {C: ContrarianPlayer(), D: HonestPlayer(oracle)})
    assert final.status is Status.DEFENDER_WON
    assert log[-1] == "defender:ProveOneStep"


def test_honest_challenger_agrees_with_an_honest_defender_to_the_end(chain: Chain) -> None:
    oracle = TraceOracle(chain.store, CONFIG)
    game = start_game(chain, 1, 4, oracle.output_root(4))
    final, log = run_game(chain, game, {C: HonestPlayer(oracle), D: HonestPlayer(oracle)})
    assert final.status is Status.DEFENDER_WON


def test_resolve_only_against_the_side_on_turn(chain: Chain) -> None:
    oracle = TraceOracle(chain.store, CONFIG)
    game = start_game(chain, 0, 6, oracle.output_root(6))
    view = view_of(game, 10 + CLOCK)  # the defender's clock is 0 now, -1 where our resolve lands
    assert decide(view, C, HonestPlayer(oracle)) == Resolve(D)
    assert isinstance(decide(view, D, HonestPlayer(oracle)), Wait)
    assert isinstance(decide(view_of(game, 11), C, HonestPlayer(oracle)), Wait)
    over = replace(game, status=Status.DEFENDER_WON, phase=Phase.OVER)
    assert isinstance(decide(view_of(over, 11), C, HonestPlayer(oracle)), Wait)


# -- the referee's round over a fake L1 --


class FakeContracts:
    """Outputs and games as the L1 would list them; records what the referee sends."""

    def __init__(self, outputs: list[Any], games: list[GameView]) -> None:
        self._outputs, self._games = outputs, games
        self.genesis_root: bytes | None = None
        self.sent: list[tuple[str, Any]] = []
        self.receipts: dict[bytes, dict[str, Any]] = {}

    async def head(self) -> int:
        return 30

    async def outputs(self) -> list[Any]:
        return self._outputs

    async def games(self) -> list[GameView]:
        return self._games

    async def dispute(self, output: Any) -> bytes:
        self.sent.append(("dispute", output.index))
        return bytes([len(self.sent)]) * 32

    async def defend(self, output: Any) -> bytes:
        self.sent.append(("defend", output.index))
        return bytes([len(self.sent)]) * 32

    async def send_action(self, game: GameView, side: Side, action: Any) -> bytes:
        self.sent.append((type(action).__name__, side))
        return bytes([len(self.sent)]) * 32

    async def receipt(self, tx_hash: bytes) -> dict[str, Any] | None:
        return self.receipts.get(tx_hash)

    def forget_games_before(self, game_id: int) -> None:
        pass


def test_referee_disputes_wrong_outputs_once_anchored_and_answers_its_games(chain: Chain) -> None:
    import asyncio

    from prover.conduct import HonestConduct
    from prover.games import OutputView
    from prover.referee import Referee

    oracle = TraceOracle(chain.store, CONFIG)
    me, proposer = b"\x01" * 20, b"\x09" * 20

    def output(index: int, block: int, status: str, root: bytes, challengers: tuple[bytes, ...] = ()) -> OutputView:
        return OutputView(index, block, root, proposer, 10, index, index + 40, status, challengers, (proposer,))

    good2, wrong6 = oracle.output_root(2), b"\xee" * 32
    fake = FakeContracts([output(0, 2, "pending", good2), output(1, 6, "pending", wrong6)], [])
    referee = Referee(fake, oracle, me, HonestConduct(oracle))
    asyncio.run(referee.play_round())
    assert fake.sent == []  # no finalized output before it: the L1 would refuse the dispute
    fake._outputs[0] = output(0, 2, "finalized", good2)
    asyncio.run(referee.play_round())
    asyncio.run(referee.play_round())  # in flight: not sent twice
    assert fake.sent == [("dispute", 1)]

    # Our game (we are its challenger) with the defender's claim pending: we respond.
    game = apply_move(new_game(2, good2, 6, wrong6, CLOCK, 30), Claim(D, oracle.output_root(4)), 30)
    fake._games = [replace(view_of(game, 30), challenger=me)]
    asyncio.run(referee.play_round())
    assert fake.sent[-1] == ("PostResponse", C)
    # A dispute of a correct output by someone else: we join its defence (nobody else may move for its proposer)...
    attacker = b"\x07" * 20
    fake._outputs.append(output(2, 5, "disputed", oracle.output_root(5), challengers=(attacker,)))
    other = new_game(2, good2, 5, oracle.output_root(5), CLOCK, 30)
    theirs = replace(view_of(other, 30, game_id=2), output_index=2, challenger=attacker, defender=proposer)
    fake._games = [theirs]
    asyncio.run(referee.play_round())
    assert fake.sent[-1] == ("defend", 2)
    # ... and play the defender in our own game against that challenger, never in the proposer's
    fake._outputs[-1] = replace(fake._outputs[-1], defenders=(proposer, me))
    fake._games = [theirs, replace(theirs, game_id=3, defender=me)]
    asyncio.run(referee.play_round())
    assert fake.sent[-1] == ("PostClaim", D) and len(fake.sent) == 4
    assert referee.stats.disputes == 1 and referee.stats.defences == 1 and referee.stats.moves == 2
