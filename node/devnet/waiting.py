"""Deadlines and polling for an L1 receipt, with throttled progress on stderr (the withdrawal journey's).

Waiting for an L2 transaction to be unsafe, safe or finalized is the client's (node.client.waits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.devnet.errors import DevnetError
from node.rpc.client import RpcTransportError, SyncRpcClient

POLL_S = 0.2
PROGRESS_EVERY_S = 2.0

Progress = Callable[[str], None]


class WaitTimeout(DevnetError):
    """The awaited state was not reached in time."""


class L1TxFailed(DevnetError):
    """The L1 included the transaction with status 0."""


@dataclass
class Deadline:
    seconds: float

    def __post_init__(self) -> None:
        self.end = time.monotonic() + self.seconds

    def expired(self) -> bool:
        return time.monotonic() >= self.end


class _Throttle:
    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.last_text = ""
        self.last_time = 0.0

    def say(self, text: str) -> None:
        now = time.monotonic()
        if text != self.last_text or now - self.last_time >= PROGRESS_EVERY_S:
            self.progress(text)
            self.last_text, self.last_time = text, now


def _call(client: SyncRpcClient, method: str, *params: Any) -> Any:
    """A call whose transport failures are retried by the caller's loop (None = no answer)."""
    try:
        return client.call(method, *params)
    except RpcTransportError:
        return None


def wait_l1_receipt(l1_rpc: str, tx_hash: str, deadline: Deadline, progress: Progress) -> dict[str, Any]:
    """Poll the L1 for the receipt; raise L1TxFailed when it has status 0."""
    client = SyncRpcClient(l1_rpc)
    throttle = _Throttle(progress)
    while True:
        receipt = _call(client, "l1_getTransactionReceipt", tx_hash)
        if receipt is not None:
            if int(receipt.get("status", 0)) != 1:
                raise L1TxFailed(
                    f"L1 transaction {tx_hash} failed in L1 block {receipt.get('blockNumber')}: "
                    f"{receipt.get('error') or 'status 0'}"
                )
            return dict(receipt)
        throttle.say(f"L1: waiting for {tx_hash[:18]}... to be included")
        if deadline.expired():
            raise WaitTimeout(f"timed out after {deadline.seconds:.0f} s waiting for L1 transaction {tx_hash}")
        time.sleep(POLL_S)
