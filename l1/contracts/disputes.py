"""The dispute contracts (kinds 6-9, 12): pure rules over the L1 state,.

Who may do what (docs/protocol.md section 8, threat model):

- A dispute is a set of two-player games with fixed players. Nobody can move
  for another player: a game's challenger moves come only from its
  challenger, its defender moves only from its defender. So no one can wreck
  an honest party's line of play by moving first on its side.
- dispute_output (6): anyone, with a counter-bond >= proposer_bond, while the
  output's challenge window is open and it is not settled. The sender becomes
  a challenger of the output and starts one game against each of its
  defenders (the proposer is defender 0, with the proposal's bond).
- defend_output (12): anyone, with a bond >= proposer_bond, while the output
  is disputed and not settled (its window open, or a game of it running).
  The sender becomes a defender and starts one game against each challenger.
  So an honest party can always defend an honest output, even when its
  proposer is offline.
- An address plays on one side of an output only, once.
- Each game starts from the last *agreed* output: the newest `finalized`
  proposal below the disputed block, or L2 genesis. A pending predecessor is
  not agreed (it could itself be wrong and later defeated).
- game_move (7): Claim / Respond / OpenOutputs through node.fraud.game at the
  current L1 block (the clock of the side on turn is charged). An opened
  header must be the L2 block this L1 derived at that height from its own
  inbox (l1.contracts.inbox.rebuild_block: timestamp, origin, transactions) with a
  step count in range, else UnderivableOpening: nothing about derivation is
  trusted.
- prove_step (8): in the one-step phase, anyone: the result is objective.
  The L1 rebuilds the opened block from its inbox, takes step `lo`, runs it
  over the witness from the agreed root and settles the game on the
  post-root. If the rebuilt block shows the opened step count was false, the
  challenger wins at once.
- resolve_game (9): anyone, once the clock of the side on turn has run out.

A game's end moves no bond: it records who beat whom (l1.contracts.dispute_state
parties). When the output's window has passed and none of its games runs,
it is settled (l1.contracts.settlement): defeated iff one challenger beat every
defender, else finalized; bonds go accordingly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from l1.chain.errors import KindRuleError
from l1.chain.events import Event
from l1.chain.runtime import L1BlockEnv
from l1.chain.tx import RecoveredL1Tx
from l1.contracts.dispute_state import (
    GameRecord,
    Party,
    PartySide,
    add_party,
    append_game,
    find_party,
    get_dispute_counts,
    get_game,
    get_game_count,
    get_party,
    load_output,
    set_dispute_counts,
    set_game,
    set_party,
)
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
    NoAgreedOutput,
    NotDisputed,
    NotThePlayer,
    NotYourTurn,
    OutputNotDisputable,
    StepInputMismatch,
    UnderivableOpening,
    UnprovableStep,
)
from l1.contracts.events import GameMoved, GameResolved, OutputDisputed
from l1.contracts.inbox import rebuild_block
from l1.contracts.ledger import process_lock_bond
from l1.contracts.params import L1ChainParams
from l1.contracts.payloads import DefendOutput, DisputeOutput, GameMove, ProveStepTx, ResolveGame
from l1.contracts.settlement import settle_output
from l1.contracts.state import OutputProposal, OutputStatus, get_output, set_output
from node.block import Block
from node.fraud import game as fg
from node.fraud.onestep import StepExecutionError, execute_step
from node.fraud.partial_tree import WitnessError
from node.fraud.steps import StepError, StepInput, get_block_step, validate_step_count
from node.fraud.witness import Witness
from node.state.view import Overlay, StateReader
from node.stf.config import ChainConfig

T = TypeVar("T")

MOVE_NAMES = {fg.Claim: "claim", fg.Respond: "respond", fg.OpenOutputs: "open_outputs", fg.ProveStep: "prove_step"}
_GAME_ERRORS: tuple[tuple[type[fg.GameError], type[KindRuleError]], ...] = (
    (fg.GameOver, GameAlreadyOver),
    (fg.NotYourTurn, NotYourTurn),
    (fg.ClockExpired, ClockExpired),
    (fg.ClockNotExpired, ClockNotExpired),
    (fg.InvalidMove, IllegalMove),
)
SETTLED = (OutputStatus.FINALIZED, OutputStatus.DEFEATED)


def run_game_rule(rule: Callable[[], T]) -> T:
    """Run a node.fraud.game function, turning its GameError into the L1's coded rule error."""
    try:
        return rule()
    except fg.GameError as exc:
        for game_error, rule_error in _GAME_ERRORS:
            if isinstance(exc, game_error):
                raise rule_error(str(exc)) from None
        raise IllegalMove(str(exc)) from None


