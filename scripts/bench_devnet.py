#!/usr/bin/env python3
"""Devnet throughput and latency: signed transfers at an offered rate through JSON-RPC.

Starts a devnet (`rollup devnet up --detach` in a temporary directory) unless
`--dir` names a running one, funds `--senders` fresh accounts from the dev
accounts, then offers `--rate` transfers per second for `--seconds` seconds
in JSON-RPC batches to the sequencer. It follows the sequencer's blocks over
WebSocket (soft confirmation = the block holding the transaction is sealed)
and an executor's safe head (safe = derived from L1 data).

`--batch` sets the transfers per batch request (default 100). The sequencer
recovers a batch's senders as one group, then admits its entries one after
another, so a transfer's soft time includes the admission of those ahead of it
in its batch: `--batch 10` is closer to independent submitters.
`--recovery-workers N` (with a devnet this script starts) restarts the
sequencer with N sender-recovery worker processes before the load.
`--rate 0 --transfers N --window W` is a capacity run: one batch at a time,
each once the previous one is answered, at most W sent and not yet in a block.

Prints a summary and one JSON line with: tps_soft, tps_safe, soft_p50_ms,
soft_p99_ms (client side: batch sent -> newHeads received), sequencer_soft_p50_ms
and sequencer_soft_p99_ms (the sequencer's own tx_soft_confirm_seconds histogram:
submission reached its RPC method (a batch's entries: the batch reached the
sequencer's dispatcher) -> block committed and announced, interpolated
within buckets; its top bucket is 5 s), refused (submissions the sequencer refused), blocks, safe_p50_ms,
gossip_p50_ms/gossip_p99_ms (sequencer sealed -> executor applied, from the nodes'
newHeads), gossip_bytes_per_tx, l1_bytes_per_tx, disk_bytes_per_tx (executor),
cpu_percent and cpu_ms_per_tx per process, each counting the process's own
children too (the sequencer's recovery workers, their fork server), and
cpu_ms_per_tx_total over every process.

Finality and state growth (the seed's other two yardsticks):
- `--finalized`: after the load, wait (up to `--finalize-seconds`) until the executor's
  finalized head covers every transfer, and report finalized_p50_ms/p99 (submitted ->
  finalized: the output holding it survived its challenge window on L1) beside soft and safe;
- growth: the data directories of the sequencer and the first executor are measured before
  and after (bytes of files on disk, RocksDB compactions included), reported per transfer
  and, with `--fresh-recipients` (every transfer pays a new address, so each one creates an
  account), per account created. `--seconds 100 --rate 1000` is a 100,000-transfer run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.crypto import Address, PrivateKey, keccak256, to_checksum_address  # noqa: E402
from node.keys.hd import dev_account  # noqa: E402
from node.rpc.metrics import parse_exposition  # noqa: E402
from node.tx import Transfer, sign_tx  # noqa: E402

BATCH = 100
SOFT = "tx_soft_confirm_seconds"  # the sequencer's own arrival -> soft confirmation histogram


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=None, help="use the running devnet in DIR (default: start one)")
    p.add_argument(
        "--rate", type=float, default=1000.0, help="offered transfers per second (0: as fast as they are taken)"
    )
    p.add_argument(
        "--window",
        type=int,
        default=0,
        help="at most this many transfers sent and not yet in a block (0: no limit); for capacity runs",
    )
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--transfers", type=int, default=0, help="transfers to send (default: rate x seconds)")
    p.add_argument("--senders", type=int, default=200)
    p.add_argument(
        "--batch",
        type=int,
        default=BATCH,
        help="transfers per JSON-RPC batch request (the sequencer admits a batch's entries one after another, "
        "so a transfer's soft time includes the admission of those before it in its batch)",
    )
    p.add_argument(
        "--recovery-workers",
        type=int,
        default=0,
        help="with a devnet this script starts: restart the sequencer with this many sender-recovery workers",
    )
    p.add_argument("--executors", type=int, default=1, help="executors when starting a devnet")
    p.add_argument("--base-port", type=int, default=None, help="when starting a devnet: its base port (devnet up's)")
    p.add_argument(
        "--drain-seconds", type=float, default=30.0, help="how long to wait for the last transfers to be safe"
    )
    p.add_argument("--finalized", action="store_true", help="also wait for and time the finalized level")
    p.add_argument("--finalize-seconds", type=float, default=180.0, help="how long to wait for finalized")
    p.add_argument(
        "--fresh-recipients", action="store_true", help="every transfer pays a new address (state growth per account)"
    )
    return p.parse_args()


class Rpc:
    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        self.session, self.url = session, url

    async def call(self, method: str, *params: Any) -> Any:
        async with self.session.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        ) as r:
            reply = await r.json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        async with self.session.post(self.url, json=body) as r:
            replies = await r.json()
        return sorted(replies, key=lambda x: x["id"])


def start_devnet(executors: int, base_port: int | None = None) -> tuple[Path, bool]:
    directory = Path(tempfile.mkdtemp(prefix="bench-devnet-"))
    cmd = [
        sys.executable,
        "-m",
        "node.cli.main",
        "devnet",
        "up",
        "--dir",
        str(directory),
        "--detach",
        "--executors",
        str(executors),
        *(["--base-port", str(base_port)] if base_port is not None else []),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return directory, True


def use_recovery_workers(directory: Path, workers: int) -> None:
    """Give the devnet's sequencer `workers` sender-recovery processes: edit its config, restart it in place."""
    info = json.loads((directory / "devnet.json").read_text())
    (record,) = [p for p in info["processes"] if p["name"] == "sequencer"]
    config = Path(record["config"])
    lines = config.read_text().splitlines()
    lines = [line for line in lines if not line.startswith("recovery_workers")]
    lines.insert(lines.index("[sequencer]") + 1, f"recovery_workers = {workers}")
    config.write_text("\n".join(lines) + "\n")
    cmd = [sys.executable, "-m", "node.cli.main", "devnet", "restart", "sequencer", "--dir", str(directory)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def cpu_tree_seconds(pid: int) -> float:
    """CPU seconds of `pid` and every live descendant (user + system, plus their reaped children's)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(child)
        times[child] = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += times.get(current, 0.0)
        todo.extend(children.get(current, []))
    return total


def stop_devnet(directory: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "node.cli.main", "devnet", "down", "--dir", str(directory)],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(directory, ignore_errors=True)


async def fund_senders(seq: Rpc, chain_id: int, n: int, fee: int) -> list[PrivateKey]:
    keys = [PrivateKey(((i + 1) * 7919).to_bytes(32, "big")) for i in range(n)]
    funders = [dev_account(i) for i in range(6)]
    nonces = {f.address: await seq.call("rollup_getNonce", to_checksum_address(f.address), "latest") for f in funders}
    raws = []
    for i, key in enumerate(keys):
        funder = funders[i % len(funders)]
        raws.append(sign_tx(funder, chain_id, nonces[funder.address], fee, Transfer(key.address, 10**20)).encode())
        nonces[funder.address] += 1
    for i in range(0, len(raws), BATCH):
        await seq.batch([("rollup_sendRawTransaction", ["0x" + r.hex()]) for r in raws[i : i + BATCH]])
    last = keys[-1].address
    while int(await seq.call("rollup_getBalance", to_checksum_address(last), "latest")) == 0:
        await asyncio.sleep(0.1)
    return keys


async def current_nonces(seq: Rpc, keys: list[PrivateKey]) -> list[int]:
    """Senders' next nonces (a devnet used by an earlier run has moved them)."""
    nonces: list[int] = []
    for i in range(0, len(keys), BATCH):
        replies = await seq.batch(
            [("rollup_getNonce", [to_checksum_address(k.address), "latest"]) for k in keys[i : i + BATCH]]
        )
        nonces.extend(int(r["result"]) for r in replies)
    return nonces


def presign(
    keys: list[PrivateKey], nonces: list[int], chain_id: int, total: int, fee: int, fresh: bool = False
) -> list[tuple[bytes, bytes]]:
    """`total` signed transfers round-robin over the senders; to the next sender, or to a new address."""
    out = []
    nonces = list(nonces)
    salt = time.time_ns().to_bytes(8, "big")
    for i in range(total):
        k = i % len(keys)
        to = Address(keccak256(salt + i.to_bytes(8, "big"))[12:]) if fresh else keys[(k + 1) % len(keys)].address
        raw = sign_tx(keys[k], chain_id, nonces[k], fee, Transfer(to, 1)).encode()
        nonces[k] += 1
        out.append((keccak256(raw), raw))
    return out


async def follow_blocks(
    ws_url: str, seq: Rpc, sealed_at: dict[str, float], block_of: dict[str, int], stop: asyncio.Event
) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "rollup_subscribe", "params": ["newHeads"]})
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.5)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if data.get("method") != "rollup_subscription":
                continue
            seen = time.perf_counter()
            number = data["params"]["result"]["number"]
            block = await seq.call("rollup_getBlockByNumber", number, False)
            for tx_hash in block["transactions"]:
                sealed_at.setdefault(tx_hash, seen)
                block_of[tx_hash] = number


