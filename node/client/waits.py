"""Waiting for a transaction to reach a confirmation level (sans-IO, see node.client.sansio).

Levels: "unsafe" (a receipt exists on the node it was sent to: the
sequencer sealed it), "safe" (its block is at or below the node's safe head,
derived from L1 data), "finalized" (at or below the finalized head: covered
by a finalized output root). Safe and finalized are checked on every
confirming node (the devnet's executors). Transport failures while polling
are retried until the deadline; JSON-RPC errors (e.g. -32007, dropped by a
heal) end the wait. Progress lines, throttled, go to an optional callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from node.client.errors import TransactionFailed, TransportError, WaitTimeout, from_code
from node.client.inputs import to_hash, to_level, to_timeout
from node.client.models import Receipt, SyncStatus, WaitResult
from node.client.sansio import Call, Endpoints, NodeRef, Op, Sleep

POLL_S = 0.2
PROGRESS_EVERY_S = 2.0

Progress = Callable[[str], None]


class Throttle:
    """Progress lines, each new text at once, a repeated one every PROGRESS_EVERY_S."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.last_text = ""
        self.last_time = 0.0

    def say(self, text: str) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if text != self.last_text or now - self.last_time >= PROGRESS_EVERY_S:
            self.progress(text)
            self.last_text, self.last_time = text, now


def _poll(call: Call) -> Op[object]:
    """The reply, or None when the node could not be reached (the caller polls again)."""
    try:
        reply = yield call
    except TransportError:
        return None
    return reply


def wait_on_node(
    node: NodeRef, tx_hash: str, level: str, end: float, timeout: float, progress: Progress | None
) -> Op[Receipt]:
    """Poll `node` until it has the receipt and (safe/finalized) its `level` head covers the receipt's block."""
    throttle = Throttle(progress)
    while True:
        reply = yield from _poll(Call(node.rpc, "rollup_getTransactionReceipt", (tx_hash,)))
        if reply is not None:
            receipt = Receipt.from_json(reply, "rollup_getTransactionReceipt")
            if level == "unsafe":
                return receipt
            status_reply = yield from _poll(Call(node.rpc, "rollup_syncStatus"))
            head = SyncStatus.from_json(status_reply).head(level).number if status_reply is not None else -1
            if head >= receipt.block_number:
                return receipt
            throttle.say(f"{node.name}: in block {receipt.block_number}, waiting for {level} head (now {head})")
        else:
            throttle.say(f"{node.name}: waiting for {tx_hash[:18]}... to be included")
        if time.monotonic() >= end:
            raise WaitTimeout(
                f"timed out after {timeout:.0f} s waiting for {tx_hash} to be {level} on {node.name} ({node.rpc})"
            )
        yield Sleep(POLL_S)


def wait(
    endpoints: Endpoints,
    tx_hash: str | bytes,
    level: str = "unsafe",
    timeout: float = 120.0,
    check: bool = True,
    progress: Progress | None = None,
    end: float | None = None,
) -> Op[WaitResult]:
    """The receipts once `tx_hash` is `level`: the sending node's at unsafe, then each confirmer's at `level`.

    With check=True a receipt with status 0 raises the class of its error code (node.client.errors,
    `.receipt` set), or TransactionFailed when it carries none. `end` (time.monotonic()) overrides
    `timeout` as the deadline, for a caller that shares one deadline between several steps.
    """
    tx_hash = to_hash(tx_hash)
    level = to_level(level)
    timeout = to_timeout(timeout)
    deadline = end if end is not None else time.monotonic() + timeout
    receipts = {
        endpoints.l2.name: (yield from wait_on_node(endpoints.l2, tx_hash, "unsafe", deadline, timeout, progress))
    }
    if level != "unsafe":
        for node in endpoints.confirmers:
            receipts[node.name] = yield from wait_on_node(node, tx_hash, level, deadline, timeout, progress)
    result = WaitResult(tx_hash, level, receipts)
    if check:
        raise_if_failed(result)
    return result


def raise_if_failed(result: WaitResult) -> None:
    for name, receipt in result.receipts.items():
        if receipt.ok:
            continue
        message = f"transaction {result.tx_hash} failed in block {receipt.block_number} on {name} (receipt status 0)"
        if receipt.error is None:
            raise TransactionFailed(message, receipt)
        error = from_code(receipt.error, message, None, "receipt")
        error.receipt = receipt
        raise error
