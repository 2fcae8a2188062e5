"""Dispute game arithmetic: a bisection with chess clocks, as pure functions on a frozen Game.

A game disputes the defender's (proposer's) output root at L2 block b against
the last agreed output at block a < b. Invariant: the claim at `lo` is agreed,
the claim at `hi` is disputed.

1. Blocks. (lo, hi) = (a, b), claims are output roots. While hi > lo + 1 the
   defender posts its output root at mid = (lo + hi) // 2 (`Claim`) and the
   challenger answers (`Respond`): agree -> lo = mid, disagree -> hi = mid.
2. Opening. With hi == lo + 1 the defender opens both outputs
   (`OpenOutputs`): the state root and block hash at lo, the header of block
   hi and its step count. The game checks they hash to the two output roots
   and that the header's number and parent hash fit; the L1 must check the
   step count's range (and the steps' inputs) against the batch data it
   holds. The count itself is the defender's claim: a wrong one loses the
   one-step proof (node.fraud.steps, INVALID_ROOT).
3. Steps. (lo, hi) = (0, step_count) over the intermediate state roots
   r(hi_block, k), with r(., 0) = the state root at lo and r(., step_count)
   = the header's state root. Same bisection (`Claim` / `Respond`).
4. One step. With hi == lo + 1, step `lo` of the disputed block is run by the
   L1 itself (node.fraud.onestep.execute_step from the agreed root `lo_claim`)
   and the result is submitted (`ProveStep`, by either side): post-root ==
   hi_claim -> the defender wins, otherwise the challenger wins.

Turns alternate: the defender moves (claim, opening), the challenger answers;
in the one-step phase the challenger is on turn (it disputes hi_claim), but
either side may submit the objective step result. Clocks: each side has
`clock_blocks` L1 blocks in total; the L1 blocks between the previous move
and a side's move are charged to the side on turn. A side whose clock has run
out cannot move any more, and `resolve_timeout` makes it lose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from node.block import BlockHeader
from node.fraud.steps import INVALID_ROOT, MAX_STEPS_PER_BLOCK, STEP_END_OF_BLOCK, STEP_TRANSACTION, StepInput
from node.output import compute_output_root


class GameError(Exception):
    """A move or resolution the game's rules do not allow."""


class NotYourTurn(GameError):
    pass


class ClockExpired(GameError):
    """The side on turn has used up its clock: only resolve_timeout applies now."""


class ClockNotExpired(GameError):
    pass


class InvalidMove(GameError):
    pass


class GameOver(GameError):
    pass


class Side(StrEnum):
    DEFENDER = "defender"
    CHALLENGER = "challenger"


class Status(StrEnum):
    IN_PROGRESS = "in_progress"
    CHALLENGER_WON = "challenger_won"
    DEFENDER_WON = "defender_won"


class Phase(StrEnum):
    BLOCKS = "blocks"
    OPENING = "opening"
    STEPS = "steps"
    ONE_STEP = "one_step"
    OVER = "over"


@dataclass(frozen=True, slots=True)
class Claim:
    side: Side
    root: bytes


@dataclass(frozen=True, slots=True)
class Respond:
    side: Side
    agree: bool


@dataclass(frozen=True, slots=True)
class OpenOutputs:
    side: Side
    lo_state_root: bytes
    lo_block_hash: bytes
    hi_header: BlockHeader
    step_count: int


@dataclass(frozen=True, slots=True)
class ProveStep:
    side: Side
    post_root: bytes  # what execute_step computed from lo_claim


Move = Claim | Respond | OpenOutputs | ProveStep


@dataclass(frozen=True, slots=True)
class Game:
    start_block: int
    end_block: int
    clock_blocks: int
    phase: Phase
    status: Status
    lo: int
    hi: int
    lo_claim: bytes
    hi_claim: bytes
    mid_claim: bytes | None
    turn: Side
    turn_started_at: int
    defender_used: int = 0
    challenger_used: int = 0
    disputed_header: BlockHeader | None = None
    step_count: int = 0
    moves: int = 0

    @property
    def in_progress(self) -> bool:
        return self.status is Status.IN_PROGRESS

    @property
    def challenger_won(self) -> bool:
        return self.status is Status.CHALLENGER_WON

    @property
    def defender_won(self) -> bool:
        return self.status is Status.DEFENDER_WON

    @property
    def mid(self) -> int:
        return (self.lo + self.hi) // 2


