"""Poll the chains until a transaction reaches a confirmation level, with progress on stderr.

Levels: "unsafe" (a receipt exists: the sequencer sealed it), "safe" (the
block is at or below the node's safe head, i.e. derived from L1 data),
"finalized" (at or below the finalized head: covered by a finalized output
root). Safe and finalized are checked on every confirming node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from node.devnet.endpoints import Node
from node.devnet.errors import DevnetError
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError

LEVELS = ("unsafe", "safe", "finalized")
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


def wait_l2_receipt(node: Node, tx_hash: str, level: str, deadline: Deadline, progress: Progress) -> dict[str, Any]:
    """Poll `node` until it has the receipt and (for safe/finalized) its `level` head covers the block."""
    client = SyncRpcClient(node.rpc)
    throttle = _Throttle(progress)
    while True:
        receipt = _call(client, "rollup_getTransactionReceipt", tx_hash)
        if receipt is not None:
            if level == "unsafe":
                return dict(receipt)
            status = _call(client, "rollup_syncStatus")
            head = int(status[level]["number"]) if status is not None else -1
            if head >= int(receipt["blockNumber"]):
                return dict(receipt)
            throttle.say(f"{node.name}: in block {receipt['blockNumber']}, waiting for {level} head (now {head})")
        else:
            throttle.say(f"{node.name}: waiting for {tx_hash[:18]}... to be included")
        if deadline.expired():
            raise WaitTimeout(
                f"timed out after {deadline.seconds:.0f} s waiting for {tx_hash} to be {level} on {node.name} "
                f"({node.rpc})"
            )
        time.sleep(POLL_S)


def wait_confirmed(
    sequencer: Node, confirmers: Sequence[Node], tx_hash: str, level: str, deadline: Deadline, progress: Progress
) -> dict[str, dict[str, Any]]:
    """The receipt per node: the first node at "unsafe", then every confirmer at `level`."""
    receipts = {sequencer.name: wait_l2_receipt(sequencer, tx_hash, "unsafe", deadline, progress)}
    if level == "unsafe":
        return receipts
    for node in confirmers:
        receipts[node.name] = wait_l2_receipt(node, tx_hash, level, deadline, progress)
    return receipts


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


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise DevnetError(f"--wait must be one of {', '.join(LEVELS)}, got {level!r}")
    return level


def rpc_error_text(exc: RpcError) -> str:
    return f"{exc.message} (code {exc.code})"
