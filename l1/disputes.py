"""The dispute contracts (kinds 6-9): pure rules over the L1 state, registered with l1.contracts.

dispute_output (6): only a `pending` proposal inside its challenge window, with
  a counter-bond >= proposer_bond. The game starts from the last *agreed*
  output: the newest `finalized` proposal before the disputed one, or L2
  genesis (block 0, `l2_genesis_output_root`). A pending predecessor is not
  agreed: a game anchored on it could be lost by an honest challenger when
  the predecessor is itself wrong and later defeated. The proposal becomes
  `disputed` (it cannot finalize while the game runs); the game id is sequential.
game_move (7): Claim / Respond / OpenOutputs through node.fraud.game.apply_move at
  the current L1 block (the clock of the side on turn is charged). Defender
  moves may come from any address (permissionless defense); challenger moves
  only from the challenger. An opened header must also name an existing block
  of this L1, by its hash, as its origin, and be derivable from the inbox:
  the opening carries block hi's step_ref and block lo's header, the L1
  rebuilds hi's transactions (l1.inbox) and checks tx root, timestamp, origin,
  epoch opening and step count (validate_derivable); else UnderivableOpening.
prove_step (8): in the one-step phase, anyone. The L1 rebuilds the opened
  block's transactions from its inbox (l1.inbox), takes step `lo`, runs it over
  the witness from the agreed root `lo_claim` (node.fraud.onestep.execute_step)
  and settles the game on the post-root. If the inbox shows the opened
  header's step count was false, the challenger wins at once.
resolve_game (9): anyone, once the clock of the side on turn has run out.

Resolution: the loser's bond goes to the winner now. Challenger wins: the
proposal is `defeated` (out of the chain of live outputs, so a correct one
can be proposed for its block). Defender wins: it is `pending` again and
finalizes at its original deadline, or now if that has passed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, TypeVar

from node.block import Block, BlockHeader
from node.fraud import game as fg
from node.fraud.onestep import StepExecutionError, execute_step
from node.fraud.partial_tree import WitnessError
from node.fraud.steps import StepError, StepInput, get_block_step, validate_step_count
from node.fraud.witness import Witness
from node.state.view import Overlay, StateReader
from node.stf.config import ChainConfig
from l1.config import L1ChainParams
from l1.contracts import L1BlockEnv, process_credit, process_debit, process_finalization, register_kind_rule
from l1.dispute_errors import (
    ClockExpired,
    ClockNotExpired,
    DisputesDisabled,
    GameAlreadyOver,
    GameNotFound,
    IllegalMove,
    InvalidWitness,
    NoAgreedOutput,
    NotChallenger,
    NotYourTurn,
    OutputNotDisputable,
    StepInputMismatch,
    UnderivableOpening,
    UnprovableStep,
)
from l1.dispute_events import GameMoved, GameResolved, OutputDisputed
from l1.dispute_state import GameRecord, append_game, get_game, get_game_count, load_output, set_game
from l1.dispute_tx import DisputeOutput, GameMove, ProveStepTx, ResolveGame, StepRef
from l1.errors import BondTooLow, KindRuleError
from l1.events import Event
from l1.inbox import read_l1_block, rebuild_block
from l1.state import OutputProposal, OutputStatus, get_bonds_locked, get_output, set_bonds_locked, set_output
from l1.tx import RecoveredL1Tx

T = TypeVar("T")

MOVE_NAMES = {fg.Claim: "claim", fg.Respond: "respond", fg.OpenOutputs: "open_outputs", fg.ProveStep: "prove_step"}
_GAME_ERRORS: tuple[tuple[type[fg.GameError], type[KindRuleError]], ...] = (
    (fg.GameOver, GameAlreadyOver),
    (fg.NotYourTurn, NotYourTurn),
    (fg.ClockExpired, ClockExpired),
    (fg.ClockNotExpired, ClockNotExpired),
    (fg.InvalidMove, IllegalMove),
)


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
        if earlier is not None and earlier.status == OutputStatus.FINALIZED and earlier.l2_block_number < proposal.l2_block_number:
            return earlier.l2_block_number, earlier.output_root
    genesis = params.disputes.genesis_output_root
    if genesis is None:
        raise NoAgreedOutput(
            "no finalized output precedes this proposal and the L1 has no l2_genesis_output_root: nothing agreed to start from"
        )
    return 0, genesis


# -- dispute_output (6) --


def apply_dispute_output(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
    payload: DisputeOutput = rtx.tx.payload
    if params.disputes.rollup is None:
        raise DisputesDisabled("disputes are disabled: the L1 has no [l1.rollup] config to verify a step with")
    proposal = load_output(overlay, payload.output_index)
    validate_disputable(params, env, proposal)
    bond = rtx.tx.value
    if bond < params.proposer_bond:
        raise BondTooLow(bond, params.proposer_bond)
    start_block, start_root = find_anchor(overlay, params, proposal)
    process_debit(overlay, rtx.sender, bond)
    set_bonds_locked(overlay, get_bonds_locked(overlay) + bond)
    set_output(overlay, replace(proposal, status=OutputStatus.DISPUTED))
    record = GameRecord(
        game_id=get_game_count(overlay),
        output_index=proposal.index,
        challenger=rtx.sender,
        defender=proposal.proposer,
        challenger_bond=bond,
        defender_bond=proposal.bond,
        created_at=env.number,
        resolved_at=None,
        game=start_game(params, env, start_block, start_root, proposal),
    )
    append_game(overlay, record)
    events: list[Event] = [
        OutputDisputed(log, rtx.hash, record.game_id, proposal.index, rtx.sender, bond, start_block, proposal.l2_block_number)
    ]
    if not record.in_progress:  # a block-0 proposal that is not the genesis output: nothing to play
        events.extend(process_resolution(overlay, params, env, rtx, record, record.game, "genesis", log + 1))
    return events


def validate_disputable(params: L1ChainParams, env: L1BlockEnv, proposal: OutputProposal) -> None:
    if proposal.status != OutputStatus.PENDING:
        raise OutputNotDisputable(f"output {proposal.index} is {proposal.status.label}, only a pending one can be disputed")
    deadline = proposal.finalizes_at(params.challenge_window)
    if env.number >= deadline:
        raise OutputNotDisputable(f"output {proposal.index}'s challenge window closed at L1 block {deadline}")


def start_game(params: L1ChainParams, env: L1BlockEnv, start_block: int, start_root: bytes, proposal: OutputProposal) -> fg.Game:
    clock = params.disputes.game_clock_blocks
    if proposal.l2_block_number > start_block:
        return run_game_rule(
            lambda: fg.new_game(start_block, start_root, proposal.l2_block_number, proposal.output_root, clock, env.number)
        )
    # L2 block 0: the genesis output is known, so the proposal is settled by comparison.
    if proposal.output_root == start_root:
        raise OutputNotDisputable(f"output {proposal.index} is the genesis output")
    return fg.Game(
        0, 0, clock, fg.Phase.OVER, fg.Status.CHALLENGER_WON, 0, 0, start_root, proposal.output_root,
        None, fg.Side.CHALLENGER, env.number,
    )


# -- game_move (7) --


def apply_game_move(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
    payload: GameMove = rtx.tx.payload
    record = load_live_game(overlay, payload.game_id)
    move = payload.move
    if move.side is fg.Side.CHALLENGER and rtx.sender != record.challenger:
        raise NotChallenger(f"only game {record.game_id}'s challenger may make challenger moves")
    game = run_game_rule(lambda: fg.apply_move(record.game, move, env.number))
    if isinstance(move, fg.OpenOutputs):
        validate_origin(overlay, move.hi_header)
        validate_derivable(overlay, params, move, payload.step_ref, payload.parent)
    set_game(overlay, replace(record, game=game))
    return [moved_event(log, rtx, record.game_id, move, game)]


def validate_origin(reader: StateReader, header: BlockHeader) -> None:
    """An opened header must name a block of this L1 as its origin: no derivable L2 block names another."""
    try:
        origin = read_l1_block(reader, header.l1_origin_number, "the opened header's L1 origin")
    except StepInputMismatch as exc:
        raise IllegalMove(str(exc)) from None
    if origin.hash() != header.l1_origin_hash:
        raise IllegalMove(
            f"the opened header names L1 block {header.l1_origin_number} with hash 0x{header.l1_origin_hash.hex()}, "
            f"this L1's block has 0x{origin.hash().hex()}"
        )


def validate_derivable(
    reader: StateReader, params: L1ChainParams, move: fg.OpenOutputs, ref: StepRef | None, parent: BlockHeader | None
) -> None:
    """The opened header of block hi must be the block derivation makes from this L1's inbox, else UnderivableOpening.

    With block lo's header (`parent`, it must open lo_state_root / lo_block_hash)
    the L1 knows whether hi opens an epoch and its earliest timestamp. It then
    rebuilds hi's transactions from `ref` (l1.inbox.rebuild_block: origin hash,
    the origin's deposits and listed forced txs when hi opens its epoch, the
    batch's block hi with the header's timestamp and origin; tx root equal) and
    checks the placement rules and the opened step count. Without a batch the
    header must be the default block of its epoch: it opens the epoch, holds
    only the origin's deposits and forced txs and has timestamp
    max(origin timestamp, parent timestamp + 1).
    """
    header = move.hi_header
    if ref is None or parent is None:
        raise UnderivableOpening("an opening must carry the step_ref of block hi and the header of block lo")
    rollup = params.disputes.rollup
    if rollup is None:
        raise DisputesDisabled("the L1 has no [l1.rollup] config to rebuild the opened block with")
    if parent.hash() != move.lo_block_hash or parent.state_root != move.lo_state_root or parent.number != header.number - 1:
        raise UnderivableOpening(f"the parent header is not block {header.number - 1} with the opened hash and state root")
    opens_epoch = header.l1_origin_number == parent.l1_origin_number + 1
    if not opens_epoch and header.l1_origin_number != parent.l1_origin_number:
        raise UnderivableOpening(
            f"block {header.number}'s origin {header.l1_origin_number} is neither its parent's origin "
            f"{parent.l1_origin_number} nor the next L1 block"
        )
    if opens_epoch != (ref.system is not None):
        raise UnderivableOpening(
            f"block {header.number} {'opens' if opens_epoch else 'does not open'} its epoch: "
            f"the step_ref must {'list' if opens_epoch else 'not list'} its system transactions"
        )
    try:
        block = rebuild_block(reader, rollup.chain_id, header, ref)
        origin = read_l1_block(reader, header.l1_origin_number, "the opened header's L1 origin")
    except StepInputMismatch as exc:
        raise UnderivableOpening(f"the opened header is not derivable from the inbox: {exc}") from None
    origin_ts = origin.header.timestamp_ms
    if header.timestamp_ms <= parent.timestamp_ms or header.timestamp_ms < origin_ts:
        raise UnderivableOpening(
            f"block {header.number}'s timestamp {header.timestamp_ms} is not after its parent's {parent.timestamp_ms} "
            f"or is before its origin's {origin_ts}"
        )
    if ref.batch is None:
        if not opens_epoch:
            raise UnderivableOpening(f"without a batch block {header.number} must be a default block, which opens its epoch")
        default_ts = max(origin_ts, parent.timestamp_ms + 1)
        if header.timestamp_ms != default_ts:
            raise UnderivableOpening(
                f"without a batch block {header.number} must be its epoch's default block with timestamp {default_ts}, "
                f"the opened header has {header.timestamp_ms}"
            )
    try:
        validate_step_count(block, move.step_count)  # within range; the exact count is settled by the steps
    except StepError as exc:
        raise UnderivableOpening(f"block {header.number} rebuilt from the inbox: {exc}") from None


def moved_event(log: int, rtx: RecoveredL1Tx, game_id: int, move: fg.Move, game: fg.Game) -> GameMoved:
    return GameMoved(log, rtx.hash, game_id, MOVE_NAMES[type(move)], move.side.value, rtx.sender, game.phase.value, game.lo, game.hi)


# -- prove_step (8) --


def apply_prove_step(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
    payload: ProveStepTx = rtx.tx.payload
    record = load_live_game(overlay, payload.game_id)
    rollup = params.disputes.rollup
    if rollup is None:
        raise DisputesDisabled("the L1 has no [l1.rollup] config to run the step with")
    game = record.game
    side = fg.Side.CHALLENGER if rtx.sender == record.challenger else fg.Side.DEFENDER
    placeholder = fg.ProveStep(side, bytes(32))
    run_game_rule(lambda: fg.validate_can_move(game, placeholder, env.number))  # over, clock: before any work
    header = game.disputed_header
    if game.phase is not fg.Phase.ONE_STEP or header is None:
        raise IllegalMove(f"game {record.game_id} is in phase {game.phase.value}, not waiting for a one-step proof")
    block = rebuild_block(overlay, rollup.chain_id, header, payload.step_ref)
    if not is_valid_step_count(block, game.step_count):
        # The header's tx root binds the transaction count: the defender's opening was false.
        over = replace(fg.charge_clock(game, env.number), phase=fg.Phase.OVER, status=fg.Status.CHALLENGER_WON)
        moved = moved_event(log, rtx, record.game_id, placeholder, over)
        return [moved, *process_resolution(overlay, params, env, rtx, record, over, "bad_step_count", log + 1)]
    post_root = compute_post_root(game, block_step(game, block), payload.witness, rollup)
    move = fg.ProveStep(side, post_root)
    resolved = run_game_rule(lambda: fg.apply_move(game, move, env.number))
    moved = moved_event(log, rtx, record.game_id, move, resolved)
    return [moved, *process_resolution(overlay, params, env, rtx, record, resolved, "one_step", log + 1)]


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
        raise UnprovableStep(f"step {game.lo} of block {step.number} cannot run over the agreed pre-state: {exc}") from None


# -- resolve_game (9) --


def apply_resolve_game(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
    payload: ResolveGame = rtx.tx.payload
    record = load_live_game(overlay, payload.game_id)
    game = run_game_rule(lambda: fg.resolve_timeout(record.game, env.number))
    return process_resolution(overlay, params, env, rtx, record, game, "timeout", log)


# -- resolution --


def process_resolution(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx,
    record: GameRecord, game: fg.Game, reason: str, log: int,
) -> list[Event]:
    """Pay the loser's bond to the winner and settle the output; return the events from `log` on."""
    set_game(overlay, replace(record, game=game, resolved_at=env.number))
    proposal = load_output(overlay, record.output_index)
    events: list[Event] = []
    if game.challenger_won:
        winner, payout = record.challenger, record.defender_bond
        release_bonds(overlay, record.challenger_bond + record.defender_bond)
        process_credit(overlay, winner, record.challenger_bond + record.defender_bond)
        set_output(overlay, replace(proposal, status=OutputStatus.DEFEATED))
        output_status = OutputStatus.DEFEATED
    else:
        winner, payout = record.defender, record.challenger_bond
        release_bonds(overlay, record.challenger_bond)
        process_credit(overlay, winner, record.challenger_bond)
        if env.number >= proposal.finalizes_at(params.challenge_window):
            finalized = process_finalization(overlay, proposal, log + 1)
            events.append(replace(finalized, tx_hash=rtx.hash))
            output_status = OutputStatus.FINALIZED
        else:
            set_output(overlay, replace(proposal, status=OutputStatus.PENDING))
            output_status = OutputStatus.PENDING
    resolved = GameResolved(
        log, rtx.hash, record.game_id, record.output_index, game.status.value, winner, payout, output_status.label, reason
    )
    return [resolved, *events]


def release_bonds(overlay: Overlay, amount: int) -> None:
    set_bonds_locked(overlay, get_bonds_locked(overlay) - amount)


register_kind_rule(DisputeOutput, apply_dispute_output)
register_kind_rule(GameMove, apply_game_move)
register_kind_rule(ProveStepTx, apply_prove_step)
register_kind_rule(ResolveGame, apply_resolve_game)

__all__ = [
    "apply_dispute_output",
    "apply_game_move",
    "apply_prove_step",
    "apply_resolve_game",
    "find_anchor",
    "process_resolution",
    "run_game_rule",
]
