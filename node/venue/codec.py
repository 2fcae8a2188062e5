"""Value codecs shared by the venue's records: signed big integers and strict field readers.

Records are canonical msgpack arrays (node.encoding). Integers that may leave
the msgpack range (costs, PnL, funding indexes, coordinates) are stored as
zigzag-encoded minimal big-endian byte strings:

    z = 2v        for v >= 0
    z = -2v - 1   for v < 0         bytes = encode_uint(z)   (0 is the empty string)

so every signed value has exactly one encoding. Decoders raise DecodeError
(node.encoding) for anything that is not a canonical record.
"""

from __future__ import annotations

from typing import Any

from node.crypto import ADDRESS_LEN, Address
from node.encoding import (
    UINT64_MAX,
    DecodeError,
    decode_uint,
    encode_uint,
    expect_bytes,
    expect_int,
    expect_list,
    unpack,
)

SINT_MAX = (1 << 255) - 1
MAX_RECORD_BYTES = 4096


def encode_sint(value: int) -> bytes:
    if type(value) is int and -SINT_MAX - 1 <= value <= SINT_MAX:  # the common case, in one step
        zigzag = 2 * value if value >= 0 else -2 * value - 1
        return zigzag.to_bytes((zigzag.bit_length() + 7) // 8, "big")
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("a signed record field must be an int")
    if not -SINT_MAX - 1 <= value <= SINT_MAX:
        raise ValueError(f"signed value {value} is outside [-2^255, 2^255)")
    return encode_uint(2 * value if value >= 0 else -2 * value - 1)


def decode_sint(raw: Any, what: str) -> int:
    zigzag = decode_uint(raw, what)
    return zigzag >> 1 if zigzag & 1 == 0 else -((zigzag + 1) >> 1)


def decode_record(raw: bytes, length: int, what: str) -> list[Any]:
    return expect_list(unpack(raw, MAX_RECORD_BYTES), length, what)


def expect_address(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, ADDRESS_LEN))


def expect_optional_address(value: Any, what: str) -> Address | None:
    """An address or the empty byte string (none)."""
    raw = expect_bytes(value, what)
    if raw == b"":
        return None
    if len(raw) != ADDRESS_LEN:
        raise DecodeError(f"{what} must be {ADDRESS_LEN} bytes or empty")
    return Address(raw)


def expect_flag(value: Any, what: str) -> bool:
    return expect_int(value, what, 1) == 1


def expect_uint64(value: Any, what: str) -> int:
    return expect_int(value, what, UINT64_MAX)


def expect_int_list(value: Any, what: str, maximum: int = UINT64_MAX) -> tuple[int, ...]:
    items = expect_list(value, None, what)
    result = tuple(expect_int(item, what, maximum) for item in items)
    if list(result) != sorted(set(result)):
        raise DecodeError(f"{what} must be sorted and unique")
    return result


def encode_optional_address(address: bytes | None) -> bytes:
    return b"" if address is None else bytes(address)
