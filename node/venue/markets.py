"""Markets: per-network parameters, parsed from TOML, written into state at genesis.

Fixed-point units (integers only, everywhere in the venue):

- collateral and every amount: the rollup's native balance unit ("units");
- size: whole lots, signed for positions (long > 0); `lot_size` says how many
  base-asset atoms one lot is (descriptive, for clients converting sizes);
- price: units per lot, a positive multiple of `tick_size`, below 2^48;
  notional = lots x price, exact;
- fractions (margins, fees, caps, bands): basis points, 1 bps = 1/10_000;
  the initial margin fraction is what limits leverage; `max_leverage` must
  agree with it (initial_margin_bps x max_leverage >= 10_000);
- funding index: cumulative units per lot.

A network lists its markets in its TOML config:

    [venue]
    oracle = "0x..."            # the key whose oracle updates are accepted
    insurance_fund = "0x..."    # the fund's account (native balance)

    [[venue.markets]]
    id = 0
    symbol = "BTC-PERP"
    tick_size = 1               # units per lot
    lot_size = 1000             # base atoms per lot
    initial_margin_bps = 1000
    maintenance_margin_bps = 500
    max_leverage = 10
    funding_interval_ms = 3600000
    funding_cap_bps = 75
    liquidation_fee_bps = 100
    maker_fee_bps = 2
    taker_fee_bps = 5
    oracle_band_bps = 1000
    base_decimals = 8           # optional: decimals of the base asset (8 for BTC)
    quote_decimals = 18         # optional (default 18 when base_decimals is given):
                                # decimals of the collateral, 18 for the native unit

`genesis_writes` puts them under the state root; the state transition reads
them from state only, so every executor and the L1 verifier agree.

Decimals (`base_decimals`, `quote_decimals`) say how people read a market's
integers: a lot is lot_size / 10^base_decimals base, a price P quote per 1
base is P x lot_size x 10^quote_decimals / 10^base_decimals units per lot
(node.units converts both ways). They live in state beside the other
parameters, appended to the market record only when declared: one definition
that every node's RPC reads from the same root, while a market without them
encodes exactly as before, so existing state roots, wire pins and vectors are
unchanged. The state transition never reads them. Declaring them requires a
lot_size made of 2s and 5s only (1000, 2500, 10^12...), so every price and
size has a finite decimal form; both lie in [0, MAX_DECIMALS]. Without them
the RPC's decimal fields are null and clients must use the integers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any, NamedTuple

from node.crypto import ADDRESS_LEN, Address, CryptoError, parse_address
from node.encoding import UINT64_MAX, DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.state.view import StateReader
from node.units import MAX_DECIMALS, MarketUnits, is_decimal_friendly
from node.venue.codec import MAX_RECORD_BYTES, decode_record, expect_address, expect_int_list
from node.venue.errors import UnknownMarket, VenueNotConfigured
from node.venue.keys import CONFIG_KEY, MARKET_ID_MAX, POOL_ADDRESS, market_key

BPS = 10_000
MAX_PRICE = (1 << 48) - 1
MAX_FEE_BPS = 1_000
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9_/-]{0,15}$")


class MarketConfigError(ValueError):
    """A [[venue.markets]] entry (or the [venue] table) is invalid; the message names the field."""


@dataclass(frozen=True, slots=True)
class MarketParams:
    market_id: int
    symbol: str
    tick_size: int
    lot_size: int
    initial_margin_bps: int
    maintenance_margin_bps: int
    max_leverage: int
    funding_interval_ms: int
    funding_cap_bps: int
    liquidation_fee_bps: int
    maker_fee_bps: int
    taker_fee_bps: int
    oracle_band_bps: int
    base_decimals: int | None = None  # descriptive (see the module doc); both None or both set
    quote_decimals: int | None = None

    def __post_init__(self) -> None:
        problem = compute_params_problem({f.name: getattr(self, f.name) for f in fields(self)})
        if problem is not None:
            raise MarketConfigError(f"market {self.market_id}: {problem.field}: {problem.reason}")

    def to_fields(self) -> list[Any]:
        """The stored record: the 13 parameters, then the two decimals only when declared (old roots unchanged)."""
        values = [self.market_id, self.symbol.encode("ascii"), *(getattr(self, f) for f in INT_FIELDS[1:])]
        if self.base_decimals is not None:
            values += [self.base_decimals, self.quote_decimals]
        return values

    def get_units(self, max_price: int, max_lots: int) -> MarketUnits | None:
        """The market's human-unit conversions (node.units), or None when it declares no decimals."""
        if self.base_decimals is None or self.quote_decimals is None:
            return None
        return MarketUnits(
            self.symbol, self.lot_size, self.tick_size, self.base_decimals, self.quote_decimals, max_price, max_lots
        )


