"""Seed the devnet's venue right after `devnet up`: oracle prices, a resting book and a few positions.

Two rounds, each sent to the sequencer and waited for (soft confirmation):

1. dev4 (the oracle key) sets every market's price (node.devnet.params.VENUE_START_PRICES);
2. dev0 and dev1 rest bids below the price (3 levels), dev2 and dev3 rest asks above it;
3. dev0 lifts 2 lots of the best ask (dev3's) and dev2 hits 2 lots of the best bid (dev1's), IOC,
   so dev0 is long, dev3 short, dev2 short and dev1 long in every market.

A resumed chain whose markets already have prices is left alone. Takes a
few block times (well under 2 s at the default 200 ms).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from node.crypto import PrivateKey, to_checksum_address
from node.devnet import params as p
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient
from node.tx import sign_tx
from node.venue.payloads import OracleUpdate, OrderType, PlaceOrder
from node.venue.side import Side

SEED_TIMEOUT_S = 10.0
LEVELS = 3  # price levels per side per market


class SeedError(RuntimeError):
    pass


class Sender:
    """Signs and sends L2 transactions for several keys, tracking their nonces locally."""

    def __init__(self, rpc: str, fee: int = p.L2_MIN_FEE) -> None:
        self.client = SyncRpcClient(rpc)
        self.chain_id = int(self.client.call("rollup_chainId"))
        self.fee = fee
        self.nonces: dict[bytes, int] = {}

    def nonce(self, key: PrivateKey) -> int:
        if key.address not in self.nonces:
            self.nonces[key.address] = int(
                self.client.call("rollup_getNonce", to_checksum_address(key.address), "latest")
            )
        return self.nonces[key.address]

    def sign(self, key: PrivateKey, payload: Any) -> bytes:
        nonce = self.nonce(key)
        self.nonces[key.address] = nonce + 1
        return sign_tx(key, self.chain_id, nonce, self.fee, payload).encode()

    def send(self, key: PrivateKey, payload: Any) -> str:
        raw = self.sign(key, payload)
        return str(self.client.call("rollup_sendRawTransaction", "0x" + raw.hex()))

    def wait(self, hashes: Iterable[str], timeout_s: float = SEED_TIMEOUT_S) -> list[dict[str, Any]]:
        """Poll until every transaction has a receipt (soft confirmation); SeedError on timeout or a failure."""
        pending = list(hashes)
        receipts: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        while pending:
            still = []
            for tx_hash in pending:
                receipt = self.client.call("rollup_getTransactionReceipt", tx_hash)
                if receipt is None:
                    still.append(tx_hash)
                else:
                    receipts[tx_hash] = receipt
            pending = still
            if pending:
                if time.monotonic() > deadline:
                    raise SeedError(f"{len(pending)} transaction(s) not included after {timeout_s:.0f} s")
                time.sleep(0.05)
        failed = [h for h, r in receipts.items() if int(r.get("status", 0)) != 1]
        if failed:
            raise SeedError(f"transaction {failed[0]} failed: {receipts[failed[0]].get('error', receipts[failed[0]])}")
        return list(receipts.values())


def _dev_key(index: int) -> PrivateKey:
    return dev_account(index)


def is_seeded(client: SyncRpcClient) -> bool:
    markets = client.call("rollup_getMarkets")
    return not markets or any(m.get("oraclePrice") for m in markets)


def seed_venue(rpc: str, report: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Seed the venue through the node at `rpc` (the sequencer); returns what was done."""
    sender = Sender(rpc)
    if is_seeded(sender.client):
        report("venue: already seeded (or no markets): left as is")
        return {"seeded": False}
    began = time.monotonic()
    oracle = _dev_key(p.VENUE_ORACLE_INDEX)
    now_ms = int(time.time() * 1000)
    sender.wait([sender.send(oracle, OracleUpdate(m, price, now_ms)) for m, price in p.VENUE_START_PRICES.items()])
    makers = [_dev_key(i) for i in range(4)]
    resting: list[str] = []
    for market in p.VENUE_MARKETS:
        m, tick, price = market["id"], market["tick_size"], p.VENUE_START_PRICES[market["id"]]
        for level in range(1, LEVELS + 1):
            resting.append(
                sender.send(makers[level % 2], PlaceOrder(m, Side.BUY, 5 * level, price - level * tick, OrderType.GTC))
            )
            resting.append(
                sender.send(
                    makers[2 + level % 2], PlaceOrder(m, Side.SELL, 5 * level, price + level * tick, OrderType.GTC)
                )
            )
    sender.wait(resting)
    crossing: list[str] = []
    for market in p.VENUE_MARKETS:
        m, tick, price = market["id"], market["tick_size"], p.VENUE_START_PRICES[market["id"]]
        # dev0 lifts 2 lots of the best ask (dev3's); dev2 hits 2 lots of the best bid (dev1's)
        crossing.append(sender.send(makers[0], PlaceOrder(m, Side.BUY, 2, price + tick, OrderType.IOC)))
        crossing.append(sender.send(makers[2], PlaceOrder(m, Side.SELL, 2, price - tick, OrderType.IOC)))
    sender.wait(crossing)
    elapsed = time.monotonic() - began
    report(
        f"venue: seeded {len(p.VENUE_MARKETS)} markets ({len(resting)} resting orders, {len(crossing)} fills) "
        f"in {elapsed:.2f} s"
    )
    return {"seeded": True, "orders": len(resting) + len(crossing), "seconds": elapsed}
