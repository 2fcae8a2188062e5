"""What the contracts' JSON-RPC reads answer, as records: the L1 renders them (l1.contracts.rpc) and the client
parses them (l1.contracts.client) through the same node.records schema.

    DerivationBlock  l1_getDerivationData   deposits (balance overrides among them), forced transactions and
                                            batches of one L1 block
    OutputReport     l1_getOutputs          the contracts' OutputProposal (its fields inline), finalizesAt, dispute
    GameInfo         l1_getGame(s)          the game (node.fraud.game enums) with its clocks at the L1 head
    WithdrawalInfo   l1_getWithdrawal(s)    a WithdrawalClaim without its listing order, with its output's status
    L1ChainInfo      l1_config              the chain's parameters and the rollup the one-step verifier runs

Each has a JSON form only (`@record(wire=False)`) and a constructor `of(...)`
from the contracts' state. Amounts are decimal strings, hashes and bytes
0x-hex, addresses EIP-55 (node.codecs).
"""

from __future__ import annotations

from typing import Any

from l1.chain.config import L1Config
from l1.chain.store import L1StoredBlock
from l1.contracts.dispute_state import (
    BLOCK_HEADER,
    PHASE_CODES,
    SIDE_CODES,
    STATUS_CODES,
    WITHDRAWAL_STATUS_CODES,
    GameRecord,
    OutputDispute,
    Party,
    WithdrawalClaim,
    WithdrawalStatus,
)
from l1.contracts.events import BatchPosted, DepositLocked, L2BalanceSet, TxForced
from l1.contracts.params import L1ChainParams
from l1.contracts.state import OUTPUT_STATUS_CODES, OutputProposal, OutputStatus
from node.block import BlockHeader
from node.crypto import Address, Hash32
from node.derivation import L1BlockData
from node.fraud.game import Game, Phase, Side, Status, get_remaining
from node.records import (
    ADDRESS,
    AMOUNT,
    BOOL,
    BYTES,
    HASH,
    INLINE,
    INT,
    UINT,
    Codec,
    Coded,
    JsonFieldError,
    JsonOnly,
    Nested,
    Nullable,
    TupleOf,
    field,
    record,
    to_json,
)
from node.shape import RollupRules
from node.stf.config import ChainConfig
from node.tx import BalanceOverrideTx, DepositTx

# -- l1_getDerivationData --


@record(wire=False)
class DepositEvent:
    """A DepositLocked as derivation reads it (no transaction hash); with `override`, a devnet's L2BalanceSet
    in the same ordered queue, whose `amount` is the balance it sets."""

    log_index: int = field(UINT, "log_index")
    sender: Address = field(ADDRESS, "from")
    to: Address = field(ADDRESS, "to")
    amount: int = field(AMOUNT, "amount")
    override: bool = field(BOOL, "override", default=False)

    @classmethod
    def of(cls, event: DepositLocked | L2BalanceSet) -> DepositEvent:
        if isinstance(event, L2BalanceSet):
            return cls(event.log_index, event.sender, event.l2_to, event.balance, True)
        return cls(event.log_index, event.sender, event.l2_to, event.amount)

    def to_tx(self, l1_block: int) -> DepositTx:
        """The system transaction derivation makes of it in L1 block `l1_block`."""
        cls = BalanceOverrideTx if self.override else DepositTx
        return cls(l1_block, self.log_index, self.sender, self.to, self.amount)


@record(wire=False)
class ForcedTxEvent:
    """A TxForced as derivation reads it: the L2 transaction."""

    log_index: int = field(UINT, "log_index")
    tx: bytes = field(BYTES, "tx")


@record(wire=False)
class BatchEvent:
    """A BatchPosted as derivation reads it: the batch."""

    log_index: int = field(UINT, "log_index")
    data: bytes = field(BYTES, "data")


