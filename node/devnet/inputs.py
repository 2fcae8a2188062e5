"""Parsing what users type: amounts, addresses and dev account names, block tags, tx hashes.

Every parser raises InputError with a message naming the offending value,
before anything is signed or sent.
"""

from __future__ import annotations

import re

from node.crypto import ADDRESS_LEN, Address, CryptoError, parse_address, to_checksum_address
from node.devnet.errors import InputError
from node.encoding import UINT256_MAX
from node.keys.hd import DEV_ACCOUNT_COUNT, dev_account

_DEV_RE = re.compile(r"dev([0-9]+)", re.IGNORECASE)
_DECIMAL_RE = re.compile(r"[0-9]+")
_HEX_RE = re.compile(r"0[xX][0-9a-fA-F]+")
_ADDRESS_RE = re.compile(r"0[xX][0-9a-fA-F]{40}")
_HASH_RE = re.compile(r"0[xX][0-9a-fA-F]{64}")
MAX_AMOUNT_DIGITS = 100  # 2^256 has 78 decimal digits; refuse absurdly long input before int()
NAMED_TAGS = ("latest", "safe", "finalized", "earliest", "pending")


def parse_amount(text: str, what: str = "amount", allow_zero: bool = False) -> int:
    """An integer in [0 or 1, 2^256-1], written in decimal or 0x hex (underscores allowed)."""
    raw = text.strip().replace("_", "") if isinstance(text, str) else ""
    if raw.startswith("-"):
        raise InputError(f"{what} must not be negative, got {text!r}")
    if len(raw) > MAX_AMOUNT_DIGITS + 2:
        raise InputError(f"{what} {text[:20]!r}... is too long (at most 2^256-1)")
    if _DECIMAL_RE.fullmatch(raw):
        value = int(raw, 10)
    elif _HEX_RE.fullmatch(raw):
        value = int(raw, 16)
    else:
        raise InputError(f"{what} must be a whole number in decimal or 0x hex, got {text!r}")
    if value > UINT256_MAX:
        raise InputError(f"{what} {text} is larger than 2^256-1")
    if value == 0 and not allow_zero:
        raise InputError(f"{what} must be at least 1")
    return value


def dev_address(name: str) -> Address | None:
    """The address of dev account `devN`, None when `name` is not of that form."""
    match = _DEV_RE.fullmatch(name.strip())
    if match is None:
        return None
    index = int(match.group(1))
    if index >= DEV_ACCOUNT_COUNT:
        raise InputError(f"unknown dev account {name.strip()!r} (there are dev0..dev{DEV_ACCOUNT_COUNT - 1})")
    return dev_account(index).address


def parse_address_arg(text: str, what: str = "address") -> Address:
    """A 0x address (EIP-55 checksum checked when mixed case) or a dev account name."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"{what} is empty")
    spec = text.strip()
    dev = dev_address(spec)
    if dev is not None:
        return dev
    if not _ADDRESS_RE.fullmatch(spec):
        raise InputError(
            f"{what} must be a 0x address (40 hex digits) or dev0..dev{DEV_ACCOUNT_COUNT - 1}, got {spec!r}"
        )
    try:
        return parse_address(spec)
    except CryptoError as exc:
        raise InputError(f"{what}: {exc}") from None


def checksum(address: bytes) -> str:
    if len(address) != ADDRESS_LEN:
        raise InputError(f"address must be {ADDRESS_LEN} bytes")
    return to_checksum_address(address)


def parse_block_tag(text: str) -> int | str:
    """A block number (decimal or 0x hex) or latest/safe/finalized/earliest/pending."""
    spec = text.strip().lower() if isinstance(text, str) else ""
    if spec in NAMED_TAGS:
        return spec
    if _DECIMAL_RE.fullmatch(spec):
        number = int(spec)
    elif _HEX_RE.fullmatch(spec):
        number = int(spec, 16)
    else:
        raise InputError(f"block must be a number or one of {', '.join(NAMED_TAGS)}, got {text!r}")
    if number >= 2**63:
        raise InputError(f"block number {text} is out of range")
    return number


def parse_tx_hash(text: str) -> str:
    spec = text.strip() if isinstance(text, str) else ""
    if not _HASH_RE.fullmatch(spec):
        raise InputError(f"transaction hash must be 0x followed by 64 hex digits, got {text!r}")
    return spec.lower()
