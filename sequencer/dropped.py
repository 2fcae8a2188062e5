"""Transactions the sequencer once acknowledged that are no longer coming: the record a receipt lookup reports.

A heal (sequencer.healing) re-queues the user transactions of the blocks L1
replaced. One that is no longer valid on the healed chain (its nonce was
used, its sender can no longer pay, the mempool refuses it, a new submission
of its sender replaced it, its predecessor was dropped) had a receipt and
will not get a new one: it is recorded here, with the reason, and
`rollup_getTransactionReceipt` answers for it with a TransactionDropped
error (-32007) instead of a silent null.

Records live in the chain store (key `D` tx_hash -> pack([reason, block the
transaction was in, L2 head when it was dropped])), so they survive a
restart. A later receipt wins: the lookup consults this record only when the
chain's transaction index does not hold the hash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from node.chain import decode_receipt
from node.encoding import pack, unpack
from node.rpc.errors import RpcError
from node.stf.execute import STATUS_SUCCESS
from node.store.chain import ChainStore
from node.store.kv import KVStore

TRANSACTION_DROPPED = -32007
PREFIX = b"D"


@dataclass(frozen=True, slots=True)
class DroppedTx:
    tx_hash: bytes
    reason: str
    was_in_block: int  # the replaced block that held it (its old receipt's blockNumber)
    dropped_at: int  # the sequencer's head when it was dropped

    def to_json(self) -> dict[str, Any]:
        return {
            "transactionHash": "0x" + self.tx_hash.hex(),
            "status": "dropped",
            "reason": self.reason,
            "replacedBlock": self.was_in_block,
            "droppedAtBlock": self.dropped_at,
        }


class TransactionDropped(RpcError):
    """The transaction was in a block that L1 replaced, and is no longer valid on the healed chain."""

    CODE: ClassVar[int] = TRANSACTION_DROPPED

    def __init__(self, dropped: DroppedTx) -> None:
        super().__init__(
            self.CODE,
            f"transaction 0x{dropped.tx_hash.hex()} was dropped: block {dropped.was_in_block} that held it "
            f"was replaced by the L1-derived chain and it is no longer valid ({dropped.reason})",
            dropped.to_json(),
        )
        self.dropped = dropped


class DroppedTxs:
    def __init__(self, kv: KVStore) -> None:
        self.kv = kv

    def record(self, entries: Iterable[DroppedTx]) -> int:
        puts = {PREFIX + d.tx_hash: pack([d.reason, d.was_in_block, d.dropped_at]) for d in entries}
        if puts:
            self.kv.write(puts)
        return len(puts)

    def get(self, tx_hash: bytes) -> DroppedTx | None:
        raw = self.kv.get(PREFIX + tx_hash)
        if raw is None:
            return None
        reason, was_in_block, dropped_at = unpack(raw)
        return DroppedTx(tx_hash, str(reason), int(was_in_block), int(dropped_at))

    def forget(self, tx_hashes: Iterable[bytes]) -> None:
        """Transactions included again (re-submitted by their sender): no longer dropped."""
        deletes = [PREFIX + h for h in tx_hashes if self.kv.get(PREFIX + h) is not None]
        if deletes:
            self.kv.write({}, deletes)


def executed_at(store: ChainStore, tx_hash: bytes) -> tuple[int, int] | None:
    """Where the chain holds `tx_hash` executed; None if it does not hold it, or holds it skipped.

    A derived block may hold a transaction that was invalid at its point
    (a batch that landed after the blocks before it were replaced: its nonce
    too high); it is in the block with a failed receipt and did nothing, so
    it may be sealed again, and its later nonces wait for it.
    """
    location = store.get_tx_location(tx_hash)
    if location is None:
        return None
    receipts = store.get_receipts(location[0])
    if location[1] >= len(receipts) or decode_receipt(receipts[location[1]]).status != STATUS_SUCCESS:
        return None
    return location
