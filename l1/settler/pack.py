"""Packing the sequencer's L2 blocks into one batch for the L1 inbox (pure).

blocks = [parse_batch_block(item) for item in rollup_getBatchBlocks(first, n)]
validate_contiguous(blocks, first)
data, count = pack_batch(blocks, chain_id, max_bytes)   # the longest prefix that fits
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.batch import BatchBlock, encode_batch
from node.crypto import CryptoError, parse_hex

BLOCK_OVERHEAD_BYTES = 16  # a batch block's header fields, in raw-byte terms
FILL_TARGET = 0.97  # aim a little under the limit so the first sized attempt usually fits


class SettlerError(Exception):
    """The settler cannot make progress without an operator (config or data problem)."""


class BlockTooLarge(SettlerError):
    def __init__(self, number: int, size: int, limit: int) -> None:
        super().__init__(
            f"L2 block {number} alone encodes to {size} batch bytes, above max_batch_bytes {limit}; "
            "raise the L1's max_batch_bytes or lower the rollup's max_block_txs"
        )


class SequencerDataError(ValueError):
    """The sequencer answered with blocks that are malformed or not the ones asked for."""


def parse_batch_block(item: Any) -> BatchBlock:
    """One entry of rollup_getBatchBlocks."""
    try:
        return BatchBlock(
            number=int(item["number"]),
            timestamp_ms=int(item["timestamp"]),
            l1_origin_number=int(item["l1Origin"]),
            transactions=tuple(parse_hex(raw, None, "transaction") for raw in item["transactions"]),
        )
    except (KeyError, TypeError, ValueError, CryptoError) as exc:
        raise SequencerDataError(f"malformed rollup_getBatchBlocks entry: {exc}") from None


def validate_contiguous(blocks: Sequence[BatchBlock], first: int) -> None:
    for offset, block in enumerate(blocks):
        if block.number != first + offset:
            raise SequencerDataError(f"sequencer returned block {block.number} where {first + offset} was expected")


def pack_batch(blocks: Sequence[BatchBlock], chain_id: int, max_bytes: int) -> tuple[bytes, int]:
    """A batch of a prefix of `blocks` that encodes within `max_bytes`, and its length.

    Encoding is the expensive part (~6 us per transaction), so instead of a
    binary search the prefix is sized from the encoded-to-raw ratio of the
    first attempt and trimmed until it fits: one to three encodings.
    """
    data = encode_batch(blocks, chain_id)
    if len(data) <= max_bytes:
        return data, len(blocks)
    weights = [BLOCK_OVERHEAD_BYTES + sum(len(tx) for tx in b.transactions) for b in blocks]
    count = _prefix_within(weights, max_bytes * FILL_TARGET * sum(weights) / len(data))
    while count >= 1:
        data = encode_batch(blocks[:count], chain_id)
        if len(data) <= max_bytes:
            return data, count
        count = min(count - 1, int(count * max_bytes * FILL_TARGET / len(data)))
    raise BlockTooLarge(blocks[0].number, len(encode_batch(blocks[:1], chain_id)), max_bytes)


def _prefix_within(weights: Sequence[int], budget: float) -> int:
    total = 0
    for count, weight in enumerate(weights):
        total += weight
        if total > budget:
            return count
    return len(weights)
