"""What to do next in a dispute game: a pure function of the game as the L1 shows it and our trace.

    decide(game, side, player) -> Action

`side` is the side we play; `player` answers the game's questions from a
trace (ours, honest, or a deliberately wrong one for the test modes):

- defender, block / step phase, no claim pending: Claim(root at mid)
- challenger, a claim pending: Respond(agree = the claim equals ours)
- defender, opening: OpenOutputs(lo's state root and hash, hi's header, steps)
- one step (either side may prove): Prove when the objective result favours
  us (defender: our post-root is the disputed hi claim; challenger: it is not)
- not our turn and the side on turn has run out of clock: Resolve
- otherwise: Wait (with the reason, for the logs)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from node.fraud.game import Phase, Side
from prover.games import GameView
from prover.oracle import Opening


class Player(Protocol):
    def claim(self, game: GameView) -> bytes:
        """Our root at the game's mid position (block output or intermediate state root)."""

    def agrees(self, game: GameView) -> bool:
        """Whether the pending mid claim equals ours."""

    def opening(self, game: GameView) -> Opening | None:
        """lo's output opening and hi's header; None when we cannot open (we will lose on time)."""

    def step_result(self, game: GameView) -> StepResult | None:
        """The one-step execution from the agreed lo claim; None when we cannot prove it."""


@dataclass(frozen=True, slots=True)
class StepResult:
    block_number: int
    index: int
    pre_root: bytes
    post_root: bytes
    witness: bytes  # the encoded Merkle witness the L1 runs the step over


@dataclass(frozen=True, slots=True)
class PostClaim:
    root: bytes


@dataclass(frozen=True, slots=True)
class PostResponse:
    agree: bool


@dataclass(frozen=True, slots=True)
class PostOpening:
    opening: Opening


@dataclass(frozen=True, slots=True)
class ProveOneStep:
    result: StepResult


@dataclass(frozen=True, slots=True)
class Resolve:
    loser: Side


@dataclass(frozen=True, slots=True)
class Wait:
    reason: str


Action = PostClaim | PostResponse | PostOpening | ProveOneStep | Resolve | Wait


def opponent(side: Side) -> Side:
    return Side.CHALLENGER if side is Side.DEFENDER else Side.DEFENDER


def decide(game: GameView, side: Side, player: Player) -> Action:
    if not game.in_progress:
        return Wait(f"game is over: {game.status.value}")
    if game.has_run_out(game.turn):
        if game.turn is side:
            return Wait(f"our ({side.value}) clock has run out")
        return Resolve(game.turn)
    if game.phase is Phase.ONE_STEP:
        return decide_one_step(game, side, player)
    if game.turn is not side:
        return Wait(f"{game.turn.value}'s turn ({game.remaining.get(game.turn, 0)} L1 blocks left)")
    if game.phase in (Phase.BLOCKS, Phase.STEPS):
        if side is Side.DEFENDER and game.mid_claim is None:
            return PostClaim(player.claim(game))
        if side is Side.CHALLENGER and game.mid_claim is not None:
            return PostResponse(player.agrees(game))
        return Wait(f"nothing for the {side.value} to do in phase {game.phase.value}")
    if game.phase is Phase.OPENING and side is Side.DEFENDER:
        opening = player.opening(game)
        if opening is None:
            return Wait("we cannot open the disputed output: the game will be lost on time")
        return PostOpening(opening)
    return Wait(f"nothing for the {side.value} to do in phase {game.phase.value}")


def decide_one_step(game: GameView, side: Side, player: Player) -> Action:
    result = player.step_result(game)
    if result is None:
        return Wait("we cannot prove this step")
    if result.pre_root != game.lo_claim:
        return Wait("our pre-state differs from the agreed claim: this step cannot be proven by us")
    defender_wins = result.post_root == game.hi_claim
    if defender_wins == (side is Side.DEFENDER):
        return ProveOneStep(result)
    return Wait("the one-step result favours the other side")
