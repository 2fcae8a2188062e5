"""L1 events and receipts: the values the contracts emit, their storage codec and JSON form.

    event   = [type, log_index, tx_hash (b"" for block-start events), *fields]
    receipt = [tx_hash, index, sender, kind, status, error_code, error_message, [log_index, ...]]

`log_index` is the event's position among its block's events, from 0: the
output finalizations made at the start of the block come first, then each
transaction's events in transaction order. A receipt names its events by
log index; the block stores the events once.

JSON (l1_getBlockByNumber, l1_getTransactionReceipt): every event is an
object with `type`, `log_index`, `transactionHash` (null for block-start
events) and its own fields; amounts are decimal strings, bytes 0x-hex,
addresses EIP-55.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Union

from node.crypto import ADDRESS_LEN, Address, Hash32, to_checksum_address
from node.encoding import DecodeError, decode_uint, encode_uint, expect_bytes, expect_int, expect_list

STATUS_FAILED = 0
STATUS_SUCCESS = 1


def _hex(data: bytes) -> str:
    return "0x" + data.hex()


def _tx_hash_json(tx_hash: bytes | None) -> str | None:
    return None if tx_hash is None else _hex(tx_hash)


@dataclass(frozen=True, slots=True)
class BatchPosted:
    TYPE: ClassVar[int] = 1
    NAME: ClassVar[str] = "batch"
    log_index: int
    tx_hash: Hash32 | None
    sender: Address
    data: bytes

    def fields(self) -> list[Any]:
        return [self.sender, self.data]

    def json_fields(self) -> dict[str, Any]:
        return {"from": to_checksum_address(self.sender), "data": _hex(self.data)}


@dataclass(frozen=True, slots=True)
class DepositLocked:
    TYPE: ClassVar[int] = 2
    NAME: ClassVar[str] = "deposit"
    log_index: int
    tx_hash: Hash32 | None
    sender: Address
    l2_to: Address
    amount: int

    def fields(self) -> list[Any]:
        return [self.sender, self.l2_to, encode_uint(self.amount)]

    def json_fields(self) -> dict[str, Any]:
        return {
            "from": to_checksum_address(self.sender),
            "to": to_checksum_address(self.l2_to),
            "amount": str(self.amount),
        }


@dataclass(frozen=True, slots=True)
class TxForced:
    TYPE: ClassVar[int] = 3
    NAME: ClassVar[str] = "forced_tx"
    log_index: int
    tx_hash: Hash32 | None
    sender: Address
    l2_tx: bytes

    def fields(self) -> list[Any]:
        return [self.sender, self.l2_tx]

    def json_fields(self) -> dict[str, Any]:
        return {"from": to_checksum_address(self.sender), "tx": _hex(self.l2_tx)}


@dataclass(frozen=True, slots=True)
class OutputProposed:
    TYPE: ClassVar[int] = 4
    NAME: ClassVar[str] = "output_proposed"
    log_index: int
    tx_hash: Hash32 | None
    index: int
    l2_block_number: int
    output_root: Hash32
    proposer: Address
    bond: int

    def fields(self) -> list[Any]:
        return [self.index, self.l2_block_number, self.output_root, self.proposer, encode_uint(self.bond)]

    def json_fields(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "l2BlockNumber": self.l2_block_number,
            "outputRoot": _hex(self.output_root),
            "proposer": to_checksum_address(self.proposer),
            "bond": str(self.bond),
        }


@dataclass(frozen=True, slots=True)
class OutputFinalized:
    TYPE: ClassVar[int] = 5
    NAME: ClassVar[str] = "output_finalized"
    log_index: int
    tx_hash: Hash32 | None
    index: int
    l2_block_number: int
    output_root: Hash32
    proposer: Address
    bond: int

    def fields(self) -> list[Any]:
        return [self.index, self.l2_block_number, self.output_root, self.proposer, encode_uint(self.bond)]

    def json_fields(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "l2BlockNumber": self.l2_block_number,
            "outputRoot": _hex(self.output_root),
            "proposer": to_checksum_address(self.proposer),
            "bond": str(self.bond),
        }


Event = Union[BatchPosted, DepositLocked, TxForced, OutputProposed, OutputFinalized, Any]
# `Any`: the event types registered by later contracts (l1.dispute_events) with `register_event`.

_REGISTERED_EVENTS: dict[int, Any] = {}


def register_event(cls: Any) -> Any:
    """Class decorator: make a later contract's event type storable (TYPE unique, above 5).

    The class has TYPE, NAME, log_index, tx_hash, fields(), json_fields() like
    the ones here, and a classmethod `from_stored(log_index, tx_hash, fields)`.
    """
    if cls.TYPE <= OutputFinalized.TYPE or cls.TYPE in _REGISTERED_EVENTS:
        raise ValueError(f"event type {cls.TYPE} is already taken or reserved")
    _REGISTERED_EVENTS[cls.TYPE] = cls
    return cls


def encode_event(event: Event) -> list[Any]:
    return [event.TYPE, event.log_index, event.tx_hash or b"", *event.fields()]


def decode_event(value: Any) -> Event:
    fields = expect_list(value, None, "event")
    if len(fields) < 3:
        raise DecodeError("event has too few fields")
    type_code = expect_int(fields[0], "event type")
    log_index = expect_int(fields[1], "log_index")
    raw_hash = expect_bytes(fields[2], "event tx hash")
    tx_hash = Hash32(raw_hash) if raw_hash else None
    rest = fields[3:]
    if type_code == BatchPosted.TYPE:
        expect_list(rest, 2, "batch event")
        return BatchPosted(log_index, tx_hash, _addr(rest[0], "from"), expect_bytes(rest[1], "data"))
    if type_code == DepositLocked.TYPE:
        expect_list(rest, 3, "deposit event")
        return DepositLocked(log_index, tx_hash, _addr(rest[0], "from"), _addr(rest[1], "to"), decode_uint(rest[2]))
    if type_code == TxForced.TYPE:
        expect_list(rest, 2, "forced_tx event")
        return TxForced(log_index, tx_hash, _addr(rest[0], "from"), expect_bytes(rest[1], "l2_tx"))
    if type_code in (OutputProposed.TYPE, OutputFinalized.TYPE):
        expect_list(rest, 5, "output event")
        cls = OutputProposed if type_code == OutputProposed.TYPE else OutputFinalized
        return cls(
            log_index,
            tx_hash,
            expect_int(rest[0], "index"),
            expect_int(rest[1], "l2_block_number"),
            Hash32(expect_bytes(rest[2], "output_root", 32)),
            _addr(rest[3], "proposer"),
            decode_uint(rest[4], "bond"),
        )
    registered = _REGISTERED_EVENTS.get(type_code)
    if registered is not None:
        return registered.from_stored(log_index, tx_hash, rest)
    raise DecodeError(f"unknown event type {type_code}")


def _addr(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, ADDRESS_LEN))


def event_to_json(event: Event) -> dict[str, Any]:
    return {
        "type": event.NAME,
        "log_index": event.log_index,
        "transactionHash": _tx_hash_json(event.tx_hash),
        **event.json_fields(),
    }


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


# The dispute and withdrawal events register themselves (l1.dispute_events imports this module, complete by now).
from l1 import dispute_events as _dispute_events  # noqa: E402,F401
