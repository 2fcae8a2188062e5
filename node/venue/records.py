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
most reads repeat values already decoded. Reads and writes go through
node.venue.record_cache: inside a transaction's RecordOverlay a record is
decoded at its first read and encoded once, when the transaction ends; each setter normalises its record
first (`compute_stored_account`, a closed position's zero cost), so what is
cached equals what reading the stored bytes back gives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from node.crypto import Address
from node.encoding import DecodeError, expect_int, expect_list, pack, unpack
from node.state.schema import ACCOUNTS, Account, decode_account
from node.state.schema import EMPTY_ACCOUNT as EMPTY_NATIVE_ACCOUNT
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
from node.venue.record_cache import load_record, store_record
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

    def with_order_seq(self, order_seq: int) -> MarketState:
        return MarketState(
            self.oracle_price,
            self.oracle_ms,
            self.funding_index,
            self.funding_epoch,
            order_seq,
            self.scanned_long,
            self.scanned_short,
            self.pending,
        )


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
        return VenueAccount(self.pnl, self.floor, self.markets, self.orders) if self.scan_block else self

    # Copies with some fields changed (cheaper than dataclasses.replace on the hot path):

    def with_pnl(self, pnl: int) -> VenueAccount:
        return VenueAccount(
            pnl, self.floor, self.markets, self.orders, self.scan_block, self.scan_rounds, self.scan_done
        )

    def with_floor(self, floor: int) -> VenueAccount:
        return VenueAccount(
            self.pnl, floor, self.markets, self.orders, self.scan_block, self.scan_rounds, self.scan_done
        )

    def with_pnl_floor(self, pnl: int, floor: int) -> VenueAccount:
        return VenueAccount(pnl, floor, self.markets, self.orders, self.scan_block, self.scan_rounds, self.scan_done)

    def with_markets(self, markets: tuple[int, ...]) -> VenueAccount:
        return VenueAccount(
            self.pnl, self.floor, markets, self.orders, self.scan_block, self.scan_rounds, self.scan_done
        )

    def with_orders(self, orders: tuple[int, ...]) -> VenueAccount:
        return VenueAccount(
            self.pnl, self.floor, self.markets, orders, self.scan_block, self.scan_rounds, self.scan_done
        )


@dataclass(frozen=True, slots=True)
class Position:
    size: int = 0  # lots, long > 0
    cost: int = 0  # entry cost basis in units, same sign as size
    funding_index: int = 0  # the market's index when funding was last settled
    bid_lots: int = 0  # lots resting in buy orders
    ask_lots: int = 0  # lots resting in sell orders

    def with_funding_index(self, funding_index: int) -> Position:
        return Position(self.size, self.cost, funding_index, self.bid_lots, self.ask_lots)

    def with_trade(self, size: int, cost: int, funding_index: int) -> Position:
        return Position(size, cost, funding_index, self.bid_lots, self.ask_lots)

    def with_resting(self, bid_lots: int, ask_lots: int) -> Position:
        return Position(self.size, self.cost, self.funding_index, bid_lots, ask_lots)


@dataclass(frozen=True, slots=True)
class Order:
    owner: Address
    side: Side
    price: int
    lots: int  # remaining
    client_id: int
    prev_id: int = 0  # FIFO neighbours on the order's level; 0 = none
    next_id: int = 0

    def with_lots(self, lots: int) -> Order:
        return Order(self.owner, self.side, self.price, lots, self.client_id, self.prev_id, self.next_id)

    def with_links(self, prev_id: int, next_id: int) -> Order:
        return Order(self.owner, self.side, self.price, self.lots, self.client_id, prev_id, next_id)


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

    def with_prev(self, prev: Address | None) -> TriggerEntry:
        return TriggerEntry(self.size, self.trigger, self.bucket, prev, self.next)

    def with_next(self, next_: Address | None) -> TriggerEntry:
        return TriggerEntry(self.size, self.trigger, self.bucket, self.prev, next_)

    def with_trigger(self, size: int, trigger: int) -> TriggerEntry:
        return TriggerEntry(size, trigger, self.bucket, self.prev, self.next)


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


# -- native balances (node.state.schema's account records, read through the record cache) --


def get_balance(reader: StateReader, address: bytes) -> int:
    """The account's native balance (0 for an absent account)."""
    account: Account = load_record(reader, ACCOUNTS.key(address), decode_account, EMPTY_NATIVE_ACCOUNT)
    return account.balance


# -- market state --


def get_market_state(reader: StateReader, market_id: int) -> MarketState:
    state: MarketState = load_record(reader, market_state_key(market_id), decode_market_state, EMPTY_MARKET_STATE)
    return state


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


def encode_market_state(state: MarketState) -> bytes | None:
    if state == EMPTY_MARKET_STATE:
        return None
    return pack(
        [
            state.oracle_price,
            state.oracle_ms,
            encode_sint(state.funding_index),
            state.funding_epoch,
            state.order_seq,
            encode_sint(state.scanned_long),
            encode_sint(state.scanned_short),
            int(state.pending),
        ]
    )


def set_market_state(overlay: Overlay, market_id: int, state: MarketState) -> None:
    store_record(overlay, market_state_key(market_id), state, encode_market_state)


# -- venue accounts --


def get_venue_account(reader: StateReader, address: bytes) -> VenueAccount:
    account: VenueAccount = load_record(reader, account_record_key(address), decode_venue_account, EMPTY_ACCOUNT)
    return account


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


def compute_stored_account(account: VenueAccount) -> VenueAccount:
    """The account as storing it keeps it: no floor without positions, no marks without a block, and one that
    holds nothing (scan marks aside) is the empty account (stored as absence)."""
    if not account.markets and account.floor != 0:
        account = account.with_floor(0)  # the floor only guards positions
    if not account.scan_block and (account.scan_rounds or account.scan_done):
        account = account.without_scan_marks()
    if account.pnl == 0 and account.floor == 0 and not account.markets and not account.orders:
        return EMPTY_ACCOUNT
    return account


def encode_venue_account(account: VenueAccount) -> bytes | None:
    """The stored bytes of a `compute_stored_account` result (None: absent)."""
    if account is EMPTY_ACCOUNT or account == EMPTY_ACCOUNT:
        return None
    fields: list[Any] = [
        encode_sint(account.pnl),
        encode_sint(account.floor),
        list(account.markets),
        list(account.orders),
    ]
    if account.scan_block:
        fields.append([account.scan_block, account.scan_rounds, int(account.scan_done)])
    return pack(fields)


def set_venue_account(overlay: Overlay, address: bytes, account: VenueAccount) -> None:
    """Store an account; one that holds nothing (scan marks aside) is deleted, marks with it."""
    store_record(overlay, account_record_key(address), compute_stored_account(account), encode_venue_account)


# -- positions --


def get_position(reader: StateReader, address: bytes, market_id: int) -> Position:
    position: Position = load_record(reader, position_key(address, market_id), decode_position, EMPTY_POSITION)
    return position


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


def encode_position(position: Position) -> bytes | None:
    if position == EMPTY_POSITION:
        return None
    return pack(
        [
            encode_sint(position.size),
            encode_sint(position.cost),
            encode_sint(position.funding_index),
            position.bid_lots,
            position.ask_lots,
        ]
    )


def set_position(overlay: Overlay, address: bytes, market_id: int, position: Position) -> None:
    """Store a position and keep the account's market list in step with which positions exist."""
    if position.size == 0 and (position.cost or position.funding_index):
        position = Position(0, 0, 0, position.bid_lots, position.ask_lots)
    exists = position != EMPTY_POSITION
    store_record(overlay, position_key(address, market_id), position if exists else EMPTY_POSITION, encode_position)
    account = get_venue_account(overlay, address)
    listed = market_id in account.markets
    if exists != listed:
        markets = (
            sorted(set(account.markets) | {market_id}) if exists else [m for m in account.markets if m != market_id]
        )
        set_venue_account(overlay, address, account.with_markets(tuple(markets)))


# -- orders and levels --


def get_order(reader: StateReader, order_id: int) -> Order | None:
    order: Order | None = load_record(reader, order_key(order_id), decode_order, None)
    return order


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


def encode_order(order: Order | None) -> bytes | None:
    if order is None:
        return None
    return pack(
        [
            bytes(order.owner),
            int(order.side),
            order.price,
            order.lots,
            order.client_id,
            order.prev_id,
            order.next_id,
        ]
    )


def set_order(overlay: Overlay, order_id: int, order: Order | None) -> None:
    store_record(overlay, order_key(order_id), order, encode_order)


def get_level(reader: StateReader, market_id: int, side: Side, price_key: int) -> Level | None:
    level: Level | None = load_record(reader, level_key(market_id, side, price_key), decode_level, None)
    return level


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_level(raw: bytes) -> Level:
    v = decode_record(raw, 4, "book level")
    return Level(
        expect_uint64(v[0], "head_id"),
        expect_uint64(v[1], "tail_id"),
        expect_uint64(v[2], "lots"),
        expect_uint64(v[3], "count"),
    )


def encode_level(level: Level | None) -> bytes | None:
    return None if level is None else pack([level.head_id, level.tail_id, level.lots, level.count])


def set_level(overlay: Overlay, market_id: int, side: Side, price_key: int, level: Level | None) -> None:
    store_record(overlay, level_key(market_id, side, price_key), level, encode_level)


# -- liquidation trigger entries and buckets --


def get_trigger_entry(reader: StateReader, market_id: int, address: bytes) -> TriggerEntry | None:
    entry: TriggerEntry | None = load_record(reader, trigger_entry_key(market_id, address), decode_trigger_entry, None)
    return entry


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


def encode_trigger_entry(entry: TriggerEntry | None) -> bytes | None:
    if entry is None:
        return None
    return pack(
        [
            encode_sint(entry.size),
            encode_sint(entry.trigger),
            entry.bucket,
            encode_optional_address(entry.prev),
            encode_optional_address(entry.next),
        ]
    )


def set_trigger_entry(overlay: Overlay, market_id: int, address: bytes, entry: TriggerEntry | None) -> None:
    store_record(overlay, trigger_entry_key(market_id, address), entry, encode_trigger_entry)


def get_bucket(reader: StateReader, market_id: int, side: Side, bucket: int) -> Bucket | None:
    value: Bucket | None = load_record(reader, bucket_key(market_id, side, bucket), decode_bucket, None)
    return value


@lru_cache(maxsize=DECODE_CACHE_SIZE)
def decode_bucket(raw: bytes) -> Bucket:
    v = decode_record(raw, 2, "trigger bucket")
    return Bucket(expect_address(v[0], "head"), expect_address(v[1], "tail"))


def encode_bucket(value: Bucket | None) -> bytes | None:
    return None if value is None else pack([bytes(value.head), bytes(value.tail)])


def set_bucket(overlay: Overlay, market_id: int, side: Side, bucket: int, value: Bucket | None) -> None:
    store_record(overlay, bucket_key(market_id, side, bucket), value, encode_bucket)


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