class ParamsProblem(NamedTuple):
    """The first rule a market's parameters break: the field and why."""

    field: str
    reason: str


class VenueAddresses(NamedTuple):
    """The [venue] table's keys: whose oracle updates count, and the insurance fund's account."""

    oracle: Address
    insurance_fund: Address


@dataclass(frozen=True, slots=True)
class VenueConfig:
    oracle: Address
    insurance_fund: Address
    market_ids: tuple[int, ...]


DECIMAL_FIELDS = ("base_decimals", "quote_decimals")
# (not `f.name not in ("symbol", *DECIMAL_FIELDS)`: mypyc 2.4 cannot compile a starred tuple after `in`)
INT_FIELDS = tuple(f.name for f in fields(MarketParams) if f.name != "symbol" and f.name not in DECIMAL_FIELDS)
TOML_FIELDS = ("id", "symbol", *INT_FIELDS[1:])
DEFAULT_QUOTE_DECIMALS = 18  # the native unit's, the venue's collateral


class _Values:
    __slots__ = ("values",)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values = values

    def __getattr__(self, name: str) -> Any:
        return self.values[name]


def compute_params_problem(values: Mapping[str, Any]) -> ParamsProblem | None:
    """The first rule the market field values break, or None."""
    for name in INT_FIELDS:
        value = values[name]
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT64_MAX:
            return ParamsProblem(name, "must be an integer in [0, 2^64)")
    p = _Values(values)
    checks: list[tuple[bool, str, str]] = [
        (p.market_id <= MARKET_ID_MAX, "id", f"must be at most {MARKET_ID_MAX}"),
        (
            isinstance(p.symbol, str) and bool(SYMBOL_PATTERN.match(p.symbol)),
            "symbol",
            "must be 1-16 of A-Z 0-9 _ / - (starting alphanumeric)",
        ),
        (1 <= p.tick_size <= MAX_PRICE, "tick_size", f"must be in [1, {MAX_PRICE}]"),
        (p.lot_size >= 1, "lot_size", "must be at least 1"),
        (0 < p.initial_margin_bps <= BPS, "initial_margin_bps", f"must be in [1, {BPS}]"),
        (
            0 < p.maintenance_margin_bps < p.initial_margin_bps,
            "maintenance_margin_bps",
            "must be positive and below initial_margin_bps",
        ),
        (p.max_leverage >= 1, "max_leverage", "must be at least 1"),
        (
            p.initial_margin_bps * p.max_leverage >= BPS,
            "max_leverage",
            "is below 1 / initial margin fraction (the initial margin would allow more)",
        ),
        (p.funding_interval_ms >= 1, "funding_interval_ms", "must be at least 1"),
        (p.funding_cap_bps <= BPS, "funding_cap_bps", f"must be at most {BPS}"),
        (p.liquidation_fee_bps <= BPS, "liquidation_fee_bps", f"must be at most {BPS}"),
        (p.maker_fee_bps <= MAX_FEE_BPS, "maker_fee_bps", f"must be at most {MAX_FEE_BPS}"),
        (p.taker_fee_bps <= MAX_FEE_BPS, "taker_fee_bps", f"must be at most {MAX_FEE_BPS}"),
        (1 <= p.oracle_band_bps <= BPS, "oracle_band_bps", f"must be in [1, {BPS}]"),
    ]
    for ok, name, reason in checks:
        if not ok:
            return ParamsProblem(name, reason)
    return compute_decimals_problem(values)


