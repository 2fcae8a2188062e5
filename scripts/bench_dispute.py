#!/usr/bin/env python3
"""Time from a wrong output proposal landing on L1 to the first dispute move, with and without attestations.

Starts a detached devnet (two executors, fast L1 blocks, short windows) in a temporary directory
with four honest challengers that differ in two things only:

    gossip        the devnet's own challenger: [p2p] + [attestation], the devnet's poll (L1 block / 4)
    plain         no gossip (it sees nothing but L1), the same poll
    gossip-slow   [p2p] + [attestation], `--slow-poll-ms` between rounds
    plain-slow    no gossip, `--slow-poll-ms`

(no allies: each one disputes every wrong output). Under a light transfer load, once the gossiping
challengers hold the executors' attestations, the faulty proposer is switched on at run time
(`devnet_setFaultyProposer tx`: every output is then wrong in turn, each defeated and proposed again
correctly). For each wrong proposal and each challenger: the L1 block of its dispute (the game's
`createdAt`) minus the L1 block the proposal landed in (`proposedAt`). A dispute in the block after
the proposal is 1 L1 block, the least possible.

Prints progress on stderr and one final JSON line on stdout: per challenger the delays in L1
blocks (list, median, min, max) and in ms at the L1 block time.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from node.devnet.configs import p2p_multiaddr  # noqa: E402
from node.devnet.handle import Devnet  # noqa: E402
from node.devnet.ports import port_is_free, random_free_base_port  # noqa: E402
from node.devnet.toml import dumps  # noqa: E402
from node.keys.hd import dev_account  # noqa: E402
from node.rpc.client import RpcTransportError, SyncRpcClient  # noqa: E402
from node.rpc.errors import RpcError  # noqa: E402
from node.tx import Transfer, sign_tx  # noqa: E402

ROLLUP = [str(Path(sys.executable).parent / "rollup")]
T = TypeVar("T")
EXTRA = (  # name, gossip, slow poll, L1 key (funded dev accounts the devnet's roles do not use)
    ("plain", False, False, "dev7"),
    ("gossip-slow", True, True, "dev4"),
    ("plain-slow", False, True, "dev3"),
)


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def wait_for(check: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(RpcError, RpcTransportError, OSError):
            value = check()
            if value:
                return value
        time.sleep(0.25)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    while not port_is_free(port := random.randrange(42000, 60000)):
        pass
    return port


class Load:
    """L2 transfers dev2 -> dev3 every 100 ms, so every output range holds transactions to get wrong."""

    def __init__(self, rpc: str) -> None:
        self.client = SyncRpcClient(rpc)
        self.key = dev_account(2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        nonce: int | None = None
        chain_id = 0
        while not self.stop.wait(0.1):
            try:
                if nonce is None:
                    chain_id = int(self.client.call("rollup_chainId"))
                    nonce = int(self.client.call("rollup_getNonce", "0x" + self.key.address.hex(), "latest"))
                tx = sign_tx(self.key, chain_id, nonce, 10**9, Transfer(dev_account(3).address, 7))
                self.client.call("rollup_sendRawTransaction", "0x" + tx.encode().hex())
                nonce += 1
            except (RpcError, RpcTransportError):
                nonce = None


def start_extra(
    directory: Path, devnet: Devnet, name: str, gossip: bool, poll_ms: int | None, key: str
) -> tuple[subprocess.Popen[bytes], str]:
    """A copy of the devnet's challenger config with its own key, data, RPC port, gossip or not, and poll."""
    honest = next(p for p in devnet.state["processes"] if p["name"] == "challenger")
    doc = tomllib.loads(Path(honest["config"]).read_text())
    rpc_port = free_port()
    doc["node"] = {**doc["node"], "data_dir": str(directory / name / "data"), "rpc_port": rpc_port}
    doc["challenger"] = {**doc["challenger"], "key": key}
    if poll_ms is not None:
        doc["challenger"]["poll_ms"] = poll_ms
    if gossip:
        bootstrap = []
        for process in devnet.state["processes"]:
            if process["role"] == "executor":
                executor = tomllib.loads(Path(process["config"]).read_text())
                bootstrap.append(p2p_multiaddr(process["name"], int(executor["p2p"]["listen_port"])))
        doc["p2p"] = {"listen_port": free_port(), "seed": f"bench-dispute {name}", "bootstrap": bootstrap}
        secret = hashlib.sha256(f"bench-dispute {name}".encode()).hexdigest()
        doc["attestation"] = {**doc["attestation"], "key": "0x" + secret}
    else:
        doc.pop("p2p", None)
        doc.pop("attestation", None)
    (directory / name).mkdir(parents=True, exist_ok=True)
    config = directory / name / "challenger.toml"
    config.write_text(dumps(doc))
    log = (directory / name / "challenger.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "prover", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    return proc, f"http://127.0.0.1:{rpc_port}/"


def status_of(url: str, name: str) -> dict[str, Any]:
    return wait_for(lambda: dict(SyncRpcClient(url).call("challenger_status")), 120, f"{name} to answer")


def attestation_heights(url: str) -> int:
    view = SyncRpcClient(url).call("challenger_status")["attestations"] or {}
    return int(view.get("heights", 0))


def stats(values: list[int], block_ms: int) -> dict[str, Any]:
    if not values:
        return {"blocks": [], "n": 0}
    return {
        "n": len(values),
        "blocks": values,
        "medianBlocks": statistics.median(values),
        "minBlocks": min(values),
        "maxBlocks": max(values),
        "medianMs": statistics.median(values) * block_ms,
        "rangeMs": [min(values) * block_ms, max(values) * block_ms],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proposals", type=int, default=5, help="wrong proposals to measure")
    parser.add_argument("--l1-block-time-ms", type=int, default=250)
    parser.add_argument("--slow-poll-ms", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=900, help="seconds for the whole measurement")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-dispute-"))
    base = random_free_base_port(2)
    flags = ["--executors", "2", "--l1-block-time-ms", str(args.l1_block_time_ms), "--block-time-ms", "100"]
    flags += ["--challenge-window", "40", "--game-clock", "20", "--base-port", str(base)]
    say(f"devnet in {directory} (base port {base})")
    command = [*ROLLUP, "devnet", "up", "--detach", "--dir", str(directory), *flags]
    subprocess.run(command, check=True, timeout=180, stdout=sys.stderr)  # the banner: stdout keeps the JSON line
    extras: list[subprocess.Popen[bytes]] = []
    try:
        devnet = Devnet.from_dir(directory)
        urls = {"gossip": devnet.endpoints["challengers"][0]}
        for name, gossip, slow, key in EXTRA:
            proc, url = start_extra(directory, devnet, name, gossip, args.slow_poll_ms if slow else None, key)
            extras.append(proc)
            urls[name] = url
        address = {name: status_of(url, name)["address"].lower() for name, url in urls.items()}
        load = Load(devnet.endpoints["sequencer"])
        load.thread.start()
        for name in ("gossip", "gossip-slow"):
            wait_for(functools.partial(attestation_heights, urls[name]), 240, f"{name} to hold attestations")
        result = measure(devnet, address, args)
        load.stop.set()
    finally:
        with contextlib.suppress(Exception):
            Devnet.from_dir(directory).faulty_proposer(None)
        for proc in extras:
            proc.kill()
            proc.wait(10)
        subprocess.run([*ROLLUP, "devnet", "down", "--dir", str(directory)], capture_output=True, timeout=120)
    print(json.dumps(result))
    return 0


def measure(devnet: Devnet, address: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    l1 = SyncRpcClient(devnet.endpoints["l1"])
    executor = SyncRpcClient(devnet.endpoints["executors"][0])
    before = max((int(o["index"]) for o in l1.call("l1_getOutputs", 0, 256)), default=-1)
    devnet.faulty_proposer("tx")
    say(f"faulty proposer on after output {before}")
    delays: dict[str, list[int]] = {name: [] for name in address}
    measured: set[int] = set()
    verdicts: dict[int, bool] = {}
    deadline = time.monotonic() + args.timeout
    while len(measured) < args.proposals and time.monotonic() < deadline:
        time.sleep(1.0)
        try:
            outputs = [o for o in l1.call("l1_getOutputs", 0, 256) if int(o["index"]) > before]
            games = l1.call("l1_getGames", 0, 256)
            for output in outputs:
                index = int(output["index"])
                if index in measured:
                    continue
                if index not in verdicts:
                    ours = executor.call("rollup_outputAtBlock", output["l2BlockNumber"])
                    verdicts[index] = ours["outputRoot"] != output["outputRoot"]
                if not verdicts[index]:
                    continue
                created = {
                    str(g["challenger"]).lower(): int(g["createdAt"]) for g in games if g["outputIndex"] == index
                }
                if all(a in created for a in address.values()):
                    measured.add(index)
                    row = {name: created[a] - int(output["proposedAt"]) for name, a in address.items()}
                    for name, blocks in row.items():
                        delays[name].append(blocks)
                    say(f"output {index} (L2 block {output['l2BlockNumber']}, L1 {output['proposedAt']}): {row}")
        except (RpcError, RpcTransportError) as exc:
            say(f"read failed, retrying: {exc}")
    return {
        "proposals": len(measured),
        "l1BlockMs": args.l1_block_time_ms,
        "slowPollMs": args.slow_poll_ms,
        "challengers": {name: stats(values, args.l1_block_time_ms) for name, values in delays.items()},
    }


if __name__ == "__main__":
    sys.exit(main())
