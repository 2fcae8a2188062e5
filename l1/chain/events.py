"""L1 events and receipts in general: how a block stores the events its contracts emit, and receipts.

    event   = [type, log_index, tx_hash (b"" for block-start events), *fields]
    receipt = [tx_hash, index, sender, kind, status, error_code, error_message, [log_index, ...]]

`log_index` is the event's position among its block's events, from 0: the
events made at the start of the block come first, then each transaction's
events in transaction order. A receipt names its events by log index; the
block stores the events once.

Which event types exist is the contracts' business: an `EventTable` (built
once, l1.contracts.events.EVENTS) maps each type code and each name to its
class. Every event class is a node.records @record deriving from
`ChainEvent`, whose schema starts with `log_index` and `tx_hash`: the one
schema gives its msgpack fields, its JSON object and its parsing from JSON.

JSON (l1_getBlockByNumber, l1_getTransactionReceipt): every event is an
object with `type`, `log_index`, `transactionHash` (null for block-start
events) and its own fields; amounts are decimal strings, bytes 0x-hex,
addresses EIP-55.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from node.crypto import Address, Hash32
from node.encoding import DecodeError, expect_int, expect_list
from node.records import (
    ADDRESS,
    HASH,
    TEXT,
    UINT,
    Codec,
    JsonFieldError,
    Nullable,
    RecordSchemaError,
    TupleOf,
    UInt,
    field,
    from_json,
    from_wire,
    record,
    schema_of,
    to_json,
    to_wire,
)

STATUS_FAILED = 0
STATUS_SUCCESS = 1

TX_HASH = Nullable(HASH, wire_none=b"")  # an event's transaction: b"" / null for block-start events


class ChainEvent:
    """Base of every contract event: TYPE (its code in msgpack) and NAME (its JSON `type`).

    A subclass is a @record whose first fields are `log_index` and `tx_hash`."""

    __slots__ = ()
    TYPE: ClassVar[int]
    NAME: ClassVar[str]
    log_index: int
    tx_hash: Hash32 | None

    @property
    def type(self) -> str:
        """The event's name, as JSON's `type` field carries it."""
        return self.NAME


Event = ChainEvent


class EventTable:
    """The event classes of a runtime, by type code and by name; each code and name once."""

    def __init__(self, classes: Iterable[type[ChainEvent]]) -> None:
        self.by_type: dict[int, type[ChainEvent]] = {}
        self.by_name: dict[str, type[ChainEvent]] = {}
        for cls in classes:
            if cls.TYPE in self.by_type or cls.NAME in self.by_name:
                raise ValueError(f"event type {cls.TYPE} or name {cls.NAME!r} of {cls.__name__} is already used")
            self.by_type[cls.TYPE] = cls
            self.by_name[cls.NAME] = cls
            names = [f.name for f in schema_of(cls).fields[:2]]
            if names != ["log_index", "tx_hash"]:
                raise ValueError(f"event {cls.__name__} must start with log_index and tx_hash, not {names}")

    def __iter__(self) -> Iterator[type[ChainEvent]]:
        return iter(self.by_type.values())

    def __len__(self) -> int:
        return len(self.by_type)


def event_table(*classes: type[ChainEvent]) -> EventTable:
    return EventTable(classes)


def encode_event(event: ChainEvent) -> list[Any]:
    return [event.TYPE, *to_wire(event)]


def decode_event(value: Any, events: EventTable) -> ChainEvent:
    fields = expect_list(value, None, "event")
    if len(fields) < 3:
        raise DecodeError("event has too few fields")
    type_code = expect_int(fields[0], "event type")
    cls = events.by_type.get(type_code)
    if cls is None:
        raise DecodeError(f"unknown event type {type_code}")
    return from_wire(cls, fields[1:])


def event_to_json(event: ChainEvent) -> dict[str, Any]:
    return {"type": event.NAME, **to_json(event)}


def event_from_json(obj: Any, events: EventTable) -> ChainEvent:
    """An event from its JSON object (JsonFieldError if its type is unknown or a field does not parse)."""
    name = obj.get("type") if isinstance(obj, dict) else None
    cls = events.by_name.get(name) if isinstance(name, str) else None
    if cls is None:
        raise JsonFieldError(f"event of unknown type {name!r}")
    return from_json(cls, obj)


class EventCodec(Codec[ChainEvent]):
    """An event inside another record: [type, log_index, tx_hash, *fields] / its JSON object (type by name).

    Any event encodes; decoding needs the table of event classes (`events`)."""

    def __init__(self, events: EventTable | None) -> None:
        self.events = events

    def _table(self) -> EventTable:
        if self.events is None:
            raise RecordSchemaError("events decode through an EventTable: use EventCodec(table)")
        return self.events

    def to_wire(self, value: ChainEvent) -> list[Any]:
        return encode_event(value)

    def from_wire(self, raw: Any, what: str) -> ChainEvent:
        return decode_event(raw, self._table())

    def to_json(self, value: ChainEvent) -> dict[str, Any]:
        return event_to_json(value)

    def from_json(self, raw: Any, what: str) -> ChainEvent:
        return event_from_json(raw, self._table())


class ErrorCode(Codec["int | None"]):
    """A receipt's error code: negative (JSON-RPC codes), stored negated (msgpack ints here are unsigned); 0: none."""

    def to_wire(self, value: int | None) -> int:
        return -(value or 0)

    def from_wire(self, raw: Any, what: str) -> int | None:
        code = expect_int(raw, what)
        return -code if code else None

    def to_json(self, value: int | None) -> int | None:
        return value

    def from_json(self, raw: Any, what: str) -> int | None:
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int) or raw >= 0:
            raise JsonFieldError(f"field {what!r} must be a negative integer or null, got {raw!r}")
        return raw


@record
class L1Receipt:
    """The outcome of one included L1 transaction. `error_code`/`error` are set iff status is 0.

    Its JSON form is part of l1.chain.reports.L1TxReceipt (which lists the events themselves)."""

    tx_hash: Hash32 = field(HASH, "transactionHash")
    index: int = field(UINT, "transactionIndex")
    sender: Address = field(ADDRESS, "from")
    kind: str = field(TEXT, "kind")
    status: int = field(UInt(maximum=STATUS_SUCCESS), "status")
    error_code: int | None = field(ErrorCode(), "errorCode")
    error: str | None = field(Nullable(TEXT, wire_none=b""), "error")
    log_indices: tuple[int, ...] = field(TupleOf(UINT))  # JSON lists the events instead


__all__ = [
    "STATUS_FAILED",
    "STATUS_SUCCESS",
    "TX_HASH",
    "ChainEvent",
    "ErrorCode",
    "Event",
    "EventCodec",
    "EventTable",
    "L1Receipt",
    "decode_event",
    "encode_event",
    "event_from_json",
    "event_table",
    "event_to_json",
]