def new_game(
    start_block: int, agreed_output: bytes, end_block: int, disputed_output: bytes, clock_blocks: int, now: int
) -> Game:
    """A game over the defender's output at `end_block`, the output at `start_block` being agreed."""
    if not 0 <= start_block < end_block:
        raise InvalidMove(f"a dispute needs start_block < end_block, got {start_block} and {end_block}")
    validate_root(agreed_output, "agreed output")
    validate_root(disputed_output, "disputed output")
    if clock_blocks < 1:
        raise InvalidMove("each side needs a clock of at least one L1 block")
    phase = Phase.BLOCKS if end_block - start_block > 1 else Phase.OPENING
    return Game(
        start_block,
        end_block,
        clock_blocks,
        phase,
        Status.IN_PROGRESS,
        start_block,
        end_block,
        agreed_output,
        disputed_output,
        None,
        Side.DEFENDER,
        now,
    )


# -- reading a game --


def get_used(game: Game, side: Side) -> int:
    return game.defender_used if side is Side.DEFENDER else game.challenger_used


def get_remaining(game: Game, side: Side, now: int) -> int:
    """Clock left to `side` at L1 block `now` (negative once expired)."""
    running = now - game.turn_started_at if side is game.turn else 0
    return game.clock_blocks - get_used(game, side) - running


def is_clock_expired(game: Game, now: int) -> bool:
    return game.in_progress and get_remaining(game, game.turn, now) < 0


def get_step_position(game: Game) -> tuple[int, int, bytes, bytes]:
    """(block number, step index, agreed pre-root, disputed post-root) the one-step proof must settle."""
    if game.phase is not Phase.ONE_STEP or game.disputed_header is None:
        raise InvalidMove("the game is not waiting for a one-step proof")
    return game.disputed_header.number, game.lo, game.lo_claim, game.hi_claim


def validate_step_input(game: Game, step: StepInput) -> None:
    """The step an L1 runs for ProveStep must be the disputed block's step `lo` (context from the opened header)."""
    number, index, _, _ = get_step_position(game)
    header = game.disputed_header
    if (step.number, step.index) != (number, index):
        raise InvalidMove(f"the one-step proof is for step {index} of block {number}")
    is_last = index == game.step_count - 1
    if step.kind not in (STEP_TRANSACTION, STEP_END_OF_BLOCK) or (step.kind == STEP_TRANSACTION and is_last):
        raise InvalidMove(
            f"step {index} of block {number} is {'an end-of-block chunk' if is_last else 'not of that kind'}"
        )
    if step.kind == STEP_END_OF_BLOCK and step.last != is_last:
        raise InvalidMove(f"step {index} of block {number} {'is' if is_last else 'is not'} the block's last step")
    if header is None or (step.timestamp_ms, step.l1_origin_number) != (header.timestamp_ms, header.l1_origin_number):
        raise InvalidMove("the step's block context differs from the opened header")


def validate_root(root: bytes, what: str) -> None:
    if not isinstance(root, bytes) or len(root) != 32:
        raise InvalidMove(f"{what} must be 32 bytes")


# -- moves --


def apply_move(game: Game, move: Move, now: int) -> Game:
    """The game after `move` at L1 block `now`; raises a GameError for an illegal move."""
    validate_can_move(game, move, now)
    charged = charge_clock(game, now)
    if isinstance(move, Claim):
        return process_claim(charged, move)
    if isinstance(move, Respond):
        return process_response(charged, move)
    if isinstance(move, OpenOutputs):
        return process_opening(charged, move)
    if isinstance(move, ProveStep):
        return process_step_proof(charged, move)
    raise InvalidMove(f"unknown move {type(move).__name__}")


def validate_can_move(game: Game, move: Move, now: int) -> None:
    if not game.in_progress:
        raise GameOver(f"the game is over: {game.status.value}")
    if now < game.turn_started_at:
        raise InvalidMove(f"L1 block {now} is before the last move's block {game.turn_started_at}")
    if move.side is not game.turn and not isinstance(move, ProveStep):
        raise NotYourTurn(f"it is the {game.turn.value}'s turn")
    if get_remaining(game, game.turn, now) < 0:
        raise ClockExpired(f"the {game.turn.value}'s clock has run out")


def charge_clock(game: Game, now: int) -> Game:
    elapsed = now - game.turn_started_at
    if game.turn is Side.DEFENDER:
        return replace(game, defender_used=game.defender_used + elapsed, turn_started_at=now, moves=game.moves + 1)
    return replace(game, challenger_used=game.challenger_used + elapsed, turn_started_at=now, moves=game.moves + 1)


def process_claim(game: Game, move: Claim) -> Game:
    if game.phase not in (Phase.BLOCKS, Phase.STEPS) or game.mid_claim is not None:
        raise InvalidMove(f"no claim is expected in phase {game.phase.value}")
    validate_root(move.root, "claim")
    return replace(game, mid_claim=move.root, turn=Side.CHALLENGER)


