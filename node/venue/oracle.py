"""The oracle_update handler: the mark price of a market, signed by the designated oracle key.

Rules, in order:

- the sender is the oracle address stored in the venue config at genesis
  (NotOracle);
- the market exists (UnknownMarket); the price is in [1, MAX_PRICE]
  (InvalidPrice; it need not sit on the tick);
- the timestamp is newer than the stored one (StaleOraclePrice) and at most
  ORACLE_MAX_AHEAD_MS after the block's (OracleTimestampInFuture), so a bad
  clock cannot lock later updates out;
- after the first price, |new - last| x BPS <= last x oracle_band_bps
  (OraclePriceOutOfBand): the price moves at most the band per update.

The new price moves the market's liquidation coordinates; the end-of-block
scan (node.venue.liquidation) closes whatever crossed. Oracle updates are
sequenced ahead of orders (node.venue.priority).
"""

from __future__ import annotations

from dataclasses import replace

from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.handlers import Signed
from node.venue.errors import InvalidPrice, NotOracle, OraclePriceOutOfBand, OracleTimestampInFuture, StaleOraclePrice
from node.venue.markets import BPS, MAX_PRICE, MarketParams, get_market, get_required_venue_config
from node.venue.orders import process_finish_sender
from node.venue.payloads import OracleUpdate
from node.venue.record_cache import RecordOverlay
from node.venue.records import MarketState, get_market_state, set_market_state

ORACLE_MAX_AHEAD_MS = 10_000


def validate_oracle_update(reader: StateReader, config: ChainConfig, tx: Signed[OracleUpdate]) -> None:
    update = tx.payload
    venue = get_required_venue_config(reader)
    if tx.sender != venue.oracle:
        raise NotOracle(tx.sender)
    params = get_market(reader, update.market_id)
    if not 1 <= update.price <= MAX_PRICE:
        raise InvalidPrice(update.price, f"must be in [1, {MAX_PRICE}]")
    state = get_market_state(reader, update.market_id)
    if update.timestamp_ms <= state.oracle_ms:
        raise StaleOraclePrice(state.oracle_ms, update.timestamp_ms)
    validate_band(params, state, update.price)


def validate_band(params: MarketParams, state: MarketState, price: int) -> None:
    last = state.oracle_price
    if last and abs(price - last) * BPS > last * params.oracle_band_bps:
        raise OraclePriceOutOfBand(last, price, params.oracle_band_bps)


def apply_oracle_update(overlay: Overlay, config: ChainConfig, ctx: BlockContext, tx: Signed[OracleUpdate]) -> None:
    update = tx.payload
    if update.timestamp_ms > ctx.timestamp_ms + ORACLE_MAX_AHEAD_MS:
        raise OracleTimestampInFuture(ctx.timestamp_ms, update.timestamp_ms, ORACLE_MAX_AHEAD_MS)
    records = RecordOverlay(overlay)  # each record decoded once and encoded once (node.venue.record_cache)
    state = get_market_state(records, update.market_id)
    set_market_state(
        records, update.market_id, replace(state, oracle_price=update.price, oracle_ms=update.timestamp_ms)
    )
    process_finish_sender(records, config, tx.sender)
    records.merge_into(overlay)
