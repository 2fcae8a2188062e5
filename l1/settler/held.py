"""The sequencer's signed blocks as the settler holds them, and batch blocks made from them (pure).

A gossiped block carries all its transactions; a batch carries only the
user part: an epoch's first block (the first with a new L1 origin) opens
with that origin's system transactions (every deposit, then every forced
transaction, node.derivation), and the batch leaves them out, as
`rollup_getBatchBlocks` does. Their count is L1 data (node.shape.OriginInfo,
which the settler's inbox walk keeps), so a held block becomes the same
BatchBlock the sequencer's RPC returns, byte for byte:

    blocks = held_run(held, first)                        # contiguous, linked by parent hash
    batch = to_batch_blocks(blocks, head, origins.get)    # the prefix whose origins are known

`should_range_sync` says when to ask peers for a missing first block;
`choose_source` decides where a batch comes from: the blocks held, or the
sequencer's JSON-RPC (the fallback, when gossip has had nothing new for a
while, when the block the batch needs next has been missing that long while
gossip keeps bringing others (`Starvation`: after a heal, a held run that no
longer links, a range sync that fails), or the settler has no [p2p] section).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from node.batch import BatchBlock
from node.block import Block
from node.shape import OriginInfo, ShapeHead

RANGE_SYNC_AFTER_S = 1.0


class Source(StrEnum):
    """Where the blocks of a batch came from."""

    GOSSIP = "gossip"
    RPC = "rpc"


def held_run(held: Mapping[int, Block], first: int, limit: int) -> list[Block]:
    """Held blocks first, first+1, ... (at most `limit`), stopping at a gap or a block not on its parent."""
    run: list[Block] = []
    number = first
    while len(run) < limit:
        block = held.get(number)
        if block is None:
            break
        if run and block.header.parent_hash != run[-1].hash():
            break
        run.append(block)
        number += 1
    return run


def to_batch_blocks(
    blocks: list[Block], head: ShapeHead, origin_of: Callable[[int], OriginInfo | None]
) -> list[BatchBlock]:
    """The batch blocks of `blocks` (which follow `head`), up to the first whose new origin is not known."""
    batch: list[BatchBlock] = []
    previous_origin = head.l1_origin_number
    for block in blocks:
        origin = block.header.l1_origin_number
        system = 0
        if origin != previous_origin:
            info = origin_of(origin)
            if info is None:
                break
            system = info.system_count
        if system > len(block.transactions):
            break  # not the block the origin says: leave it to the RPC
        batch.append(to_batch_block(block, system))
        previous_origin = origin
    return batch


def to_batch_block(block: Block, system_count: int) -> BatchBlock:
    return BatchBlock(
        number=block.number,
        timestamp_ms=block.header.timestamp_ms,
        l1_origin_number=block.header.l1_origin_number,
        transactions=tuple(block.transactions[system_count:]),
    )


def should_range_sync(first: int, newest_held: int | None, silent_s: float) -> bool:
    """Ask peers for blocks from `first` (not held): a later block is held (a gap), or gossip has been quiet
    for RANGE_SYNC_AFTER_S (a start, a restart, held blocks dropped); not while `first` is simply unsealed."""
    return (newest_held is not None and newest_held > first) or silent_s >= RANGE_SYNC_AFTER_S


@dataclass(slots=True)
class Starvation:
    """How long the batch's next block has been wanted and not held (so lively gossip of other
    blocks cannot hold the RPC fallback off forever)."""

    block: int | None = None
    since: float = 0.0

    def observe(self, first: int, holds_first: bool, now: float) -> float:
        """Seconds block `first` has been wanted without being held; 0 once it is held."""
        if holds_first:
            self.block = None
            return 0.0
        if self.block != first:
            self.block, self.since = first, now
        return now - self.since


def choose_source(*, has_network: bool, holds_next: bool, silent_s: float, fallback_after_s: float) -> Source | None:
    """Where the next batch comes from: the blocks held, the RPC fallback, or None (wait for gossip)."""
    if not has_network:
        return Source.RPC
    if holds_next:
        return Source.GOSSIP
    if silent_s >= fallback_after_s:
        return Source.RPC
    return None
