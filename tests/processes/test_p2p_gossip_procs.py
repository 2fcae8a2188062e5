"""Gossip between OS processes: one in-test publisher, three subscriber processes.

The subscriber processes (`tests/support/p2p_peer.py`) live for the whole module and
bootstrap to the publisher's fixed seed and port; every test starts its own
publisher there, so each test also exercises the subscribers' reconnect loop.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import pytest

from node.p2p import P2PConfig, P2PNode, derive_seed
from node.p2p.identity import make_multiaddr, peer_id_from_seed
from tests.support.p2p_peer import PeerProcess, free_port, make_payload

TOPICS = ("all", "bulk", "lat", "big")
BLOB = "/test/blob/1"
PUB_SEED = derive_seed("procs-publisher")


@pytest.fixture(scope="module")
def pub_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def subscribers(pub_port: int) -> Iterator[list[PeerProcess]]:
    boot = make_multiaddr(pub_port, peer_id_from_seed(PUB_SEED))
    topic_args = [arg for t in TOPICS for arg in ("--topic", t)]
    procs = [
        PeerProcess(
            "--seed", f"procs-sub{i}", "--bootstrap", boot, "--blob-protocol", BLOB, *topic_args, name=f"sub{i}"
        )
        for i in range(3)
    ]
    try:
        for proc in procs:
            proc.wait_ready(60.0)
        yield procs
    finally:
        for proc in procs:
            proc.stop()


def publisher(port: int) -> P2PNode:
    return P2PNode(P2PConfig(seed=PUB_SEED, listen_port=port, close_timeout=3.0))


async def wait_mesh(pub: P2PNode, procs: list[PeerProcess], topic: str, timeout: float = 60.0) -> None:
    """Every subscriber process on `topic` (a loaded full run can take longer than 20 s); on a timeout, what each
    side saw (connected peers, topic peers, the processes' last log lines)."""
    try:
        await pub.wait_for_topic_peers(topic, len(procs), timeout=timeout)
    except TimeoutError:
        seen = await pub.topic_peers(topic)
        tails = "\n".join(f"{p.name} alive={p.alive}: " + " | ".join(p.stderr_tail[-5:]) for p in procs)
        raise AssertionError(
            f"{len(seen)} of {len(procs)} subscribers on {topic!r} after {timeout} s; publisher connected to "
            f"{len(pub.peers())} peers\n{tails}"
        ) from None


async def wait_received(procs: list[PeerProcess], topic: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(len(p.received(topic)) < count for p in procs):
        for p in procs:
            if not p.alive:
                raise AssertionError(f"{p.name} died: " + "\n".join(p.stderr_tail[-10:]))
        if time.monotonic() > deadline:
            counts = {p.name: len(p.received(topic)) for p in procs}
            raise AssertionError(f"only {counts} of {count} messages on {topic} after {timeout}s")
        await asyncio.sleep(0.05)


async def test_every_subscriber_process_receives_every_message(subscribers: list[PeerProcess], pub_port: int) -> None:
    async with publisher(pub_port) as pub:
        await wait_mesh(pub, subscribers, "all")
        for seq in range(50):
            await pub.publish("all", make_payload(seq, 1024))
        await wait_received(subscribers, "all", 50, 15.0)
        for proc in subscribers:
            assert sorted(m["seq"] for m in proc.received("all")) == list(range(50))


async def test_200_messages_of_16kb_at_full_rate_without_loss(subscribers: list[PeerProcess], pub_port: int) -> None:
    async with publisher(pub_port) as pub:
        await wait_mesh(pub, subscribers, "bulk")
        start = time.monotonic()
        for seq in range(200):
            await pub.publish("bulk", make_payload(seq, 16 * 1024))
        await wait_received(subscribers, "bulk", 200, 30.0)
        elapsed = time.monotonic() - start
        for proc in subscribers:
            assert sorted(m["seq"] for m in proc.received("bulk")) == list(range(200))
        metrics = pub.metrics()
        print(
            f"\n16 KB x 200 to 3 processes: {200 / elapsed:.0f} msg/s "
            f"({200 * 16 / 1024 / elapsed:.1f} MB/s per subscriber); backpressure waits "
            f"{metrics.backpressure_waits} ({metrics.backpressure_wait_seconds:.2f}s), "
            f"published while saturated {metrics.published_while_saturated}"
        )


async def test_latency_of_16kb_messages_at_10_per_second(subscribers: list[PeerProcess], pub_port: int) -> None:
    async with publisher(pub_port) as pub:
        await wait_mesh(pub, subscribers, "lat")
        for seq in range(30):
            await pub.publish("lat", make_payload(seq, 16 * 1024))
            await asyncio.sleep(0.1)
        await wait_received(subscribers, "lat", 30, 15.0)
        latencies = sorted(m["lat_ms"] for p in subscribers for m in p.received("lat"))
        p50 = statistics.median(latencies)
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(f"\n16 KB at 10 msg/s, 3 processes: latency p50 {p50:.1f} ms, p99 {p99:.1f} ms")
        assert p50 < 250.0


async def test_peers_joining_during_200kb_publishes_crash_nobody(subscribers: list[PeerProcess], pub_port: int) -> None:
    async with publisher(pub_port) as pub:
        await wait_mesh(pub, subscribers, "big")
        stop = asyncio.Event()
        published = 0

        async def pump() -> None:
            nonlocal published
            while not stop.is_set():
                await pub.publish("big", make_payload(published, 200 * 1024))
                published += 1

        pump_task = asyncio.create_task(pump())
        try:
            for attempt in range(3):
                joiner = PeerProcess(
                    "--seed",
                    f"joiner{attempt}",
                    "--bootstrap",
                    pub.listen_addr,
                    "--topic",
                    "big",
                    name=f"joiner{attempt}",
                )
                try:
                    joiner.wait_ready(60.0)
                    await wait_received([joiner], "big", 5, 20.0)
                    assert joiner.alive and pub.running
                    assert all(p.alive for p in subscribers)
                finally:
                    joiner.stop()
            before = {p.name: len(p.received("big")) for p in subscribers}
            await asyncio.sleep(1.0)
            for proc in subscribers:  # the old subscribers still receive
                assert len(proc.received("big")) > before[proc.name]
        finally:
            stop.set()
            await pump_task
        assert pub.running
        print(
            f"\n200 KB publishes with 3 joins: {published} published, "
            f"saturated {pub.metrics().published_while_saturated}"
        )


async def test_10_mb_response_from_another_process(subscribers: list[PeerProcess], pub_port: int) -> None:
    async with publisher(pub_port) as pub:
        server = subscribers[0].wait_ready()["peer_id"]
        async with asyncio.timeout(20):
            while server not in pub.peers():
                await asyncio.sleep(0.05)
        size = 10 * 1024 * 1024
        start = time.monotonic()
        response = await pub.request(server, BLOB, str(size).encode(), timeout=30)
        elapsed = time.monotonic() - start
        assert response == bytes(size)
        print(f"\n10 MB response across processes in {elapsed:.2f}s ({size / elapsed / 1e6:.0f} MB/s)")
