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
from collections.abc import Sequence
from dataclasses import dataclass, field

from node.batch import BatchError, decode_batch
from node.block import BlockHeader
from node.chain import Chain, SealedBlock
from node.safe_chain import Derived, SafeChain
from node.shape import (
    BlockShape,
    OriginInfo,
    PlacementError,
    RollupRules,
    ShapeHead,
    derive_batch,
    derive_expired_epochs,
    validate_placement,
)
from node.stf import BlockBuild
from node.stf.blocks import as_recovered_deposit
from node.stf.execute import recover_in_block
from node.tx import DepositTx, RecoveredTx

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class L1BlockData:
    """What derivation reads from one L1 block."""

    number: int
    hash: bytes
    timestamp_ms: int
    deposits: tuple[DepositTx, ...] = ()
    forced_txs: tuple[bytes, ...] = ()
    batches: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class BlockPlan:
    origin: L1BlockData
    timestamp_ms: int
    first_in_epoch: bool


# -- rules shared by sequencer and derivation --------------------------------------------


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
    """An epoch's first-block prefix: every deposit, then every forced transaction (in log order).

    A forced transaction invalid at its point (it does not even decode, its
    signature does not recover, or state refuses it) is still in the block
    and skipped when executed: the block's content depends on L1 data only.
    """
    return origin.deposits, [recover_in_block(raw) for raw in origin.forced_txs]


def system_rtxs(origin: L1BlockData) -> list[RecoveredTx]:
    deposits, forced = system_transactions(origin)
    return [as_recovered_deposit(d) for d in deposits] + forced


def origin_info(data: L1BlockData) -> OriginInfo:
    return OriginInfo(data.number, data.timestamp_ms, len(data.deposits) + len(data.forced_txs))


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
        outcome = derive_batch(self._shape_head(), blocks, posted_in, self._origin_info, self.rules)
        for shape, block in outcome.accepted:
            result.add(self._append(shape, block.transactions))
        if outcome.dropped is not None:
            result.dropped.append(f"batch in L1 block {posted_in}: {outcome.dropped}")

    def _fill_expired_epochs(self, l1_number: int, result: DerivationResult) -> None:
        for shape in derive_expired_epochs(self._shape_head(), l1_number, self._origin_info, self.rules):
            result.add(self._append(shape, ()))
            log.warning(
                "sequencing window of L1 block %d expired: derived default L2 block %d",
                shape.l1_origin_number,
                shape.number,
            )

    def _append(self, shape: BlockShape, user: Sequence[bytes]) -> Derived:
        """Append the block; user transactions are recovered only if it must be executed (not already unsafe)."""
        origin = self._origin(shape.l1_origin_number)
        system = system_rtxs(origin) if shape.opens_epoch else []
        return self.safe.append_derived(system, user, shape.timestamp_ms, (origin.number, origin.hash))

    def _origin_info(self, number: int) -> OriginInfo | None:
        data = self._l1.get(number)
        return None if data is None else origin_info(data)

    def _shape_head(self) -> ShapeHead:
        header = self._head_header()
        return ShapeHead(header.number, header.timestamp_ms, header.l1_origin_number)

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
    "origin_info",
    "system_rtxs",
    "system_transactions",
    "validate_placement",
]
