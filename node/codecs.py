"""Field codecs: how one value of a record travels in msgpack and in JSON (node.records builds schemas from them).

| codec              | Python             | msgpack                          | JSON                       |
|--------------------|--------------------|----------------------------------|----------------------------|
| UINT / UInt(max)   | int in [0, max]    | int                              | number                     |
| INT                | int                | int                              | number (may be negative)   |
| AMOUNT             | int in [0, 2^256)  | minimal big-endian bytes         | decimal string             |
| ADDRESS            | Address            | 20 bytes                         | EIP-55 string              |
| HASH               | Hash32             | 32 bytes                         | 0x-hex                     |
| BYTES / Bytes(n)   | bytes              | bytes                            | 0x-hex                     |
| TEXT / Text(n)     | str                | UTF-8 bytes                      | string                     |
| BOOL               | bool               | bool                             | boolean                    |
| Coded(codes)       | an Enum member     | its small int code (the table)   | its value (a string)       |
| Nullable(c)        | value or None      | c's form, or nil (or a chosen empty value such as b"") | c's form or null |
| TupleOf(c)         | tuple              | array                            | array                      |
| Nested(record)     | a record (node.records) | its array                   | its object                 |

Decoders take the field's name for their errors: node.encoding.DecodeError
from msgpack, JsonFieldError from JSON. A codec for a value that exists only
in JSON (a part of an RPC report) derives from JsonOnly, one that exists only
in msgpack (a part of a transaction payload) from WireOnly. `to_hex` is the one
0x-hex helper.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from enum import Enum
from typing import Any, Generic, TypeVar

from mypy_extensions import mypyc_attr

from node.crypto import ADDRESS_LEN, Address, CryptoError, Hash32, parse_address, parse_hex, to_checksum_address
from node.encoding import (
    UINT64_MAX,
    UINT256_MAX,
    DecodeError,
    decode_uint,
    encode_uint,
    expect_bytes,
    expect_int,
    expect_list,
)

T = TypeVar("T")
E = TypeVar("E", bound=Enum)

_MAX_DECIMAL_DIGITS = 78  # 2^256 - 1 has 78 digits


@mypyc_attr(allow_interpreted_subclasses=True)
class JsonFieldError(ValueError):
    """A JSON value does not have the documented shape; the message names the field."""


@mypyc_attr(native_class=False)
class RecordSchemaError(TypeError):
    """A schema or codec used wrongly: a field without a codec, a schema missing a field, msgpack of JSON-only data."""


# -- the one hex helper --


def to_hex(data: bytes) -> str:
    """0x-prefixed lowercase hex."""
    return "0x" + bytes(data).hex()


def _parse_hex(raw: Any, what: str, length: int | None = None, max_length: int | None = None) -> bytes:
    try:
        data = parse_hex(raw, length, what)
    except CryptoError as exc:
        raise JsonFieldError(f"field {what!r}: {exc}") from None
    if max_length is not None and len(data) > max_length:
        raise JsonFieldError(f"field {what!r} is {len(data)} bytes, limit is {max_length}")
    return data


def _json_int(raw: Any, what: str, minimum: int | None, maximum: int | None) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise JsonFieldError(f"field {what!r} must be an integer, got {raw!r}")
    if (minimum is not None and raw < minimum) or (maximum is not None and raw > maximum):
        raise JsonFieldError(f"field {what!r} is {raw}, outside [{minimum}, {maximum}]")
    return raw


# -- codecs --


@mypyc_attr(allow_interpreted_subclasses=True)
class Codec(ABC, Generic[T]):
    """How one value travels in msgpack (`to_wire`/`from_wire`) and in JSON (`to_json`/`from_json`).

    Decoders take the field's name for their errors: DecodeError from msgpack,
    JsonFieldError from JSON."""

    @abstractmethod
    def to_wire(self, value: T) -> Any: ...

    @abstractmethod
    def from_wire(self, raw: Any, what: str) -> T: ...

    @abstractmethod
    def to_json(self, value: T) -> Any: ...

    @abstractmethod
    def from_json(self, raw: Any, what: str) -> T: ...


class UInt(Codec[int]):
    def __init__(self, maximum: int = UINT64_MAX) -> None:
        self.maximum = maximum

    def to_wire(self, value: int) -> int:
        return value

    def from_wire(self, raw: Any, what: str) -> int:
        return expect_int(raw, what, self.maximum)

    def to_json(self, value: int) -> int:
        return value

    def from_json(self, raw: Any, what: str) -> int:
        return _json_int(raw, what, 0, self.maximum)


class SignedInt(Codec[int]):
    """An integer that may be negative (msgpack ints are signed up to 2^63)."""

    def to_wire(self, value: int) -> int:
        return value

    def from_wire(self, raw: Any, what: str) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise DecodeError(f"{what} must be an integer")
        return raw

    def to_json(self, value: int) -> int:
        return value

    def from_json(self, raw: Any, what: str) -> int:
        return _json_int(raw, what, None, None)


class Amount(Codec[int]):
    def to_wire(self, value: int) -> bytes:
        return encode_uint(value)

    def from_wire(self, raw: Any, what: str) -> int:
        return decode_uint(raw, what)

    def to_json(self, value: int) -> str:
        return str(value)

    def from_json(self, raw: Any, what: str) -> int:
        if not isinstance(raw, str) or not raw.isdigit() or not raw.isascii() or len(raw) > _MAX_DECIMAL_DIGITS:
            raise JsonFieldError(f"field {what!r} must be a decimal string, got {raw!r}")
        value = int(raw)
        if value > UINT256_MAX:
            raise JsonFieldError(f"field {what!r} exceeds 2^256 - 1")
        return value


class AddressCodec(Codec[Address]):
    def to_wire(self, value: Address) -> bytes:
        return bytes(value)

    def from_wire(self, raw: Any, what: str) -> Address:
        return Address(expect_bytes(raw, what, ADDRESS_LEN))

    def to_json(self, value: Address) -> str:
        return to_checksum_address(value)

    def from_json(self, raw: Any, what: str) -> Address:
        try:
            return parse_address(raw)
        except (CryptoError, TypeError) as exc:
            raise JsonFieldError(f"field {what!r}: {exc}") from None


class HashCodec(Codec[Hash32]):
    def to_wire(self, value: Hash32) -> bytes:
        return bytes(value)

    def from_wire(self, raw: Any, what: str) -> Hash32:
        return Hash32(expect_bytes(raw, what, 32))

    def to_json(self, value: Hash32) -> str:
        return to_hex(value)

    def from_json(self, raw: Any, what: str) -> Hash32:
        return Hash32(_parse_hex(raw, what, 32))


class Bytes(Codec[bytes]):
    def __init__(self, max_length: int | None = None) -> None:
        self.max_length = max_length

    def to_wire(self, value: bytes) -> bytes:
        return bytes(value)

    def from_wire(self, raw: Any, what: str) -> bytes:
        return expect_bytes(raw, what, max_length=self.max_length)

    def to_json(self, value: bytes) -> str:
        return to_hex(value)

    def from_json(self, raw: Any, what: str) -> bytes:
        return _parse_hex(raw, what, max_length=self.max_length)


class Text(Codec[str]):
    def __init__(self, max_length: int | None = None) -> None:
        self.max_length = max_length

    def to_wire(self, value: str) -> bytes:
        return value.encode()

    def from_wire(self, raw: Any, what: str) -> str:
        try:
            return expect_bytes(raw, what, max_length=self.max_length).decode()
        except UnicodeDecodeError:
            raise DecodeError(f"{what} is not UTF-8") from None

    def to_json(self, value: str) -> str:
        return value

    def from_json(self, raw: Any, what: str) -> str:
        if not isinstance(raw, str):
            raise JsonFieldError(f"field {what!r} must be a string, got {raw!r}")
        if self.max_length is not None and len(raw.encode()) > self.max_length:
            raise JsonFieldError(f"field {what!r} is longer than {self.max_length} bytes")
        return raw


class BoolCodec(Codec[bool]):
    def to_wire(self, value: bool) -> bool:
        return value

    def from_wire(self, raw: Any, what: str) -> bool:
        if not isinstance(raw, bool):
            raise DecodeError(f"{what} must be a boolean")
        return raw

    def to_json(self, value: bool) -> bool:
        return value

    def from_json(self, raw: Any, what: str) -> bool:
        if not isinstance(raw, bool):
            raise JsonFieldError(f"field {what!r} must be a boolean, got {raw!r}")
        return raw


class Coded(Codec[E]):
    """An enum member: a small int code in msgpack (the table), its value (a string) in JSON."""

    def __init__(self, codes: Mapping[E, int]) -> None:
        self.codes = dict(codes)
        self.members = {code: member for member, code in self.codes.items()}
        self.values = {member.value: member for member in self.codes}
        if len(self.members) != len(self.codes) or len(self.values) != len(self.codes):
            raise RecordSchemaError(f"codes {codes} are not one to one")

    def to_wire(self, value: E) -> int:
        return self.codes[value]

    def from_wire(self, raw: Any, what: str) -> E:
        code = expect_int(raw, what, 0xFF)
        if code not in self.members:
            raise DecodeError(f"{what} code {code} is unknown")
        return self.members[code]

    def to_json(self, value: E) -> Any:
        return value.value

    def from_json(self, raw: Any, what: str) -> E:
        if not isinstance(raw, str) or raw not in self.values:
            raise JsonFieldError(f"field {what!r} must be one of {sorted(self.values)}, got {raw!r}")
        return self.values[raw]


class Nullable(Codec["T | None"], Generic[T]):
    """None as msgpack nil (or `wire_none`, e.g. b"" for a hash that may be absent) and JSON null.

    With a `wire_none`, a value whose msgpack form equals it (an empty text) reads back as None."""

    def __init__(self, inner: Codec[T], wire_none: Any = None) -> None:
        self.inner = inner
        self.wire_none = wire_none

    def to_wire(self, value: T | None) -> Any:
        return self.wire_none if value is None else self.inner.to_wire(value)

    def from_wire(self, raw: Any, what: str) -> T | None:
        is_none = raw is None if self.wire_none is None else type(raw) is type(self.wire_none) and raw == self.wire_none
        return None if is_none else self.inner.from_wire(raw, what)

    def to_json(self, value: T | None) -> Any:
        return None if value is None else self.inner.to_json(value)

    def from_json(self, raw: Any, what: str) -> T | None:
        return None if raw is None else self.inner.from_json(raw, what)


class TupleOf(Codec["tuple[T, ...]"], Generic[T]):
    def __init__(self, inner: Codec[T], max_items: int | None = None) -> None:
        self.inner = inner
        self.max_items = max_items

    def to_wire(self, value: tuple[T, ...]) -> list[Any]:
        return [self.inner.to_wire(v) for v in value]

    def from_wire(self, raw: Any, what: str) -> tuple[T, ...]:
        items = expect_list(raw, None, what)
        if self.max_items is not None and len(items) > self.max_items:
            raise DecodeError(f"{what} has {len(items)} items, limit is {self.max_items}")
        return tuple(self.inner.from_wire(v, what) for v in items)

    def to_json(self, value: tuple[T, ...]) -> list[Any]:
        return [self.inner.to_json(v) for v in value]

    def from_json(self, raw: Any, what: str) -> tuple[T, ...]:
        if not isinstance(raw, list):
            raise JsonFieldError(f"field {what!r} must be an array, got {type(raw).__name__}")
        if self.max_items is not None and len(raw) > self.max_items:
            raise JsonFieldError(f"field {what!r} has {len(raw)} items, limit is {self.max_items}")
        return tuple(self.inner.from_json(v, what) for v in raw)


@mypyc_attr(allow_interpreted_subclasses=True)
class JsonOnly(Codec[T]):
    """Base of codecs for values that have a JSON form only (parts of RPC reports)."""

    def to_wire(self, value: T) -> Any:
        raise RecordSchemaError(f"{type(self).__name__} has no msgpack form")

    def from_wire(self, raw: Any, what: str) -> T:
        raise RecordSchemaError(f"{type(self).__name__} has no msgpack form")


@mypyc_attr(allow_interpreted_subclasses=True)
class WireOnly(Codec[T]):
    """Base of codecs for values that have a msgpack form only (parts of L1 transaction payloads)."""

    def to_json(self, value: T) -> Any:
        raise RecordSchemaError(f"{type(self).__name__} has no JSON form")

    def from_json(self, raw: Any, what: str) -> T:
        raise RecordSchemaError(f"{type(self).__name__} has no JSON form")


UINT = UInt()
INT = SignedInt()
AMOUNT = Amount()
ADDRESS = AddressCodec()
HASH = HashCodec()
BYTES = Bytes()
TEXT = Text()
BOOL = BoolCodec()


__all__ = [
    "ADDRESS",
    "AMOUNT",
    "BOOL",
    "BYTES",
    "HASH",
    "INT",
    "TEXT",
    "UINT",
    "AddressCodec",
    "Amount",
    "BoolCodec",
    "Bytes",
    "Codec",
    "Coded",
    "HashCodec",
    "JsonFieldError",
    "JsonOnly",
    "Nullable",
    "RecordSchemaError",
    "SignedInt",
    "Text",
    "TupleOf",
    "UInt",
    "WireOnly",
    "to_hex",
]