# -- reading --


def load_live_game(reader: StateReader, game_id: int) -> GameRecord:
    record = get_game(reader, game_id)
    if record is None:
        raise GameNotFound(f"no dispute game with id {game_id}")
    if not record.in_progress:
        raise GameAlreadyOver(f"game {game_id} is over: {record.game.status.value}")
    return record


def find_anchor(reader: StateReader, params: L1ChainParams, proposal: OutputProposal) -> tuple[int, bytes]:
    """(L2 block, output root) of the last agreed output before `proposal`: a finalized one, else genesis."""
    for index in range(proposal.index - 1, -1, -1):
        earlier = get_output(reader, index)
        if (
            earlier is not None
            and earlier.status == OutputStatus.FINALIZED
            and earlier.l2_block_number < proposal.l2_block_number
        ):
            return earlier.l2_block_number, earlier.output_root
    genesis = params.disputes.genesis_output_root
    if genesis is None:
        raise NoAgreedOutput(
            "no finalized output precedes this proposal and the L1 has no l2_genesis_output_root: nothing "
            "agreed to start from"
        )
    return 0, genesis


def require_rollup(params: L1ChainParams) -> ChainConfig:
    rollup = params.disputes.rollup
    if rollup is None:
        raise DisputesDisabled("disputes are disabled: the L1 has no [l1.rollup] config to verify a step with")
    return rollup


# -- joining a dispute: dispute_output (6) and defend_output (12) --


