"""Derivation: the L2 chain as a pure function of L1 data (docs/protocol.md section 4).

The same rules serve three users:
- the sequencer plans each new block with `plan_next_block` and includes the
  system transactions of `system_transactions` so its blocks are derivable;
- executors and the challenger feed L1 blocks in order to a `Deriver`,
  which turns batches into safe blocks and fills epochs the sequencer left
  empty past the sequencing window with default blocks.

Nothing here does I/O: the caller fetches L1 data (`L1BlockData`) and hands it
over; the Deriver asks for the L1 blocks it needs with `needed_origins()`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Sequence

from node.batch import BatchBlock, BatchError, decode_batch
from node.block import BlockHeader
from node.chain import Chain, ChainError, SealedBlock
from node.safe_chain import Derived, SafeChain
from node.stf import BlockBuild, InvalidBlock, InvalidTransaction
from node.stf.execute import recover_transaction
from node.tx import DepositTx, RecoveredTx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RollupRules:
    chain_id: int
    max_sequencer_drift_ms: int = 10_000
    sequencing_window: int = 20  # L1 blocks


@dataclass(frozen=True, slots=True)
class L1BlockData:
    """What derivation reads from one L1 block."""

    number: int
    hash: bytes
    timestamp_ms: int
    deposits: tuple[DepositTx, ...] = ()
    forced_txs: tuple[bytes, ...] = ()
    batches: tuple[bytes, ...] = ()


class PlacementError(InvalidBlock):
    """A block breaks the origin, timestamp or window rules."""

    rpc_code = -32045


@dataclass(frozen=True, slots=True)
class BlockPlan:
    origin: L1BlockData
    timestamp_ms: int
    first_in_epoch: bool


# -- rules shared by sequencer and derivation --------------------------------------------


def validate_placement(
    parent: BlockHeader, origin: L1BlockData, timestamp_ms: int, rules: RollupRules, posted_in: int | None = None
) -> bool:
    """Check rules 1, 2 and 4 for a block on `parent`; return whether it opens a new epoch."""
    if origin.number not in (parent.l1_origin_number, parent.l1_origin_number + 1):
        raise PlacementError(f"l1 origin {origin.number} must be {parent.l1_origin_number} or the next L1 block")
    if timestamp_ms <= parent.timestamp_ms:
        raise PlacementError(f"timestamp {timestamp_ms} is not after the parent's {parent.timestamp_ms}")
    if timestamp_ms < origin.timestamp_ms:
        raise PlacementError(f"timestamp {timestamp_ms} is before its l1 origin's {origin.timestamp_ms}")
    if timestamp_ms > origin.timestamp_ms + rules.max_sequencer_drift_ms:
        raise PlacementError(f"timestamp {timestamp_ms} drifts more than {rules.max_sequencer_drift_ms} ms past its l1 origin")
    if posted_in is not None and posted_in > origin.number + rules.sequencing_window:
        raise PlacementError(f"batch for epoch {origin.number} posted in L1 block {posted_in}, after the sequencing window")
    return origin.number == parent.l1_origin_number + 1


def plan_next_block(
    parent: BlockHeader, current: L1BlockData, following: L1BlockData | None, now_ms: int, rules: RollupRules
) -> BlockPlan | None:
    """The sequencer's choice of origin and timestamp; None when no valid block can be made yet.

    `current` is the parent's origin, `following` the next L1 block if known.
    The origin advances (one L1 block at a time) as soon as the next L1 block
    is not in the future of the block's timestamp. The timestamp never drifts
    more than max_sequencer_drift_ms past the chosen origin, even when the
    origin lags the wall clock (slow blocks under load: the origin moves one
    L1 block per L2 block), so the L2 clock then lags too and catches up block
    by block.
    """
    timestamp = max(now_ms, parent.timestamp_ms + 1)
    if following is not None and following.timestamp_ms <= timestamp:
        capped = min(timestamp, following.timestamp_ms + rules.max_sequencer_drift_ms)
        if capped > parent.timestamp_ms:
            return BlockPlan(following, capped, True)
    timestamp = min(timestamp, current.timestamp_ms + rules.max_sequencer_drift_ms)
    if timestamp <= parent.timestamp_ms:
        return None  # drift exhausted and the next L1 block is not known yet
    return BlockPlan(current, timestamp, False)


def system_transactions(origin: L1BlockData) -> tuple[tuple[DepositTx, ...], list[RecoveredTx]]:
    """An epoch's first-block prefix: deposits, and the forced transactions that decode and recover."""
    forced: list[RecoveredTx] = []
    for raw in origin.forced_txs:
        try:
            forced.append(recover_transaction(raw))
        except InvalidTransaction as exc:
            log.info("forced transaction in L1 block %d left out: %s", origin.number, exc)
    return origin.deposits, forced


