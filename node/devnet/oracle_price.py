"""Set a market's oracle price on a devnet without the caller holding the oracle key.

The update is signed with the devnet's oracle key (dev4, node.devnet.params.VENUE_ORACLE_INDEX) and
built by the client as `rollup oracle set` builds it (node.client.venue.oracle_payload: timestamp
after the market's last update, never far ahead of the L2 head); it is sent to the sequencer and waited for (included).
"""

from __future__ import annotations

from typing import Any

from node.devnet import params as p
from node.devnet.errors import ControlRefusedError
from node.devnet.venue_seed import SeedError, Sender
from node.keys.hd import dev_account
from node.rpc.errors import InvalidParams
from node.venue.payloads import OracleUpdate

INCLUDE_TIMEOUT_S = 30.0


def find_market(markets: list[dict[str, Any]], market: str | int) -> dict[str, Any]:
    for entry in markets:
        if entry["id"] == market or (isinstance(market, str) and entry["symbol"] == market.upper()):
            return entry
    known = ", ".join(f"{m['symbol']} ({m['id']})" for m in markets) or "none"
    raise InvalidParams(f"unknown market {market!r} (markets: {known})")


def set_oracle_price(sequencer_rpc: str, market: str | int, price: int | str) -> dict[str, Any]:
    """`price` as the client takes it: text is quote per one base ("20.5"), an int is units per lot."""
    from node.client import RollupClient
    from node.client.errors import InputError
    from node.client.venue import oracle_payload  # the client's (and CLI's) update: timestamp rule and all

    sender = Sender(sequencer_rpc)
    entry = find_market(list(sender.client.call("rollup_getMarkets") or []), market)
    try:
        payload: OracleUpdate = RollupClient(sequencer_rpc).run(oracle_payload(sequencer_rpc, entry, price))
    except InputError as exc:
        raise InvalidParams(f"price for {entry['symbol']}: {exc}") from None
    timestamp_ms = payload.timestamp_ms
    tx_hash = sender.send(dev_account(p.VENUE_ORACLE_INDEX), payload)
    try:
        receipt = sender.wait([tx_hash], INCLUDE_TIMEOUT_S)[0]
    except SeedError as exc:
        raise ControlRefusedError(f"the oracle update for {entry['symbol']} did not go through: {exc}") from None
    return {
        "market": entry["symbol"],
        "marketId": entry["id"],
        "price": str(payload.price),
        "timestampMs": timestamp_ms,
        "transactionHash": tx_hash,
        "blockNumber": receipt.get("blockNumber"),
    }