@record(wire=False)
class DerivationBlock:
    """What derivation reads of one L1 block, each list in log order."""

    number: int = field(UINT, "number")
    hash: Hash32 = field(HASH, "hash")
    timestamp_ms: int = field(UINT, "timestamp")
    deposits: tuple[DepositEvent, ...] = field(TupleOf(Nested(DepositEvent)), "deposits")
    forced_txs: tuple[ForcedTxEvent, ...] = field(TupleOf(Nested(ForcedTxEvent)), "forced_txs")
    batches: tuple[BatchEvent, ...] = field(TupleOf(Nested(BatchEvent)), "batches")

    @classmethod
    def of(cls, block: L1StoredBlock) -> DerivationBlock:
        events = block.events
        return cls(
            block.number,
            block.hash(),
            block.header.timestamp_ms,
            tuple(DepositEvent.of(e) for e in events if isinstance(e, (DepositLocked, L2BalanceSet))),
            tuple(ForcedTxEvent(e.log_index, e.l2_tx) for e in events if isinstance(e, TxForced)),
            tuple(BatchEvent(e.log_index, e.data) for e in events if isinstance(e, BatchPosted)),
        )

    def to_block_data(self) -> L1BlockData:
        """The block as node.derivation takes it (deposits as DepositTx of this block, overrides as
        BalanceOverrideTx)."""
        return L1BlockData(
            number=self.number,
            hash=self.hash,
            timestamp_ms=self.timestamp_ms,
            deposits=tuple(d.to_tx(self.number) for d in self.deposits),
            forced_txs=tuple(f.tx for f in self.forced_txs),
            batches=tuple(b.data for b in self.batches),
        )


# -- l1_getOutputs --


@record(wire=False)
class OutputReport:
    """An output proposal as l1_getOutputs lists it: the proposal itself, the L1 block its challenge window
    closes at, and its dispute once it has one. Reads as its proposal (index, status, ...)."""

    proposal: OutputProposal = field(Nested(OutputProposal), INLINE)
    finalizes_at: int = field(UINT, "finalizesAt")
    dispute: OutputDispute | None = field(Nullable(Nested(OutputDispute)), "dispute", omit_none=True)

    @classmethod
    def of(cls, proposal: OutputProposal, challenge_window: int, dispute: OutputDispute | None) -> OutputReport:
        return cls(proposal, proposal.finalizes_at(challenge_window), dispute)

    @property
    def index(self) -> int:
        return self.proposal.index

    @property
    def l2_block_number(self) -> int:
        return self.proposal.l2_block_number

    @property
    def output_root(self) -> Hash32:
        return self.proposal.output_root

    @property
    def proposer(self) -> Address:
        return self.proposal.proposer

    @property
    def bond(self) -> int:
        return self.proposal.bond

    @property
    def proposed_at(self) -> int:
        return self.proposal.proposed_at

    @property
    def status(self) -> OutputStatus:
        return self.proposal.status

    @property
    def challengers(self) -> tuple[Party, ...]:
        return () if self.dispute is None else self.dispute.challengers

    @property
    def defenders(self) -> tuple[Party, ...]:
        """Defender 0 is the proposer."""
        return () if self.dispute is None else self.dispute.defenders

    @property
    def game_ids(self) -> tuple[int, ...]:
        return () if self.dispute is None else self.dispute.game_ids

    @property
    def open_games(self) -> int:
        return 0 if self.dispute is None else self.dispute.open_games

    def plays(self, address: bytes) -> bool:
        """Whether `address` is a party of this output's dispute (either side)."""
        return any(p.address == address for p in self.challengers + self.defenders)


# -- l1_getGame(s) --


class SideValues(JsonOnly[dict[Side, int]]):
    """{"challenger": v, "defender": v}: a value per side (clocks, bonds), keyed by node.fraud.game.Side."""

    def __init__(self, inner: Codec[int]) -> None:
        self.inner = inner

    def to_json(self, value: dict[Side, int]) -> dict[str, Any]:
        return {side.value: self.inner.to_json(value[side]) for side in (Side.CHALLENGER, Side.DEFENDER)}

    def from_json(self, raw: Any, what: str) -> dict[Side, int]:
        if not isinstance(raw, dict) or set(raw) != {s.value for s in Side}:
            raise JsonFieldError(f"field {what!r} must be an object with challenger and defender, got {raw!r}")
        return {side: self.inner.from_json(raw[side.value], f"{what}.{side.value}") for side in Side}


CLOCKS = SideValues(INT)  # L1 blocks left (negative once run out)
BONDS = SideValues(AMOUNT)


