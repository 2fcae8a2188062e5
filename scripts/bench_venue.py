#!/usr/bin/env python3
"""Venue benchmark on a devnet: order throughput, order-to-fill latency, and the liquidation crash.

Starts a devnet (`rollup devnet up --detach` in a temporary directory) unless
`--dir` names a running one (its seeded book is used as is), then:

1. funds `--traders` fresh accounts and `--victims` fresh accounts from the dev accounts;
2. throughput: trader pairs send crossing limit orders at the oracle price
   (A sells, B buys the same lot; sides alternate each round, so one of the
   two rests until the other arrives and fills it): `--orders` orders in
   JSON-RPC batches. A follower thread polls the sequencer's blocks and
   stamps each transaction with the time its block was first seen (soft
   confirmation). orders_per_s = included orders / (last inclusion - first
   send); order-to-fill latency of a pair = its first order's send until the
   block that fills it (the later of the two inclusions);
3. crash: every victim opens a long at ~8x against a big resting ask of dev1
   (bids from dev2 rest 11 % below to absorb liquidations); then, while the
   traders saturate the sequencer again, dev4 moves the oracle price down
   10 % (the band's limit), which makes every victim liquidatable. It reads
   each victim's positions at each block from the update's block on (a victim
   is done once it is no longer liquidatable: closed, or partially closed back
   above maintenance): liquidation_block_lag = (first block after which no
   victim is liquidatable) - (block carrying the price update); 0 means all in
   the same block. `liquidated` counts the victims done. Then
   it checks that every executor reports the same state root for that block.

Prints a summary and a final JSON line with orders_per_s, order_fill_p50_ms,
order_fill_p99_ms, liquidation_block_lag, liquidated, victims, roots_agree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.crypto import PrivateKey, keccak256, to_checksum_address  # noqa: E402
from node.devnet import params as p  # noqa: E402
from node.devnet.endpoints import resolve_endpoints  # noqa: E402
from node.keys.hd import dev_account  # noqa: E402
from node.tx import Transfer, sign_tx  # noqa: E402
from node.venue.payloads import ORDER_GTC, ORDER_IOC, OracleUpdate, PlaceOrder  # noqa: E402

BATCH = 100
MAX_LAG_BLOCKS = 200  # how far past the price update the crash scan looks
FEE = p.L2_MIN_FEE
BTC = 0
SALT = time.time_ns()  # fresh accounts on every run (a reused devnet keeps the old ones)


class Rpc:
    def __init__(self, url: str) -> None:
        self.url = url

    def _post(self, body: Any) -> Any:
        req = urllib.request.Request(self.url, json.dumps(body).encode(), {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as reply:
            return json.loads(reply.read())

    def call(self, method: str, *params: Any) -> Any:
        reply = self._post({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(calls), BATCH):
            chunk = calls[start:start + BATCH]
            body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": ps} for i, (m, ps) in enumerate(chunk)]
            out += sorted(self._post(body), key=lambda x: x["id"])
        return out


class Signer:
    def __init__(self, rpc: Rpc) -> None:
        self.rpc = rpc
        self.chain_id = int(rpc.call("rollup_chainId"))
        self.nonces: dict[bytes, int] = {}

    def sign(self, key: PrivateKey, payload: Any) -> tuple[str, str]:
        if key.address not in self.nonces:
            self.nonces[key.address] = int(self.rpc.call("rollup_getNonce", to_checksum_address(key.address), "latest"))
        tx = sign_tx(key, self.chain_id, self.nonces[key.address], FEE, payload)
        self.nonces[key.address] += 1
        return "0x" + tx.hash().hex(), "0x" + tx.encode().hex()


class Follower(threading.Thread):
    """Polls the sequencer's blocks; records when each transaction's block was first seen."""

    def __init__(self, rpc: Rpc) -> None:
        super().__init__(daemon=True)
        self.rpc = rpc
        self.seen: dict[str, tuple[int, float]] = {}
        self.next = int(rpc.call("rollup_getBlockByNumber", "latest", False)["number"]) + 1
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            block = self.rpc.call("rollup_getBlockByNumber", self.next, False)
            if block is None:
                time.sleep(0.01)
                continue
            now = time.monotonic()
            for tx_hash in block["transactions"]:
                self.seen[tx_hash] = (self.next, now)
            self.next += 1

    def wait_for(self, hashes: list[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while any(h not in self.seen for h in hashes):
            if time.monotonic() > deadline:
                missing = sum(h not in self.seen for h in hashes)
                raise RuntimeError(f"{missing} of {len(hashes)} transactions not included after {timeout_s} s")
            time.sleep(0.02)


def send_all(rpc: Rpc, raws: list[tuple[str, str]]) -> list[float]:
    """Send signed transactions in batches; returns each one's send time. Raises on a rejection."""
    sent: list[float] = []
    for start in range(0, len(raws), BATCH):
        chunk = raws[start:start + BATCH]
        now = time.monotonic()
        replies = rpc.batch([("rollup_sendRawTransaction", [raw]) for _, raw in chunk])
        bad = [r for r in replies if "error" in r]
        if bad:
            raise RuntimeError(f"{len(bad)} rejected, first: {bad[0]['error']}")
        sent += [now] * len(chunk)
    return sent


