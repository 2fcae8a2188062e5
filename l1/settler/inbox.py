"""What the L1 inbox holds, as the settler needs it: the newest L2 block derivable from L1 data alone.

The walk is derivation's (node.derivation.Deriver) without execution: for
each L1 block in order, each batch (node.shape.derive_batch: a block at or
below the head is a re-post and skipped, a gap or a broken placement rule
ends the batch), then the default blocks of epochs whose sequencing window
closed (node.shape.derive_expired_epochs). Its head is the L2 block the
settler's batches (and anyone's) have made derivable: batches start after
it, outputs are proposed at or below it. A batch the walk does not take is
remembered with its reason (`last_drop`) for the operator and for the
settler's refusal backoff.

    walker = InboxWalker(rules)
    await sync_inbox(l1, walker, checkpoint)   # resume from a checkpoint of L1 facts, or from genesis
    walker.head.number

A checkpoint (the last L1 block walked, its hash, the head) only caches L1
facts: it is used only if the L1 still has that block with that hash, else
the walk starts again from L1 genesis (a new devnet).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from l1.contracts.client import DerivationBlock, L1Client
from l1.settler.verified import Derived, compute_batch_digest
from node.batch import BatchBlock, BatchError, decode_batch
from node.crypto import Hash32, parse_hex
from node.shape import BlockShape, OriginInfo, RollupRules, ShapeHead, derive_batch, derive_expired_epochs

log = logging.getLogger("settler.inbox")

FETCH_L1_BLOCKS = 64  # l1_getDerivationData's limit
MAX_DERIVED = 8192  # derived blocks' digests kept above the verified outputs (l1.settler.verified)


class InboxError(Exception):
    """The L1's inbox data cannot be walked (a missing block, or a checkpoint that does not parse)."""


