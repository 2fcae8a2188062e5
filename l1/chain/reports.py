"""What the chain's own JSON-RPC answers, as records: a block (l1_getBlockByNumber/ByHash) and a receipt.

Each is a node.records @record with a JSON form only: the L1 renders it
(l1.chain.rpc) and the client parses it (l1.contracts.client) through the
same schema. Events render without knowing their table; parsing them needs
the runtime's EventTable, bound with `block_schema(table)` /
`receipt_schema(table)`.
"""

from __future__ import annotations

from functools import cache

from l1.chain.events import STATUS_SUCCESS, ChainEvent, ErrorCode, EventCodec, EventTable
from l1.chain.producer import IncludedReceipt
from l1.chain.store import L1StoredBlock
from node.crypto import Address, Hash32
from node.records import ADDRESS, HASH, TEXT, UINT, Nullable, Schema, TupleOf, UInt, field, record, schema_of

EVENTS_ANY = TupleOf(EventCodec(None))  # renders any event; parsing needs a table (block_schema, receipt_schema)


@record(wire=False)
class L1Block:
    number: int = field(UINT, "number")
    hash: Hash32 = field(HASH, "hash")
    parent_hash: Hash32 = field(HASH, "parentHash")
    timestamp_ms: int = field(UINT, "timestamp")
    transactions: tuple[Hash32, ...] = field(TupleOf(HASH), "transactions")
    events: tuple[ChainEvent, ...] = field(EVENTS_ANY, "events")

    @classmethod
    def of(cls, block: L1StoredBlock) -> L1Block:
        header = block.header
        return cls(
            header.number, block.hash(), header.parent_hash, header.timestamp_ms, tuple(block.tx_hashes()), block.events
        )


@record(wire=False)
class L1TxReceipt:
    """An included L1 transaction's outcome with where it is and the events it made (l1.chain.events.L1Receipt
    lists them by log index)."""

    tx_hash: Hash32 = field(HASH, "transactionHash")
    block_number: int = field(UINT, "blockNumber")
    block_hash: Hash32 = field(HASH, "blockHash")
    index: int = field(UINT, "transactionIndex")
    sender: Address = field(ADDRESS, "from")
    kind: str = field(TEXT, "kind")
    status: int = field(UInt(maximum=STATUS_SUCCESS), "status")
    error: str | None = field(Nullable(TEXT), "error")
    error_code: int | None = field(ErrorCode(), "errorCode")
    events: tuple[ChainEvent, ...] = field(EVENTS_ANY, "events")

    @classmethod
    def of(cls, included: IncludedReceipt) -> L1TxReceipt:
        r = included.receipt
        return cls(
            r.tx_hash,
            included.block_number,
            included.block_hash,
            r.index,
            r.sender,
            r.kind,
            r.status,
            r.error,
            r.error_code,
            included.events,
        )


@cache
def block_schema(events: EventTable) -> Schema[L1Block]:
    """L1Block's schema with its events parsed through `events`."""
    return schema_of(L1Block).with_codec("events", TupleOf(EventCodec(events)))


@cache
def receipt_schema(events: EventTable) -> Schema[L1TxReceipt]:
    return schema_of(L1TxReceipt).with_codec("events", TupleOf(EventCodec(events)))


__all__ = ["L1Block", "L1TxReceipt", "block_schema", "receipt_schema"]
