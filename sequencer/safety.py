"""The sequencer's view of its own safe and finalized heads, from what L1 holds.

Pure and synchronous: L1 blocks and output proposals are handed in, the
sequencer's blocks are read through a `BlockSource`.

- safe: the newest of our blocks that derivation would take from the
  batches posted so far. Like derivation, blocks are taken in order (a block
  whose number is not safe + 1 is skipped or ends its batch) and only within
  the sequencing window; a batch block that differs from ours is logged
  (derivation would then follow L1, not us).
- finalized: the newest finalized output proposal whose root equals the
  output root of our block at that number (a mismatch is logged as critical).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping, Protocol

from node.batch import BatchBlock, BatchError, decode_batch
from node.block import Block
from node.crypto import parse_hex
from node.derivation import L1BlockData, RollupRules
from node.output import compute_output_root

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({"finalized", "defeated"})


class BlockSource(Protocol):
    def head_number(self) -> int: ...

    def block(self, number: int) -> Block | None: ...

    def system_count(self, number: int) -> int: ...


@dataclass(frozen=True, slots=True)
class OutputClaim:
    index: int
    l2_block_number: int
    output_root: bytes
    status: str


def parse_output(item: Mapping[str, Any]) -> OutputClaim:
    return OutputClaim(
        index=int(item["index"]),
        l2_block_number=int(item["l2BlockNumber"]),
        output_root=parse_hex(str(item["outputRoot"]), 32, "output root"),
        status=str(item["status"]),
    )


class SafetyTracker:
    def __init__(self, rules: RollupRules, blocks: BlockSource) -> None:
        self.rules = rules
        self.blocks = blocks
        self.safe = 0
        self.finalized = 0
        self.next_output_index = 0  # outputs before this one are settled (finalized or defeated)

    # -- safe head: batches on L1 --

    def observe_l1_block(self, data: L1BlockData) -> int:
        """Take the batches of one L1 block (L1 blocks in order); return the safe head."""
        for raw in data.batches:
            self._observe_batch(raw, data.number)
        return self.safe

    def _observe_batch(self, raw: bytes, posted_in: int) -> None:
        try:
            batch = decode_batch(raw, self.rules.chain_id)
        except BatchError as exc:
            log.warning("batch in L1 block %d does not decode: %s", posted_in, exc)
            return
        for block in batch:
            if block.number <= self.safe:
                continue
            if block.number != self.safe + 1 or not self._accepts(block, posted_in):
                return

    def _accepts(self, posted: BatchBlock, posted_in: int) -> bool:
        if posted_in > posted.l1_origin_number + self.rules.sequencing_window:
            log.warning(
                "L2 block %d (epoch %d) was posted in L1 block %d, after the sequencing window",
                posted.number, posted.l1_origin_number, posted_in,
            )
            return False
        if not self.matches_ours(posted):
            log.error("L2 block %d in the batch of L1 block %d differs from the sequencer's block", posted.number, posted_in)
            return False
        self.safe = posted.number
        return True

    def matches_ours(self, posted: BatchBlock) -> bool:
        if posted.number > self.blocks.head_number():
            return False
        ours = self.blocks.block(posted.number)
        if ours is None:
            return False
        header = ours.header
        user_txs = ours.transactions[self.blocks.system_count(posted.number) :]
        return (
            header.timestamp_ms == posted.timestamp_ms
            and header.l1_origin_number == posted.l1_origin_number
            and tuple(user_txs) == tuple(posted.transactions)
        )

    # -- finalized head: output proposals on L1 --

    def observe_outputs(self, outputs: list[OutputClaim]) -> int:
        """Take output proposals from `next_output_index` on, in index order; return the finalized head."""
        settled_prefix = True
        for claim in sorted(outputs, key=lambda c: c.index):
            if claim.index < self.next_output_index:
                continue
            if claim.status == "finalized":
                self._observe_finalized(claim)
            if settled_prefix and claim.status in FINAL_STATUSES:
                self.next_output_index = claim.index + 1
            else:
                settled_prefix = False
        return self.finalized

    def _observe_finalized(self, claim: OutputClaim) -> None:
        ours = self.blocks.block(claim.l2_block_number) if claim.l2_block_number <= self.blocks.head_number() else None
        if ours is None:
            log.warning("finalized output %d is for L2 block %d, which this sequencer does not have", claim.index, claim.l2_block_number)
            return
        root = compute_output_root(claim.l2_block_number, ours.header.state_root, ours.hash())
        if root != claim.output_root:
            log.critical(
                "finalized output %d for L2 block %d has root 0x%s but ours is 0x%s",
                claim.index, claim.l2_block_number, claim.output_root.hex(), root.hex(),
            )
            return
        self.finalized = max(self.finalized, claim.l2_block_number)