def seal_planned(chain: Chain, plan: BlockPlan, candidates: Sequence[RecoveredTx]) -> tuple[SealedBlock, BlockBuild]:
    """The sequencer's block for `plan`: system transactions when it opens an epoch, then candidates."""
    deposits, forced = system_transactions(plan.origin) if plan.first_in_epoch else ((), [])
    return chain.seal_block(candidates, plan.timestamp_ms, (plan.origin.number, plan.origin.hash), deposits, forced)


# -- the derivation pipeline ---------------------------------------------------------------


@dataclass
class DerivationResult:
    derived: list[SealedBlock] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # reasons, for logs and metrics
    promoted: int = 0  # derived blocks that were already there as unsafe blocks
    reorgs: list[tuple[int, int]] = field(default_factory=list)  # (first replaced block, discarded unsafe head)

    def add(self, derived: Derived) -> None:
        self.derived.append(derived.sealed)
        self.promoted += derived.promoted
        if derived.reorged_from is not None:
            self.reorgs.append((derived.sealed.head.number, derived.reorged_from))


class Deriver:
    """Turns L1 blocks, in order, into safe L2 blocks committed to `chain`.

    Re-processing an L1 block is harmless (already derived blocks are skipped),
    so a restart may resume from the last L1 block recorded as processed.
    """

    def __init__(self, chain: Chain, rules: RollupRules) -> None:
        self.chain = chain
        self.safe = SafeChain(chain)
        self.rules = rules
        self._l1: dict[int, L1BlockData] = {}

    def needed_origins(self) -> int:
        """The lowest L1 block number the next step can need (the safe head's origin)."""
        return self._head_header().l1_origin_number

    def add_l1_block(self, data: L1BlockData) -> None:
        self._l1[data.number] = data

    def process_l1_block(self, data: L1BlockData) -> DerivationResult:
        self.add_l1_block(data)
        result = DerivationResult()
        for batch in data.batches:
            self._derive_batch(batch, data.number, result)
        self._fill_expired_epochs(data.number, result)
        self._forget_l1_before(self.needed_origins())
        return result

    def _derive_batch(self, batch: bytes, posted_in: int, result: DerivationResult) -> None:
        try:
            blocks = decode_batch(batch, self.rules.chain_id)
        except BatchError as exc:
            result.dropped.append(f"batch in L1 block {posted_in} is malformed: {exc}")
            return
        for block in blocks:
            head = self._head_header()
            if block.number <= head.number:
                continue  # already derived (a re-posted or re-processed batch)
            if block.number != head.number + 1:
                result.dropped.append(f"batch in L1 block {posted_in} skips to L2 block {block.number} (safe head {head.number})")
                return
            try:
                result.add(self._derive_batch_block(head, block, posted_in))
            except (InvalidBlock, InvalidTransaction, ChainError) as exc:
                result.dropped.append(f"L2 block {block.number} from L1 block {posted_in} is invalid: {exc}")
                return

    def _derive_batch_block(self, parent: BlockHeader, block: BatchBlock, posted_in: int) -> Derived:
        origin = self._origin(block.l1_origin_number)
        first = validate_placement(parent, origin, block.timestamp_ms, self.rules, posted_in)
        user_txs = [recover_transaction(raw) for raw in block.transactions]
        deposits, forced = system_transactions(origin) if first else ((), [])
        return self.safe.append_derived(user_txs, block.timestamp_ms, (origin.number, origin.hash), deposits, forced)

    def _fill_expired_epochs(self, l1_number: int, result: DerivationResult) -> None:
        while True:
            head = self._head_header()
            epoch = head.l1_origin_number + 1
            if epoch + self.rules.sequencing_window > l1_number or epoch not in self._l1:
                return
            origin = self._l1[epoch]
            timestamp = max(origin.timestamp_ms, head.timestamp_ms + 1)
            deposits, forced = system_transactions(origin)
            result.add(self.safe.append_derived([], timestamp, (origin.number, origin.hash), deposits, forced, strict=False))
            log.warning("sequencing window of L1 block %d expired: derived default L2 block %d", epoch, head.number + 1)

    def _origin(self, number: int) -> L1BlockData:
        data = self._l1.get(number)
        if data is None:
            raise PlacementError(f"l1 origin {number} is not a known L1 block")
        return data

    def _head_header(self) -> BlockHeader:
        return self.safe.safe_header()

    def _forget_l1_before(self, number: int) -> None:
        for old in [n for n in self._l1 if n < number]:
            del self._l1[old]


__all__ = [
    "BlockPlan",
    "DerivationResult",
    "Deriver",
    "L1BlockData",
    "PlacementError",
    "RollupRules",
    "plan_next_block",
    "seal_planned",
    "system_transactions",
    "validate_placement",
]