@record(wire=False)
class GameInfo:
    """A dispute game as l1_getGame shows it: the game, its players and bonds, and its clocks in L1 blocks left.

    `clocks`: at the turn's start (the running turn not charged); `clocks_now`: at L1 block `clocks_at` (the
    L1 head when it answered, the running turn charged). A move included in L1 block b is legal only while
    the mover's clock at b is >= 0."""

    game_id: int = field(UINT, "gameId")
    output_index: int = field(UINT, "outputIndex")
    challenger: Address = field(ADDRESS, "challenger")
    defender: Address = field(ADDRESS, "defender")
    status: Status = field(Coded(STATUS_CODES), "status")
    phase: Phase = field(Coded(PHASE_CODES), "phase")
    start_block: int = field(UINT, "startBlock")
    end_block: int = field(UINT, "endBlock")
    lo: int = field(UINT, "lo")
    hi: int = field(UINT, "hi")
    lo_claim: Hash32 = field(HASH, ("claims", "lo"))
    hi_claim: Hash32 = field(HASH, ("claims", "hi"))
    mid_claim: Hash32 | None = field(Nullable(HASH), ("claims", "mid"))
    turn: Side = field(Coded(SIDE_CODES), "turn")
    turn_started_at: int = field(UINT, "turnStartedAt")
    clock_blocks: int = field(UINT, "clockBlocks")
    clocks: dict[Side, int] = field(CLOCKS, "clocks")
    clocks_now: dict[Side, int] = field(CLOCKS, "clocksNow")
    clocks_at: int = field(UINT, "clocksAt")
    bonds: dict[Side, int] = field(BONDS, "bonds")
    moves: int = field(UINT, "moves")
    created_at: int = field(UINT, "createdAt")
    resolved_at: int | None = field(Nullable(UINT), "resolvedAt")
    block_number: int | None = field(Nullable(UINT), "blockNumber")  # the opened L2 block (step phases)
    step_count: int = field(UINT, "stepCount")  # 0 before the opening
    disputed_header: BlockHeader | None = field(Nullable(BLOCK_HEADER), "disputedHeader")
    winner: Address | None = field(Nullable(ADDRESS), "winner")

    @classmethod
    def of(cls, record: GameRecord, head: int) -> GameInfo:
        """`record`'s game with its clocks at L1 block `head` (or the turn's start, if later)."""
        game = record.game
        header = game.disputed_header
        at_turn_start = {side: game.clock_blocks - _used(game, side) for side in Side}
        now = max(head, game.turn_started_at)
        clocks_now = (
            {side: get_remaining(game, side, now) for side in Side} if game.in_progress else dict(at_turn_start)
        )
        winner = record.challenger if game.challenger_won else record.defender if game.defender_won else None
        return cls(
            record.game_id,
            record.output_index,
            record.challenger,
            record.defender,
            game.status,
            game.phase,
            game.start_block,
            game.end_block,
            game.lo,
            game.hi,
            Hash32(game.lo_claim),
            Hash32(game.hi_claim),
            None if game.mid_claim is None else Hash32(game.mid_claim),
            game.turn,
            game.turn_started_at,
            game.clock_blocks,
            at_turn_start,
            clocks_now,
            now,
            {Side.CHALLENGER: record.challenger_bond, Side.DEFENDER: record.defender_bond},
            game.moves,
            record.created_at,
            record.resolved_at,
            None if header is None else header.number,
            game.step_count,
            header,
            winner,
        )

    @property
    def in_progress(self) -> bool:
        return self.status is Status.IN_PROGRESS

    @property
    def raw(self) -> dict[str, Any]:
        """The game's JSON object, as l1_getGame answered it."""
        return to_json(self)

    def to_game(self) -> Game:
        """The node.fraud.game.Game the L1 stores for this game."""
        return Game(
            self.start_block,
            self.end_block,
            self.clock_blocks,
            self.phase,
            self.status,
            self.lo,
            self.hi,
            self.lo_claim,
            self.hi_claim,
            self.mid_claim,
            self.turn,
            self.turn_started_at,
            self.clock_blocks - self.clocks[Side.DEFENDER],
            self.clock_blocks - self.clocks[Side.CHALLENGER],
            self.disputed_header,
            self.step_count,
            self.moves,
        )


def _used(game: Game, side: Side) -> int:
    return game.defender_used if side is Side.DEFENDER else game.challenger_used


# -- l1_getWithdrawal(s) --