async def follow_heads(ws_url: str, seen: dict[int, float], stop: asyncio.Event) -> None:
    """Arrival time of each newHeads notification (first per block number) on one node."""
    async with aiohttp.ClientSession() as session, session.ws_connect(ws_url) as ws:
        await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "rollup_subscribe", "params": ["newHeads"]})
        while not stop.is_set():
            try:
                msg = await asyncio.wait_for(ws.receive(), 0.5)
            except TimeoutError:
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if data.get("method") == "rollup_subscription":
                result = data["params"]["result"]
                if result.get("kind", "unsafe") == "unsafe":
                    seen.setdefault(result["number"], time.perf_counter())


async def follow_safe(
    executor: Rpc, safe_at: dict[int, float], stop: asyncio.Event, level: str = "safe", poll_s: float = 0.05
) -> None:
    """When each block reached `level` (safe or finalized) on the executor, from its sync status."""
    last = -1
    while not stop.is_set():
        status = await executor.call("rollup_syncStatus")
        now = time.perf_counter()
        for n in range(last + 1, status[level]["number"] + 1):
            safe_at[n] = now
        last = max(last, status[level]["number"])
        await asyncio.sleep(poll_s)


def data_dirs(info: dict[str, Any]) -> dict[str, Path]:
    """The sequencer's and the first executor's data directories (from devnet.json)."""
    wanted = {"sequencer", info["executors"][0].get("name", "executor-0")}
    return {p["name"]: Path(p["data_dir"]) for p in info["processes"] if p["name"] in wanted and "data_dir" in p}


