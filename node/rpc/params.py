"""Validators for JSON-RPC parameters.

Each validator takes the raw JSON value and the parameter's name and either
returns the decoded Python value or raises `InvalidParams` with a message
that names the parameter, so a caller can see exactly what was wrong.
"""

from __future__ import annotations

import re
from typing import Any

from node.crypto import CryptoError, parse_address
from node.rpc.errors import InvalidParams

UINT256_MAX = 2**256 - 1
BLOCK_NUMBER_MAX = 2**64 - 1
BLOCK_TAGS = frozenset({"latest", "safe", "finalized", "earliest", "pending"})

_HEX_BODY = re.compile(r"[0-9a-fA-F]*")
_DECIMAL = re.compile(r"[0-9]+")
_MAX_NUMBER_TEXT = 1024  # longer numeric strings are rejected before parsing
_PREVIEW = 40


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 3] + "..."


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _describe_max(maximum: int) -> str:
    plus_one = maximum + 1
    if plus_one > 1024 and plus_one & maximum == 0:  # maximum == 2^k - 1
        return f"2^{plus_one.bit_length() - 1}-1"
    return str(maximum)


def hex_bytes(value: Any, name: str, length: int | None = None, max_length: int | None = None) -> bytes:
    """Decode a 0x-prefixed, even-length hex string, optionally checking its byte length."""
    if not isinstance(value, str):
        raise InvalidParams(f"{name} must be a 0x-prefixed hex string, got {_type_name(value)}")
    if not value.startswith("0x"):
        raise InvalidParams(f"{name} must be a 0x-prefixed hex string, got {_preview(value)}")
    body = value[2:]
    if max_length is not None and len(body) > 2 * max_length:
        raise InvalidParams(f"{name} exceeds {max_length} bytes ({len(body) // 2} given)")
    if not _HEX_BODY.fullmatch(body):
        raise InvalidParams(f"{name} contains non-hex characters: {_preview(value)}")
    if len(body) % 2:
        raise InvalidParams(f"{name} has an odd number of hex digits ({len(body)})")
    raw = bytes.fromhex(body)
    if length is not None and len(raw) != length:
        raise InvalidParams(f"{name} must be {length} bytes, got {len(raw)}")
    return raw


def address(value: Any, name: str) -> bytes:
    """A 20-byte address; any case is accepted, but mixed case must be a valid EIP-55 checksum."""
    hex_bytes(value, name, length=20)
    try:
        return bytes(parse_address(value))
    except CryptoError as exc:
        raise InvalidParams(f"{name}: {exc}") from None


def hash32(value: Any, name: str) -> bytes:
    """A 32-byte hash as 0x-prefixed hex."""
    return hex_bytes(value, name, length=32)


def _parse_uint_text(text: str, name: str) -> int:
    if len(text) > _MAX_NUMBER_TEXT:
        raise InvalidParams(f"{name} is too long ({len(text)} characters)")
    if text.startswith("-"):
        raise InvalidParams(f"{name} must be non-negative, got {_preview(text)}")
    if text.startswith(("0x", "0X")):
        body = text[2:]
        if not body or not _HEX_BODY.fullmatch(body):
            raise InvalidParams(f"{name} is not a valid hex quantity: {_preview(text)}")
        return int(body, 16)
    if not _DECIMAL.fullmatch(text):
        raise InvalidParams(f"{name} must be a decimal or 0x-hex integer string, got {_preview(text)}")
    return int(text, 10)


def uint(value: Any, name: str, maximum: int = UINT256_MAX) -> int:
    """An unsigned integer from a JSON integer, a decimal string or a 0x-hex string."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidParams(f"{name} must be an integer or an integer string, got {_type_name(value)}")
    number = _parse_uint_text(value, name) if isinstance(value, str) else value
    if number < 0:
        raise InvalidParams(f"{name} must be non-negative, got {number}")
    if number > maximum:
        raise InvalidParams(f"{name} exceeds {_describe_max(maximum)}")
    return number


def block_tag(value: Any, name: str) -> int | str:
    """A block number (int >= 0 or 0x-hex quantity) or a named tag such as "latest"."""
    if isinstance(value, str) and value in BLOCK_TAGS:
        return value
    if isinstance(value, str) and not value.startswith(("0x", "0X")):
        tags = ", ".join(sorted(BLOCK_TAGS))
        raise InvalidParams(f"{name} must be a block number or one of {tags}; got {_preview(value)}")
    return uint(value, name, maximum=BLOCK_NUMBER_MAX)


def boolean(value: Any, name: str) -> bool:
    """A JSON true/false (no truthy coercion)."""
    if not isinstance(value, bool):
        raise InvalidParams(f"{name} must be true or false, got {_type_name(value)}")
    return value


def _expects(n_required: int, n_optional: int) -> str:
    total = n_required + n_optional
    if total == 0:
        return "no params"
    if n_optional == 0:
        return f"{total} param" + ("" if total == 1 else "s")
    return f"{n_required} to {total} params"


def positional(params: Any, n_required: int, n_optional: int, method: str) -> list[Any]:
    """Normalise JSON-RPC params to a list of n_required..n_required + n_optional items.

    Missing (None) params mean []; otherwise params must be a JSON array of
    an accepted length. The list is returned as given (omitted optional params
    are not padded), so callers check len() for optional arguments.
    """
    if params is None:
        params = []
    if not isinstance(params, list):
        raise InvalidParams(f"method {method} takes positional params (a JSON array), got {_type_name(params)}")
    if not n_required <= len(params) <= n_required + n_optional:
        raise InvalidParams(f"method {method} expects {_expects(n_required, n_optional)}, got {len(params)}")
    return list(params)