@record(wire=False)
class WithdrawalInfo:
    """A withdrawal as l1_getWithdrawal shows it; `output_status`: that of the output it was proven against."""

    withdrawal_id: Hash32 = field(HASH, "withdrawalId")
    status: WithdrawalStatus = field(Coded(WITHDRAWAL_STATUS_CODES), "status")
    output_index: int = field(UINT, "outputIndex")
    output_status: OutputStatus | None = field(Nullable(Coded(OUTPUT_STATUS_CODES)), "outputStatus")
    l2_sender: Address = field(ADDRESS, "l2Sender")
    recipient: Address = field(ADDRESS, "recipient")
    amount: int = field(AMOUNT, "amount")
    l2_block_number: int = field(UINT, "l2BlockNumber")
    proven_at: int = field(UINT, "provenAt")
    finalized_at: int | None = field(Nullable(UINT), "finalizedAt")  # None until paid

    @classmethod
    def of(cls, claim: WithdrawalClaim, output_status: OutputStatus | None) -> WithdrawalInfo:
        return cls(
            claim.withdrawal_id,
            claim.status,
            claim.output_index,
            output_status,
            claim.l2_sender,
            claim.recipient,
            claim.amount,
            claim.l2_block_number,
            claim.proven_at,
            claim.finalized_at,
        )


# -- l1_config --


@record(wire=False)
class RollupInfo:
    """The L2 ChainConfig the one-step verifier runs and the derivation rules the L1 follows."""

    chain_id: int = field(UINT, "chainId")
    fee_recipient: Address = field(ADDRESS, "feeRecipient")
    min_fee: int = field(AMOUNT, "minFee")
    max_block_txs: int = field(UINT, "maxBlockTxs")
    sequencing_window: int | None = field(Nullable(UINT), "sequencingWindow")
    max_sequencer_drift_ms: int | None = field(Nullable(UINT), "maxSequencerDriftMs")

    @classmethod
    def of(cls, rollup: ChainConfig, rules: RollupRules | None) -> RollupInfo:
        return cls(
            rollup.chain_id,
            rollup.fee_recipient,
            rollup.min_fee,
            rollup.max_block_txs,
            None if rules is None else rules.sequencing_window,
            None if rules is None else rules.max_sequencer_drift_ms,
        )


@record(wire=False)
class L1ChainInfo:
    chain_id: int = field(UINT, "chainId")
    block_time_ms: int = field(UINT, "blockTimeMs")
    batcher: Address = field(ADDRESS, "batcher")
    proposer: Address | None = field(Nullable(ADDRESS), "proposer")
    proposer_fallback_blocks: int = field(UINT, "proposerFallbackBlocks")
    proposer_bond: int = field(AMOUNT, "proposerBond")
    challenge_window: int = field(UINT, "challengeWindow")
    min_fee: int = field(AMOUNT, "minFee")
    max_batch_bytes: int = field(UINT, "maxBatchBytes")
    game_clock_blocks: int = field(UINT, "gameClockBlocks")
    l2_genesis_output_root: Hash32 | None = field(Nullable(HASH), "l2GenesisOutputRoot")
    rollup: RollupInfo | None = field(Nullable(Nested(RollupInfo)), "rollup")  # None: disputes are disabled
    devnet_overrides: bool = field(BOOL, "devnetOverrides", default=False)  # set_l2_balance accepted (chain rule)

    @classmethod
    def of(cls, config: L1Config, params: L1ChainParams) -> L1ChainInfo:
        disputes = params.disputes
        return cls(
            params.chain_id,
            config.block_time_ms,
            params.batcher,
            params.proposer,
            params.proposer_fallback_blocks,
            params.proposer_bond,
            params.challenge_window,
            params.min_fee,
            params.max_batch_bytes,
            disputes.game_clock_blocks,
            disputes.genesis_output_root,
            None if disputes.rollup is None else RollupInfo.of(disputes.rollup, disputes.rules),
            params.devnet_overrides,
        )

    @property
    def rollup_chain_id(self) -> int | None:
        return None if self.rollup is None else self.rollup.chain_id


__all__ = [
    "BONDS",
    "CLOCKS",
    "BatchEvent",
    "DepositEvent",
    "DerivationBlock",
    "ForcedTxEvent",
    "GameInfo",
    "L1ChainInfo",
    "OutputReport",
    "RollupInfo",
    "SideValues",
    "WithdrawalInfo",
]
