"""Shared builders for the venue tests: markets, keys, a small in-memory venue and the conservation identity.

Importing this module imports node.venue, which registers the venue's kinds
and end-of-block hook process-wide (tests only; the lead wires it into the
processes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import node.venue  # noqa: F401  (registers the venue)
from node.crypto import Address, PrivateKey
from node.state.schema import Account, decode_account, get_account, is_account_key, set_account, set_supply
from node.state.view import DictState, Overlay
from node.stf import BlockContext, ChainConfig, Receipt, apply_transaction, recover_transaction
from node.stf.end_of_block import apply_end_of_block
from node.tx import RecoveredTx, sign_tx
from node.venue.codec import decode_record, decode_sint
from node.venue.keys import NS_ACCOUNT, NS_POSITION, POOL_ADDRESS
from node.venue.markets import MarketParams, genesis_writes
from node.venue.payloads import OracleUpdate
from node.venue.records import decode_venue_account, get_market_state, get_position, get_venue_account
from node.venue.side import Side

CHAIN_ID = 901
FEE = 1
ORACLE_KEY = PrivateKey((100).to_bytes(32, "big"))
KEYS = [PrivateKey((200 + i).to_bytes(32, "big")) for i in range(8)]
A, B, C, D, E, F_, G, H = (k.address for k in KEYS)
FUND = Address(b"\xf0" * 20)
FEE_RECIPIENT = Address(b"\xfe" * 20)
CONFIG = ChainConfig(chain_id=CHAIN_ID, fee_recipient=FEE_RECIPIENT, min_fee=FEE, max_block_txs=64)

BTC = MarketParams(
    market_id=0,
    symbol="BTC-PERP",
    tick_size=1,
    lot_size=1000,
    initial_margin_bps=1000,
    maintenance_margin_bps=500,
    max_leverage=10,
    funding_interval_ms=60_000,
    funding_cap_bps=100,
    liquidation_fee_bps=100,
    maker_fee_bps=0,
    taker_fee_bps=0,
    oracle_band_bps=2000,
)
ETH = MarketParams(
    market_id=1,
    symbol="ETH-PERP",
    tick_size=5,
    lot_size=10_000,
    initial_margin_bps=2000,
    maintenance_margin_bps=1000,
    max_leverage=5,
    funding_interval_ms=60_000,
    funding_cap_bps=50,
    liquidation_fee_bps=200,
    maker_fee_bps=10,
    taker_fee_bps=20,
    oracle_band_bps=1000,
)
MARKETS = (BTC, ETH)
START_MS = 1_700_000_000_000


def key_of(address: bytes) -> PrivateKey:
    for key in [ORACLE_KEY, *KEYS]:
        if key.address == address:
            return key
    raise KeyError(address)


@dataclass
class Venue:
    """A venue over a DictState: transactions applied one by one, blocks closed with the end-of-block hook."""

    state: DictState
    config: ChainConfig = CONFIG
    number: int = 1
    timestamp_ms: int = START_MS
    nonces: dict[bytes, int] = field(default_factory=dict)
    oracle_ms: int = START_MS

    @property
    def ctx(self) -> BlockContext:
        return BlockContext(self.number, self.timestamp_ms, 0)

    def rtx(self, key: PrivateKey, payload: Any, fee: int = FEE) -> RecoveredTx:
        nonce = self.nonces.get(key.address, 0)
        return recover_transaction(sign_tx(key, CHAIN_ID, nonce, fee, payload).encode())

    def send(self, key: PrivateKey, payload: Any, fee: int = FEE) -> Receipt:
        """Apply one transaction and commit it; raises the InvalidTransaction (state untouched)."""
        rtx = self.rtx(key, payload, fee)
        overlay = Overlay(self.state)
        receipt = apply_transaction(overlay, self.config, self.ctx, rtx)
        self.state.apply(overlay.writes)
        self.nonces[key.address] = self.nonces.get(key.address, 0) + 1
        return receipt

    def run(self, fn: Any, *args: Any) -> Any:
        """Run a process_* function over an overlay and commit it."""
        overlay = Overlay(self.state)
        result = fn(overlay, *args)
        self.state.apply(overlay.writes)
        return result

    def set_price(self, market_id: int, price: int) -> Receipt:
        self.oracle_ms += 1
        return self.send(ORACLE_KEY, OracleUpdate(market_id, price, self.oracle_ms))

    def end_block(self, advance_ms: int = 1_000) -> dict[bytes, bytes | None]:
        overlay = Overlay(self.state)
        apply_end_of_block(overlay, self.config, self.ctx)
        self.state.apply(overlay.writes)
        self.number += 1
        self.timestamp_ms += advance_ms
        return overlay.writes

    # -- reads --

    def balance(self, address: bytes) -> int:
        return get_account(self.state, address).balance

    def position(self, address: bytes, market_id: int = 0) -> tuple[int, int]:
        p = get_position(self.state, address, market_id)
        return p.size, p.cost

    def pnl(self, address: bytes) -> int:
        return get_venue_account(self.state, address).pnl

    def oracle(self, market_id: int = 0) -> int:
        return get_market_state(self.state, market_id).oracle_price


def new_venue(
    balances: dict[bytes, int], markets: Iterable[MarketParams] = MARKETS, prices: dict[int, int] | None = None
) -> Venue:
    state = DictState(genesis_writes(tuple(markets), ORACLE_KEY.address, FUND))
    overlay = Overlay(state)
    all_balances = {ORACLE_KEY.address: 10_000, **balances}
    for address, balance in all_balances.items():
        set_account(overlay, address, Account(balance, 0))
    set_supply(overlay, sum(all_balances.values()))
    state.apply(overlay.writes)
    venue = Venue(state)
    for market_id, price in (prices or {}).items():
        venue.set_price(market_id, price)
    return venue


def compute_books(state: DictState) -> tuple[int, int]:
    """(sum of native balances, pool balance - claims): the second is 0 when the venue's books balance.

    claims = sum(pnl) + sum over positions (size x funding_index - cost), see node.venue.ledger.
    """
    total = pool = claims = 0
    for key, value in state.items.items():
        if is_account_key(key):
            balance = decode_account(value).balance
            total += balance
            if key[1:] == POOL_ADDRESS:
                pool = balance
        elif key[0] == NS_ACCOUNT:
            claims += decode_venue_account(value).pnl
        elif key[0] == NS_POSITION:
            fields = decode_record(value, 5, "position")
            size, cost, index = (decode_sint(fields[i], "f") for i in range(3))
            claims += size * index - cost
    return total, pool - claims


def compute_open_interest(state: DictState, market_id: int) -> int:
    """Sum of signed sizes in a market: always 0."""
    total = 0
    for key, value in state.items.items():
        if key[0] == NS_POSITION and int.from_bytes(key[21:23], "big") == market_id:
            total += decode_sint(decode_record(value, 5, "position")[0], "size")
    return total


def get_book(state: DictState, market_id: int, side: Side) -> list[tuple[int, list[tuple[bytes, int]]]]:
    """The side's levels from the best: [(price, [(owner, lots), ...in FIFO order]), ...]."""
    from node.venue.book import get_best_price, get_level_at, get_next_price
    from node.venue.markets import get_market
    from node.venue.records import get_order

    params = get_market(state, market_id)
    levels = []
    price = get_best_price(state, params, side)
    while price is not None:
        level = get_level_at(state, params, side, price)
        assert level is not None
        orders, order_id = [], level.head_id
        while order_id:
            order = get_order(state, order_id)
            assert order is not None and order.price == price and order.side == side
            orders.append((order.owner, order.lots))
            order_id = order.next_id
        assert len(orders) == level.count and sum(lots for _, lots in orders) == level.lots
        levels.append((price, orders))
        price = get_next_price(state, params, side, price)
    return levels
