"""The settler as a gossip peer on a real devnet (`rollup devnet up`, issue 14).

One devnet (L1 with 1.5 s blocks, so the 20-block sequencing window (30 s)
outlasts a settler restart and catch-up under load; sequencer with 100 ms blocks, settler, one
executor) under a steady load of transfers; each phase reports figures:
1. the devnet's settler takes its batches from gossip
   (settler_batches_total{source="gossip"}); every batch on L1 equals the
   one built from the sequencer's `rollup_getBatchBlocks` for the same range,
   byte for byte; gossip latency (sealed -> received) and seal -> posted;
2. "before": a settler without [p2p] (the RPC path only) replaces it for a
   while: its batches come from the RPC, and its seal -> posted is measured;
   then one with [p2p] but no peer: gossip brings nothing, so its batches
   come from the RPC fallback;
3. the settler with [p2p] and its fallback RPC pointing at a closed port:
   batches still reach L1 (all from gossip, none from the RPC) and the
   executor derives safe blocks; it is killed with SIGKILL under load and
   restarted, twice, and nothing is lost: every transfer the sequencer
   acknowledged is in the executor's safe chain where the sequencer's
   chain has it (or reported dropped, -32007, should the sequencer have
   healed after a slow restart: the heals are reported), and, unless it
   healed (then the blocks of a batch L1 dropped are posted again, re-sealed),
   no L2 block is in two batches;
4. a peer that gossips garbage and blocks signed by another key to the
   settler is rejected with reasons in its status, dropped, and the settler
   keeps posting.

The devnet is always brought down and our own settler killed, pass or fail.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from l1.settler.pack import parse_batch_block
from node.batch import decode_batch, encode_batch
from node.block import Block, decode_block
from node.crypto import PrivateKey, parse_hex
from node.devnet.ports import random_free_base_port
from node.devnet.toml import dumps
from node.gossip import block_topic, sign_block
from node.p2p import P2PConfig, P2PNode, derive_seed, make_multiaddr
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from sequencer.dropped import TRANSACTION_DROPPED
from tests.processes.test_sequencer_heal_devnet import CHAIN_ID, Devnet, Senders, cli_json, report, safe_number
from tests.support.processes import Process, RpcFailure, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a devnet under load on 2 shared cores


class GossipDevnet(Devnet):
    """test_sequencer_heal_devnet's devnet with one executor."""

    def __init__(self, directory: Path) -> None:
        self.ours: list[Process] = []
        self.directory = directory
        base = random_free_base_port(1)
        self.doc = cli_json(
            "devnet", "up", "--dir", str(directory), "--detach", "--base-port", str(base), "--executors", "1",
            "--l1-block-time-ms", "1500", "--block-time-ms", "100", "--challenge-window", "10",
        )  # fmt: skip
        self.sequencer = SyncRpcClient(self.doc["sequencer"]["rpc"], timeout=10)
        self.executors = [SyncRpcClient(e["rpc"], timeout=10) for e in self.doc["executors"]]
        self.l1 = SyncRpcClient(self.doc["l1"]["rpc"], timeout=10)


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[GossipDevnet]:
    net = GossipDevnet(tmp_path / "net")
    try:
        yield net
    finally:
        for process in net.ours:
            process.kill()
        net.down()


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    """Poll until truthy; a process not answering yet (connection refused, JSON-RPC error) counts as not yet."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, RpcFailure, RpcError, RpcTransportError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def metric_sum(url: str, name: str, **labels: str) -> float:
    with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=5) as response:
        text = response.read().decode()
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? ([0-9.e+-]+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def settler_config_doc(net: GossipDevnet) -> dict[str, Any]:
    state = json.loads((net.directory / "devnet.json").read_text())
    path = next(p["config"] for p in state["processes"] if p["name"] == "settler")
    return tomllib.loads(Path(path).read_text())


def start_settler(net: GossipDevnet, name: str, doc: dict[str, Any], port: int) -> Process:
    doc = json.loads(json.dumps(doc))
    doc["node"]["rpc_port"] = port
    doc.pop("faults", None)
    path = net.directory / f"{name}.toml"
    path.write_text(dumps(doc))
    process = Process(name, ["-m", "l1.settler", "--config", str(path)], net.directory / f"{name}.log", "")
    process.url = f"http://127.0.0.1:{port}"
    net.ours.append(process.start())
    wait_for(lambda: process.alive() and process.call("settler_status"), 60, f"{name} up")
    return process


def l1_batches(l1: SyncRpcClient) -> list[bytes]:
    head = int(l1.call("l1_blockNumber"))
    out: list[bytes] = []
    for first in range(0, head + 1, 64):
        for block in l1.call("l1_getDerivationData", first, 64):
            out.extend(parse_hex(batch["data"]) for batch in block["batches"])
    return out


def assert_batches_equal_rpc_batches(net: GossipDevnet) -> int:
    """Every batch on L1 is what rollup_getBatchBlocks gives for its range, byte for byte."""
    batches = l1_batches(net.l1)
    for data in batches:
        blocks = decode_batch(data, CHAIN_ID)
        first, count = blocks[0].number, len(blocks)
        items: list[Any] = []
        while len(items) < count:
            items.extend(net.sequencer.call("rollup_getBatchBlocks", first + len(items), count - len(items)))
        from_rpc = [parse_batch_block(item) for item in items]
        assert encode_batch(from_rpc, CHAIN_ID) == data, f"batch of blocks {first}..{first + count - 1}"
    return len(batches)


def posted_twice(net: GossipDevnet) -> list[int]:
    seen: dict[int, int] = {}
    for data in l1_batches(net.l1):
        for block in decode_batch(data, CHAIN_ID):
            seen[block.number] = seen.get(block.number, 0) + 1
    return sorted(n for n, k in seen.items() if k > 1)


def figures(process_url: str) -> dict[str, Any]:
    status = SyncRpcClient(process_url, timeout=10).call("settler_status")
    return {"gossip": (status.get("gossip") or {}).get("latency"), "sealToPost": status["sealToPost"]}


def test_the_settler_batches_from_gossip_and_survives_without_the_sequencer_rpc(devnet: GossipDevnet) -> None:
    net = devnet
    settler_url = net.doc["settler"]["rpc"].rstrip("/")
    executor = net.executors[0]
    with Senders(net.doc["sequencer"]["rpc"]) as senders:
        # 1. the devnet's settler batches from gossip
        wait_for(lambda: metric_sum(settler_url, "settler_batches_total", source="gossip") >= 3, 90, "gossip batches")
        wait_for(lambda: safe_number(executor) >= 20, 60, "executor safe blocks")
        wait_for(lambda: len(l1_batches(net.l1)) >= 3, 60, "the batches sent included on L1")
        after = figures(settler_url)
        report(f"settler with gossip: {after}")
        assert metric_sum(settler_url, "settler_batches_total", source="rpc") == 0
        assert metric_sum(settler_url, "settler_gossip_blocks_total") >= 20
        assert assert_batches_equal_rpc_batches(net) >= 3

        # 2. before: the RPC path only
        os.kill(net.pid("settler"), signal.SIGKILL)
        base_doc = settler_config_doc(net)
        rpc_only = {k: v for k, v in base_doc.items() if k != "p2p"}
        port = free_port()
        before_settler = start_settler(net, "settler-rpc-only", rpc_only, port)
        wait_for(lambda: metric_sum(before_settler.url, "settler_batches_total", source="rpc") >= 3, 90, "rpc batches")
        before = figures(before_settler.url)
        report(f"settler without gossip (RPC only): {before}")
        assert metric_sum(before_settler.url, "settler_batches_total", source="gossip") == 0
        before_settler.kill()

        # 2b. a [p2p] section but no peer: gossip brings nothing, so after gossip_fallback_ms the RPC is used
        lonely = json.loads(json.dumps(base_doc))
        # a new identity too: with discovery on, the peers that knew the devnet settler's would dial it back
        lonely["p2p"]["bootstrap"] = []
        lonely["p2p"]["seed"], lonely["p2p"]["listen_port"] = "settler without peers", free_port()
        lonely["settler"]["gossip_fallback_ms"] = 1000
        alone = start_settler(net, "settler-no-peers", lonely, free_port())
        wait_for(lambda: metric_sum(alone.url, "settler_batches_total", source="rpc") >= 3, 90, "fallback batches")
        assert metric_sum(alone.url, "settler_batches_total", source="gossip") == 0
        assert "blocks from rpc" in alone.log.read_text()
        alone.kill()

        # 3. gossip only: the fallback RPC is a closed port; then kill -9 under load, twice
        closed = free_port()
        gossip_doc = json.loads(json.dumps(base_doc))
        gossip_doc["settler"]["sequencer_rpc"] = f"http://127.0.0.1:{closed}/"
        gossip_doc["settler"]["gossip_fallback_ms"] = 2000
        safe_before = safe_number(executor)
        for round_ in range(3):
            settler = start_settler(net, f"settler-gossip-{round_}", gossip_doc, free_port())
            posted = metric_sum(settler.url, "settler_batches_total", source="gossip")
            wait_for(
                lambda s=settler, n=posted: metric_sum(s.url, "settler_batches_total", source="gossip") >= n + 2,
                90,
                f"gossip batches without the sequencer RPC (round {round_})",
            )
            assert metric_sum(settler.url, "settler_batches_total", source="rpc") == 0
            if round_ < 2:
                time.sleep(0.3 * (round_ + 1))
                settler.kill()  # SIGKILL under load
        gossip_only = figures(settler.url)
        report(f"settler with gossip, sequencer RPC unreachable: {gossip_only}")
        wait_for(lambda: safe_number(executor) >= safe_before + 15, 90, "the executor deriving safe blocks")
        assert settler.call("settler_status")["gossip"]["held"] >= 1

        # 4. a bad peer: rejected with reasons, dropped; the settler keeps posting
        attack_settler(net, settler)
        posted = metric_sum(settler.url, "settler_batches_total", source="gossip")
        wait_for(lambda: metric_sum(settler.url, "settler_batches_total", source="gossip") >= posted + 2, 60, "posting")
        senders.stop.set()
    acknowledged = dict(senders.receipts)
    assert len(acknowledged) >= 100
    target = max(int(r["blockNumber"]) for r in acknowledged.values())
    wait_for(lambda: safe_number(executor) >= target, 120, f"every acknowledged transfer safe (block {target})")
    missing, dropped, moved = [], 0, 0
    for tx_hash, given in acknowledged.items():
        try:
            now = net.sequencer.call("rollup_getTransactionReceipt", tx_hash)
        except RpcError as exc:
            assert exc.code == TRANSACTION_DROPPED, exc
            dropped += 1
            continue
        ours = executor.call("rollup_getTransactionReceipt", tx_hash)
        if now is None or ours is None or ours["blockHash"] != now["blockHash"]:
            missing.append(tx_hash)
        moved += now is not None and now["blockHash"] != given["blockHash"]
    assert not missing, f"{len(missing)} acknowledged transfers not in the safe chain: {missing[:3]}"
    heals = metric_sum(net.doc["sequencer"]["rpc"], "l2_reorgs_total")
    report(f"sequencer heals {heals:.0f}, transfers moved by a heal {moved}, dropped {dropped}")
    twice = posted_twice(net)
    report(f"L2 blocks in two batches: {len(twice)}")
    if heals == 0:
        assert twice == []
    assert assert_batches_equal_rpc_batches(net) >= 10
    report(f"{len(acknowledged)} transfers, all safe; batches on L1 equal the RPC's")


def attack_settler(net: GossipDevnet, settler: Process) -> None:
    liar = PrivateKey(bytes([99]) * 32)
    status = settler.call("settler_status")["gossip"]
    doc = tomllib.loads(Path(settler.args[-1]).read_text())
    settler_addr = make_multiaddr(doc["p2p"]["listen_port"], status["peerId"])
    raw = net.sequencer.call("rollup_getBlockRange", 1, 1)[0]
    block = decode_block(parse_hex(raw))
    topic = block_topic(CHAIN_ID)

    async def attack() -> str:
        async with P2PNode(P2PConfig(seed=derive_seed("settler attacker"), bootstrap=(settler_addr,))) as node:
            node.set_validator(topic, lambda data: True)  # our side relays anything
            await asyncio.sleep(1.0)
            for i in range(30):
                forged = Block(replace(block.header, timestamp_ms=int(time.time() * 1000) + i), block.transactions)
                await node.publish(topic, b"\x93garbage%d" % i)
                await node.publish(topic, sign_block(liar, CHAIN_ID, forged).encode())
            await asyncio.sleep(3.0)
            return str(node.peer_id)

    attacker = asyncio.run(attack())
    status = settler.call("settler_status")["gossip"]
    report(f"settler rejected gossip: {status['rejected']}")
    assert status["rejected"].get("bad_signature", 0) >= 1 and status["rejected"].get("malformed", 0) >= 1
    assert attacker not in status["peers"], "the bad peer is still connected"
    assert settler.alive()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-x", "-q", "-s"]))