def is_liquidatable(positions: list[dict[str, Any]]) -> bool:
    """rollup_getPositions rows -> below maintenance (margin ratio above 1, or no positive equity)."""
    return any(pos["marginRatio"] is None or pos["marginRatio"] > 1 for pos in positions)


def warn_failed(rpc: Rpc, raws: list[tuple[str, str]], what: str) -> None:
    failed = [r["result"] for r in rpc.batch([("rollup_getTransactionReceipt", [h]) for h, _ in raws])
              if int(r["result"].get("status", 0)) != 1]
    if failed:
        print(f"warning: {len(failed)} {what} transactions failed, first: {failed[0]}", file=sys.stderr)


def derived_key(label: str, i: int) -> PrivateKey:
    return PrivateKey(keccak256(f"bench-venue {label} {i} {SALT}".encode()))


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def fund(rpc: Rpc, signer: Signer, follower: Follower, keys: list[PrivateKey], amount: int) -> None:
    funders = [dev_account(i) for i in (0, 5, 6)]
    raws = [signer.sign(funders[i % len(funders)], Transfer(k.address, amount)) for i, k in enumerate(keys)]
    send_all(rpc, raws)
    follower.wait_for([h for h, _ in raws], 60)


def flood_orders(signer: Signer, traders: list[PrivateKey], count: int, price: int) -> tuple[list[tuple[str, str]], list[tuple[int, int]]]:
    """Crossing pairs: (A, B) alternate sell/buy 1 lot at `price`; returns raws and the pairs' indexes."""
    raws: list[tuple[str, str]] = []
    pairs: list[tuple[int, int]] = []
    n_pairs = len(traders) // 2
    round_ = 0
    while len(raws) < count:
        for j in range(n_pairs):
            a, b = traders[2 * j], traders[2 * j + 1]
            a_side, b_side = (1, 0) if round_ % 2 == 0 else (0, 1)
            pairs.append((len(raws), len(raws) + 1))
            raws.append(signer.sign(a, PlaceOrder(BTC, a_side, 1, price, ORDER_GTC)))
            raws.append(signer.sign(b, PlaceOrder(BTC, b_side, 1, price, ORDER_GTC)))
        round_ += 1
    return raws, pairs


