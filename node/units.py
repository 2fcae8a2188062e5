"""Human units: amounts (`1.5eth`, `20 gwei`, `123` wei) and market prices and sizes (`60000.5`, `0.001`).

Pure (no I/O) and exact: only integer arithmetic on the typed digits, never floats.

Parsing (`parse_amount`):
- a bare non-negative integer is wei: `123` -> 123;
- a decimal number followed by a unit, case-insensitive, with or without a
  space: `wei` (10^0), `gwei` (10^9), `eth` or `ether` (10^18):
  `1.5eth`, `20 gwei`, `0.000000001ETH`;
- the fraction may have at most as many digits as the unit allows (none for
  wei or a bare number, 9 for gwei, 18 for eth), so every accepted text names
  a whole number of wei exactly;
- refused with `AmountError` (a ValueError): empty text, a sign, exponent
  notation (`1e18`), an unknown unit, too many fractional digits, a value of
  2^256 wei or more, and anything else that is not of the form above
  (`.5eth`, `1.eth`, `1,000`, `0x10`, ...). Surrounding whitespace is ignored.

Formatting (`format_amount`), always `<number> <unit>`:
- `eth` when the value is at least 0.001 eth (10^15 wei),
- else `gwei` when it is at least 0.001 gwei (10^6 wei),
- else `wei`;
- the number is exact, with no trailing fractional zeros and no `.` when whole:
  `1.5 eth`, `20 gwei`, `0.001 gwei`, `123 wei`, `0 wei`.
So `parse_amount(format_amount(x)) == x` for every x in [0, 2^256).

Market prices and sizes (`MarketUnits`, built from a market's parameters by
node.venue.markets.get_market_units): the venue keeps integers (prices in
collateral atoms per lot, sizes in lots); people read and type decimals.
- `format_price(units, m)`: quote per 1 whole base, units x 10^base_decimals /
  (lot_size x 10^quote_decimals), exact (a lot_size of 2s and 5s only makes
  every such quotient a finite decimal); signed values allowed;
- `format_size(lots, m)`: whole base units, lots x lot_size / 10^base_decimals;
- `parse_price(text, m)` / `parse_size(text, m)`: the inverse for a typed
  non-negative decimal (`60000.5`, `0.001`; no sign, exponent, grouping or
  unit), refused with AmountError when it is zero, above the market's largest
  price or order size, has more decimals than the base asset, or falls between
  two ticks or two lots; the message names the nearest valid values;
- `format_units(atoms, decimals)` / `format_decimal(n, d)`: any exact decimal.
The decimal strings are canonical: no trailing fractional zeros, no `.` when
whole, `-` for negatives (`60000.5`, `20`, `-0.001`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from math import gcd
from typing import NamedTuple

__all__ = [
    "MAX_DECIMALS",
    "UNITS",
    "AmountError",
    "Decimal10",
    "MarketUnits",
    "format_amount",
    "format_decimal",
    "format_price",
    "format_size",
    "format_units",
    "is_decimal_friendly",
    "DurationError",
    "MAX_SECONDS",
    "parse_amount",
    "parse_seconds",
    "parse_decimal",
    "parse_price",
    "parse_size",
]

UNITS: dict[str, int] = {"wei": 0, "gwei": 9, "eth": 18, "ether": 18}  # name -> decimals
MAX_WEI = 2**256 - 1
MAX_TEXT_LEN = 200  # 2^256-1 wei in eth is 97 characters; refuse absurd input before int()

_AMOUNT_RE = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?[ \t]*(?P<unit>[A-Za-z]*)", re.ASCII)
_EXPONENT_RE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+[ \t]*[A-Za-z]*", re.ASCII)
_DECIMAL_RE = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?", re.ASCII)
MAX_DECIMALS = 30  # base_decimals / quote_decimals of a market
_ETH_MIN = 10**15  # 0.001 eth
_GWEI_MIN = 10**6  # 0.001 gwei


class AmountError(ValueError):
    """Text that is not an amount `parse_amount` accepts; the message says why."""


def parse_amount(text: str) -> int:
    """Wei named by `text`: a bare integer (wei) or a decimal number with a unit (see the module doc)."""
    if not isinstance(text, str):
        raise AmountError(f"amount must be text, got {type(text).__name__}")
    spec = text.strip()
    if not spec:
        raise AmountError("amount is empty")
    if len(spec) > MAX_TEXT_LEN:
        raise AmountError(f"amount {spec[:20]!r}... is too long (at most 2^256-1 wei)")
    if spec[0] in "-+":
        if spec[0] == "-":
            raise AmountError(f"amount must not be negative, got {spec!r}")
        raise AmountError(f"amount must not have a sign, got {spec!r}")
    if _EXPONENT_RE.fullmatch(spec):
        raise AmountError(f"exponent notation is not accepted, got {spec!r}: write the digits, or use a unit (1eth)")
    match = _AMOUNT_RE.fullmatch(spec)
    if match is None:
        raise AmountError(
            f"amount must be a whole number of wei or a decimal number with a unit (wei, gwei, eth), got {spec!r}"
        )
    unit_text = match.group("unit")
    unit = unit_text.lower() if unit_text else "wei"
    if unit not in UNITS:
        raise AmountError(f"unknown unit {unit_text!r} in {spec!r} (use wei, gwei, eth or ether)")
    decimals = UNITS[unit]
    frac = match.group("frac") or ""
    if len(frac) > decimals:
        if not unit_text:
            raise AmountError(f"a bare number is wei and must be whole, got {spec!r} (add a unit: {spec}eth)")
        raise AmountError(
            f"{spec!r} has {len(frac)} fractional digits but {unit} allows at most {decimals}"
            + (" (1 wei is the smallest amount)" if decimals else "")
        )
    wei = int(match.group("whole")) * 10**decimals + (int(frac.ljust(decimals, "0")) if decimals else 0)
    if wei > MAX_WEI:
        raise AmountError(f"amount {spec!r} is 2^256 wei or more (the largest is 2^256-1 wei)")
    return wei


MAX_SECONDS = 10 * 365 * 86_400  # ten years (node.clock.MAX_OFFSET_MS): more is a typo


class DurationError(ValueError):
    """A value that is not a forward duration `parse_seconds` accepts; the message says why."""


def parse_seconds(value: object) -> Decimal:
    """A forward duration in seconds: an int, a finite float, a Decimal or a decimal string such as
    '1.5', in [0, MAX_SECONDS] (how far a devnet moves time: the client and the control endpoint)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise DurationError(f"seconds must be a number of seconds (e.g. 3600 or 1.5), got {value!r}")
    if isinstance(value, str) and len(value) > 64:
        raise DurationError(f"seconds must be a number of seconds, got a {len(value)}-character string")
    if isinstance(value, float) and not math.isfinite(value):
        raise DurationError(f"seconds must be a finite number, got {value!r}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise DurationError(f"seconds must be a number of seconds (e.g. 3600 or 1.5), got {value!r}") from None
    if not number.is_finite():
        raise DurationError(f"seconds must be a finite number, got {value!r}")
    if number < 0:
        raise DurationError(f"seconds must be at least 0: time only moves forward, got {value!r}")
    if number > MAX_SECONDS:
        raise DurationError(f"seconds may be at most {MAX_SECONDS} (10 years), got {value!r}")
    return number


def format_amount(wei: int) -> str:
    """`wei` as `<exact number> <unit>` (eth from 0.001 eth, gwei from 0.001 gwei, else wei)."""
    if isinstance(wei, bool) or not isinstance(wei, int):
        raise AmountError(f"amount must be an int, got {type(wei).__name__}")
    if wei < 0:
        raise AmountError(f"amount must not be negative, got {wei}")
    if wei > MAX_WEI:
        raise AmountError(f"amount {wei} is 2^256 wei or more")
    if wei >= _ETH_MIN:
        unit, decimals = "eth", UNITS["eth"]
    elif wei >= _GWEI_MIN:
        unit, decimals = "gwei", UNITS["gwei"]
    else:
        return f"{wei} wei"
    whole, frac = divmod(wei, 10**decimals)
    frac_text = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{whole}.{frac_text} {unit}" if frac_text else f"{whole} {unit}"


# ---------------------------------------------------------------- market prices and sizes


@dataclass(frozen=True, slots=True)
class MarketUnits:
    """How one market's integers map to human numbers (built by node.venue.markets.get_market_units).

    A lot is `lot_size` base atoms, so `lot_size / 10^base_decimals` of the base asset; a price is collateral
    atoms per lot, so a human price P (quote per 1 whole base) is P x lot_size x 10^quote_decimals /
    10^base_decimals units. `lot_size` must be a product of 2s and 5s so every price has a finite decimal form.
    """

    symbol: str
    lot_size: int
    tick_size: int
    base_decimals: int
    quote_decimals: int
    max_price: int  # the largest price in units (node.venue.markets.MAX_PRICE)
    max_lots: int  # the largest order size in lots (node.venue.orders.MAX_ORDER_LOTS)

    def __post_init__(self) -> None:
        for name in ("lot_size", "tick_size", "max_price", "max_lots"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AmountError(f"{self.symbol}: {name} must be a positive integer, got {value!r}")
        for name in ("base_decimals", "quote_decimals"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DECIMALS:
                raise AmountError(f"{self.symbol}: {name} must be an integer in [0, {MAX_DECIMALS}], got {value!r}")
        if not is_decimal_friendly(self.lot_size):
            raise AmountError(f"{self.symbol}: lot_size {self.lot_size} must be a product of 2s and 5s")


class Decimal10(NamedTuple):
    """A non-negative decimal number as digits / 10^scale (exact)."""

    digits: int
    scale: int


def is_decimal_friendly(n: int) -> bool:
    """True when 1/n has a finite decimal expansion (n = 2^a x 5^b)."""
    if n < 1:
        return False
    for p in (2, 5):
        while n % p == 0:
            n //= p
    return n == 1


def parse_decimal(text: str, what: str) -> Decimal10:
    """`123`, `60000.5`, `0.001` as digits / 10^scale; AmountError (naming `what`) for anything else."""
    if not isinstance(text, str):
        raise AmountError(f"{what} must be text, got {type(text).__name__}")
    spec = text.strip()
    if not spec:
        raise AmountError(f"{what} is empty")
    if len(spec) > MAX_TEXT_LEN:
        raise AmountError(f"{what} {spec[:20]!r}... is too long")
    if spec[0] == "-":
        raise AmountError(f"{what} must not be negative, got {spec!r}")
    if spec[0] == "+":
        raise AmountError(f"{what} must not have a sign, got {spec!r}")
    if _EXPONENT_RE.fullmatch(spec):
        raise AmountError(f"{what}: exponent notation is not accepted, got {spec!r}: write the digits")
    match = _DECIMAL_RE.fullmatch(spec)
    if match is None:
        raise AmountError(f"{what} must be a decimal number such as 60000.5 or 0.001, got {spec!r}")
    frac = (match.group("frac") or "").rstrip("0")
    return Decimal10(int(match.group("whole") + frac), len(frac))


def format_decimal(numerator: int, denominator: int = 1) -> str:
    """numerator / denominator as an exact decimal string (signed, no trailing zeros, no `.` when whole).

    AmountError when the quotient has no finite decimal expansion.
    """
    if isinstance(numerator, bool) or not isinstance(numerator, int):
        raise AmountError(f"value must be an int, got {type(numerator).__name__}")
    if denominator < 1:
        raise AmountError(f"denominator must be positive, got {denominator}")
    sign = "-" if numerator < 0 else ""
    num, den = abs(numerator), denominator
    g = gcd(num, den)
    num, den = num // g, den // g
    twos = fives = 0
    rest = den
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        raise AmountError(f"{numerator}/{denominator} has no finite decimal form")
    scale = max(twos, fives)
    scaled = num * (10**scale // den)
    whole, frac = divmod(scaled, 10**scale)
    frac_text = str(frac).rjust(scale, "0").rstrip("0") if scale else ""
    return f"{sign}{whole}.{frac_text}" if frac_text else f"{sign}{whole}"


def format_units(value: int, decimals: int) -> str:
    """An integer amount of atoms with `decimals` decimals, as an exact decimal: (1500, 3) -> `1.5`."""
    return format_decimal(value, 10**decimals)


def _price_ratio(market: MarketUnits) -> tuple[int, int]:
    """(a, b) with price units = human price x a / b."""
    return market.lot_size * 10**market.quote_decimals, 10**market.base_decimals


def format_price(units: int, market: MarketUnits) -> str:
    """A price (units per lot, or any signed per-lot quantity such as a funding index) in quote per 1 base."""
    a, b = _price_ratio(market)
    return format_decimal(units * b, a)


def format_size(lots: int, market: MarketUnits) -> str:
    """A size in lots (signed for positions) in whole base units: lots x lot_size / 10^base_decimals."""
    return format_decimal(lots * market.lot_size, 10**market.base_decimals)


def parse_price(text: str, market: MarketUnits, what: str = "price") -> int:
    """Units per lot named by a human price (quote per 1 base): positive, a whole number of ticks, at most max_price.

    A value between two ticks is refused with the two nearest valid prices in the message.
    """
    value = parse_decimal(text, what)
    a, b = _price_ratio(market)
    num, den = value.digits * a, b * 10**value.scale  # price units = num / den
    tick = market.tick_size
    spec = text.strip()
    if num == 0:
        raise AmountError(f"{what} must be positive, got {spec!r} (the smallest is {format_price(tick, market)})")
    top = market.max_price // tick * tick
    if num > top * den:
        raise AmountError(
            f"{what} {spec} is above the largest price {market.symbol} can hold, {format_price(top, market)}"
        )
    if num % (den * tick):
        below = num // (den * tick) * tick
        candidates = [c for c in (below, below + tick) if 0 < c <= top]
        nearest = " and ".join(format_price(c, market) for c in candidates)
        raise AmountError(
            f"{what} {spec} is not a multiple of the tick {format_price(tick, market)} of {market.symbol}: "
            f"the nearest valid {'prices are' if len(candidates) > 1 else 'price is'} {nearest}"
        )
    return num // den


def parse_size(text: str, market: MarketUnits, what: str = "size") -> int:
    """Lots named by a human size (whole base units): positive, a whole number of lots, at most max_lots.

    More decimals than the base asset has, or a value between two lots, is refused naming the nearest sizes.
    """
    value = parse_decimal(text, what)
    spec = text.strip()
    one_lot = format_size(1, market)
    if value.scale > market.base_decimals:
        raise AmountError(
            f"{what} {spec} has {value.scale} decimals but {market.symbol}'s base asset has "
            f"{market.base_decimals} (one lot is {one_lot})"
        )
    atoms = value.digits * 10 ** (market.base_decimals - value.scale)
    if atoms == 0:
        raise AmountError(f"{what} must be positive, got {spec!r} (the smallest is one lot, {one_lot})")
    if atoms > market.max_lots * market.lot_size:
        raise AmountError(f"{what} {spec} is above the largest order size, {format_size(market.max_lots, market)}")
    lots, rest = divmod(atoms, market.lot_size)
    if rest:
        candidates = [c for c in (lots, lots + 1) if 0 < c <= market.max_lots]
        nearest = " and ".join(format_size(c, market) for c in candidates)
        raise AmountError(
            f"{what} {spec} is not a whole number of lots of {market.symbol} (one lot is {one_lot}): "
            f"the nearest valid {'sizes are' if len(candidates) > 1 else 'size is'} {nearest}"
        )
    return lots
