"""Block gossip among real processes: 1 sequencer, 3 executors, L1 and settler on loopback.

Unsafe heads follow the sequencer over libp2p; restarted and late executors
catch up by range sync; a bad peer is dropped without harming anyone; and when
the sequencer gossips one block but posts another to L1, L1 wins.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from node.block import Block
from node.crypto import PrivateKey, to_checksum_address
from node.gossip import block_topic, sign_block
from node.keys.hd import dev_account
from node.p2p import P2PConfig, P2PNode, derive_seed, make_multiaddr, peer_id_from_seed
from node.tx import Transfer, sign_tx
from tests.support.processes import Process, free_port, wait_until, write_toml

pytestmark = pytest.mark.slow

L1_CHAIN_ID, L2_CHAIN_ID = 900, 901
L2_FEE = 10**9
SEQUENCER_KEY = PrivateKey(bytes([31]) * 32)
SEQUENCER_SEED = "test-sequencer"


class Net:
    def __init__(self, tmp: Path, faulty_gossip_block: int | None = None) -> None:
        self.tmp = tmp
        self.seq_p2p = free_port()
        self.seq_addr = make_multiaddr(self.seq_p2p, peer_id_from_seed(derive_seed(SEQUENCER_SEED)))
        self.rollup = {
            "chain_id": L2_CHAIN_ID,
            "l1_chain_id": L1_CHAIN_ID,
            "fee_recipient": to_checksum_address(bytes([0xFE]) * 20),
            "min_fee": L2_FEE,
            "sequencing_window": 20,
            "max_sequencer_drift_ms": 10_000,
        }
        self.genesis = {to_checksum_address(dev_account(i).address): 10**22 for i in range(4)}
        self.l1 = self._process(
            "l1",
            "l1.chain",
            {
                "l1": {
                    "chain_id": L1_CHAIN_ID,
                    "block_time_ms": 300,
                    "batcher": "dev8",
                    "challenge_window": 20,
                    "max_batch_bytes": 1_000_000,
                }
            },
        )
        seq_section = {
            "l1_rpc": self.l1.url,
            "block_time_ms": 100,
            "min_block_time_ms": 100,
            "key": "0x" + SEQUENCER_KEY.secret.hex(),
            "mempool_max_per_sender": 10_000,
            "mempool_max_nonce_gap": 10_000,  # one sender can fill big blocks
            "mempool_max_queued_per_sender": 2_000,  # a burst waits queued behind its first nonce
        }
        if faulty_gossip_block is not None:
            seq_section["faulty_gossip_block"] = faulty_gossip_block
        self.sequencer = self._process(
            "sequencer",
            "sequencer",
            {
                "rollup": self.rollup,
                "rollup.genesis": self.genesis,
                "sequencer": seq_section,
                "p2p": {"listen_port": self.seq_p2p, "seed": SEQUENCER_SEED},
            },
        )
        self.settler = self._process(
            "settler",
            "l1.settler",
            {
                "rollup": self.rollup,
                "rollup.genesis": self.genesis,
                "settler": {
                    "l1_rpc": self.l1.url,
                    "sequencer_rpc": self.sequencer.url,
                    "batcher_key": "dev8",
                    "proposer_key": "dev9",
                    "poll_ms": 100,
                },
            },
        )
        self.executors = [self._executor(i) for i in range(3)]

    def _process(self, name: str, module: str, sections: dict) -> Process:  # type: ignore[type-arg]
        port = free_port()
        cfg = write_toml(
            self.tmp / f"{name}.toml",
            {"node": {"data_dir": str(self.tmp / f"{name}-data"), "rpc_port": port}, **sections},
        )
        return Process(name, ["-m", module, "--config", str(cfg)], self.tmp / f"{name}.log", f"http://127.0.0.1:{port}")

    def _executor(self, i: int) -> Process:
        return self._process(
            f"executor-{i}",
            "node.executor",
            {
                "rollup": self.rollup,
                "rollup.genesis": self.genesis,
                "executor": {"l1_rpc": self.l1.url, "sequencer_rpc": self.sequencer.url, "poll_ms": 100},
                "p2p": {
                    "listen_port": 0,
                    "seed": f"test-executor-{i}",
                    "bootstrap": [self.seq_addr],
                    "sequencer": to_checksum_address(SEQUENCER_KEY.address),
                },
            },
        )

    def all(self) -> list[Process]:
        return [self.l1, self.sequencer, self.settler, *self.executors]

    def stop(self) -> None:
        for process in reversed(self.all()):
            process.stop()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    network = Net(tmp_path)
    try:
        network.l1.start().wait_healthy()
        network.sequencer.start().wait_healthy()
        network.settler.start().wait_healthy()
        for executor in network.executors[:2]:  # the third starts late in a test
            executor.start().wait_healthy()
        yield network
    finally:
        network.stop()


def send_transfers(seq: Process, count: int, start_nonce: int = 0, key_index: int = 0) -> None:
    key = dev_account(key_index)
    for i in range(0, count, 100):
        batch = [
            sign_tx(key, L2_CHAIN_ID, start_nonce + n, L2_FEE, Transfer(dev_account(3).address, 1)).encode()
            for n in range(i, min(count, i + 100))
        ]
        import json
        import urllib.request

        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": n, "method": "rollup_sendRawTransaction", "params": ["0x" + raw.hex()]}
                for n, raw in enumerate(batch)
            ]
        ).encode()
        urllib.request.urlopen(
            urllib.request.Request(seq.url, body, {"Content-Type": "application/json"}), timeout=10
        ).read()


def send_bursts(seq: Process, bursts: int, size: int, key_index: int) -> None:
    """`bursts` runs of `size` transfers, each made executable at once: nonces base+1.. are sent first (they
    wait in the mempool behind the gap), then base, so the next block takes the whole run however slowly
    they were admitted (on a loaded machine admission alone cannot fill a 100 ms block with 300)."""
    for base in range(0, bursts * size, size):
        send_transfers(seq, size - 1, base + 1, key_index)
        send_transfers(seq, 1, base, key_index)


def unsafe(p: Process) -> int:
    return int(p.call("rollup_syncStatus")["unsafe"]["number"])


def test_unsafe_heads_follow_and_state_roots_agree(net: Net) -> None:
    send_transfers(net.sequencer, 300)
    seq_head = wait_until(lambda: unsafe(net.sequencer) >= 5 and unsafe(net.sequencer), 20, "sequencer blocks")
    for ex in net.executors[:2]:
        wait_until(lambda ex=ex: unsafe(ex) >= seq_head, 10, f"{ex.name} unsafe head")
        status = ex.call("rollup_syncStatus")
        assert status["p2p"]["enabled"] and status["p2p"]["peers"]
    # unsafe runs ahead of safe, then safe catches up from L1 with the same blocks
    for n in range(1, seq_head + 1):
        ours = net.sequencer.call("rollup_getBlockByNumber", n, False)
        for ex in net.executors[:2]:
            assert ex.call("rollup_getBlockByNumber", n, False)["stateRoot"] == ours["stateRoot"]
    metrics = _metrics(net.executors[0])
    assert metrics.get("gossip_blocks_applied_total", 0) >= 1


REPLAY_WINDOW_S = 3.0  # node.p2p.runtime: heartbeat_interval 1 s x gossipsub's gossip_window 3


def test_restarted_and_late_executors_catch_up_by_range_sync(net: Net) -> None:
    victim = net.executors[0]
    wait_until(lambda: unsafe(victim) >= 3, 20, "first blocks")
    victim.kill()
    net.settler.stop()  # L1 gets no new batches: the missed blocks can only come from peers
    send_transfers(net.sequencer, 200)
    # longer than the replay to a new subscriber covers (gossipsub's window: 3 heartbeats of 1 s): a restart
    # within it can get every missed block replayed, and nothing is left for range sync to do
    time.sleep(REPLAY_WINDOW_S + 1.5)
    victim.start().wait_healthy()
    late = net.executors[2]
    late.start().wait_healthy()
    target = unsafe(net.sequencer)
    for ex in (victim, late):
        wait_until(lambda ex=ex: unsafe(ex) >= target, 20, f"{ex.name} catching up")
        assert _metrics(ex).get("range_sync_blocks_total", 0) >= 1, ex.tail()


def test_a_bad_peer_is_dropped_and_the_network_keeps_going(net: Net) -> None:
    wait_until(lambda: unsafe(net.executors[0]) >= 2, 20, "first blocks")
    liar = PrivateKey(bytes([99]) * 32)

    async def attack() -> None:
        async with P2PNode(P2PConfig(seed=derive_seed("attacker"), bootstrap=(net.seq_addr,))) as node:
            executor_peer = net.executors[0].call("rollup_syncStatus")["p2p"]["peerId"]
            await node.connect(make_multiaddr(_p2p_port(net.executors[0]), executor_peer))
            node.set_validator(block_topic(L2_CHAIN_ID), lambda data: True)  # our side relays anything
            await asyncio.sleep(1.0)
            block = net_block(net.sequencer)
            for i in range(30):
                forged = Block(replace(block.header, timestamp_ms=block.header.timestamp_ms + i), block.transactions)
                await node.publish(block_topic(L2_CHAIN_ID), b"\x93garbage%d" % i)
                await node.publish(block_topic(L2_CHAIN_ID), sign_block(liar, L2_CHAIN_ID, forged).encode())
            await asyncio.sleep(2.0)
            peers = net.executors[0].call("rollup_syncStatus")["p2p"]["peers"]
            assert node.peer_id not in peers, "the bad peer is still connected"

    asyncio.run(attack())
    before = unsafe(net.executors[0])
    send_transfers(net.sequencer, 50)
    wait_until(lambda: unsafe(net.executors[0]) > before, 20, "progress after the attack")
    status = net.executors[0].call("rollup_syncStatus")["p2p"]
    assert status["rejected"].get("bad_signature", 0) >= 1 and status["rejected"].get("malformed", 0) >= 1
    # nothing invalid was relayed: the executor that is not connected to the attacker saw none of it
    assert sum(net.executors[1].call("rollup_syncStatus")["p2p"]["rejected"].values()) == 0
    assert all(p.alive() for p in net.all() if p.popen is not None)


def net_block(seq: Process):  # type: ignore[no-untyped-def]
    from node.block import decode_block
    from node.crypto import parse_hex

    raw = seq.call("rollup_getBlockRange", 1, 1)[0]
    return decode_block(parse_hex(raw))


def _p2p_port(ex: Process) -> int:
    import tomllib

    config = Path(ex.args[-1])
    return int(tomllib.loads(config.read_text())["p2p"]["listen_port"]) or _listen_port_from_log(ex)


def _listen_port_from_log(ex: Process) -> int:
    for line in ex.log.read_text().splitlines():
        if "p2p listening on" in line:
            return int(line.split("/tcp/")[1].split("/")[0])
    raise AssertionError("executor did not log its p2p address")


def _metrics(p: Process) -> dict[str, float]:
    import urllib.request

    text = urllib.request.urlopen(p.url + "/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values


def test_l1_wins_when_the_sequencer_gossips_a_different_block(tmp_path: Path) -> None:
    faulty = 60  # well after the executor is up and following gossip (blocks every 100 ms)
    network = Net(tmp_path, faulty_gossip_block=faulty)
    try:
        network.l1.start().wait_healthy()
        network.sequencer.start().wait_healthy()
        network.settler.start().wait_healthy()
        ex = network.executors[0]
        ex.start().wait_healthy()
        assert unsafe(ex) < faulty
        wait_until(
            lambda: ex.call("rollup_syncStatus")["safe"]["number"] >= faulty + 2, 60, f"block {faulty} safe from L1"
        )
        real = network.sequencer.call("rollup_getBlockByNumber", faulty, False)["hash"]
        assert ex.call("rollup_getBlockByNumber", faulty, False)["hash"] == real
        assert ex.call("rollup_syncStatus")["p2p"]["reorgs"] >= 1, ex.tail()
        assert _metrics(ex).get("l2_reorgs_total", 0) >= 1
    finally:
        network.stop()


def test_a_peer_joining_while_large_blocks_are_published_crashes_no_one(net: Net) -> None:
    import threading

    wait_until(lambda: unsafe(net.executors[0]) >= 2, 20, "first blocks")
    sender = threading.Thread(target=send_bursts, args=(net.sequencer, 6, 1000, 1))
    sender.start()  # each burst is sealed at once: blocks of up to 1,000 transfers (100+ KB)
    time.sleep(0.3)
    late = net.executors[2]
    late.start().wait_healthy()
    sender.join(60)
    target = unsafe(net.sequencer)
    for ex in net.executors:
        wait_until(lambda ex=ex: unsafe(ex) >= target, 30, f"{ex.name} following")
    biggest = max(
        len(net.sequencer.call("rollup_getBlockByNumber", n, False)["transactions"]) for n in range(1, target + 1)
    )
    assert biggest >= 300, f"blocks stayed small ({biggest} txs): the test did not exercise large messages"
    assert all(p.alive() for p in net.all())
