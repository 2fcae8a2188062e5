"""The output proposals on L1, as the settler needs them: its own, and the newest live one of anyone.

Proposals are append-only and a status only moves from pending/disputed to
finalized or defeated, which never change again. So the ledger re-reads
l1_getOutputs from the oldest proposal still open (pending or disputed,
anyone's) and keeps just enough of the rest:

- every proposal of our proposer address, whatever its status (the next
  output is planned above our newest non-defeated one);
- the highest L2 block among finalized proposals, and the open ones (the
  newest live proposal of anyone: the floor while the L1 orders proposals).

    ledger = OutputsLedger(proposer)
    await sync_outputs(l1, ledger)
    ledger.own_newest_live(), ledger.newest_live()
"""

from __future__ import annotations

from collections.abc import Iterable

from l1.contracts.client import L1Client, OutputReport
from node.crypto import Address

OUTPUTS_PAGE = 256  # l1_getOutputs' limit
OPEN_STATUSES = frozenset({"pending", "disputed"})
DEFEATED = "defeated"


class OutputsLedger:
    def __init__(self, proposer: Address) -> None:
        self.proposer = proposer
        self.own: dict[int, OutputReport] = {}  # index -> latest view
        self.open: dict[int, OutputReport] = {}  # anyone's pending or disputed proposals
        self.newest_finalized: OutputReport | None = None  # anyone's, by L2 block
        self.next_index = 0  # the first index never read

    def rescan_from(self) -> int:
        """Where the next read starts: the oldest open proposal, else the first unread one."""
        return min(self.open, default=self.next_index)

    def apply(self, outputs: Iterable[OutputReport]) -> None:
        """Take in proposals read from L1 (a contiguous range of indexes, in order)."""
        for output in outputs:
            self._apply_one(output)

    def _apply_one(self, output: OutputReport) -> None:
        self.next_index = max(self.next_index, output.index + 1)
        if output.proposer == self.proposer:
            self.own[output.index] = output
        if output.status in OPEN_STATUSES:
            self.open[output.index] = output
            return
        self.open.pop(output.index, None)
        if output.status != DEFEATED and (
            self.newest_finalized is None or output.l2_block_number > self.newest_finalized.l2_block_number
        ):
            self.newest_finalized = output

    def own_newest_live(self) -> int:
        """Our newest non-defeated proposal's L2 block (0: none)."""
        return max((o.l2_block_number for o in self.own.values() if o.status != DEFEATED), default=0)

    def newest_live(self) -> OutputReport | None:
        """The live (non-defeated) proposal of anyone with the highest L2 block."""
        live = [*self.open.values(), *([self.newest_finalized] if self.newest_finalized is not None else [])]
        return max(live, key=lambda o: (o.l2_block_number, o.index), default=None)

    def own_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for output in self.own.values():
            counts[output.status] = counts.get(output.status, 0) + 1
        return counts


async def sync_outputs(l1: L1Client, ledger: OutputsLedger) -> None:
    """Re-read the proposals from the oldest open one to the newest."""
    index = ledger.rescan_from()
    while True:
        page = await l1.get_outputs(index, OUTPUTS_PAGE)
        ledger.apply(page)
        if len(page) < OUTPUTS_PAGE:
            return
        index += OUTPUTS_PAGE