def dir_bytes(path: Path) -> int:
    """Bytes of every file under `path` (files that vanish mid-walk, as compaction removes them, are skipped)."""
    total = 0
    for entry in path.rglob("*"):
        try:
            if entry.is_file():
                total += entry.stat().st_size
        except FileNotFoundError:
            continue
    return total


async def run(args: argparse.Namespace, info: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        seq = Rpc(session, info["sequencer"]["rpc"])
        executor = Rpc(session, info["executors"][0]["rpc"])
        chain_id = await seq.call("rollup_chainId")
        fee = 10**9
        keys = await fund_senders(seq, chain_id, args.senders, fee)
        total = int(args.transfers) if getattr(args, "transfers", None) else int(args.rate * args.seconds)
        if total <= 0:
            raise SystemExit("nothing to send: give --transfers with --rate 0")
        txs = presign(keys, await current_nonces(seq, keys), chain_id, total, fee, args.fresh_recipients)
        dirs = data_dirs(info)
        disk_before = {name: dir_bytes(path) for name, path in dirs.items()}
        metrics_before = await scrape(session, info)
        cpu_before = {p["name"]: cpu_tree_seconds(p["pid"]) for p in info["processes"]}
        sealed_at: dict[str, float] = {}
        block_of: dict[str, int] = {}
        safe_at: dict[int, float] = {}
        finalized_at: dict[int, float] = {}
        stop = asyncio.Event()
        sequencer_heads: dict[int, float] = {}
        executor_heads: list[dict[int, float]] = [{} for _ in info["executors"]]
        followers = [
            asyncio.create_task(follow_blocks(info["sequencer"]["ws"], seq, sealed_at, block_of, stop)),
            asyncio.create_task(follow_safe(executor, safe_at, stop)),
            *(
                [asyncio.create_task(follow_safe(executor, finalized_at, stop, "finalized", 0.5))]
                if args.finalized
                else []
            ),
            asyncio.create_task(follow_heads(info["sequencer"]["ws"], sequencer_heads, stop)),
            *(
                asyncio.create_task(follow_heads(e["ws"], heads, stop))
                for e, heads in zip(info["executors"], executor_heads)
            ),
        ]
        await asyncio.sleep(0.5)
        submitted: dict[str, float] = {}
        start = time.perf_counter()
        sends = await offer(seq, txs, args, submitted, lambda: len(sealed_at), start)
        offered_s = time.perf_counter() - start
        refused = sum(await asyncio.gather(*sends))
        deadline = time.perf_counter() + args.drain_seconds
        while time.perf_counter() < deadline:
            done = [h for h in submitted if h in block_of and block_of[h] in safe_at]
            if len(done) == len(submitted):
                break
            await asyncio.sleep(0.2)
        if args.finalized:
            deadline = time.perf_counter() + args.finalize_seconds
            last_block = max(block_of.values(), default=0)
            while time.perf_counter() < deadline and last_block not in finalized_at:
                await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*followers, return_exceptions=True)
        cpu = {
            name: cpu_tree_seconds(p["pid"]) - cpu_before[name]
            for name, p in ((p["name"], p) for p in info["processes"])
        }
        metrics_after = await scrape(session, info)
        gossip_bytes = await block_bytes(seq, sorted(set(block_of.values())))
        disk_after = {name: dir_bytes(path) for name, path in dirs.items()}
    soft = sorted((sealed_at[h] - t) * 1000 for h, t in submitted.items() if h in sealed_at)
    safe = sorted(
        (safe_at[block_of[h]] - t) * 1000 for h, t in submitted.items() if h in block_of and block_of[h] in safe_at
    )
    finalized = sorted(
        (finalized_at[block_of[h]] - t) * 1000
        for h, t in submitted.items()
        if h in block_of and block_of[h] in finalized_at
    )
    soft_times = [sealed_at[h] for h in submitted if h in sealed_at]
    safe_times = [safe_at[block_of[h]] for h in submitted if h in block_of and block_of[h] in safe_at]
    wall = time.perf_counter() - start
    l1_bytes = metric_delta(metrics_before, metrics_after, "settler", "settler_batch_bytes_total")
    l1_txs = metric_delta(metrics_before, metrics_after, "settler", "settler_txs_posted_total")
    disk = metric_delta(metrics_before, metrics_after, "executor-0", "disk_bytes")
    return {
        "offered_rate": args.rate,
        "offered_seconds": round(offered_s, 2),
        "submitted": len(submitted),
        "refused": refused,
        "window": getattr(args, "window", 0),
        "soft_confirmed": len(soft),
        "safe": len(safe),
        "tps_soft": sustained_rate(soft_times),
        "tps_safe": sustained_rate(safe_times),
        "soft_p50_ms": round(statistics.median(soft), 1) if soft else None,
        "soft_p99_ms": round(soft[int(len(soft) * 0.99) - 1], 1) if soft else None,
        "sequencer_soft_p50_ms": in_ms(histogram_quantile(metrics_before, metrics_after, "sequencer", SOFT, 0.5)),
        "sequencer_soft_p99_ms": in_ms(histogram_quantile(metrics_before, metrics_after, "sequencer", SOFT, 0.99)),
        "batch": batch_size(args),
        "blocks": len(set(block_of.values())),
        "safe_p50_ms": round(statistics.median(safe), 1) if safe else None,
        "safe_p99_ms": percentile(safe, 99),
        "finalized": len(finalized) if args.finalized else None,
        "finalized_p50_ms": percentile(finalized, 50),
        "finalized_p99_ms": percentile(finalized, 99),
        "gossip_p50_ms": percentile(gossip_delays(sequencer_heads, executor_heads), 50),
        "gossip_p99_ms": percentile(gossip_delays(sequencer_heads, executor_heads), 99),
        "gossip_bytes_per_tx": round(gossip_bytes / max(len(soft), 1), 1),
        "l1_bytes_per_tx": round(l1_bytes / l1_txs, 1) if l1_txs else None,
        "disk_bytes_per_tx": round(disk / max(len(safe), 1), 1) if disk else None,
        "cpu_percent": {name: round(100 * s / wall, 1) for name, s in cpu.items()},
        "cpu_ms_per_tx": {name: round(1000 * s / max(len(soft), 1), 3) for name, s in cpu.items()},
        "cpu_ms_per_tx_total": round(1000 * sum(cpu.values()) / max(len(soft), 1), 3),
        "state_growth": {
            name: {
                "bytes": disk_after[name] - disk_before[name],
                "bytes_per_tx": round((disk_after[name] - disk_before[name]) / max(len(safe), 1), 1),
                "bytes_per_account": (
                    round((disk_after[name] - disk_before[name]) / max(len(safe), 1), 1)
                    if args.fresh_recipients
                    else None
                ),
            }
            for name in dirs
        },
    }


