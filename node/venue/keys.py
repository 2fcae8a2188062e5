"""The venue's key layout under the state root (namespaces 0x10-0x18, see node.state.schema).

| key                                                   | value (canonical msgpack; node.venue.records)      |
|-------------------------------------------------------|-----------------------------------------------------|
| 0x10                                                  | venue config: oracle key, insurance fund, market ids |
| 0x11 mid(2)                                           | MarketParams                                        |
| 0x12 mid(2)                                           | MarketState (oracle, funding, order seq, scan marks) |
| 0x13 mid(2) side(1) 0x00 price_key(6)                 | book level: FIFO head/tail order ids, lots, count   |
| 0x13 mid(2) side(1) 0x01 depth(1) prefix(depth)       | book level trie node: 256-bit bitmap                |
| 0x14 order_id(8)                                      | resting order (owner, side, price, lots, FIFO links) |
| 0x15 address(20)                                      | venue account: PnL claim, reserve floor, markets, orders |
| 0x16 address(20) mid(2)                               | position: size, cost, funding index, resting lots   |
| 0x17 mid(2) side(1) 0x00 bucket(3)                    | trigger bucket: FIFO head/tail addresses            |
| 0x17 mid(2) side(1) 0x01 depth(1) prefix(depth)       | trigger bucket trie node: 256-bit bitmap            |
| 0x17 mid(2) 0x02 address(20)                          | trigger entry: side, exact trigger, bucket, FIFO links |
| 0x18                                                  | scan cursor, only between two end-of-block chunks of a block |

`mid` is the market id (big-endian u16); `side` is the Side code
(node.venue.side): 0 BUY for bids and longs, 1 SELL for asks and shorts. A
book level's `price_key` is price // tick_size (big-endian, 6 bytes). A
trigger `bucket` is the quantized liquidation coordinate
(node.venue.triggers). Order ids are (market id << 48) | seq, so an order's
key also names its market.

The PnL pool, which pays realized profit and receives realized loss, is a
plain native account at POOL_ADDRESS: keccak256("rollup-devnet venue pnl
pool")[12:], an address nobody holds a key for.
"""

from __future__ import annotations

from node.crypto import ADDRESS_LEN, Address, keccak256
from node.venue.side import Side

NS_CONFIG = 0x10
NS_MARKET = 0x11
NS_MARKET_STATE = 0x12
NS_BOOK = 0x13
NS_ORDER = 0x14
NS_ACCOUNT = 0x15
NS_POSITION = 0x16
NS_TRIGGER = 0x17
NS_SCAN = 0x18

TAG_BUCKET = 0x00
TAG_TRIE = 0x01
TAG_ENTRY = 0x02

MARKET_ID_MAX = 0xFFFF
ORDER_SEQ_BITS = 48
ORDER_SEQ_MAX = (1 << ORDER_SEQ_BITS) - 1
PRICE_KEY_WIDTH = 6
BUCKET_KEY_WIDTH = 3

CONFIG_KEY = bytes([NS_CONFIG])
SCAN_CURSOR_KEY = bytes([NS_SCAN])
POOL_ADDRESS = Address(keccak256(b"rollup-devnet venue pnl pool")[12:])


_MARKET = bytes([NS_MARKET])
_MARKET_STATE = bytes([NS_MARKET_STATE])
_BOOK = bytes([NS_BOOK])
_ORDER = bytes([NS_ORDER])
_ACCOUNT = bytes([NS_ACCOUNT])
_POSITION = bytes([NS_POSITION])
_TRIGGER = bytes([NS_TRIGGER])
_SIDES = tuple(bytes([side]) for side in Side)
_BUCKET_TAG = bytes([TAG_BUCKET])
_ENTRY_TAG = bytes([TAG_ENTRY])


def _mid(market_id: int) -> bytes:
    if not 0 <= market_id <= MARKET_ID_MAX:
        raise ValueError(f"market id {market_id} is outside [0, {MARKET_ID_MAX}]")
    return market_id.to_bytes(2, "big")


def _address(address: bytes) -> bytes:
    if len(address) != ADDRESS_LEN:
        raise ValueError(f"address must be {ADDRESS_LEN} bytes, got {len(address)}")
    return bytes(address)


def _side(side: int) -> bytes:
    return _SIDES[side] if side == 0 or side == 1 else bytes([side])


def market_key(market_id: int) -> bytes:
    return _MARKET + _mid(market_id)


def market_state_key(market_id: int) -> bytes:
    if not 0 <= market_id <= MARKET_ID_MAX:
        _mid(market_id)
    return _MARKET_STATE + market_id.to_bytes(2, "big")


def book_scope(market_id: int, side: Side) -> bytes:
    return _BOOK + _mid(market_id) + _side(side)


def trigger_scope(market_id: int, side: Side) -> bytes:
    return _TRIGGER + _mid(market_id) + _side(side)


def level_key(market_id: int, side: Side, price_key: int) -> bytes:
    return book_scope(market_id, side) + _BUCKET_TAG + price_key.to_bytes(PRICE_KEY_WIDTH, "big")


def bucket_key(market_id: int, side: Side, bucket: int) -> bytes:
    return trigger_scope(market_id, side) + _BUCKET_TAG + bucket.to_bytes(BUCKET_KEY_WIDTH, "big")


def trigger_entry_key(market_id: int, address: bytes) -> bytes:
    if len(address) != ADDRESS_LEN or not 0 <= market_id <= MARKET_ID_MAX:
        _address(address)
        _mid(market_id)
    return _TRIGGER + market_id.to_bytes(2, "big") + _ENTRY_TAG + address


def order_key(order_id: int) -> bytes:
    return _ORDER + order_id.to_bytes(8, "big")


def account_record_key(address: bytes) -> bytes:
    if len(address) != ADDRESS_LEN:
        _address(address)
    return _ACCOUNT + address


def position_key(address: bytes, market_id: int) -> bytes:
    if len(address) != ADDRESS_LEN or not 0 <= market_id <= MARKET_ID_MAX:
        _address(address)
        _mid(market_id)
    return _POSITION + address + market_id.to_bytes(2, "big")


def compute_order_id(market_id: int, seq: int) -> int:
    if not 1 <= seq <= ORDER_SEQ_MAX:
        raise ValueError(f"order sequence {seq} is outside [1, {ORDER_SEQ_MAX}]")
    return (_checked_market(market_id) << ORDER_SEQ_BITS) | seq


def get_order_market(order_id: int) -> int:
    return order_id >> ORDER_SEQ_BITS


def _checked_market(market_id: int) -> int:
    _mid(market_id)
    return market_id
