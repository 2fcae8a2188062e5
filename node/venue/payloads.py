"""The venue's transaction payloads (kinds 16-19) and their wire fields.

    signed tx = [kind, chain_id, nonce, fee, *fields, signature]      (node.tx)

| kind | name          | fields (all msgpack unsigned ints < 2^64)                               |
|------|---------------|--------------------------------------------------------------------------|
| 16   | place_order   | market_id, side, size, price, order_type, reduce_only, client_order_id   |
| 17   | cancel_order  | order_id                                                                 |
| 18   | cancel_all    | market_id                                                                |
| 19   | oracle_update | market_id, price, timestamp_ms                                           |

side: 0 buy, 1 sell. order_type: 0 GTC limit, 1 IOC, 2 post-only.
reduce_only: 0 or 1. size in lots, price in units per lot (node.venue.markets).
Decoding only checks the shape (count, integer types, 64-bit range); every
field's meaning is checked by the kind's handler with its own typed error
(node.venue.errors), so a bad value gets a precise JSON-RPC code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from node.encoding import expect_list
from node.tx import register_payload
from node.venue.codec import expect_uint64

KIND_PLACE_ORDER = 16
KIND_CANCEL_ORDER = 17
KIND_CANCEL_ALL = 18
KIND_ORACLE_UPDATE = 19

SIDE_BUY = 0
SIDE_SELL = 1
ORDER_GTC = 0
ORDER_IOC = 1
ORDER_POST_ONLY = 2


def _uints(fields: list[Any], names: tuple[str, ...], what: str) -> list[int]:
    expect_list(fields, len(names), what)
    return [expect_uint64(value, name) for value, name in zip(fields, names)]


@register_payload
@dataclass(frozen=True, slots=True)
class PlaceOrder:
    KIND: ClassVar[int] = KIND_PLACE_ORDER
    NAME: ClassVar[str] = "place_order"
    FIELDS: ClassVar[tuple[str, ...]] = ("market_id", "side", "size", "price", "order_type", "reduce_only", "client_order_id")
    market_id: int
    side: int
    size: int
    price: int
    order_type: int = ORDER_GTC
    reduce_only: int = 0
    client_order_id: int = 0

    def to_fields(self) -> list[Any]:
        return [self.market_id, self.side, self.size, self.price, self.order_type, self.reduce_only, self.client_order_id]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "PlaceOrder":
        return cls(*_uints(fields, cls.FIELDS, "place_order payload"))


@register_payload
@dataclass(frozen=True, slots=True)
class CancelOrder:
    KIND: ClassVar[int] = KIND_CANCEL_ORDER
    NAME: ClassVar[str] = "cancel_order"
    order_id: int

    def to_fields(self) -> list[Any]:
        return [self.order_id]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "CancelOrder":
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
    def from_fields(cls, fields: list[Any]) -> "CancelAll":
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
    def from_fields(cls, fields: list[Any]) -> "OracleUpdate":
        return cls(*_uints(fields, ("market_id", "price", "timestamp_ms"), "oracle_update payload"))
