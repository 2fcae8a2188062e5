"""Typed errors of the venue's transactions, each with its own JSON-RPC code (-31070..-31099).

The venue's block lies outside JSON-RPC's reserved -32768..-32000, so no
venue code shares a number with another process's code (node.error_codes).
Until issue 11 these were -32070..-32090 (same last two digits), which the
L1's dispute receipts also use.

    InvalidTransaction (node.stf.errors)
    └── VenueError                 -31070  base class (never raised itself)
        ├── UnknownMarket          -31071  no market with that id
        ├── InvalidSide            -31072  side is not 0 (buy) or 1 (sell)
        ├── InvalidOrderType       -31073  type is not 0 (GTC), 1 (IOC) or 2 (post-only)
        ├── InvalidSize            -31074  size is 0 or above the limit
        ├── InvalidPrice           -31075  price is 0, above the limit or off the tick
        ├── InvalidFlag            -31076  reduce_only is not 0 or 1
        ├── ReduceOnlyRejected     -31077  reduce-only with a resting type, or with nothing to reduce
        ├── PostOnlyWouldCross     -31078  a post-only order would take liquidity
        ├── InsufficientMargin     -31079  the order leaves the account below its margin requirement
        ├── UnknownOrder           -31080  no resting order with that id
        ├── NotOrderOwner          -31081  the order belongs to another account
        ├── TooManyOpenOrders      -31082  the account's resting-order limit is reached
        ├── TooManyMarkets         -31083  the account's market limit is reached
        ├── NotOracle              -31084  an oracle update not signed by the designated oracle key
        ├── StaleOraclePrice       -31085  the update's timestamp is not newer than the stored one
        ├── OracleTimestampInFuture -31086 the update's timestamp is ahead of the block's by too much
        ├── OraclePriceOutOfBand   -31087  the price moves more than the market's band from the last one
        ├── OraclePriceNotSet      -31088  the market has no oracle price yet: no trading
        ├── WithdrawalBreaksMargin -31089  a transfer/withdrawal would break initial margin or the
        │                                  liquidation reserve (see node.venue.margin)
        └── VenueNotConfigured     -31090  the state holds no venue (genesis without markets)

Every error pickles (StfError's __reduce__) and its message names the values.
"""

from __future__ import annotations

from node.crypto import to_checksum_address
from node.stf.errors import InvalidTransaction


class VenueError(InvalidTransaction):
    rpc_code = -31070


class UnknownMarket(VenueError):
    rpc_code = -31071

    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        super().__init__(f"unknown market {market_id}")


class InvalidSide(VenueError):
    rpc_code = -31072

    def __init__(self, side: int) -> None:
        self.side = side
        super().__init__(f"invalid side {side}: 0 is buy, 1 is sell")


class InvalidOrderType(VenueError):
    rpc_code = -31073

    def __init__(self, order_type: int) -> None:
        self.order_type = order_type
        super().__init__(f"invalid order type {order_type}: 0 is GTC limit, 1 is IOC, 2 is post-only")


class InvalidSize(VenueError):
    rpc_code = -31074

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"invalid size {size}: an order is 1..{limit} lots")


class InvalidPrice(VenueError):
    rpc_code = -31075

    def __init__(self, price: int, reason: str) -> None:
        self.price = price
        super().__init__(f"invalid price {price}: {reason}")


class InvalidFlag(VenueError):
    rpc_code = -31076

    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value
        super().__init__(f"invalid {name} flag {value}: must be 0 or 1")


class ReduceOnlyRejected(VenueError):
    rpc_code = -31077

    def __init__(self, reason: str) -> None:
        super().__init__(f"reduce-only order rejected: {reason}")


class PostOnlyWouldCross(VenueError):
    rpc_code = -31078

    def __init__(self, price: int, best: int) -> None:
        self.price, self.best = price, best
        super().__init__(f"post-only order at {price} would cross the best opposite price {best}")


class InsufficientMargin(VenueError):
    rpc_code = -31079

    def __init__(self, address: bytes, equity: int, required: int, kind: str) -> None:
        self.address, self.equity, self.required, self.kind = address, equity, required, kind
        super().__init__(
            f"insufficient margin: account {to_checksum_address(address)} would have equity {equity}, "
            f"{kind} margin requires {required}"
        )


class UnknownOrder(VenueError):
    rpc_code = -31080

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id
        super().__init__(f"unknown order {order_id}: not resting on any book")


class NotOrderOwner(VenueError):
    rpc_code = -31081

    def __init__(self, order_id: int, owner: bytes) -> None:
        self.order_id, self.owner = order_id, owner
        super().__init__(f"order {order_id} belongs to {to_checksum_address(owner)}")


class TooManyOpenOrders(VenueError):
    rpc_code = -31082

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"too many open orders: an account may rest at most {limit}")


class TooManyMarkets(VenueError):
    rpc_code = -31083

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"too many markets: an account may hold positions or orders in at most {limit}")


class NotOracle(VenueError):
    rpc_code = -31084

    def __init__(self, sender: bytes) -> None:
        self.sender = sender
        super().__init__(f"{to_checksum_address(sender)} is not the venue's oracle key")


class StaleOraclePrice(VenueError):
    rpc_code = -31085

    def __init__(self, stored_ms: int, got_ms: int) -> None:
        self.stored_ms, self.got_ms = stored_ms, got_ms
        super().__init__(f"stale oracle price: timestamp {got_ms} is not newer than the stored {stored_ms}")


class OracleTimestampInFuture(VenueError):
    rpc_code = -31086

    def __init__(self, block_ms: int, got_ms: int, allowance_ms: int) -> None:
        self.block_ms, self.got_ms = block_ms, got_ms
        super().__init__(f"oracle timestamp {got_ms} is more than {allowance_ms} ms after the block's {block_ms}")


class OraclePriceOutOfBand(VenueError):
    rpc_code = -31087

    def __init__(self, last: int, price: int, band_bps: int) -> None:
        self.last, self.price, self.band_bps = last, price, band_bps
        super().__init__(f"oracle price {price} moves more than {band_bps} bps from the last price {last}")


class OraclePriceNotSet(VenueError):
    rpc_code = -31088

    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        super().__init__(f"market {market_id} has no oracle price yet")


class WithdrawalBreaksMargin(VenueError):
    rpc_code = -31089

    def __init__(self, address: bytes, amount: int, reason: str) -> None:
        self.address, self.amount = address, amount
        super().__init__(f"moving {amount} out of {to_checksum_address(address)} is not allowed: {reason}")


class VenueNotConfigured(VenueError):
    rpc_code = -31090

    def __init__(self) -> None:
        super().__init__("the venue is not configured in this chain's genesis")