def apply_dispute_output(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: DisputeOutput = rtx.tx.payload
    require_rollup(params)
    proposal = load_output(overlay, payload.output_index)
    validate_disputable(params, env, proposal)
    validate_new_party(overlay, proposal, rtx.sender)
    validate_bond(params, rtx.tx.value)
    anchor = find_anchor(overlay, params, proposal)
    ensure_proposer_defends(overlay, proposal)
    process_lock_bond(overlay, rtx.sender, rtx.tx.value)
    slot = add_party(overlay, proposal.index, PartySide.CHALLENGER, Party(rtx.sender, rtx.tx.value))
    defenders = get_dispute_counts(overlay, proposal.index).defenders
    return process_start_games(overlay, params, env, rtx, proposal, anchor, [(slot, d) for d in range(defenders)], log)


def apply_defend_output(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: DefendOutput = rtx.tx.payload
    require_rollup(params)
    proposal = load_output(overlay, payload.output_index)
    validate_defendable(overlay, params, env, proposal)
    validate_new_party(overlay, proposal, rtx.sender)
    validate_bond(params, rtx.tx.value)
    anchor = find_anchor(overlay, params, proposal)
    process_lock_bond(overlay, rtx.sender, rtx.tx.value)
    slot = add_party(overlay, proposal.index, PartySide.DEFENDER, Party(rtx.sender, rtx.tx.value))
    challengers = get_dispute_counts(overlay, proposal.index).challengers
    return process_start_games(
        overlay, params, env, rtx, proposal, anchor, [(c, slot) for c in range(challengers)], log
    )


def validate_disputable(params: L1ChainParams, env: L1BlockEnv, proposal: OutputProposal) -> None:
    if proposal.status in SETTLED:
        raise OutputNotDisputable(f"output {proposal.index} is {proposal.status.label}")
    deadline = proposal.finalizes_at(params.challenge_window)
    if env.number >= deadline:
        raise OutputNotDisputable(f"output {proposal.index}'s challenge window closed at L1 block {deadline}")


def validate_defendable(reader: StateReader, params: L1ChainParams, env: L1BlockEnv, proposal: OutputProposal) -> None:
    if proposal.status in SETTLED:
        raise OutputNotDisputable(f"output {proposal.index} is {proposal.status.label}")
    counts = get_dispute_counts(reader, proposal.index)
    if counts.challengers == 0:
        raise NotDisputed(f"output {proposal.index} has no challenger to defend it against")
    deadline = proposal.finalizes_at(params.challenge_window)
    if env.number >= deadline and counts.open_games == 0:
        raise OutputNotDisputable(
            f"output {proposal.index}'s window closed at L1 block {deadline} and no game of it runs"
        )


def validate_new_party(reader: StateReader, proposal: OutputProposal, sender: bytes) -> None:
    if sender == proposal.proposer or find_party(reader, proposal.index, sender) is not None:
        raise AlreadyAParty(f"this address already plays in output {proposal.index}'s dispute (one side, once)")


def validate_bond(params: L1ChainParams, bond: int) -> None:
    if bond < params.proposer_bond:
        raise BondTooLow(bond, params.proposer_bond)


def ensure_proposer_defends(overlay: Overlay, proposal: OutputProposal) -> None:
    """The proposer is defender 0 of its output's dispute, bonded with the proposal's bond."""
    if get_dispute_counts(overlay, proposal.index).defenders == 0:
        add_party(overlay, proposal.index, PartySide.DEFENDER, Party(proposal.proposer, proposal.bond))


def process_start_games(
    overlay: Overlay,
    params: L1ChainParams,
    env: L1BlockEnv,
    rtx: RecoveredL1Tx,
    proposal: OutputProposal,
    anchor: tuple[int, bytes],
    pairs: list[tuple[int, int]],
    log: int,
) -> list[Event]:
    """One game per (challenger slot, defender slot) pair; the output is disputed while any runs."""
    events: list[Event] = []
    set_output(overlay, replace(proposal, status=OutputStatus.DISPUTED))
    for c_slot, d_slot in pairs:
        challenger = get_party(overlay, proposal.index, PartySide.CHALLENGER, c_slot)
        defender = get_party(overlay, proposal.index, PartySide.DEFENDER, d_slot)
        if challenger is None or defender is None:
            raise ValueError(f"output {proposal.index} has no party at challenger {c_slot} / defender {d_slot}")
        record = GameRecord(
            game_id=get_game_count(overlay),
            output_index=proposal.index,
            challenger=challenger.address,
            defender=defender.address,
            challenger_bond=challenger.bond,
            defender_bond=defender.bond,
            created_at=env.number,
            resolved_at=None,
            game=start_game(params, env, anchor, proposal),
            challenger_slot=c_slot,
            defender_slot=d_slot,
        )
        append_game(overlay, record)
        events.append(
            OutputDisputed(
                log + len(events),
                rtx.hash,
                record.game_id,
                proposal.index,
                challenger.address,
                challenger.bond,
                anchor[0],
                proposal.l2_block_number,
            )
        )
        if not record.in_progress:  # a block-0 proposal that is not the genesis output: nothing to play
            events.extend(
                process_game_end(overlay, params, env, rtx, record, record.game, "genesis", log + len(events))
            )
    return events


def start_game(params: L1ChainParams, env: L1BlockEnv, anchor: tuple[int, bytes], proposal: OutputProposal) -> fg.Game:
    clock = params.disputes.game_clock_blocks
    start_block, start_root = anchor
    if proposal.l2_block_number > start_block:
        return run_game_rule(
            lambda: fg.new_game(
                start_block, start_root, proposal.l2_block_number, proposal.output_root, clock, env.number
            )
        )
    # L2 block 0: the genesis output is known, so the proposal is settled by comparison.
    if proposal.output_root == start_root:
        raise OutputNotDisputable(f"output {proposal.index} is the genesis output")
    return fg.Game(
        0,
        0,
        clock,
        fg.Phase.OVER,
        fg.Status.CHALLENGER_WON,
        0,
        0,
        start_root,
        proposal.output_root,
        None,
        fg.Side.CHALLENGER,
        env.number,
    )


# -- game_move (7) --


def apply_game_move(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: GameMove = rtx.tx.payload
    record = load_live_game(overlay, payload.game_id)
    move = payload.move
    validate_player(record, move.side, rtx.sender)
    game = run_game_rule(lambda: fg.apply_move(record.game, move, env.number))
    if isinstance(move, fg.OpenOutputs):
        validate_derived_opening(overlay, params, move)
    set_game(overlay, replace(record, game=game))
    return [moved_event(log, rtx, record.game_id, move, game)]


def validate_player(record: GameRecord, side: fg.Side, sender: bytes) -> None:
    player = record.challenger if side is fg.Side.CHALLENGER else record.defender
    if sender != player:
        raise NotThePlayer(f"only game {record.game_id}'s {side.value} may make {side.value} moves in it")


def validate_derived_opening(reader: StateReader, params: L1ChainParams, move: fg.OpenOutputs) -> None:
    """The opened header must be the L2 block this L1 derived at that height, with a step count in range."""
    rollup = require_rollup(params)
    block = rebuild_block(reader, rollup.chain_id, move.hi_header)
    try:
        validate_step_count(block, move.step_count)  # within range; the exact count is settled by the steps
    except StepError as exc:
        raise UnderivableOpening(f"block {move.hi_header.number} rebuilt from the inbox: {exc}") from None


def moved_event(log: int, rtx: RecoveredL1Tx, game_id: int, move: fg.Move, game: fg.Game) -> GameMoved:
    return GameMoved(
        log, rtx.hash, game_id, MOVE_NAMES[type(move)], move.side.value, rtx.sender, game.phase.value, game.lo, game.hi
    )


# -- prove_step (8) --


def apply_prove_step(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: ProveStepTx = rtx.tx.payload
    record = load_live_game(overlay, payload.game_id)
    rollup = require_rollup(params)
    game = record.game
    side = fg.Side.CHALLENGER if rtx.sender == record.challenger else fg.Side.DEFENDER
    placeholder = fg.ProveStep(side, bytes(32))
    run_game_rule(lambda: fg.validate_can_move(game, placeholder, env.number))  # over, clock: before any work
    header = game.disputed_header
    if game.phase is not fg.Phase.ONE_STEP or header is None:
        raise IllegalMove(f"game {record.game_id} is in phase {game.phase.value}, not waiting for a one-step proof")
    block = rebuild_block(overlay, rollup.chain_id, header)
    if not is_valid_step_count(block, game.step_count):
        # The header's tx root binds the transaction count: the defender's opening was false.
        over = replace(fg.charge_clock(game, env.number), phase=fg.Phase.OVER, status=fg.Status.CHALLENGER_WON)
        moved = moved_event(log, rtx, record.game_id, placeholder, over)
        return [moved, *process_game_end(overlay, params, env, rtx, record, over, "bad_step_count", log + 1)]
    post_root = compute_post_root(game, block_step(game, block), payload.witness, rollup)
    move = fg.ProveStep(side, post_root)
    resolved = run_game_rule(lambda: fg.apply_move(game, move, env.number))
    moved = moved_event(log, rtx, record.game_id, move, resolved)
    return [moved, *process_game_end(overlay, params, env, rtx, record, resolved, "one_step", log + 1)]


def is_valid_step_count(block: Block, step_count: int) -> bool:
    try:
        validate_step_count(block, step_count)
    except StepError:
        return False
    return True


def block_step(game: fg.Game, block: Block) -> StepInput:
    try:
        step = get_block_step(block, game.lo, game.step_count)
        fg.validate_step_input(game, step)
    except (StepError, fg.InvalidMove) as exc:
        raise StepInputMismatch(str(exc)) from None
    return step


def compute_post_root(game: fg.Game, step: StepInput, witness_bytes: bytes, rollup: ChainConfig) -> bytes:
    try:
        witness = Witness.decode(witness_bytes)
        return execute_step(game.lo_claim, step, witness, rollup)
    except WitnessError as exc:  # malformed, incomplete (MissingWitness) or not under lo_claim
        raise InvalidWitness(f"the witness does not open the agreed pre-state: {exc}") from None
    except (StepExecutionError, StepError) as exc:
        raise UnprovableStep(
            f"step {game.lo} of block {step.number} cannot run over the agreed pre-state: {exc}"
        ) from None


# -- resolve_game (9) --


def apply_resolve_game(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: ResolveGame = rtx.tx.payload
    record = load_live_game(overlay, payload.game_id)
    game = run_game_rule(lambda: fg.resolve_timeout(record.game, env.number))
    return process_game_end(overlay, params, env, rtx, record, game, "timeout", log)


# -- a game's end --


def process_game_end(
    overlay: Overlay,
    params: L1ChainParams,
    env: L1BlockEnv,
    rtx: RecoveredL1Tx,
    record: GameRecord,
    game: fg.Game,
    reason: str,
    log: int,
) -> list[Event]:
    """Record who beat whom; settle the output if its window has passed and this was its last running game."""
    set_game(overlay, replace(record, game=game, resolved_at=env.number))
    record_result(overlay, record, game.challenger_won)
    counts = get_dispute_counts(overlay, record.output_index)
    set_dispute_counts(overlay, record.output_index, replace(counts, open_games=counts.open_games - 1))
    proposal = load_output(overlay, record.output_index)
    events: list[Event] = []
    if counts.open_games - 1 == 0:
        if env.number >= proposal.finalizes_at(params.challenge_window):
            events = settle_output(overlay, env.number, proposal, log + 1, rtx.hash)
        else:
            set_output(overlay, replace(proposal, status=OutputStatus.PENDING))  # disputable and defendable again
    winner = record.challenger if game.challenger_won else record.defender
    output_status = load_output(overlay, record.output_index).status
    resolved = GameResolved(
        log, rtx.hash, record.game_id, record.output_index, game.status.value, winner, 0, output_status.label, reason
    )
    return [resolved, *events]


def record_result(overlay: Overlay, record: GameRecord, challenger_won: bool) -> None:
    """Count the winner's win; the loser remembers the first opponent that beat it (its bond's taker)."""
    sides = (PartySide.CHALLENGER, PartySide.DEFENDER) if challenger_won else (PartySide.DEFENDER, PartySide.CHALLENGER)
    slots = {PartySide.CHALLENGER: record.challenger_slot, PartySide.DEFENDER: record.defender_slot}
    winner_side, loser_side = sides
    winner = get_party(overlay, record.output_index, winner_side, slots[winner_side])
    loser = get_party(overlay, record.output_index, loser_side, slots[loser_side])
    if winner is None or loser is None:
        raise ValueError(f"game {record.game_id} names a party its output does not have")
    set_party(overlay, record.output_index, winner_side, slots[winner_side], replace(winner, wins=winner.wins + 1))
    if loser.beaten_by is None:
        set_party(
            overlay, record.output_index, loser_side, slots[loser_side], replace(loser, beaten_by=slots[winner_side])
        )


__all__ = [
    "apply_defend_output",
    "apply_dispute_output",
    "apply_game_move",
    "apply_prove_step",
    "apply_resolve_game",
    "find_anchor",
    "process_game_end",
    "run_game_rule",
]