def compute_decimals_problem(values: Mapping[str, Any]) -> ParamsProblem | None:
    """The first rule the optional decimals break (both or neither; bounds; a decimal-friendly lot_size)."""
    base, quote = values.get("base_decimals"), values.get("quote_decimals")
    if base is None and quote is None:
        return None
    for name, value in (("base_decimals", base), ("quote_decimals", quote)):
        if value is None:
            other = "quote_decimals" if name == "base_decimals" else "base_decimals"
            return ParamsProblem(name, f"must be given with {other}")
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_DECIMALS:
            return ParamsProblem(name, f"must be an integer in [0, {MAX_DECIMALS}]")
    if not is_decimal_friendly(values["lot_size"]):
        return ParamsProblem(
            "lot_size",
            "must be a product of 2s and 5s (such as 1000 or 2500) when decimals are declared, "
            "so every price has a finite decimal form",
        )
    return None


# -- TOML --


def load_markets(doc: Mapping[str, Any]) -> tuple[MarketParams, ...]:
    """Parse the `[[venue.markets]]` array of a parsed TOML document (tomllib output)."""
    venue = doc.get("venue")
    if not isinstance(venue, Mapping):
        raise MarketConfigError("venue: missing [venue] table")
    entries = venue.get("markets")
    if not isinstance(entries, list) or not entries:
        raise MarketConfigError("venue.markets: must be a non-empty [[venue.markets]] array")
    markets = tuple(_parse_market(entry, f"venue.markets[{i}]") for i, entry in enumerate(entries))
    validate_unique_markets(markets)
    return markets


def load_venue_addresses(doc: Mapping[str, Any]) -> VenueAddresses:
    """The oracle and insurance fund addresses from the [venue] table."""
    venue = doc.get("venue")
    if not isinstance(venue, Mapping):
        raise MarketConfigError("venue: missing [venue] table")
    return VenueAddresses(_parse_address(venue, "oracle"), _parse_address(venue, "insurance_fund"))


def _parse_address(table: Mapping[str, Any], name: str) -> Address:
    value = table.get(name)
    if not isinstance(value, str):
        raise MarketConfigError(f"venue.{name}: must be a 0x-prefixed 20-byte hex address")
    try:
        return parse_address(value)
    except (CryptoError, ValueError) as exc:
        raise MarketConfigError(f"venue.{name}: {exc}") from None


def _parse_market(entry: Any, where: str) -> MarketParams:
    if not isinstance(entry, Mapping):
        raise MarketConfigError(f"{where}: must be a table")
    unknown = sorted(set(entry) - set(TOML_FIELDS) - set(DECIMAL_FIELDS))
    if unknown:
        raise MarketConfigError(f"{where}.{unknown[0]}: unknown field")
    values: dict[str, Any] = {}
    for name in TOML_FIELDS:
        if name not in entry:
            raise MarketConfigError(f"{where}.{name}: missing")
        value = entry[name]
        if name == "symbol":
            if not isinstance(value, str):
                raise MarketConfigError(f"{where}.symbol: must be a string")
        elif not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= UINT64_MAX:
            raise MarketConfigError(f"{where}.{name}: must be a non-negative integer below 2^64")
        values["market_id" if name == "id" else name] = value
    values.update(_parse_decimals(entry, where))
    problem = compute_params_problem(values)
    if problem is not None:
        field_name = "id" if problem.field == "market_id" else problem.field
        raise MarketConfigError(f"{where}.{field_name}: {problem.reason}")
    return MarketParams(**values)


def _parse_decimals(entry: Mapping[str, Any], where: str) -> dict[str, int]:
    """The optional base_decimals / quote_decimals (quote defaults to 18 when base is given)."""
    if "base_decimals" not in entry:
        if "quote_decimals" in entry:
            raise MarketConfigError(f"{where}.quote_decimals: given without base_decimals")
        return {}
    out = {
        "base_decimals": entry["base_decimals"],
        "quote_decimals": entry.get("quote_decimals", DEFAULT_QUOTE_DECIMALS),
    }
    for name, value in out.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_DECIMALS:
            raise MarketConfigError(f"{where}.{name}: must be an integer in [0, {MAX_DECIMALS}]")
    return out


