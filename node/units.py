"""Human units for amounts: parse `1.5eth` / `20 gwei` / `123` into wei, and format wei back.

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
"""

from __future__ import annotations

import re

__all__ = ["UNITS", "AmountError", "format_amount", "parse_amount"]

UNITS: dict[str, int] = {"wei": 0, "gwei": 9, "eth": 18, "ether": 18}  # name -> decimals
MAX_WEI = 2**256 - 1
MAX_TEXT_LEN = 200  # 2^256-1 wei in eth is 97 characters; refuse absurd input before int()

_AMOUNT_RE = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?[ \t]*(?P<unit>[A-Za-z]*)", re.ASCII)
_EXPONENT_RE = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+[ \t]*[A-Za-z]*", re.ASCII)
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
