"""The venue's transaction payloads (kinds 16-19) and their wire fields.

    signed tx = [kind, chain_id, nonce, fee, *fields, signature]      (node.tx)

| kind | name          | fields (all msgpack unsigned ints < 2^64)                               |
|------|---------------|--------------------------------------------------------------------------|
| 16   | place_order   | market_id, side, size, price, order_type, reduce_only, client_order_id   |
| 17   | cancel_order  | order_id                                                                 |
| 18   | cancel_all    | market_id                                                                |
| 19   | oracle_update | market_id, price, timestamp_ms                                           |

Coded fields of place_order: side 0 buy, 1 sell (node.venue.side.Side);
order_type 0 GTC limit, 1 IOC, 2 post-only (OrderType); reduce_only 0 or 1
(a bool). size in lots, price in units per lot (node.venue.markets).

Decoding only checks the shape (count, integer types, 64-bit range); every
field's meaning is checked by the kind's handler with its own typed error
(node.venue.errors), so a bad value gets a precise JSON-RPC code. So a
place_order decodes to one of two classes:

- `PlaceOrder`: every code names something; its fields are typed (Side,
  OrderType, bool);
- `MiscodedPlaceOrder`: a side, order type or reduce-only code names
  nothing. It keeps the integers as sent, so the transaction re-encodes
  (and recovers its sender) byte for byte, and its handler rejects it with
  the field's error (InvalidSide, InvalidOrderType, InvalidFlag).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar

from node.encoding import expect_list
from node.tx import register_payload
from node.venue.codec import expect_uint64
from node.venue.side import Side

KIND_PLACE_ORDER = 16
KIND_CANCEL_ORDER = 17
KIND_CANCEL_ALL = 18
KIND_ORACLE_UPDATE = 19

PLACE_ORDER_NAME = "place_order"
PLACE_ORDER_FIELDS = ("market_id", "side", "size", "price", "order_type", "reduce_only", "client_order_id")
FLAG_CODES = (0, 1)


class OrderType(IntEnum):
    """How an order's unfilled rest is treated. The value is its wire code."""

    GTC = 0  # a limit order: the rest rests on the book
    IOC = 1  # immediate or cancel: the rest is cancelled
    POST_ONLY = 2  # rests like GTC, but is rejected if it would take liquidity

    @property
    def rests(self) -> bool:
        """Whether what is left after matching goes on the book."""
        return self is not OrderType.IOC


# Constant names the pinned wire test (tests/stf/test_wire_pins.py, which must not change) imports;
# they are the same values as Side.BUY, Side.SELL and OrderType.IOC, which new code uses.
SIDE_BUY = Side.BUY
SIDE_SELL = Side.SELL
ORDER_IOC = OrderType.IOC


def _uints(fields: list[Any], names: tuple[str, ...], what: str) -> list[int]:
    expect_list(fields, len(names), what)
    return [expect_uint64(value, name) for value, name in zip(fields, names)]


SIDE_BY_CODE = {int(side): side for side in Side}
ORDER_TYPE_BY_CODE = {int(order_type): order_type for order_type in OrderType}


def is_known_side(code: int) -> bool:
    return code in SIDE_BY_CODE


def is_known_order_type(code: int) -> bool:
    return code in ORDER_TYPE_BY_CODE


def is_known_flag(code: int) -> bool:
    return code in FLAG_CODES


def has_known_codes(side: int, order_type: int, reduce_only: int) -> bool:
    return is_known_side(side) and is_known_order_type(order_type) and is_known_flag(reduce_only)


