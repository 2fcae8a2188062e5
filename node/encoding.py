"""Canonical msgpack encoding.

Every protocol value is a msgpack array of ints (< 2^64), byte strings and
nested arrays. Amounts up to 2^256 - 1 do not fit msgpack integers, so they
travel as minimal big-endian byte strings (zero is the empty string, no
leading zero byte). Decoding is strict: trailing bytes, maps, floats, strings
where bytes are expected, and any encoding that does not re-encode to the
same bytes are rejected, so one value has exactly one encoding (and one hash).
"""

from __future__ import annotations

from typing import Any

import msgpack
from mypy_extensions import mypyc_attr

UINT256_MAX = (1 << 256) - 1
UINT64_MAX = (1 << 64) - 1


@mypyc_attr(allow_interpreted_subclasses=True)
class DecodeError(ValueError):
    """Bytes are not a canonical encoding of the expected value."""


def pack(value: Any) -> bytes:
    packed: bytes = msgpack.packb(value, use_bin_type=True)
    return packed


def unpack(data: bytes, max_size: int | None = None) -> Any:
    """Decode canonical msgpack; reject oversized, trailing or non-canonical input."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("encoded value must be bytes")
    if max_size is not None and len(data) > max_size:
        raise DecodeError(f"encoding is {len(data)} bytes, limit is {max_size}")
    try:
        value = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except msgpack.ExtraData:
        raise DecodeError("trailing bytes after the encoded value") from None
    except Exception as exc:  # msgpack raises several unrelated types
        raise DecodeError(f"not valid msgpack: {exc.__class__.__name__}") from None
    if pack(value) != bytes(data):
        raise DecodeError("non-canonical encoding")
    return value


def encode_uint(value: int) -> bytes:
    """Minimal big-endian bytes of an integer in [0, 2^256)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("amount must be an int")
    if value < 0 or value > UINT256_MAX:
        raise ValueError(f"amount {value} is outside [0, 2^256)")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def decode_uint(raw: Any, what: str = "amount") -> int:
    if not isinstance(raw, bytes):
        raise DecodeError(f"{what} must be a byte string")
    if len(raw) > 32:
        raise DecodeError(f"{what} exceeds 2^256 - 1")
    if raw[:1] == b"\x00":
        raise DecodeError(f"{what} has a leading zero byte (non-canonical)")
    return int.from_bytes(raw, "big")


# -- field readers used by every decoder: each raises DecodeError with the field's name --


def expect_list(value: Any, length: int | None, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise DecodeError(f"{what} must be an array")
    if length is not None and len(value) != length:
        raise DecodeError(f"{what} must have {length} fields, got {len(value)}")
    return value


def expect_int(value: Any, what: str, maximum: int = UINT64_MAX) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DecodeError(f"{what} must be an integer")
    if value < 0 or value > maximum:
        raise DecodeError(f"{what} {value} is outside [0, {maximum}]")
    return value


def expect_bytes(value: Any, what: str, length: int | None = None, max_length: int | None = None) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError(f"{what} must be a byte string")
    if length is not None and len(value) != length:
        raise DecodeError(f"{what} must be {length} bytes, got {len(value)}")
    if max_length is not None and len(value) > max_length:
        raise DecodeError(f"{what} is {len(value)} bytes, limit is {max_length}")
    return value
