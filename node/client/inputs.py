"""What the client accepts as arguments, checked before anything is signed or sent.

    to_key("0x...") / to_key(PrivateKey)       a signing key
    to_address("0xAbC...") / to_address(b20)   20 bytes (EIP-55 checked when mixed case; dev0..dev9 too)
    to_amount(10**18) / to_amount("1.5eth")   wei: an int, or text with a unit (node.units), or 0x hex
    to_block(12) / to_block("safe")           a block number or latest/safe/finalized/earliest/pending
    to_level("safe")                          a confirmation level: unsafe, safe or finalized
    to_hash("0x" + 64 hex)                    a transaction hash, lower case
    to_uint(5, "size")                        a whole number in [0, 2^64-1]

Each raises node.client.errors.InputError naming the argument and the value.
The CLI parses its flags with the same functions.
"""

from __future__ import annotations

import re

from node.client.errors import InputError
from node.crypto import ADDRESS_LEN, Address, CryptoError, PrivateKey
from node.devnet.errors import InputError as DevnetInputError
from node.devnet.inputs import parse_address_arg, parse_amount, parse_block_tag, parse_tx_hash
from node.units import AmountError
from node.units import parse_amount as parse_units

LEVELS = ("unsafe", "safe", "finalized")
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
MAX_BLOCK = 2**63 - 1

_PLAIN_INTEGER_RE = re.compile(r"-?(?:[0-9_]+|0[xX][0-9a-fA-F_]+)")

KeyLike = PrivateKey | str
AddressLike = str | bytes
AmountLike = int | str
BlockLike = int | str


def to_key(key: KeyLike) -> PrivateKey:
    """A PrivateKey, or a 0x-prefixed 32-byte hex private key."""
    if isinstance(key, PrivateKey):
        return key
    if not isinstance(key, str):
        raise InputError(f"key must be a PrivateKey or a 0x hex private key, got {type(key).__name__}")
    try:
        return PrivateKey.from_hex(key.strip())
    except CryptoError as exc:
        raise InputError(f"key: {exc}") from None


def to_address(value: AddressLike, what: str = "address") -> Address:
    """A 0x address (EIP-55 checksum checked when mixed case), dev0..dev9, or 20 bytes."""
    if isinstance(value, bytes | bytearray):
        if len(value) != ADDRESS_LEN:
            raise InputError(f"{what} must be {ADDRESS_LEN} bytes, got {len(value)}")
        return Address(bytes(value))
    if not isinstance(value, str):
        raise InputError(f"{what} must be a 0x address or 20 bytes, got {type(value).__name__}")
    try:
        return parse_address_arg(value, what)
    except DevnetInputError as exc:
        raise InputError(str(exc)) from None


def to_amount(value: AmountLike, what: str = "amount", allow_zero: bool = False) -> int:
    """Wei: an int, a whole number in decimal or 0x hex, or a decimal with a unit (1.5eth, 20gwei)."""
    if isinstance(value, bool):
        raise InputError(f"{what} must be an int or text, got bool")
    if isinstance(value, int):
        if value < 0:
            raise InputError(f"{what} must not be negative, got {value}")
        if value > UINT256_MAX:
            raise InputError(f"{what} {value} is larger than 2^256-1")
        if value == 0 and not allow_zero:
            raise InputError(f"{what} must be at least 1 wei")
        return value
    if not isinstance(value, str):
        raise InputError(f"{what} must be an int or text such as '1.5eth', got {type(value).__name__}")
    try:
        if _PLAIN_INTEGER_RE.fullmatch(value.strip()):
            return parse_amount(value, what, allow_zero=allow_zero)
        amount = parse_units(value)
    except DevnetInputError as exc:
        raise InputError(str(exc)) from None
    except AmountError as exc:
        raise InputError(f"{what}: {exc}") from None
    if amount == 0 and not allow_zero:
        raise InputError(f"{what} must be at least 1 wei")
    return amount


def to_optional_amount(value: AmountLike | None, what: str) -> int | None:
    return None if value is None else to_amount(value, what, allow_zero=True)


def to_block(value: BlockLike, what: str = "block") -> int | str:
    """A block number (int, decimal or 0x text) or latest/safe/finalized/earliest/pending."""
    if isinstance(value, bool):
        raise InputError(f"{what} must be a number or a tag, got bool")
    if isinstance(value, int):
        if not 0 <= value <= MAX_BLOCK:
            raise InputError(f"{what} number {value} is out of range")
        return value
    if not isinstance(value, str):
        raise InputError(f"{what} must be a number or a tag, got {type(value).__name__}")
    try:
        return parse_block_tag(value)
    except DevnetInputError as exc:
        raise InputError(str(exc).replace("block must", f"{what} must", 1)) from None


def to_level(value: str, what: str = "level") -> str:
    if value not in LEVELS:
        raise InputError(f"{what} must be one of {', '.join(LEVELS)}, got {value!r}")
    return value


def to_optional_level(value: str | None, what: str = "wait") -> str | None:
    return None if value is None else to_level(value, what)


def to_hash(value: str | bytes, what: str = "transaction hash") -> str:
    """0x followed by 64 hex digits (or 32 bytes), as lower-case text."""
    if isinstance(value, bytes | bytearray):
        if len(value) != 32:
            raise InputError(f"{what} must be 32 bytes, got {len(value)}")
        return "0x" + bytes(value).hex()
    try:
        return parse_tx_hash(value)
    except DevnetInputError as exc:
        raise InputError(str(exc).replace("transaction hash", what, 1)) from None


def to_uint(value: int | str, what: str, maximum: int = UINT64_MAX, minimum: int = 0) -> int:
    """A whole number (int, or decimal / 0x text) in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"{what} must be a whole number, got {type(value).__name__}")
    if isinstance(value, str):
        try:
            number = parse_amount(value, what, allow_zero=True)
        except DevnetInputError as exc:
            raise InputError(str(exc)) from None
    else:
        number = value
    if number < minimum:
        raise InputError(f"{what} must be at least {minimum}, got {value}")
    if number > maximum:
        raise InputError(f"{what} {value} is larger than {maximum}")
    return number


def to_timeout(value: float, what: str = "timeout") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InputError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)
