#!/usr/bin/env python3
"""The devnet against anvil in one run: the same transfers, the same offered load, the same machine.

    scripts/bench_anvil.py [--transfers 20000] [--rate 0] [--window 8000] [--runs 3]

By default this measures capacity: `--rate 0` sends as fast as each side takes the transfers (one
batch at a time, each once the previous one is answered), with at most `--window` of them sent and
not yet in a block (so neither side is asked to hold more than its pool takes: the devnet's
mempool holds 10,000). A fixed `--rate` instead offers that many per
second to both; if both keep up, the ratio only says so (about 1.0x), not which is faster.

1. anvil (Foundry's local Ethereum node, from npm `@foundry-rs/anvil`, installed once into
   `~/.cache/rollup-devnet/anvil` unless `--anvil PATH` names a binary) runs with 1 s blocks and no
   block gas limit; `--senders` fresh accounts are funded from its dev accounts, then `--transfers`
   signed legacy (EIP-155) transfers, round-robin over the senders, go out in JSON-RPC batches of
   100. Its figure: transfers per second mined (sustained: count over the span from the first to
   the last block holding one).
2. The devnet (`scripts/bench_devnet.py`'s run, 1 executor) gets the same count, senders, batches,
   window and rate. Its figures: transfers per second safe (derived from L1 data by an executor)
   and soft (sealed by the sequencer).

Anvil and the devnet alternate `--runs` times (anvil first in odd runs, the devnet first in even
ones); the ratio is devnet safe / anvil mined per pair (and soft / mined beside it), and the JSON
line (last line printed) has every run's figures, the median ratios and their range. A side
whose figure is near `--window` per second is window-bound, not at capacity: raise the window.
Nothing here is timed inside a test: run it by hand and quote medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS.parent))
sys.path.insert(0, str(SCRIPTS))

import bench_devnet  # noqa: E402

from node.crypto import PrivateKey, keccak256  # noqa: E402
from node.keys.hd import dev_account  # noqa: E402

ANVIL_VERSION = "1.7.1"
ANVIL_CHAIN_ID = 31337
GAS_PRICE = 100 * 10**9
TRANSFER_GAS = 21_000
BATCH = 100
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rollup-devnet" / "anvil"


# ---------------------------------------------------------------- legacy transactions (RLP, EIP-155)


def rlp_encode(item: bytes | int | list[Any]) -> bytes:
    """Recursive-length prefix encoding of bytes, non-negative ints and lists (Ethereum's yellow paper, appendix B)."""
    if isinstance(item, int):
        item = item.to_bytes((item.bit_length() + 7) // 8, "big") if item else b""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _rlp_length(len(item), 0x80) + item
    payload = b"".join(rlp_encode(x) for x in item)
    return _rlp_length(len(payload), 0xC0) + payload


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(encoded)]) + encoded


def sign_legacy_transfer(key: PrivateKey, nonce: int, to: bytes, value: int) -> bytes:
    """A signed EIP-155 legacy transfer for anvil's chain."""
    fields: list[Any] = [nonce, GAS_PRICE, TRANSFER_GAS, to, value, b""]
    signing_hash = keccak256(rlp_encode([*fields, ANVIL_CHAIN_ID, 0, 0]))
    signature = key.sign_hash(signing_hash)
    r, s, recovery = signature[:32], signature[32:64], signature[64]
    v = ANVIL_CHAIN_ID * 2 + 35 + recovery
    return rlp_encode([*fields, v, int.from_bytes(r, "big"), int.from_bytes(s, "big")])


# ---------------------------------------------------------------- anvil