async def offer(
    seq: Rpc,
    txs: list[tuple[bytes, bytes]],
    args: argparse.Namespace,
    submitted: dict[str, float],
    included: Callable[[], int],
    start: float,
) -> list[asyncio.Task[int]]:
    """Send `txs` in batches: at `--rate` per second, or with `--rate 0` one batch at a time, each
    once the previous one is answered (in order, so no sender's later nonce overtakes an earlier one);
    with `--window N`, never more than N sent and not yet in a block (capacity runs: the mempool is
    never asked to hold more than the window). Returns the send tasks (each: how many were refused)."""
    batch = batch_size(args)
    interval = batch / args.rate if args.rate > 0 else 0.0
    window = int(getattr(args, "window", 0))
    stall_s = float(getattr(args, "drain_seconds", 30.0))
    sends: list[asyncio.Task[int]] = []
    for i in range(0, len(txs), batch):
        delay = start + (i // batch) * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if window and not await wait_for_room(i + batch, window, included, stall_s):
            print(f"nothing landed for {stall_s:.0f} s with the window full: stopped after {i} sent", file=sys.stderr)
            break
        chunk = txs[i : i + batch]
        now = time.perf_counter()
        for tx_hash, _ in chunk:
            submitted["0x" + tx_hash.hex()] = now
        sends.append(asyncio.create_task(send_batch(seq, [raw for _, raw in chunk])))
        if not interval:
            await asyncio.wait([sends[-1]])
    return sends


async def wait_for_room(sent: int, window: int, included: Callable[[], int], stall_s: float) -> bool:
    """Wait until at most `window` of `sent` are outside blocks; False if nothing lands for `stall_s`."""
    last, since = included(), time.perf_counter()
    while sent - included() > window:
        if included() != last:
            last, since = included(), time.perf_counter()
        elif time.perf_counter() - since > stall_s:
            return False
        await asyncio.sleep(0.002)
    return True


async def send_batch(seq: Rpc, raws: list[bytes]) -> int:
    """Submit one batch; the number of transactions the sequencer refused (a refused one never lands)."""
    replies = await seq.batch([("rollup_sendRawTransaction", ["0x" + raw.hex()]) for raw in raws])
    refused = [r["error"] for r in replies if "error" in r]
    if refused:
        print(f"sequencer refused {len(refused)} of {len(raws)}: {refused[0]}", file=sys.stderr)
    return len(refused)


def in_ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def batch_size(args: argparse.Namespace) -> int:
    return max(1, int(getattr(args, "batch", BATCH)))


def gossip_delays(sequencer: dict[int, float], executors: list[dict[int, float]]) -> list[float]:
    """Per block and executor: from the sequencer announcing it sealed to the executor applying it (ms)."""
    return sorted((heads[n] - sequencer[n]) * 1000 for heads in executors for n in heads if n in sequencer)


def percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(len(values) * pct / 100))], 1)


