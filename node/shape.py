"""The shape of the L2 chain, from L1 data alone: which block sits at each height, with which
timestamp and L1 origin, and where its transactions come from (docs/protocol.md section 4).

Pure and state-free. Two users hold the same rules:

- nodes' derivation (node.derivation.Deriver) walks L1 blocks, takes the
  shapes this module accepts and executes them;
- the L1 (l1.contracts.l2_blocks) tracks the shapes of the blocks its own inbox
  derives, so it refuses an output for a block that does not exist and can
  check an opened block against the one derivation makes.

Nothing here depends on L2 state: a batch block is accepted or dropped on
its placement and size only, and a transaction invalid at its point is
skipped during execution (node.stf.blocks), never a reason to drop a block.

For each L1 block n, in order:
  1. each batch posted in n, in log order (`derive_batch`): its blocks in
     order; one at or below the head is skipped (old or re-posted), one that
     is not head + 1 or breaks a placement rule ends the batch;
  2. then `derive_expired_epochs`: while the head's origin e satisfies
     e + 1 + sequencing_window <= n, a default block for epoch e + 1 (only
     that L1 block's deposits and forced transactions).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from node.batch import BatchBlock
from node.block import MAX_BLOCK_TXS
from node.stf.errors import InvalidBlock


@dataclass(frozen=True, slots=True)
class RollupRules:
    chain_id: int
    max_sequencer_drift_ms: int = 10_000
    sequencing_window: int = 20  # L1 blocks
    max_block_txs: int = MAX_BLOCK_TXS


class PlacementError(InvalidBlock):
    """A block breaks the origin, timestamp, window or size rules."""

    rpc_code = -32045


class Placed(Protocol):
    """A block's placement as the rules read it (a BlockHeader or a ShapeHead)."""

    @property
    def number(self) -> int: ...

    @property
    def timestamp_ms(self) -> int: ...

    @property
    def l1_origin_number(self) -> int: ...


class Origin(Protocol):
    """An L1 block as the rules read it (node.derivation.L1BlockData or an OriginInfo)."""

    @property
    def number(self) -> int: ...

    @property
    def timestamp_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class OriginInfo:
    """What the shape needs of an L1 block: its number, timestamp and how many system transactions it gives."""

    number: int
    timestamp_ms: int
    system_count: int  # deposits + forced transactions: the head of an epoch's first block


@dataclass(frozen=True, slots=True)
class ShapeHead:
    number: int
    timestamp_ms: int
    l1_origin_number: int


@dataclass(frozen=True, slots=True)
class BlockShape:
    """A derived block without its state: placement, and the source of its user transactions."""

    number: int
    timestamp_ms: int
    l1_origin_number: int
    opens_epoch: bool  # it starts with its origin's deposits and forced transactions
    batch_position: int | None  # index of the block in its batch; None: a default block

    @property
    def head(self) -> ShapeHead:
        return ShapeHead(self.number, self.timestamp_ms, self.l1_origin_number)


OriginLookup = Callable[[int], "OriginInfo | None"]


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    accepted: tuple[tuple[BlockShape, BatchBlock], ...]
    dropped: str | None  # why the rest of the batch was dropped, if it was


def validate_placement(
    parent: Placed, origin: Origin, timestamp_ms: int, rules: RollupRules, posted_in: int | None = None
) -> bool:
    """The origin, timestamp and window rules for a block on `parent`; return whether it opens a new epoch.

    `posted_in` is the L1 block a batch block was posted in (None for the
    sequencer planning its own block): the origin must be an earlier L1
    block, and within the sequencing window of it.
    """
    if origin.number not in (parent.l1_origin_number, parent.l1_origin_number + 1):
        raise PlacementError(f"l1 origin {origin.number} must be {parent.l1_origin_number} or the next L1 block")
    if timestamp_ms <= parent.timestamp_ms:
        raise PlacementError(f"timestamp {timestamp_ms} is not after the parent's {parent.timestamp_ms}")
    if timestamp_ms < origin.timestamp_ms:
        raise PlacementError(f"timestamp {timestamp_ms} is before its l1 origin's {origin.timestamp_ms}")
    if timestamp_ms > origin.timestamp_ms + rules.max_sequencer_drift_ms:
        raise PlacementError(
            f"timestamp {timestamp_ms} drifts more than {rules.max_sequencer_drift_ms} ms past its l1 origin"
        )
    if posted_in is not None:
        if origin.number >= posted_in:
            raise PlacementError(
                f"batch posted in L1 block {posted_in} names l1 origin {origin.number}, not an earlier block"
            )
        if posted_in > origin.number + rules.sequencing_window:
            raise PlacementError(
                f"batch for epoch {origin.number} posted in L1 block {posted_in}, after the sequencing window"
            )
    return origin.number == parent.l1_origin_number + 1


def validate_size(origin: OriginInfo, opens_epoch: bool, user_count: int, rules: RollupRules) -> None:
    count = (origin.system_count if opens_epoch else 0) + user_count
    if count > rules.max_block_txs:
        raise PlacementError(f"block would hold {count} transactions, more than max_block_txs {rules.max_block_txs}")


def derive_batch(
    head: ShapeHead, blocks: Sequence[BatchBlock], posted_in: int, origins: OriginLookup, rules: RollupRules
) -> BatchOutcome:
    """The blocks of one batch (posted in L1 block `posted_in`) that extend `head`, in order."""
    accepted: list[tuple[BlockShape, BatchBlock]] = []
    for position, block in enumerate(blocks):
        if block.number <= head.number:
            continue  # already derived (a re-posted batch)
        if block.number != head.number + 1:
            return BatchOutcome(tuple(accepted), f"skips to L2 block {block.number} (head {head.number})")
        try:
            shape = place_batch_block(head, block, position, posted_in, origins, rules)
        except PlacementError as exc:
            return BatchOutcome(tuple(accepted), f"L2 block {block.number}: {exc}")
        accepted.append((shape, block))
        head = shape.head
    return BatchOutcome(tuple(accepted), None)


def place_batch_block(
    head: ShapeHead, block: BatchBlock, position: int, posted_in: int, origins: OriginLookup, rules: RollupRules
) -> BlockShape:
    origin = origins(block.l1_origin_number)
    if origin is None:
        raise PlacementError(f"l1 origin {block.l1_origin_number} is not a known L1 block")
    opens = validate_placement(head, origin, block.timestamp_ms, rules, posted_in)
    validate_size(origin, opens, len(block.transactions), rules)
    return BlockShape(block.number, block.timestamp_ms, origin.number, opens, position)


def derive_expired_epochs(
    head: ShapeHead, l1_number: int, origins: OriginLookup, rules: RollupRules
) -> list[BlockShape]:
    """Default blocks for the epochs whose sequencing window closed with L1 block `l1_number`."""
    shapes: list[BlockShape] = []
    while True:
        epoch = head.l1_origin_number + 1
        if epoch + rules.sequencing_window > l1_number:
            return shapes
        origin = origins(epoch)
        if origin is None:
            return shapes
        shape = BlockShape(head.number + 1, max(origin.timestamp_ms, head.timestamp_ms + 1), epoch, True, None)
        shapes.append(shape)
        head = shape.head


__all__ = [
    "BatchOutcome",
    "BlockShape",
    "OriginInfo",
    "OriginLookup",
    "PlacementError",
    "RollupRules",
    "ShapeHead",
    "derive_batch",
    "derive_expired_epochs",
    "place_batch_block",
    "validate_placement",
    "validate_size",
]