def process_response(game: Game, move: Respond) -> Game:
    if game.phase not in (Phase.BLOCKS, Phase.STEPS) or game.mid_claim is None:
        raise InvalidMove("there is no claim to respond to")
    claim = game.mid_claim
    if move.agree:
        game = replace(game, lo=game.mid, lo_claim=claim, mid_claim=None)
    else:
        game = replace(game, hi=game.mid, hi_claim=claim, mid_claim=None)
    return process_narrowed(game)


def process_narrowed(game: Game) -> Game:
    """After the range shrank: keep bisecting, or move to the next phase at a single block / step."""
    if game.hi - game.lo > 1:
        return replace(game, turn=Side.DEFENDER)
    if game.phase is Phase.BLOCKS:
        return replace(game, phase=Phase.OPENING, turn=Side.DEFENDER)
    return replace(game, phase=Phase.ONE_STEP, turn=Side.CHALLENGER)


def process_opening(game: Game, move: OpenOutputs) -> Game:
    if game.phase is not Phase.OPENING:
        raise InvalidMove(f"outputs are opened only after the block bisection, not in phase {game.phase.value}")
    validate_opening(game, move)
    opened = replace(
        game,
        phase=Phase.STEPS,
        disputed_header=move.hi_header,
        step_count=move.step_count,
        lo=0,
        hi=move.step_count,
        lo_claim=move.lo_state_root,
        hi_claim=move.hi_header.state_root,
    )
    return process_narrowed(opened)


def validate_opening(game: Game, move: OpenOutputs) -> None:
    header = move.hi_header
    validate_root(move.lo_state_root, "state root at lo")
    validate_root(move.lo_block_hash, "block hash at lo")
    if compute_output_root(game.lo, move.lo_state_root, move.lo_block_hash) != game.lo_claim:
        raise InvalidMove(f"state root and block hash do not open the agreed output at block {game.lo}")
    if header.number != game.hi or header.parent_hash != move.lo_block_hash:
        raise InvalidMove(f"the opened header must be block {game.hi}, child of the block at {game.lo}")
    if compute_output_root(game.hi, header.state_root, header.hash()) != game.hi_claim:
        raise InvalidMove(f"the header does not open the disputed output at block {game.hi}")
    if not 1 <= move.step_count <= MAX_STEPS_PER_BLOCK:
        raise InvalidMove(f"step count {move.step_count} is outside [1, {MAX_STEPS_PER_BLOCK}]")
    if INVALID_ROOT in (move.lo_state_root, header.state_root):
        # No state has it: it is only the result of a step past a block's own steps (node.fraud.steps).
        raise InvalidMove("a state root cannot be INVALID_ROOT")


def process_step_proof(game: Game, move: ProveStep) -> Game:
    if game.phase is not Phase.ONE_STEP:
        raise InvalidMove("the game is not waiting for a one-step proof")
    validate_root(move.post_root, "post-root")
    status = Status.DEFENDER_WON if move.post_root == game.hi_claim else Status.CHALLENGER_WON
    return replace(game, phase=Phase.OVER, status=status)


def resolve_timeout(game: Game, now: int) -> Game:
    """End the game against the side on turn once its clock has run out."""
    if not game.in_progress:
        raise GameOver(f"the game is over: {game.status.value}")
    if not is_clock_expired(game, now):
        raise ClockNotExpired(f"the {game.turn.value} has {get_remaining(game, game.turn, now)} L1 blocks left")
    winner = Status.CHALLENGER_WON if game.turn is Side.DEFENDER else Status.DEFENDER_WON
    return replace(charge_clock(game, now), phase=Phase.OVER, status=winner)


# -- sizing --


def compute_ceil_log2(n: int) -> int:
    if n < 1:
        raise ValueError("a range holds at least one element")
    return (n - 1).bit_length()


def compute_depth(n_blocks: int, max_steps_per_block: int) -> int:
    """Bisection rounds (claim + response each) in the worst case: over blocks, then over steps."""
    return compute_ceil_log2(n_blocks) + compute_ceil_log2(max_steps_per_block)


def compute_max_moves(n_blocks: int, max_steps_per_block: int) -> int:
    """Every move of the longest game: two per round, the opening and the one-step proof."""
    return 2 * compute_depth(n_blocks, max_steps_per_block) + 2


__all__ = [
    "Claim",
    "ClockExpired",
    "ClockNotExpired",
    "Game",
    "GameError",
    "GameOver",
    "InvalidMove",
    "Move",
    "NotYourTurn",
    "OpenOutputs",
    "Phase",
    "ProveStep",
    "Respond",
    "Side",
    "Status",
    "apply_move",
    "compute_depth",
    "compute_max_moves",
    "get_remaining",
    "get_step_position",
    "is_clock_expired",
    "new_game",
    "resolve_timeout",
    "validate_step_input",
]
