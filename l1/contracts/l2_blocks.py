"""The L2 blocks this L1's inbox derives, tracked by the L1 itself (the shape only: no state).

Derivation's rules decide which L2 block sits at each height from L1 data
alone (node.shape: placement, sequencing window, default blocks; an invalid
transaction is skipped inside its block, never a reason to drop one). So the
L1 can follow them over its own inbox, as each batch is posted and as each
epoch's sequencing window closes, and know:

- whether an L2 block exists yet: an output proposal may only name one that
  does (l1.contracts.core), so nobody can claim a state for a block the chain
  has not made;
- what block n is: its timestamp, origin, whether it opens its epoch and
  where its user transactions are; the dispute game's opening must be this
  block (l1.contracts.disputes), and the one-step proof rebuilds its transactions from
  here (l1.contracts.inbox). Nothing about derivation is left for the L1 to trust.

Per L1 block n: each batch event, when its post_batch transaction runs
(`process_posted_batch`), then, at the start of block n + 1, the default
blocks of the epochs whose window closed with n (`process_expired_epochs`),
exactly the order node.derivation.Deriver follows. Cost: the batch is
decoded once (zlib + msgpack, no signature recovery).

| key               | value                                                                          |
|-------------------|--------------------------------------------------------------------------------|
| S l head          | msgpack [number, timestamp_ms, l1_origin_number]: the newest derived L2 block    |
| S l b number(8)   | msgpack [timestamp_ms, l1_origin_number, opens_epoch, [l1_block, log_index, position] or nil] |

L2 block 0 (genesis) is implicit: timestamp of L1 block 0, origin 0.

The record (L2BlockRecord, its BatchRef) and the head (L2_HEAD, over
node.shape.ShapeHead) are node.records schemas: the same fields give the
stored arrays (the number is in the key) and the JSON of l1_getL2Block and
l1_getL2Head.
"""

from __future__ import annotations

import logging

from l1.chain.store import L1StoredBlock, read_block
from l1.contracts.events import EVENTS, BatchPosted, DepositLocked, L2BalanceSet, TxForced
from node.batch import BatchError, decode_batch
from node.encoding import pack, unpack
from node.records import BOOL, UINT, Field, Nested, Nullable, Schema, field, from_wire, record, to_wire
from node.shape import BlockShape, OriginInfo, RollupRules, ShapeHead, derive_batch, derive_expired_epochs
from node.state.view import Overlay, StateReader

log = logging.getLogger(__name__)

L2_HEAD_KEY = b"Slhead"
L2_BLOCK_PREFIX = b"Slb"
MAX_RECORD_BYTES = 96


@record
class BatchRef:
    """Where a derived block's user transactions are: a batch event and the block's position in that batch."""

    l1_block: int = field(UINT, "l1Block")
    log_index: int = field(UINT, "logIndex")
    position: int = field(UINT, "position")


@record
class L2BlockRecord:
    """An L2 block as the L1 derived it: placement and where its user transactions are."""

    number: int = field(UINT, "number", wire=False)  # in its key
    timestamp_ms: int = field(UINT, "timestamp")
    l1_origin_number: int = field(UINT, "l1OriginNumber")
    opens_epoch: bool = field(BOOL, "opensEpoch")
    batch: BatchRef | None = field(Nullable(Nested(BatchRef)), "batch")  # None: a default block


L2_HEAD = Schema(
    ShapeHead,
    [  # stored at S l head; the JSON of l1_getL2Head
        Field("number", UINT, "number"),
        Field("timestamp_ms", UINT, "timestamp"),
        Field("l1_origin_number", UINT, "l1OriginNumber"),
    ],
)


# -- reading --


def get_l2_head(reader: StateReader) -> ShapeHead:
    """The newest L2 block this L1's inbox derives (genesis until a batch or a default block)."""
    raw = reader.get(L2_HEAD_KEY)
    if raw is None:
        genesis = get_l2_block(reader, 0)
        if genesis is None:
            raise LookupError("the L1 has no block 0, so no L2 genesis either")
        return ShapeHead(0, genesis.timestamp_ms, 0)
    return L2_HEAD.from_wire(unpack(raw, MAX_RECORD_BYTES))


def get_l2_block(reader: StateReader, number: int) -> L2BlockRecord | None:
    """L2 block `number` as derived from this L1's inbox, or None if it is not derived (yet)."""
    if number == 0:
        l1_genesis = read_block(reader, 0, EVENTS)
        return None if l1_genesis is None else L2BlockRecord(0, l1_genesis.header.timestamp_ms, 0, False, None)
    if not 0 < number < 2**64:
        return None
    raw = reader.get(L2_BLOCK_PREFIX + number.to_bytes(8, "big"))
    return None if raw is None else from_wire(L2BlockRecord, unpack(raw, MAX_RECORD_BYTES), number=number)


