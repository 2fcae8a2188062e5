"""L1 events and receipts in general: how a block stores the events its contracts emit, and receipts.

    event   = [type, log_index, tx_hash (b"" for block-start events), *fields]
    receipt = [tx_hash, index, sender, kind, status, error_code, error_message, [log_index, ...]]

`log_index` is the event's position among its block's events, from 0: the
events made at the start of the block come first, then each transaction's
events in transaction order. A receipt names its events by log index; the
block stores the events once.

Which event types exist is the contracts' business: an `EventTable` (built
once, l1.contracts.events.EVENTS) maps each type code to its class, which
knows its fields, its JSON form and how to read itself back (`from_stored`).

JSON (l1_getBlockByNumber, l1_getTransactionReceipt): every event is an
object with `type`, `log_index`, `transactionHash` (null for block-start
events) and its own fields; amounts are decimal strings, bytes 0x-hex,
addresses EIP-55.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Protocol

from node.crypto import ADDRESS_LEN, Address, Hash32
from node.encoding import DecodeError, expect_bytes, expect_int, expect_list

STATUS_FAILED = 0
STATUS_SUCCESS = 1


class Event(Protocol):
    """What the chain needs of an event: its type, position, transaction and fields."""

    TYPE: ClassVar[int]
    NAME: ClassVar[str]
    log_index: int
    tx_hash: Hash32 | None

    def fields(self) -> list[Any]: ...

    def json_fields(self) -> dict[str, Any]: ...


EventTable = Mapping[int, Any]  # type code -> event class (with a classmethod from_stored(log_index, tx_hash, rest))


def event_table(*classes: Any) -> dict[int, Any]:
    """The table of event classes by type code; each code once."""
    table: dict[int, Any] = {}
    for cls in classes:
        if cls.TYPE in table:
            raise ValueError(f"event type {cls.TYPE} is used by {table[cls.TYPE].__name__} and {cls.__name__}")
        table[cls.TYPE] = cls
    return table


def encode_event(event: Any) -> list[Any]:
    return [event.TYPE, event.log_index, event.tx_hash or b"", *event.fields()]


def decode_event(value: Any, events: EventTable) -> Any:
    fields = expect_list(value, None, "event")
    if len(fields) < 3:
        raise DecodeError("event has too few fields")
    type_code = expect_int(fields[0], "event type")
    log_index = expect_int(fields[1], "log_index")
    raw_hash = expect_bytes(fields[2], "event tx hash")
    cls = events.get(type_code)
    if cls is None:
        raise DecodeError(f"unknown event type {type_code}")
    return cls.from_stored(log_index, Hash32(raw_hash) if raw_hash else None, fields[3:])


def event_to_json(event: Any) -> dict[str, Any]:
    return {
        "type": event.NAME,
        "log_index": event.log_index,
        "transactionHash": None if event.tx_hash is None else "0x" + bytes(event.tx_hash).hex(),
        **event.json_fields(),
    }


def _addr(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, ADDRESS_LEN))


@dataclass(frozen=True, slots=True)
class L1Receipt:
    """The outcome of one included L1 transaction. `error_code`/`error` are set iff status is 0."""

    tx_hash: Hash32
    index: int
    sender: Address
    kind: str
    status: int
    error_code: int | None
    error: str | None
    log_indices: tuple[int, ...]

    def to_fields(self) -> list[Any]:
        return [
            self.tx_hash,
            self.index,
            self.sender,
            self.kind.encode(),
            self.status,
            -(self.error_code or 0),  # codes are negative; msgpack ints here are unsigned
            (self.error or "").encode(),
            list(self.log_indices),
        ]

    @classmethod
    def from_fields(cls, value: Any) -> "L1Receipt":
        fields = expect_list(value, 8, "receipt")
        error_code = expect_int(fields[5], "error_code")
        error = expect_bytes(fields[6], "error").decode()
        return cls(
            tx_hash=Hash32(expect_bytes(fields[0], "tx_hash", 32)),
            index=expect_int(fields[1], "index"),
            sender=_addr(fields[2], "sender"),
            kind=expect_bytes(fields[3], "kind").decode(),
            status=expect_int(fields[4], "status", maximum=1),
            error_code=-error_code if error_code else None,
            error=error or None,
            log_indices=tuple(expect_int(i, "log index") for i in expect_list(fields[7], None, "log indices")),
        )


__all__ = ["STATUS_FAILED", "STATUS_SUCCESS", "Event", "EventTable", "L1Receipt", "decode_event", "encode_event",
           "event_table", "event_to_json"]