def throughput(rpc: Rpc, signer: Signer, follower: Follower, traders: list[PrivateKey], count: int, price: int) -> dict[str, Any]:
    raws, pairs = flood_orders(signer, traders, count, price)
    began = time.monotonic()
    sent = send_all(rpc, raws)
    hashes = [h for h, _ in raws]
    follower.wait_for(hashes, 120)
    last = max(follower.seen[h][1] for h in hashes)
    receipts = rpc.batch([("rollup_getTransactionReceipt", [h]) for h in hashes])
    ok = sum(1 for r in receipts if r.get("result") and int(r["result"].get("status", 0)) == 1)
    fills = [(max(follower.seen[hashes[i]][1], follower.seen[hashes[k]][1]) - sent[i]) * 1000 for i, k in pairs]
    return {
        "orders": len(raws), "orders_ok": ok, "seconds": last - began,
        "orders_per_s": round(len(raws) / (last - began), 1),
        "order_fill_p50_ms": round(percentile(fills, 50) or 0, 1), "order_fill_p99_ms": round(percentile(fills, 99) or 0, 1),
    }


def crash(rpc: Rpc, signer: Signer, follower: Follower, traders: list[PrivateKey], victims: list[PrivateKey],
          price: int, tick: int, executors: list[Rpc], flood: int) -> dict[str, Any]:
    lots = 10
    maker, bidder, oracle = dev_account(1), dev_account(2), dev_account(p.VENUE_ORACLE_INDEX)
    crash_price = -(-price * 9 // (10 * tick)) * tick  # the lowest tick within the 10 % oracle band
    setup = [signer.sign(maker, PlaceOrder(BTC, 1, lots * len(victims), price, ORDER_GTC)),
             signer.sign(bidder, PlaceOrder(BTC, 0, lots * len(victims), (price * 89 // 100) // tick * tick, ORDER_GTC))]
    send_all(rpc, setup)
    follower.wait_for([h for h, _ in setup], 30)
    opens = [signer.sign(v, PlaceOrder(BTC, 0, lots, price, ORDER_IOC)) for v in victims]
    send_all(rpc, opens)
    follower.wait_for([h for h, _ in opens], 60)
    warn_failed(rpc, setup + opens, "setup/open")
    addresses = [to_checksum_address(v.address) for v in victims]
    opened = sum(1 for r in rpc.batch([("rollup_getPositions", [a]) for a in addresses]) if r.get("result"))
    # saturate: a flood of ordinary orders, the price update in the middle of it
    raws, _ = flood_orders(signer, traders, flood, price)
    half = len(raws) // 2
    send_all(rpc, raws[:half])
    market = rpc.call("rollup_getMarkets")[BTC]
    update = signer.sign(oracle, OracleUpdate(BTC, crash_price, max(int(time.time() * 1000), (market["oracleTimestamp"] or 0) + 1)))
    send_all(rpc, [update])
    send_all(rpc, raws[half:])
    follower.wait_for([update[0]], 60)
    update_block = follower.seen[update[0]][0]
    receipt = rpc.call("rollup_getTransactionReceipt", update[0])
    follower.wait_for([h for h, _ in raws], 120)
    open_at: dict[int, int] = {}
    block, remaining = update_block, list(addresses)
    give_up = update_block + MAX_LAG_BLOCKS
    while remaining and block <= give_up:
        while block >= follower.next:
            time.sleep(0.02)
        replies = rpc.batch([("rollup_getPositions", [a, block]) for a in remaining])
        remaining = [a for a, r in zip(remaining, replies) if is_liquidatable(r.get("result") or [])]
        open_at[block] = len(remaining)
        block += 1
    last_block = block - 1
    stuck = [{"address": a, "positions": rpc.call("rollup_getPositions", a, last_block),
              "balance": rpc.call("rollup_getBalance", a, last_block)} for a in remaining[:3]]
    closed = sum(1 for r in rpc.batch([("rollup_getPositions", [a, last_block]) for a in addresses]) if not r.get("result"))
    lag = None if remaining else last_block - update_block
    roots = {}
    deadline = time.monotonic() + 30
    for i, ex in enumerate([rpc, *executors]):
        while time.monotonic() < deadline:
            b = ex.call("rollup_getBlockByNumber", last_block, False)
            if b is not None:
                roots[f"node{i}"] = b["stateRoot"]
                break
            time.sleep(0.1)
    return {
        "victims": len(victims), "opened": opened, "update_block": update_block,
        "update_status": int(receipt["status"]) if receipt else None,
        "liquidated": len(victims) - len(remaining), "liquidation_block_lag": lag,
        "open_after_blocks": {b: n for b, n in open_at.items() if open_at.get(b - 1) != n}, "roots": roots,
        "stuck": stuck,
        "roots_agree": len(set(roots.values())) == 1 and len(roots) == 1 + len(executors),
        "flood_orders": len(raws), "fully_closed": closed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", type=Path, help="a running devnet (default: start one in a temporary directory)")
    ap.add_argument("--executors", type=int, default=2)
    ap.add_argument("--block-time-ms", type=int, help="L2 block time of a started devnet (default the devnet's 200)")
    ap.add_argument("--traders", type=int, default=20, help="trader accounts (pairs) for the order flow")
    ap.add_argument("--orders", type=int, default=2000, help="orders in the throughput phase")
    ap.add_argument("--victims", type=int, default=100, help="leveraged accounts in the crash")
    ap.add_argument("--flood", type=int, default=1000, help="orders saturating the sequencer during the crash")
    args = ap.parse_args()
    started = args.dir is None
    directory = args.dir or Path(tempfile.mkdtemp(prefix="bench-venue-"))
    if started:
        subprocess.run([sys.executable, "-m", "node.cli.main", "devnet", "up", "--dir", str(directory), "--detach",
                        "--executors", str(args.executors),
                        *(["--block-time-ms", str(args.block_time_ms)] if args.block_time_ms else [])],
                       check=True, stdout=subprocess.DEVNULL)
    try:
        endpoints = resolve_endpoints(directory, None, None)
        rpc = Rpc(endpoints.require_l2().rpc)
        executors = [Rpc(n.rpc) for n in endpoints.confirmers if n.rpc != rpc.url]
        signer = Signer(rpc)
        follower = Follower(rpc)
        follower.start()
        market = rpc.call("rollup_getMarkets")[BTC]
        price, tick = int(market["oraclePrice"]), int(market["tickSize"])
        traders = [derived_key("trader", i) for i in range(args.traders - args.traders % 2)]
        victims = [derived_key("victim", i) for i in range(args.victims)]
        fund(rpc, signer, follower, traders, 10**20)
        # ~8x: 10 lots at the price, collateral an eighth of the notional, plus fees
        fund(rpc, signer, follower, victims, 10 * price // 8 + 2 * FEE)
        result = throughput(rpc, signer, follower, traders, args.orders, price)
        print(f"throughput: {result['orders']} orders ({result['orders_ok']} ok) in {result['seconds']:.2f} s = "
              f"{result['orders_per_s']} orders/s; fill p50 {result['order_fill_p50_ms']} ms p99 {result['order_fill_p99_ms']} ms",
              file=sys.stderr)
        crashed = crash(rpc, signer, follower, traders, victims, price, tick, executors, args.flood)
        print(f"crash: {crashed['liquidated']}/{crashed['victims']} liquidated ({crashed['opened']} opened); price update in "
              f"block {crashed['update_block']}; lag {crashed['liquidation_block_lag']} blocks; open after each block "
              f"{crashed['open_after_blocks']}; roots agree: {crashed['roots_agree']}", file=sys.stderr)
        follower.stop.set()
        if crashed["stuck"]:
            print(f"never liquidated (first {len(crashed['stuck'])}): {json.dumps(crashed['stuck'])}", file=sys.stderr)
        summary = {**result, **{k: v for k, v in crashed.items() if k not in ("roots", "open_after_blocks", "stuck")}}
        print(json.dumps(summary))
    finally:
        if started:
            subprocess.run([sys.executable, "-m", "node.cli.main", "devnet", "down", "--dir", str(directory)],
                           check=False, stdout=subprocess.DEVNULL)
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
