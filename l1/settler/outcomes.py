"""What the settler learns from its transactions once they land: counts, refusals, derivation, L1 rules.

    outcomes = Outcomes(metrics)
    outcomes.take(resolutions, now)                       # each round, after TxBook.reconcile
    outcomes.check_batches_derived(walker, now)            # after the inbox walk
    outcomes.refusals[OUTPUTS]                              # what plan_outputs holds back

- A status-1 batch is counted and remembered until the inbox walk has passed
  its L1 block; if derivation did not take its blocks then, that is a
  refusal of the first block it did not take (with the walk's reason).
- A status-0 receipt is a refusal of its block (l1.settler.plan.record_refusal:
  exponential backoff, the lowest refused block kept). A -32062 refusal
  (L1s before issue 10 take proposals only above every live proposal) makes
  the settler plan above the newest live proposal from then on.
- A refusal clears when that block goes through.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from l1.contracts.client import L1TxReceipt
from l1.settler.inbox import InboxWalker
from l1.settler.plan import BatchIntent, InFlight, Intent, Refusal, TxFate, prune_refusal, record_refusal
from l1.settler.txs import Resolution
from node.rpc.metrics import Metrics

log = logging.getLogger("settler")

BATCHES, OUTPUTS = "batches", "outputs"
NOT_DERIVED = "not_derived"
OUT_OF_ORDER_CODE = -32062  # L1s before issue 10: a proposal must be above every live proposal's L2 block


@dataclass(frozen=True, slots=True)
class LandedBatch:
    """A batch with a status-1 receipt, until the inbox walk has passed its L1 block."""

    intent: BatchIntent
    l1_block: int


def describe_refusal(receipt: L1TxReceipt) -> str:
    return f"{receipt.error} (code {receipt.error_code})" if receipt.error_code is not None else str(receipt.error)


def duty_of(intent: Intent) -> tuple[str, int]:
    """The duty an intent belongs to and the L2 block a refusal of it holds back."""
    return (BATCHES, intent.first) if isinstance(intent, BatchIntent) else (OUTPUTS, intent.block)


class Outcomes:
    def __init__(self, metrics: Metrics) -> None:
        self.refusals: dict[str, Refusal | None] = {BATCHES: None, OUTPUTS: None}
        self.landed_batches: list[LandedBatch] = []
        self.l1_orders_proposals = False
        self.m_batches = metrics.counter("settler_batches_total", "Batches posted (L1 receipt status 1)")
        self.m_batch_bytes = metrics.counter("settler_batch_bytes_total", "Batch data bytes posted to L1")
        self.m_txs = metrics.counter("settler_txs_posted_total", "L2 user transactions posted in batches")
        self.m_bytes_per_tx = metrics.gauge(
            "settler_l1_bytes_per_tx", "Batch bytes per posted L2 transaction (since start)"
        )
        self.m_outputs = metrics.counter("settler_outputs_total", "Output roots proposed (L1 receipt status 1)")
        self.m_refusals = metrics.counter(
            "settler_refusals_total", "Batches or outputs refused by the L1 (status 0) or not derived"
        )
        self.m_lost = metrics.counter(
            "settler_lost_txs_total", "Transactions of ours the L1 mempool no longer had (decided again)"
        )

    # -- landed and lost transactions --

    def take(self, resolutions: list[Resolution], now: float) -> None:
        for resolution in resolutions:
            if resolution.fate is TxFate.LOST:
                self.m_lost.inc()
                log.warning(
                    "%s is no longer in flight: %s; deciding again from L1",
                    resolution.entry.describe(),
                    resolution.note,
                )
            elif resolution.receipt is not None:
                self.take_receipt(resolution.entry, resolution.receipt, now)

    def take_receipt(self, entry: InFlight, receipt: L1TxReceipt, now: float) -> None:
        intent = entry.intent
        if receipt.status != 1:
            self.take_refusal(intent, receipt, now)
        elif isinstance(intent, BatchIntent):
            self.landed_batches.append(LandedBatch(intent, receipt.block_number))
            self._count_batch(intent)
            log.log(
                logging.INFO if intent.txs else logging.DEBUG,
                "posted L2 blocks %d..%d (%d txs) in L1 block %d: %d bytes%s",
                intent.first,
                intent.last,
                intent.txs,
                receipt.block_number,
                intent.size,
                f", {intent.size / intent.txs:.1f} bytes/tx" if intent.txs else "",
            )
        else:
            self.clear_refusal(OUTPUTS, intent.block, intent.describe())
            self.m_outputs.inc()
            log.info(
                "proposed output root 0x%s for L2 block %d in L1 block %d",
                intent.root.hex()[:16],
                intent.block,
                receipt.block_number,
            )

    def take_refusal(self, intent: Intent, receipt: L1TxReceipt, now: float) -> None:
        duty, block = duty_of(intent)
        reason = (
            f"the L1 refused the {intent.describe()} in L1 block {receipt.block_number}: {describe_refusal(receipt)}"
        )
        self.refusals[duty] = record_refusal(self.refusals[duty], block, reason, now)
        self.m_refusals.inc(duty=duty, code=str(receipt.error_code))
        log.warning("%s; re-reading L1 before choosing again", reason)
        if receipt.error_code == OUT_OF_ORDER_CODE and not self.l1_orders_proposals:
            self.l1_orders_proposals = True
            log.warning(
                "the L1 takes proposals only above every live proposal: from now on the next output is "
                "planned above the newest live proposal, whoever made it"
            )

    def _count_batch(self, intent: BatchIntent) -> None:
        self.m_batches.inc()
        self.m_batch_bytes.inc(intent.size)
        self.m_txs.inc(intent.txs)
        total_txs = self.m_txs.value()
        if total_txs:
            self.m_bytes_per_tx.set(self.m_batch_bytes.value() / total_txs)

    # -- derivation of landed batches --

    def check_batches_derived(self, walker: InboxWalker, now: float) -> None:
        """A landed batch whose blocks the inbox walk did not all take is a refusal of the first one it did not."""
        for landed in [b for b in self.landed_batches if b.l1_block <= walker.last_l1]:
            self.landed_batches.remove(landed)
            head = walker.head_number
            if head >= landed.intent.last:
                self.clear_refusal(BATCHES, head, landed.intent.describe())
                continue
            drop = walker.last_drop
            why = (
                drop.reason
                if drop is not None and drop.l1_block == landed.l1_block
                else "no reason recorded by the inbox walk"
            )
            reason = (
                f"the {landed.intent.describe()} landed in L1 block {landed.l1_block} but derivation does not take "
                f"L2 block {head + 1}: {why}"
            )
            self.refusals[BATCHES] = record_refusal(self.refusals[BATCHES], head + 1, reason, now)
            self.m_refusals.inc(duty=BATCHES, code=NOT_DERIVED)
            log.warning("%s", reason)

    # -- the refusals the plans read --

    def clear_refusal(self, duty: str, block: int, what: str) -> None:
        """A refused block went through (an output landed, a batch's blocks became derivable)."""
        refusal = self.refusals[duty]
        if refusal is not None and refusal.block <= block:
            log.info("the %s went through after %d refusal(s) of L2 block %d", what, refusal.attempts, refusal.block)
            self.refusals[duty] = None

    def prune(self, duty: str, first: int) -> Refusal | None:
        """The duty's refusal, dropped if L1 facts make the plan start after its block."""
        self.refusals[duty] = prune_refusal(self.refusals[duty], first)
        return self.refusals[duty]

    def retry_problem(self, duty: str, block: int) -> str | None:
        """Sending a refused block again is no progress yet: the refusal stays the duty's problem until it lands."""
        refusal = self.refusals[duty]
        if refusal is None or refusal.block != block:
            return None
        return f"{refusal.reason}; retry {refusal.attempts + 1} in flight"

    # -- reports --

    def report(self) -> dict[str, Any]:
        txs = self.m_txs.value()
        return {
            "refusals": {
                duty: None if r is None else {"block": r.block, "reason": r.reason, "attempts": r.attempts}
                for duty, r in self.refusals.items()
            },
            "l1OrdersProposals": self.l1_orders_proposals,
            "batches": int(self.m_batches.value()),
            "batchBytes": int(self.m_batch_bytes.value()),
            "txsPosted": int(txs),
            "l1BytesPerTx": self.m_batch_bytes.value() / txs if txs else None,
        }