# -- following the inbox --


def process_posted_batch(
    overlay: Overlay, rules: RollupRules, posted_in: int, log_index: int, data: bytes
) -> list[L2BlockRecord]:
    """Derive the blocks of a batch posted in L1 block `posted_in`; return the new records (none if malformed)."""
    try:
        blocks = decode_batch(data, rules.chain_id)
    except BatchError as exc:
        log.info("batch in L1 block %d log %d derives nothing: %s", posted_in, log_index, exc)
        return []
    origins = _OriginCache(overlay)
    outcome = derive_batch(get_l2_head(overlay), blocks, posted_in, origins.info, rules)
    records = [_record(shape, (posted_in, log_index, shape.batch_position)) for shape, _ in outcome.accepted]
    _append(overlay, records)
    if outcome.dropped is not None:
        log.info("batch in L1 block %d log %d: %s", posted_in, log_index, outcome.dropped)
    return records


def process_expired_epochs(overlay: Overlay, rules: RollupRules, closed_l1_block: int) -> list[L2BlockRecord]:
    """Append the default blocks of the epochs whose sequencing window closed with L1 block `closed_l1_block`."""
    head = get_l2_head(overlay)
    if head.l1_origin_number + 1 + rules.sequencing_window > closed_l1_block:
        return []  # the common case: nothing expired, one read
    origins = _OriginCache(overlay)
    records = [_record(shape, None) for shape in derive_expired_epochs(head, closed_l1_block, origins.info, rules)]
    _append(overlay, records)
    for default in records:
        log.warning(
            "sequencing window of L1 block %d closed: L2 block %d is its default block",
            default.l1_origin_number,
            default.number,
        )
    return records


def backfill_l2_blocks(overlay: Overlay, rules: RollupRules, l1_head: int) -> int:
    """Derive the L2 blocks of L1 blocks 1..l1_head if this store has never tracked them (a chain written
    before the L1 followed its inbox); return how many were derived. A no-op once tracking has started."""
    if overlay.get(L2_HEAD_KEY) is not None or l1_head == 0:
        return 0
    derived = 0
    for number in range(1, l1_head + 1):
        derived += len(process_expired_epochs(overlay, rules, number - 1))
        block = read_block(overlay, number, EVENTS)
        for event in block.events if block is not None else ():
            if isinstance(event, BatchPosted):
                derived += len(process_posted_batch(overlay, rules, number, event.log_index, event.data))
    if derived == 0:
        overlay.set(
            L2_HEAD_KEY, pack(L2_HEAD.to_wire(ShapeHead(0, get_l2_head(overlay).timestamp_ms, 0)))
        )  # tracked from now on
    return derived


def _record(shape: BlockShape, batch: tuple[int, int, int | None] | None) -> L2BlockRecord:
    ref = None if batch is None or batch[2] is None else BatchRef(batch[0], batch[1], batch[2])
    return L2BlockRecord(shape.number, shape.timestamp_ms, shape.l1_origin_number, shape.opens_epoch, ref)


def _append(overlay: Overlay, records: list[L2BlockRecord]) -> None:
    for derived in records:
        overlay.set(L2_BLOCK_PREFIX + derived.number.to_bytes(8, "big"), pack(to_wire(derived)))
    if records:
        last = records[-1]
        overlay.set(
            L2_HEAD_KEY, pack(L2_HEAD.to_wire(ShapeHead(last.number, last.timestamp_ms, last.l1_origin_number)))
        )


def count_system_transactions(block: L1StoredBlock) -> int:
    """Deposits (balance overrides among them) and forced transactions of an L1 block: the head of its epoch's
    first L2 block."""
    return sum(1 for e in block.events if isinstance(e, (DepositLocked, L2BalanceSet, TxForced)))


class _OriginCache:
    """L1 blocks as origins, each read once per call (a block is decoded whole)."""

    def __init__(self, reader: StateReader) -> None:
        self.reader = reader
        self._seen: dict[int, OriginInfo | None] = {}

    def info(self, number: int) -> OriginInfo | None:
        if number not in self._seen:
            block = read_block(self.reader, number, EVENTS) if number >= 0 else None
            self._seen[number] = (
                None
                if block is None
                else OriginInfo(number, block.header.timestamp_ms, count_system_transactions(block))
            )
        return self._seen[number]


__all__ = [
    "L2_HEAD",
    "BatchRef",
    "L2BlockRecord",
    "backfill_l2_blocks",
    "count_system_transactions",
    "get_l2_block",
    "get_l2_head",
    "process_expired_epochs",
    "process_posted_batch",
]
