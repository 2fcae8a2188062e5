"""Validate the control endpoint's JSON-RPC params: each bad value is an InvalidParams naming it (pure)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from node.crypto import Address
from node.devnet.errors import InputError
from node.devnet.inputs import parse_address_arg
from node.rpc.errors import InvalidParams
from node.units import AmountError, DurationError, parse_amount, parse_seconds

MAX_MINE = 10_000  # as the L1 allows (l1.chain.control)
MAX_WEI = 2**256 - 1
MAX_PRICE = 2**64 - 1
FAULT_MODES = ("tx", "garbage")
SIGNAL_NAMES = ("KILL", "TERM")


def arity(params: list[Any], low: int, high: int, method: str) -> None:
    if not low <= len(params) <= high:
        want = str(low) if low == high else f"{low} to {high}"
        raise InvalidParams(f"{method} takes {want} param(s), got {len(params)}")


def name_param(value: Any, what: str = "role") -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidParams(f"{what} must be a process name such as 'sequencer' or 'executor-0', got {value!r}")
    return value


def count_param(value: Any, what: str = "n", maximum: int = MAX_MINE) -> int:
    number = _integer(value, what)
    if not 1 <= number <= maximum:
        raise InvalidParams(f"{what} must be in [1, {maximum}], got {number}")
    return number


def wei_param(value: Any, what: str = "wei") -> int:
    """A non-negative amount: an integer, or a string with units as the CLI takes them ('1.5eth', '0x..')."""
    if isinstance(value, str) and value.lower().startswith("0x"):
        try:
            number = int(value, 16)
        except ValueError:
            raise InvalidParams(f"{what} {value!r} is not a hex quantity") from None
    elif isinstance(value, str):
        try:
            number = parse_amount(value)
        except AmountError as exc:
            raise InvalidParams(f"{what}: {exc}") from None
    else:
        number = _integer(value, what)
    if not 0 <= number <= MAX_WEI:
        raise InvalidParams(f"{what} must be in [0, 2^256-1], got {number}")
    return number


def address_param(value: Any, what: str = "address") -> Address:
    if not isinstance(value, str):
        raise InvalidParams(f"{what} must be a 0x-prefixed 20-byte hex string or devN, got {value!r}")
    try:
        return parse_address_arg(value, what)
    except InputError as exc:
        raise InvalidParams(str(exc)) from None


def market_param(value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        return int(text) if text.isdigit() else text.upper()
    raise InvalidParams(f"market must be a market id or symbol (e.g. 0 or 'BTC-PERP'), got {value!r}")


def price_param(value: Any) -> int | str:
    """An oracle price as the client takes it (node.client.venue.to_price_units): an integer is units per
    lot (wei per lot, exact), a string is a human price in quote per one base ("20.5"), converted with the
    market's decimals once the market is known."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_PRICE:
            raise InvalidParams(f"price must be in [1, 2^64-1] units (wei) per lot, got {value}")
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number <= 0 or len(text) > 80:
            raise InvalidParams(f"price must be a positive decimal such as '20.5' (quote per one base), got {value!r}")
        return text
    raise InvalidParams(
        f"price must be a decimal string (quote per one base, e.g. '20.5') or an integer (units per lot), got {value!r}"
    )


def seconds_param(value: Any) -> int:
    """How far devnet_increaseTime moves time (node.units.parse_seconds: a JSON number or a decimal string
    in [0, 10 years]), in whole ms (finer digits are dropped)."""
    try:
        return int(parse_seconds(value) * 1000)
    except DurationError as exc:
        raise InvalidParams(str(exc)) from None


def fault_mode_param(value: Any) -> str | None:
    if value is None or value in FAULT_MODES:
        return None if value is None else str(value)
    raise InvalidParams(f"mode must be 'tx', 'garbage' or null (honest again), got {value!r}")


def signal_param(value: Any) -> str:
    if value is None:
        return "KILL"
    if isinstance(value, str) and value.upper().removeprefix("SIG") in SIGNAL_NAMES:
        return value.upper().removeprefix("SIG")
    raise InvalidParams(f"signal must be 'KILL' or 'TERM', got {value!r}")


def path_param(value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"path must be a non-empty string, got {value!r}")
    path = Path(value)
    if not path.is_absolute():
        raise InvalidParams(f"path must be absolute (the control endpoint runs elsewhere), got {value!r}")
    return path


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.isdigit():
            return int(value)
        raise InvalidParams(f"{what} must be an integer, got {value!r}")
    return value
