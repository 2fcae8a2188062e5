"""The venue: perpetual futures with an order book, cross margin, an oracle, funding and liquidations.

`import node.venue` activates it: it registers the payload kinds 16-19
(node.venue.payloads), the table of their state-transition handlers
(HANDLERS, one per payload class, each typed by its class), and the
end-of-block hook "venue.liquidations" (funding, then the liquidation
engine), which block building, block execution and the fraud proofs'
end-of-block chunks all run.

Modules (one job each):

    side         Side: buy / sell, bids / asks, longs / shorts
    markets      MarketParams, units, TOML loading, genesis writes
    keys         key layout under the state root
    records      stored records and their codecs
    record_cache RecordOverlay: a transaction's records decoded once, encoded once
    trie         ordered integer keys as a bitmap trie (book levels, trigger buckets)
    payloads     transaction kinds, wire fields, OrderType
    ledger       PnL claims, the PnL pool, settlement into native balances
    positions    trades on positions, realized PnL, lazy funding
    margin       equity, requirements, validate_withdrawable
    triggers     the liquidation index (coordinates, buckets)
    reindex      keeping an account's triggers valid
    book         price levels and FIFO queues
    matching     price-time matching and fill settlement
    orders       place / cancel / cancel-all handlers
    oracle       oracle-update handler
    funding      funding index steps
    closeout     liquidating one account
    backstop     insurance fund takeover and auto-deleveraging
    liquidation  the end-of-block scan
    priority     mempool priority (oracle updates first)

Integration points for the rest of the node:

- genesis: `genesis_writes(markets, oracle, insurance_fund)` key/values go
  into block 0's state next to the balances; `load_markets(doc)` and
  `load_venue_addresses(doc)` read them from a parsed TOML config;
- transfers and withdrawals: `validate_withdrawable(reader, sender,
  amount + fee)` in their checks;
- the sequencer's mempool: `priority_of(rtx)` ranks the senders' head
  transactions (oracle updates first).
"""

from __future__ import annotations

from typing import Any

from node.stf.debit_checks import register_debit_check
from node.stf.end_of_block import register_end_of_block_hook
from node.stf.handlers import TxHandler, register_handlers
from node.venue.errors import VenueError
from node.venue.liquidation import run_end_of_block_chunk
from node.venue.margin import validate_withdrawable
from node.venue.markets import MarketConfigError, MarketParams, genesis_writes, load_markets, load_venue_addresses
from node.venue.oracle import apply_oracle_update, validate_oracle_update
from node.venue.orders import (
    apply_cancel_all,
    apply_cancel_order,
    apply_miscoded_place_order,
    apply_place_order,
    validate_cancel_all,
    validate_cancel_order,
    validate_miscoded_place_order,
    validate_place_order,
)
from node.venue.payloads import CancelAll, CancelOrder, MiscodedPlaceOrder, OracleUpdate, OrderType, PlaceOrder
from node.venue.priority import priority_of
from node.venue.side import Side

END_OF_BLOCK_HOOK = "venue.liquidations"

HANDLERS: tuple[TxHandler[Any], ...] = (
    TxHandler(PlaceOrder, apply_place_order, validate_place_order),
    TxHandler(MiscodedPlaceOrder, apply_miscoded_place_order, validate_miscoded_place_order),
    TxHandler(CancelOrder, apply_cancel_order, validate_cancel_order),
    TxHandler(CancelAll, apply_cancel_all, validate_cancel_all),
    TxHandler(OracleUpdate, apply_oracle_update, validate_oracle_update),
)

register_handlers(HANDLERS)
register_end_of_block_hook(END_OF_BLOCK_HOOK, run_end_of_block_chunk)  # funding, then the liquidation scan
register_debit_check("venue.margin", validate_withdrawable)

__all__ = [
    "CancelAll",
    "CancelOrder",
    "END_OF_BLOCK_HOOK",
    "HANDLERS",
    "MarketConfigError",
    "MarketParams",
    "MiscodedPlaceOrder",
    "OracleUpdate",
    "OrderType",
    "PlaceOrder",
    "Side",
    "VenueError",
    "genesis_writes",
    "load_markets",
    "load_venue_addresses",
    "priority_of",
    "validate_withdrawable",
]