def anvil_binary(explicit: Path | None) -> Path:
    """`--anvil`, else `anvil` on PATH, else the npm package installed once into the cache."""
    if explicit is not None:
        return explicit
    found = shutil.which("anvil")
    if found:
        return Path(found)
    binary = next(CACHE.glob("node_modules/@foundry-rs/anvil-linux-*/bin/anvil"), None)
    if binary is None:
        print(f"installing @foundry-rs/anvil@{ANVIL_VERSION} from npm into {CACHE}", file=sys.stderr)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-save", "--prefix", str(CACHE), f"@foundry-rs/anvil@{ANVIL_VERSION}"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        binary = next(CACHE.glob("node_modules/@foundry-rs/anvil-linux-*/bin/anvil"), None)
    if binary is None:
        raise SystemExit(f"no anvil binary under {CACHE}/node_modules/@foundry-rs after npm install")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Anvil:
    def __init__(self, binary: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [str(binary), "--port", str(self.port), "--block-time", "1", "--disable-block-gas-limit", "--silent"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def rpc(session: aiohttp.ClientSession, url: str, method: str, *params: Any) -> Any:
    async with session.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}) as r:
        reply = await r.json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


async def rpc_batch(session: aiohttp.ClientSession, url: str, raws: list[bytes]) -> None:
    calls = [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
        for i, raw in enumerate(raws)
    ]
    async with session.post(url, json=calls) as r:
        replies = await r.json()
    errors = [reply["error"] for reply in replies if "error" in reply]
    if errors:
        raise RuntimeError(f"anvil refused {len(errors)} of {len(raws)}: {errors[0]}")