async def block_bytes(seq: Rpc, numbers: list[int]) -> int:
    """Bytes of the blocks as gossiped (the block encoding; the envelope adds ~75 bytes each)."""
    total = 0
    for number in numbers:
        raw = (await seq.call("rollup_getBlockRange", number, 1))[0]
        total += (len(raw) - 2) // 2 + 75
    return total


def sustained_rate(completions: list[float]) -> int:
    """Completions per second between the first and the last completion (the steady state,
    without the time to the first confirmation or the drain after the offered load ends)."""
    if len(completions) < 2:
        return 0
    span = max(completions) - min(completions)
    return round(len(completions) / span) if span > 0 else 0


async def scrape(session: aiohttp.ClientSession, info: dict[str, Any]) -> dict[str, dict[str, float]]:
    urls = {
        "sequencer": info["sequencer"]["rpc"],
        "settler": info["settler"]["rpc"],
        "executor-0": info["executors"][0]["rpc"],
    }
    out: dict[str, dict[str, float]] = {}
    for name, url in urls.items():
        try:
            async with session.get(url.rstrip("/") + "/metrics") as r:
                text = await r.text()
        except aiohttp.ClientError:
            continue
        out[name] = parse_exposition(text)
    return out


def histogram_quantile(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], proc: str, name: str, q: float
) -> float | None:
    """The q-quantile (0..1) of a histogram's observations between two scrapes, in the metric's unit,
    interpolated linearly inside the bucket it falls in (as Prometheus' histogram_quantile does)."""
    prefix = f'{name}_bucket{{le="'
    bounds: list[tuple[float, float]] = []
    for key, value in after.get(proc, {}).items():
        if key.startswith(prefix):
            le = key[len(prefix) : -2]
            bound = float("inf") if le == "+Inf" else float(le)
            bounds.append((bound, value - before.get(proc, {}).get(key, 0.0)))
    bounds.sort()
    if not bounds or bounds[-1][1] <= 0:
        return None
    rank = q * bounds[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in bounds:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def metric_delta(
    before: dict[str, dict[str, float]], after: dict[str, dict[str, float]], proc: str, name: str
) -> float:
    return after.get(proc, {}).get(name, 0.0) - before.get(proc, {}).get(name, 0.0)


def main() -> None:
    args = parse_args()
    started = False
    directory = args.dir
    if directory is None:
        print("starting a devnet...", file=sys.stderr)
        directory, started = start_devnet(args.executors, args.base_port)
    if args.recovery_workers and not started:
        raise SystemExit("--recovery-workers restarts the sequencer of a devnet this script starts (no --dir)")
    try:
        if args.recovery_workers:
            use_recovery_workers(directory, args.recovery_workers)
        info = json.loads((directory / "devnet.json").read_text())
        result = asyncio.run(run(args, info))
    finally:
        if started:
            stop_devnet(directory)
    print(
        f"offered {result['offered_rate']:.0f} tx/s: soft {result['tps_soft']} tx/s (p50 {result['soft_p50_ms']} ms, "
        f"p99 {result['soft_p99_ms']} ms; in the sequencer p50 {result['sequencer_soft_p50_ms']} ms, "
        f"p99 {result['sequencer_soft_p99_ms']} ms), {result['blocks']} blocks, "
        f"safe {result['tps_safe']} tx/s (p50 {result['safe_p50_ms']} ms), "
        f"L1 {result['l1_bytes_per_tx']} B/tx, executor disk {result['disk_bytes_per_tx']} B/tx, "
        f"gossip p50 {result['gossip_p50_ms']} ms ({result['gossip_bytes_per_tx']} B/tx)",
        file=sys.stderr,
    )
    if result["finalized"] is not None:
        print(
            f"finalized {result['finalized']} of {result['submitted']}: p50 {result['finalized_p50_ms']} ms, "
            f"p99 {result['finalized_p99_ms']} ms",
            file=sys.stderr,
        )
    for name, growth in result["state_growth"].items():
        print(f"{name} disk: +{growth['bytes']} B, {growth['bytes_per_tx']} B/tx", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
