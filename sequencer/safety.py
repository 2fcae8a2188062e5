"""The sequencer's finalized head, from the output proposals on L1.

Pure and synchronous: output proposals are handed in (as the L1 client
returns them, l1.contracts.reports.OutputReport), the sequencer's blocks
are read through a `BlockSource`. The finalized head is the newest finalized
output proposal whose root equals the output root of our block at that
number (a mismatch is logged as critical). The safe head is derivation's
(sequencer.healing).
"""

from __future__ import annotations

import logging
from typing import Protocol

from l1.contracts.reports import OutputReport
from l1.contracts.state import OutputStatus
from node.block import Block
from node.output import compute_output_root

log = logging.getLogger(__name__)

FINAL_STATUSES = frozenset({OutputStatus.FINALIZED, OutputStatus.DEFEATED})


class BlockSource(Protocol):
    def head_number(self) -> int: ...

    def safe_number(self) -> int: ...

    def block(self, number: int) -> Block | None: ...


class FinalityTracker:
    def __init__(self, blocks: BlockSource) -> None:
        self.blocks = blocks
        self.finalized = 0
        self.next_output_index = 0  # outputs before this one are settled (finalized or defeated)

    # -- finalized head: output proposals on L1 --

    def observe_outputs(self, outputs: list[OutputReport]) -> int:
        """Take output proposals from `next_output_index` on, in index order; return the finalized head.

        A finalized output above our safe head waits (our block there may
        still be replaced by the L1-derived one): it is looked at again later.
        """
        settled_prefix = True
        for claim in sorted(outputs, key=lambda c: c.index):
            if claim.index < self.next_output_index:
                continue
            if claim.status is OutputStatus.FINALIZED and claim.l2_block_number > self.blocks.safe_number():
                settled_prefix = False
                continue
            if claim.status is OutputStatus.FINALIZED:
                self._observe_finalized(claim)
            if settled_prefix and claim.status in FINAL_STATUSES:
                self.next_output_index = claim.index + 1
            else:
                settled_prefix = False
        return self.finalized

    def _observe_finalized(self, claim: OutputReport) -> None:
        ours = self.blocks.block(claim.l2_block_number) if claim.l2_block_number <= self.blocks.head_number() else None
        if ours is None:
            log.warning(
                "finalized output %d is for L2 block %d, which this sequencer does not have",
                claim.index,
                claim.l2_block_number,
            )
            return
        root = compute_output_root(claim.l2_block_number, ours.header.state_root, ours.hash())
        if root != claim.output_root:
            log.critical(
                "finalized output %d for L2 block %d has root 0x%s but ours is 0x%s",
                claim.index,
                claim.l2_block_number,
                claim.output_root.hex(),
                root.hex(),
            )
            return
        self.finalized = max(self.finalized, claim.l2_block_number)