@dataclass(frozen=True, slots=True)
class InboxCheckpoint:
    l1_block: int  # the last L1 block walked
    l1_hash: Hash32
    head: ShapeHead
    derived: tuple[tuple[int, Derived], ...] = ()  # the walk's derived blocks not yet covered by our outputs

    def to_json(self) -> dict[str, Any]:
        return {
            "l1Block": self.l1_block,
            "l1Hash": "0x" + self.l1_hash.hex(),
            "head": [self.head.number, self.head.timestamp_ms, self.head.l1_origin_number],
            "derived": [[n, "0x" + d.digest.hex(), d.system_count] for n, d in self.derived],
        }

    @classmethod
    def from_json(cls, doc: Any) -> InboxCheckpoint:
        try:
            number, timestamp, origin = (int(v) for v in doc["head"])
            derived = tuple(
                (int(n), Derived(Hash32(parse_hex(digest, 32, "digest")), int(count)))
                for n, digest, count in doc.get("derived", [])
            )
            return cls(
                int(doc["l1Block"]),
                Hash32(parse_hex(doc["l1Hash"], 32, "l1Hash")),
                ShapeHead(number, timestamp, origin),
                derived,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InboxError(f"malformed inbox checkpoint: {exc}") from None


@dataclass(frozen=True, slots=True)
class Drop:
    l1_block: int
    block: int  # the first L2 block of the batch the walk did not take
    reason: str


def compute_origin_info(block: DerivationBlock) -> OriginInfo:
    return OriginInfo(block.number, block.timestamp_ms, len(block.deposits) + len(block.forced_txs))


class InboxWalker:
    """The derivable L2 head after each L1 block, walked in order."""

    def __init__(self, rules: RollupRules) -> None:
        self.rules = rules
        self.head: ShapeHead | None = None
        self.last_l1: int = -1  # the last L1 block walked
        self.last_hash: Hash32 | None = None
        self.origins: dict[int, OriginInfo] = {}
        self.last_drop: Drop | None = None
        self.default_blocks = 0
        self.unreported_defaults: list[tuple[int, int]] = []  # (L2 block, its epoch) since the last log line
        self.derived: dict[int, Derived] = {}  # L2 block -> what L1 derived there (l1.settler.verified), in order
        self.records_derived = True  # off for a settler without [p2p]: nothing would read or prune them

    def report_defaults(self) -> None:
        """One log line for the default blocks walked since the last one."""
        if not self.unreported_defaults:
            return
        (first, first_epoch), (last, last_epoch) = self.unreported_defaults[0], self.unreported_defaults[-1]
        log.warning(
            "the sequencing windows of L1 blocks %d..%d closed without a batch: L2 blocks %d..%d are default blocks",
            first_epoch,
            last_epoch,
            first,
            last,
        )
        self.unreported_defaults.clear()

    @property
    def head_number(self) -> int:
        return 0 if self.head is None else self.head.number

    def start_at_genesis(self, genesis: DerivationBlock) -> None:
        """L2 genesis: block 0, with the L1 genesis block's timestamp as its own and as its origin."""
        self.head = ShapeHead(0, genesis.timestamp_ms, 0)
        self.last_l1, self.last_hash = -1, None
        self.origins = {}
        self.last_drop = None
        self.derived = {}
        self.process_l1_block(genesis)

    def restore(self, checkpoint: InboxCheckpoint, origins: list[DerivationBlock]) -> None:
        """Resume after `checkpoint`; `origins`: the L1 blocks from the head's origin to the checkpoint's."""
        self.head = checkpoint.head
        self.last_l1, self.last_hash = checkpoint.l1_block, checkpoint.l1_hash
        self.origins = {b.number: compute_origin_info(b) for b in origins}
        self.derived = dict(checkpoint.derived)

    def checkpoint(self) -> InboxCheckpoint | None:
        if self.head is None or self.last_hash is None:
            return None
        return InboxCheckpoint(self.last_l1, self.last_hash, self.head, tuple(sorted(self.derived.items())))

    def forget_derived_below(self, number: int) -> None:
        """Drop the derived blocks' digests below `number` (covered by our outputs already)."""
        for old in [n for n in self.derived if n < number]:
            del self.derived[old]

    def _record_derived(self, shape: BlockShape, block: BatchBlock) -> None:
        if not self.records_derived:
            return
        origin = self.origins.get(shape.l1_origin_number)
        system = origin.system_count if shape.opens_epoch and origin is not None else 0
        self.derived[shape.number] = Derived(compute_batch_digest(block), system)
        if len(self.derived) > MAX_DERIVED:
            del self.derived[next(iter(self.derived))]  # the lowest: blocks are derived in order

    def process_l1_block(self, block: DerivationBlock) -> None:
        if self.head is None:
            raise InboxError("the inbox walk has not started (no L2 genesis head)")
        if block.number != self.last_l1 + 1:
            raise InboxError(f"L1 block {block.number} walked after {self.last_l1}")
        self.origins[block.number] = compute_origin_info(block)
        head = self.head
        for batch in block.batches:
            head = self._walk_batch(head, batch.data, block.number)
        for shape in derive_expired_epochs(head, block.number, self.origins.get, self.rules):
            head = shape.head
            self._record_derived(shape, BatchBlock(shape.number, shape.timestamp_ms, shape.l1_origin_number, ()))
            self.default_blocks += 1
            self.unreported_defaults.append((shape.number, shape.l1_origin_number))
        self.head = head
        self.last_l1, self.last_hash = block.number, block.hash
        self._forget_origins_before(head.l1_origin_number)

    def _walk_batch(self, head: ShapeHead, data: bytes, posted_in: int) -> ShapeHead:
        """The head after one batch; a batch (or its rest) that derivation would not take is recorded."""
        try:
            blocks = decode_batch(data, self.rules.chain_id)
        except BatchError as exc:
            self.last_drop = Drop(posted_in, head.number + 1, f"a batch in L1 block {posted_in} is malformed: {exc}")
            return head
        outcome = derive_batch(head, blocks, posted_in, self.origins.get, self.rules)
        for shape, accepted in outcome.accepted:
            self._record_derived(shape, accepted)
        if outcome.accepted:
            head = outcome.accepted[-1][0].head
        if outcome.dropped is not None:
            self.last_drop = Drop(posted_in, _first_not_taken(blocks, head.number), outcome.dropped)
            log.warning("derivation does not take the rest of the batch in L1 block %d: %s", posted_in, outcome.dropped)
        return head

    def _forget_origins_before(self, number: int) -> None:
        for old in [n for n in self.origins if n < number]:
            del self.origins[old]


def _first_not_taken(blocks: list[BatchBlock], head: int) -> int:
    return next((b.number for b in blocks if b.number > head), head + 1)


# -- reading the L1 ------------------------------------------------------------------------


async def fetch_l1_blocks(l1: L1Client, first: int, last: int) -> list[DerivationBlock]:
    """L1 blocks first..last (all must exist), in pages of FETCH_L1_BLOCKS."""
    blocks: list[DerivationBlock] = []
    while first <= last:
        page = await l1.get_derivation_data(first, min(FETCH_L1_BLOCKS, last - first + 1))
        if not page:
            raise InboxError(f"the L1 has no block {first} (head said {last})")
        blocks.extend(page)
        first = page[-1].number + 1
    return blocks


async def open_inbox(l1: L1Client, walker: InboxWalker, checkpoint: InboxCheckpoint | None) -> None:
    """Start the walk: from `checkpoint` if the L1 still holds its block, else from L1 genesis."""
    if checkpoint is not None:
        block = await l1.get_block(checkpoint.l1_block)
        if block is not None and block.hash == checkpoint.l1_hash:
            walker.restore(checkpoint, await fetch_l1_blocks(l1, checkpoint.head.l1_origin_number, checkpoint.l1_block))
            log.info(
                "inbox walk resumes after L1 block %d (derivable L2 head %d)",
                checkpoint.l1_block,
                checkpoint.head.number,
            )
            return
        log.warning(
            "the L1 no longer has block %d with hash 0x%s (a new L1?): walking its inbox from genesis",
            checkpoint.l1_block,
            checkpoint.l1_hash.hex()[:16],
        )
    walker.start_at_genesis((await fetch_l1_blocks(l1, 0, 0))[0])


async def sync_inbox(l1: L1Client, walker: InboxWalker, l1_head: int) -> int:
    """Walk the L1 blocks after the last one walked, up to `l1_head`; return how many were walked."""
    walked = 0
    while walker.last_l1 < l1_head:
        first = walker.last_l1 + 1
        for block in await fetch_l1_blocks(l1, first, min(l1_head, first + FETCH_L1_BLOCKS - 1)):
            walker.process_l1_block(block)
            walked += 1
    walker.report_defaults()
    return walked