def validate_unique_markets(markets: Sequence[MarketParams]) -> None:
    ids, symbols = set(), set()
    for i, market in enumerate(markets):
        if market.market_id in ids:
            raise MarketConfigError(f"venue.markets[{i}].id: duplicate market id {market.market_id}")
        if market.symbol in symbols:
            raise MarketConfigError(f"venue.markets[{i}].symbol: duplicate symbol {market.symbol}")
        ids.add(market.market_id)
        symbols.add(market.symbol)


# -- genesis and state --


def genesis_writes(
    markets: Sequence[MarketParams], oracle_key_address: bytes, insurance_fund: bytes
) -> dict[bytes, bytes]:
    """The venue's genesis key/values: its config and every market's parameters."""
    validate_unique_markets(markets)
    for name, address in (("oracle", oracle_key_address), ("insurance_fund", insurance_fund)):
        if not isinstance(address, bytes) or len(address) != ADDRESS_LEN:
            raise MarketConfigError(f"venue.{name}: must be {ADDRESS_LEN} bytes")
    if insurance_fund == POOL_ADDRESS:
        raise MarketConfigError("venue.insurance_fund: must not be the PnL pool's address")
    ids = sorted(m.market_id for m in markets)
    writes = {CONFIG_KEY: pack([bytes(oracle_key_address), bytes(insurance_fund), ids])}
    for market in markets:
        writes[market_key(market.market_id)] = encode_market(market)
    return writes


def encode_market(market: MarketParams) -> bytes:
    return pack(market.to_fields())


@lru_cache(maxsize=256)
def decode_market(raw: bytes) -> MarketParams:
    """Memoized: market parameters are read by every order and validated on construction."""
    values = expect_list(unpack(raw, MAX_RECORD_BYTES), None, "market params")
    base_length = 1 + len(INT_FIELDS)
    if len(values) not in (base_length, base_length + len(DECIMAL_FIELDS)):
        raise DecodeError(f"market params must have {base_length} or {base_length + 2} fields, got {len(values)}")
    symbol = expect_bytes(values[1], "symbol", max_length=16)
    ints = [expect_int(values[0], "id")] + [expect_int(v, name) for v, name in zip(values[2:], INT_FIELDS[1:])]
    decimals = [expect_int(v, name) for v, name in zip(values[base_length:], DECIMAL_FIELDS)]
    try:
        return MarketParams(ints[0], symbol.decode("ascii"), *ints[1:], *decimals)
    except (MarketConfigError, UnicodeDecodeError) as exc:
        raise DecodeError(f"stored market params are invalid: {exc}") from None


@lru_cache(maxsize=16)
def decode_venue_config(raw: bytes) -> VenueConfig:
    values = decode_record(raw, 3, "venue config")
    return VenueConfig(
        expect_address(values[0], "oracle"),
        expect_address(values[1], "insurance_fund"),
        expect_int_list(expect_list(values[2], None, "market ids"), "market ids", MARKET_ID_MAX),
    )


def get_venue_config(reader: StateReader) -> VenueConfig | None:
    raw = reader.get(CONFIG_KEY)
    return None if raw is None else decode_venue_config(raw)


def get_required_venue_config(reader: StateReader) -> VenueConfig:
    config = get_venue_config(reader)
    if config is None:
        raise VenueNotConfigured()
    return config


def get_market(reader: StateReader, market_id: int) -> MarketParams:
    """The market's parameters; UnknownMarket if the state holds none."""
    if not 0 <= market_id <= MARKET_ID_MAX:
        raise UnknownMarket(market_id)
    raw = reader.get(market_key(market_id))
    if raw is None:
        raise UnknownMarket(market_id)
    return decode_market(raw)
