"""The venue's stored records: frozen values, canonical codecs, and get/set through the overlay.

Every record is a canonical msgpack array (signed or big fields zigzag bytes,
see node.venue.codec). A record equal to its empty value is stored as
absence, so a key is present exactly when it holds something and the state
root does not depend on history.

    MarketState    [oracle_price, oracle_ms, funding_index*, funding_epoch, order_seq,
                    scanned_long*, scanned_short*, pending]
    VenueAccount   [pnl*, floor*, [market ids], [order ids]] (+ [scan_block, scan_rounds, scan_done]
                   while a liquidation scan has marked it: node.venue.liquidation)
    Position       [size*, cost*, funding_index*, bid_lots, ask_lots]
    Order          [owner, side, price, lots, client_id, prev_id, next_id]
    Level          [head_id, tail_id, lots, count]
    TriggerEntry   [size*, trigger*, bucket, prev_address | b"", next_address | b""]
    Bucket         [head_address, tail_address]
    ScanCursor     [[deferred market ids], [] | [market id, side, bucket, address]]
                                                   (* = signed, zigzag bytes)
Meanings: node.venue.ledger (pnl, floor), node.venue.positions (size, cost:
the entry cost basis, entry price = cost / size), node.venue.book (orders,
levels), node.venue.triggers (entries, buckets, scan marks),
node.venue.liquidation (the scan cursor).

Decoding is a pure function of the stored bytes and every record is frozen,
so decoders are memoized on the bytes (DECODE_CACHE_SIZE entries each): an
order reads its account, positions and market state several times, and
most reads repeat values already decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from node.crypto import Address
from node.encoding import DecodeError, expect_int, expect_list, pack, unpack
from node.state.view import Overlay, StateReader
from node.venue.codec import (
    MAX_RECORD_BYTES,
    decode_record,
    decode_sint,
    encode_optional_address,
    encode_sint,
    expect_address,
    expect_flag,
    expect_int_list,
    expect_optional_address,
    expect_uint64,
)
from node.venue.keys import (
    MARKET_ID_MAX,
    SCAN_CURSOR_KEY,
    account_record_key,
    bucket_key,
    level_key,
    market_state_key,
    order_key,
    position_key,
    trigger_entry_key,
)
from node.venue.side import Side


@dataclass(frozen=True, slots=True)
class MarketState:
    oracle_price: int = 0  # 0: never set
    oracle_ms: int = 0
    funding_index: int = 0
    funding_epoch: int = 0  # block timestamp // funding interval at the last funding step
    order_seq: int = 0  # the last order sequence number handed out
    scanned_long: int = 0  # liquidation coordinates at the last scan (node.venue.triggers)
    scanned_short: int = 0
    pending: bool = False  # a trigger fires that no scan has processed yet


@dataclass(frozen=True, slots=True)
class VenueAccount:
    pnl: int = 0  # signed claim on the PnL pool (node.venue.ledger)
    floor: int = 0  # native balance the liquidation triggers rely on (node.venue.margin)
    markets: tuple[int, ...] = ()  # markets holding a position record
    orders: tuple[int, ...] = ()  # resting order ids
    # The liquidation scan's marks, meaningful only in block `scan_block` (node.venue.liquidation):
    scan_block: int = 0
    scan_rounds: int = 0  # liquidation calls on this account in that block
    scan_done: bool = False  # evaluated in that block: skip it until a liquidation trades with it

    def without_scan_marks(self) -> VenueAccount:
        return replace(self, scan_block=0, scan_rounds=0, scan_done=False) if self.scan_block else self


@dataclass(frozen=True, slots=True)
class Position:
    size: int = 0  # lots, long > 0
    cost: int = 0  # entry cost basis in units, same sign as size
    funding_index: int = 0  # the market's index when funding was last settled
    bid_lots: int = 0  # lots resting in buy orders
    ask_lots: int = 0  # lots resting in sell orders


@dataclass(frozen=True, slots=True)
class Order:
    owner: Address
    side: Side
    price: int
    lots: int  # remaining
    client_id: int
    prev_id: int = 0  # FIFO neighbours on the order's level; 0 = none
    next_id: int = 0


@dataclass(frozen=True, slots=True)
class Level:
    head_id: int
    tail_id: int
    lots: int
    count: int


@dataclass(frozen=True, slots=True)
class TriggerEntry:
    size: int  # the position size the trigger was computed for (its sign is the index side)
    trigger: int  # exact liquidation coordinate (node.venue.triggers)
    bucket: int
    prev: Address | None = None
    next: Address | None = None

    @property
    def side(self) -> Side:
        """The half of the liquidation index it is in: BUY for a long, SELL for a short."""
        return Side.of_position(self.size)


@dataclass(frozen=True, slots=True)
class Bucket:
    head: Address
    tail: Address


@dataclass(frozen=True, slots=True)
class ScanWalk:
    """Where a walk over a firing bucket of the liquidation index stopped: the member to go on from."""

    market_id: int
    side: Side
    bucket: int
    member: Address


@dataclass(frozen=True, slots=True)
class ScanCursor:
    """A liquidation scan between two end-of-block chunks of one block (node.venue.liquidation)."""

    deferred: tuple[int, ...] = ()  # markets to mark pending when the scan completes
    walk: ScanWalk | None = None  # the walk the chunk stopped in


MAX_SCAN_ROUNDS = 255
SIDE_CODE_MAX = max(Side)
DECODE_CACHE_SIZE = 1 << 15
EMPTY_MARKET_STATE = MarketState()
EMPTY_ACCOUNT = VenueAccount()
EMPTY_POSITION = Position()


# -- generic store/load --


def _store(overlay: Overlay, key: bytes, value: Any | None, fields: list[Any] | None) -> None:
    if value is None or fields is None:
        overlay.delete(key)
    else:
        overlay.set(key, pack(fields))


# -- market state --


def get_market_state(reader: StateReader, market_id: int) -> MarketState:
    raw = reader.get(market_state_key(market_id))
    return EMPTY_MARKET_STATE if raw is None else decode_market_state(raw)


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_market_state(raw: bytes) -> MarketState:
    v = decode_record(raw, 8, "market state")
    return MarketState(
        expect_uint64(v[0], "oracle_price"),
        expect_uint64(v[1], "oracle_ms"),
        decode_sint(v[2], "funding_index"),
        expect_uint64(v[3], "funding_epoch"),
        expect_uint64(v[4], "order_seq"),
        decode_sint(v[5], "scanned_long"),
        decode_sint(v[6], "scanned_short"),
        expect_flag(v[7], "pending"),
    )


def set_market_state(overlay: Overlay, market_id: int, state: MarketState) -> None:
    fields = [
        state.oracle_price,
        state.oracle_ms,
        encode_sint(state.funding_index),
        state.funding_epoch,
        state.order_seq,
        encode_sint(state.scanned_long),
        encode_sint(state.scanned_short),
        int(state.pending),
    ]
    _store(overlay, market_state_key(market_id), None if state == EMPTY_MARKET_STATE else state, fields)


# -- venue accounts --


def get_venue_account(reader: StateReader, address: bytes) -> VenueAccount:
    raw = reader.get(account_record_key(address))
    return EMPTY_ACCOUNT if raw is None else decode_venue_account(raw)


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_venue_account(raw: bytes) -> VenueAccount:
    v = expect_list(unpack(raw, MAX_RECORD_BYTES), None, "venue account")
    if len(v) not in (4, 5):
        raise DecodeError(f"venue account must have 4 or 5 fields, got {len(v)}")
    account = VenueAccount(
        decode_sint(v[0], "pnl"),
        decode_sint(v[1], "floor"),
        expect_int_list(v[2], "markets", MARKET_ID_MAX),
        expect_int_list(v[3], "orders"),
    )
    if len(v) == 4:
        return account
    marks = expect_list(v[4], 3, "scan marks")
    block = expect_uint64(marks[0], "scan_block")
    if block == 0 or account == EMPTY_ACCOUNT:
        raise DecodeError("scan marks need a block number and an account that holds something")
    return replace(
        account,
        scan_block=block,
        scan_rounds=expect_int(marks[1], "scan_rounds", MAX_SCAN_ROUNDS),
        scan_done=expect_flag(marks[2], "scan_done"),
    )


def set_venue_account(overlay: Overlay, address: bytes, account: VenueAccount) -> None:
    """Store an account; one that holds nothing (scan marks aside) is deleted, marks with it."""
    if not account.markets and account.floor != 0:
        account = replace(account, floor=0)  # the floor only guards positions
    fields: list[Any] = [
        encode_sint(account.pnl),
        encode_sint(account.floor),
        list(account.markets),
        list(account.orders),
    ]
    if account.scan_block:
        fields.append([account.scan_block, account.scan_rounds, int(account.scan_done)])
    empty = account.without_scan_marks() == EMPTY_ACCOUNT
    _store(overlay, account_record_key(address), None if empty else account, fields)


# -- positions --


def get_position(reader: StateReader, address: bytes, market_id: int) -> Position:
    raw = reader.get(position_key(address, market_id))
    return EMPTY_POSITION if raw is None else decode_position(raw)


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_position(raw: bytes) -> Position:
    v = decode_record(raw, 5, "position")
    return Position(
        decode_sint(v[0], "size"),
        decode_sint(v[1], "cost"),
        decode_sint(v[2], "funding_index"),
        expect_uint64(v[3], "bid_lots"),
        expect_uint64(v[4], "ask_lots"),
    )


def set_position(overlay: Overlay, address: bytes, market_id: int, position: Position) -> None:
    """Store a position and keep the account's market list in step with which positions exist."""
    if position.size == 0:
        position = replace(position, cost=0, funding_index=0)
    exists = position != EMPTY_POSITION
    fields = [
        encode_sint(position.size),
        encode_sint(position.cost),
        encode_sint(position.funding_index),
        position.bid_lots,
        position.ask_lots,
    ]
    _store(overlay, position_key(address, market_id), position if exists else None, fields)
    account = get_venue_account(overlay, address)
    listed = market_id in account.markets
    if exists != listed:
        markets = (
            sorted(set(account.markets) | {market_id}) if exists else [m for m in account.markets if m != market_id]
        )
        set_venue_account(overlay, address, replace(account, markets=tuple(markets)))