async def wait_ready(session: aiohttp.ClientSession, url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await rpc(session, url, "eth_chainId")
            return
        except aiohttp.ClientError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def anvil_run(binary: Path, transfers: int, rate: float, senders: int, window: int) -> dict[str, Any]:
    anvil = Anvil(binary)
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, anvil.url)
            keys = [PrivateKey(((i + 1) * 104729).to_bytes(32, "big")) for i in range(senders)]
            funders = [dev_account(i) for i in range(10)]
            funding = [
                sign_legacy_transfer(funders[i % 10], i // 10, key.address, 10**20) for i, key in enumerate(keys)
            ]
            for i in range(0, len(funding), BATCH):
                await rpc_batch(session, anvil.url, funding[i : i + BATCH])
            while (
                int(await rpc(session, anvil.url, "eth_getBalance", "0x" + keys[-1].address.hex(), "latest"), 16) == 0
            ):
                await asyncio.sleep(0.2)
            raws = [
                sign_legacy_transfer(keys[i % senders], i // senders, keys[(i + 1) % senders].address, 1)
                for i in range(transfers)
            ]
            hashes = {"0x" + keccak256(raw).hex() for raw in raws}
            start_block = int(await rpc(session, anvil.url, "eth_blockNumber"), 16)
            mined_at: list[float] = []
            follower = asyncio.create_task(follow_anvil(session, anvil.url, start_block, hashes, mined_at))
            started = time.perf_counter()
            pending = []
            for i in range(0, transfers, BATCH):
                delay = started + (i // BATCH) * BATCH / rate - time.perf_counter() if rate > 0 else 0.0
                if delay > 0:
                    await asyncio.sleep(delay)
                if window and not await bench_devnet.wait_for_room(i + BATCH, window, lambda: len(mined_at), 60.0):
                    raise RuntimeError(f"anvil mined nothing for 60 s with the window full, after {i} sent")
                pending.append(asyncio.create_task(rpc_batch(session, anvil.url, raws[i : i + BATCH])))
                if rate <= 0:
                    await asyncio.wait([pending[-1]])  # one batch at a time, as the devnet gets them
            await asyncio.gather(*pending)
            offered_s = time.perf_counter() - started
            await asyncio.wait_for(follower, timeout=120)
    finally:
        anvil.stop()
    return {
        "mined": len(mined_at),
        "tps_mined": bench_devnet.sustained_rate(mined_at),
        "tps_offered": round(transfers / offered_s) if offered_s > 0 else None,
    }


async def follow_anvil(
    session: aiohttp.ClientSession, url: str, start_block: int, hashes: set[str], mined_at: list[float]
) -> None:
    """Poll new blocks; each of our transfers counts as mined when first seen in one."""
    next_block = start_block + 1
    while len(mined_at) < len(hashes):
        head = int(await rpc(session, url, "eth_blockNumber"), 16)
        while next_block <= head:
            block = await rpc(session, url, "eth_getBlockByNumber", hex(next_block), False)
            now = time.perf_counter()
            mined_at.extend(now for tx in block["transactions"] if tx in hashes)
            next_block += 1
        await asyncio.sleep(0.05)


# ---------------------------------------------------------------- the devnet, same load


def devnet_run(transfers: int, rate: float, senders: int, window: int) -> dict[str, Any]:
    directory, _ = bench_devnet.start_devnet(1)
    try:
        info = json.loads((directory / "devnet.json").read_text())
        args = argparse.Namespace(
            rate=rate,
            seconds=transfers / rate if rate > 0 else 0.0,
            transfers=transfers,
            window=window,
            batch=BATCH,
            senders=senders,
            drain_seconds=60.0,
            finalized=False,
            finalize_seconds=0.0,
            fresh_recipients=False,
        )
        result = asyncio.run(bench_devnet.run(args, info))
    finally:
        bench_devnet.stop_devnet(directory)
    keep = (
        "safe",
        "refused",
        "tps_safe",
        "tps_soft",
        "soft_p50_ms",
        "sequencer_soft_p50_ms",
        "blocks",
        "cpu_ms_per_tx",
    )
    return {key: result[key] for key in keep} | {"tps_offered": round(transfers / result["offered_seconds"])}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transfers", type=int, default=20_000)
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered transfers per second, for both; 0 (the default): as fast as each takes them, "
        "so the figures are capacities",
    )
    p.add_argument(
        "--window",
        type=int,
        default=8_000,
        help="at most this many transfers sent and not yet in a block, for both (0: no limit); "
        "keeps the devnet's mempool (10,000) from refusing any",
    )
    p.add_argument("--senders", type=int, default=200)
    p.add_argument("--runs", type=int, default=3, help="alternating anvil/devnet pairs")
    p.add_argument("--anvil", type=Path, default=None, help="an anvil binary (default: PATH, else npm)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    binary = anvil_binary(args.anvil)
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip().splitlines()[0]
    pairs: list[dict[str, Any]] = []
    ratios: list[float] = []
    soft_ratios: list[float] = []
    for run in range(args.runs):
        anvil: dict[str, Any] = {}
        devnet: dict[str, Any] = {}
        for side in ("anvil", "devnet") if run % 2 == 0 else ("devnet", "anvil"):  # alternate who goes first
            if side == "anvil":
                anvil = asyncio.run(anvil_run(binary, args.transfers, args.rate, args.senders, args.window))
            else:
                devnet = devnet_run(args.transfers, args.rate, args.senders, args.window)
        ratio = round(devnet["tps_safe"] / anvil["tps_mined"], 2) if anvil["tps_mined"] else None
        soft_ratio = round(devnet["tps_soft"] / anvil["tps_mined"], 2) if anvil["tps_mined"] else None
        pairs.append(
            {"anvil": anvil, "devnet": devnet, "ratio_safe_vs_anvil": ratio, "ratio_soft_vs_anvil": soft_ratio}
        )
        if ratio is not None and soft_ratio is not None:
            ratios.append(ratio)
            soft_ratios.append(soft_ratio)
        print(
            f"run {run + 1}: anvil {anvil['tps_mined']} tx/s mined, devnet {devnet['tps_safe']} tx/s safe "
            f"({devnet['tps_soft']} soft): {ratio}x",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "anvil_version": version,
                "transfers": args.transfers,
                "offered_rate": args.rate,
                "runs": pairs,
                "ratio_median": statistics.median(ratios) if ratios else None,
                "ratio_range": [min(ratios), max(ratios)] if ratios else None,
                "ratio_soft_median": statistics.median(soft_ratios) if soft_ratios else None,
                "ratio_soft_range": [min(soft_ratios), max(soft_ratios)] if soft_ratios else None,
                "window": args.window,
            }
        )
    )


if __name__ == "__main__":
    main()