@register_payload
@dataclass(frozen=True, slots=True)
class PlaceOrder:
    KIND: ClassVar[int] = KIND_PLACE_ORDER
    NAME: ClassVar[str] = PLACE_ORDER_NAME
    FIELDS: ClassVar[tuple[str, ...]] = PLACE_ORDER_FIELDS
    market_id: int
    side: Side
    size: int
    price: int
    order_type: OrderType = OrderType.GTC
    reduce_only: bool = False
    client_order_id: int = 0

    def __post_init__(self) -> None:
        """Coded fields given as their integer codes become their types. A code that names nothing is a
        ValueError: such an order is a MiscodedPlaceOrder (`from_codes` picks the class)."""
        if type(self.side) is Side and type(self.order_type) is OrderType and type(self.reduce_only) is bool:
            return  # typed already (every decoded order)
        if not has_known_codes(self.side, self.order_type, self.reduce_only):
            raise ValueError(
                f"side {self.side!r}, order type {self.order_type!r} or reduce-only "
                f"{self.reduce_only!r} names nothing: use PlaceOrder.from_codes (a MiscodedPlaceOrder)"
            )
        object.__setattr__(self, "side", Side(self.side))
        object.__setattr__(self, "order_type", OrderType(self.order_type))
        object.__setattr__(self, "reduce_only", bool(self.reduce_only))

    def to_fields(self) -> list[Any]:
        return [
            self.market_id,
            int(self.side),
            self.size,
            self.price,
            int(self.order_type),
            int(self.reduce_only),
            self.client_order_id,
        ]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> PlaceOrder | MiscodedPlaceOrder:
        return cls.from_codes(*_uints(fields, cls.FIELDS, "place_order payload"))

    @classmethod
    def from_codes(
        cls,
        market_id: int,
        side: int,
        size: int,
        price: int,
        order_type: int = 0,
        reduce_only: int = 0,
        client_order_id: int = 0,
    ) -> PlaceOrder | MiscodedPlaceOrder:
        """The place_order the integer codes stand for: a PlaceOrder, or a MiscodedPlaceOrder when a code
        names nothing."""
        typed_side, typed_order_type = SIDE_BY_CODE.get(side), ORDER_TYPE_BY_CODE.get(order_type)
        if typed_side is None or typed_order_type is None or not is_known_flag(reduce_only):
            return MiscodedPlaceOrder(market_id, side, size, price, order_type, int(reduce_only), client_order_id)
        return cls(market_id, typed_side, size, price, typed_order_type, reduce_only == 1, client_order_id)


@dataclass(frozen=True, slots=True)
class MiscodedPlaceOrder:
    """A place_order (kind 16) whose side, order type or reduce-only code names nothing.

    Not registered with node.tx (kind 16 decodes through PlaceOrder.from_fields); it has its own handler,
    which only ever rejects it (node.venue.orders.validate_miscoded_place_order)."""

    KIND: ClassVar[int] = KIND_PLACE_ORDER
    NAME: ClassVar[str] = PLACE_ORDER_NAME
    market_id: int
    side: int
    size: int
    price: int
    order_type: int = int(OrderType.GTC)
    reduce_only: int = 0
    client_order_id: int = 0

    def __post_init__(self) -> None:
        if has_known_codes(self.side, self.order_type, self.reduce_only):
            raise ValueError("every code of this place_order names something: it is a PlaceOrder")

    def to_fields(self) -> list[Any]:
        return [
            self.market_id,
            self.side,
            self.size,
            self.price,
            self.order_type,
            self.reduce_only,
            self.client_order_id,
        ]


@register_payload
@dataclass(frozen=True, slots=True)
class CancelOrder:
    KIND: ClassVar[int] = KIND_CANCEL_ORDER
    NAME: ClassVar[str] = "cancel_order"
    order_id: int

    def to_fields(self) -> list[Any]:
        return [self.order_id]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> CancelOrder:
        return cls(*_uints(fields, ("order_id",), "cancel_order payload"))


@register_payload
@dataclass(frozen=True, slots=True)
class CancelAll:
    KIND: ClassVar[int] = KIND_CANCEL_ALL
    NAME: ClassVar[str] = "cancel_all"
    market_id: int

    def to_fields(self) -> list[Any]:
        return [self.market_id]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> CancelAll:
        return cls(*_uints(fields, ("market_id",), "cancel_all payload"))


@register_payload
@dataclass(frozen=True, slots=True)
class OracleUpdate:
    KIND: ClassVar[int] = KIND_ORACLE_UPDATE
    NAME: ClassVar[str] = "oracle_update"
    market_id: int
    price: int
    timestamp_ms: int

    def to_fields(self) -> list[Any]:
        return [self.market_id, self.price, self.timestamp_ms]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> OracleUpdate:
        return cls(*_uints(fields, ("market_id", "price", "timestamp_ms"), "oracle_update payload"))