# -- orders and levels --


def get_order(reader: StateReader, order_id: int) -> Order | None:
    raw = reader.get(order_key(order_id))
    return None if raw is None else decode_order(raw)


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_order(raw: bytes) -> Order:
    v = decode_record(raw, 7, "order")
    return Order(
        expect_address(v[0], "owner"),
        expect_side(v[1], "side"),
        expect_uint64(v[2], "price"),
        expect_uint64(v[3], "lots"),
        expect_uint64(v[4], "client_id"),
        expect_uint64(v[5], "prev_id"),
        expect_uint64(v[6], "next_id"),
    )


def set_order(overlay: Overlay, order_id: int, order: Order | None) -> None:
    fields = (
        None
        if order is None
        else [
            bytes(order.owner),
            int(order.side),
            order.price,
            order.lots,
            order.client_id,
            order.prev_id,
            order.next_id,
        ]
    )
    _store(overlay, order_key(order_id), order, fields)


def get_level(reader: StateReader, market_id: int, side: Side, price_key: int) -> Level | None:
    raw = reader.get(level_key(market_id, side, price_key))
    return None if raw is None else decode_level(raw)


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_level(raw: bytes) -> Level:
    v = decode_record(raw, 4, "book level")
    return Level(
        expect_uint64(v[0], "head_id"),
        expect_uint64(v[1], "tail_id"),
        expect_uint64(v[2], "lots"),
        expect_uint64(v[3], "count"),
    )


def set_level(overlay: Overlay, market_id: int, side: Side, price_key: int, level: Level | None) -> None:
    fields = None if level is None else [level.head_id, level.tail_id, level.lots, level.count]
    _store(overlay, level_key(market_id, side, price_key), level, fields)


# -- liquidation trigger entries and buckets --


def get_trigger_entry(reader: StateReader, market_id: int, address: bytes) -> TriggerEntry | None:
    raw = reader.get(trigger_entry_key(market_id, address))
    return None if raw is None else decode_trigger_entry(raw)


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_trigger_entry(raw: bytes) -> TriggerEntry:
    v = decode_record(raw, 5, "trigger entry")
    return TriggerEntry(
        decode_sint(v[0], "size"),
        decode_sint(v[1], "trigger"),
        expect_uint64(v[2], "bucket"),
        expect_optional_address(v[3], "prev"),
        expect_optional_address(v[4], "next"),
    )


def set_trigger_entry(overlay: Overlay, market_id: int, address: bytes, entry: TriggerEntry | None) -> None:
    fields = (
        None
        if entry is None
        else [
            encode_sint(entry.size),
            encode_sint(entry.trigger),
            entry.bucket,
            encode_optional_address(entry.prev),
            encode_optional_address(entry.next),
        ]
    )
    _store(overlay, trigger_entry_key(market_id, address), entry, fields)


def get_bucket(reader: StateReader, market_id: int, side: Side, bucket: int) -> Bucket | None:
    raw = reader.get(bucket_key(market_id, side, bucket))
    return None if raw is None else decode_bucket(raw)


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_bucket(raw: bytes) -> Bucket:
    v = decode_record(raw, 2, "trigger bucket")
    return Bucket(expect_address(v[0], "head"), expect_address(v[1], "tail"))


def set_bucket(overlay: Overlay, market_id: int, side: Side, bucket: int, value: Bucket | None) -> None:
    fields = None if value is None else [bytes(value.head), bytes(value.tail)]
    _store(overlay, bucket_key(market_id, side, bucket), value, fields)


# -- scan cursor --


def get_scan_cursor(reader: StateReader) -> ScanCursor | None:
    raw = reader.get(SCAN_CURSOR_KEY)
    if raw is None:
        return None
    v = decode_record(raw, 2, "scan cursor")
    deferred = expect_int_list(v[0], "deferred markets", MARKET_ID_MAX)
    return ScanCursor(deferred, decode_walk(expect_list(v[1], None, "scan walk")))


def decode_walk(walk: list[Any]) -> ScanWalk | None:
    if not walk:
        return None
    if len(walk) != 4:
        raise DecodeError("a scan walk is [market id, side, bucket, address]")
    return ScanWalk(
        expect_int(walk[0], "walk market", MARKET_ID_MAX),
        expect_side(walk[1], "side"),
        expect_uint64(walk[2], "walk bucket"),
        expect_address(walk[3], "walk member"),
    )


def set_scan_cursor(overlay: Overlay, cursor: ScanCursor | None) -> None:
    if cursor is None:
        overlay.delete(SCAN_CURSOR_KEY)
        return
    overlay.set(SCAN_CURSOR_KEY, pack([sorted(cursor.deferred), encode_walk(cursor.walk)]))


def encode_walk(walk: ScanWalk | None) -> list[Any]:
    return [] if walk is None else [walk.market_id, int(walk.side), walk.bucket, bytes(walk.member)]


def expect_side(value: Any, what: str) -> Side:
    return Side(expect_int(value, what, SIDE_CODE_MAX))
