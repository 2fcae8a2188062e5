"""Gossip among real in-process nodes (each with its own trio thread) over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import trio

from node.p2p import InvalidMessageError, MessageTooLargeError, P2PConfig, P2PNode, PortInUseError, derive_seed
from tests.support.p2p_peer import free_port

FAST = dict(reconnect_interval=0.2, reconnect_max_interval=0.5, close_timeout=3.0)
PEERS_TIMEOUT_S = 30.0  # meshes form in well under a second when quiet, but a full run can load the machine


def config(label: str, **overrides: object) -> P2PConfig:
    return P2PConfig(seed=derive_seed(label), **{**FAST, **overrides})  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def started(*configs: P2PConfig) -> AsyncIterator[list[P2PNode]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(P2PNode(c)) for c in configs]


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


class Inbox:
    """Collects deliveries per node; `handler(name)` is a subscribe() callback."""

    def __init__(self) -> None:
        self.got: dict[str, list[bytes]] = defaultdict(list)

    def handler(self, name: str) -> Callable[[bytes, str], Awaitable[None]]:
        async def on_message(data: bytes, from_peer: str) -> None:
            self.got[name].append(data)

        return on_message


def trio_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("p2p-trio")]


async def test_one_publisher_three_subscribers_all_receive_everything() -> None:
    async with started(config("pub")) as (pub,):
        subs_cfg = [config(f"sub{i}", bootstrap=(pub.listen_addr,)) for i in range(3)]
        async with started(*subs_cfg) as subs:
            inbox = Inbox()
            for i, sub in enumerate(subs):
                await sub.subscribe("blocks", inbox.handler(f"s{i}"))
            await pub.wait_for_topic_peers("blocks", 3, timeout=PEERS_TIMEOUT_S)
            sent = {b"block-%03d" % i + bytes(1000) for i in range(60)}
            for payload in sorted(sent):
                await pub.publish("blocks", payload)
            await eventually(lambda: all(len(inbox.got[f"s{i}"]) == len(sent) for i in range(3)))
            for i in range(3):
                assert set(inbox.got[f"s{i}"]) == sent
            assert sorted(pub.peers()) == sorted(s.peer_id for s in subs)
    assert trio_threads() == []


async def test_rejected_messages_are_neither_delivered_nor_relayed_on_a_chain() -> None:
    async with started(config("chain-b")) as (b,):

        def reject_bad(data: bytes) -> bool:
            if data.startswith(b"boom"):
                raise ValueError("unparseable")  # raising counts as a rejection
            return not data.startswith(b"bad")

        b.set_validator("blocks", reject_bad)
        async with started(
            config("chain-a", bootstrap=(b.listen_addr,)), config("chain-c", bootstrap=(b.listen_addr,))
        ) as (a, c):
            inbox = Inbox()
            await b.subscribe("blocks", inbox.handler("b"))
            await c.subscribe("blocks", inbox.handler("c"))
            await a.wait_for_topic_peers("blocks", 1, timeout=PEERS_TIMEOUT_S)
            await b.wait_for_topic_peers("blocks", 1, timeout=PEERS_TIMEOUT_S)
            assert c.peer_id not in a.peers()  # the only path A -> C is through B
            for i in range(4):
                await a.publish("blocks", b"bad-%d" % i)
                await a.publish("blocks", b"boom-%d" % i)
                await a.publish("blocks", b"good-%d" % i)
            await eventually(lambda: len(inbox.got["c"]) == 4 and len(inbox.got["b"]) == 4)
            await asyncio.sleep(0.5)
            assert sorted(inbox.got["c"]) == [b"good-%d" % i for i in range(4)]
            assert sorted(inbox.got["b"]) == [b"good-%d" % i for i in range(4)]
            assert b.metrics().invalid_received == 8
            assert c.metrics().invalid_received == 0


async def test_duplicates_are_delivered_once() -> None:
    async with started(config("dup-p1"), config("dup-p2")) as (p1, p2):
        async with started(config("dup-s", bootstrap=(p1.listen_addr, p2.listen_addr))) as (sub,):
            inbox = Inbox()
            await sub.subscribe("blocks", inbox.handler("s"))
            await p1.wait_for_topic_peers("blocks", 1, timeout=PEERS_TIMEOUT_S)
            await p2.wait_for_topic_peers("blocks", 1, timeout=PEERS_TIMEOUT_S)
            for _ in range(3):
                await p1.publish("blocks", b"same block")
            await p2.publish("blocks", b"same block")  # same bytes, other publisher: new message id
            await p1.publish("blocks", b"next block")
            await eventually(lambda: b"next block" in inbox.got["s"])
            await asyncio.sleep(0.3)
            assert sorted(inbox.got["s"]) == [b"next block", b"same block"]
            assert sub.metrics().duplicates_dropped >= 3


async def test_late_and_restarting_peer_is_reached_by_the_reconnect_loop() -> None:
    port = free_port()
    late = config("late-pub", listen_port=port)
    from node.p2p.identity import make_multiaddr, peer_id_from_seed

    bootstrap = (make_multiaddr(port, peer_id_from_seed(derive_seed("late-pub"))),)
    async with started(config("early-sub", bootstrap=bootstrap)) as (sub,):
        inbox = Inbox()
        await sub.subscribe("blocks", inbox.handler("s"))
        await asyncio.sleep(1.5)  # the publisher is not up yet: dials fail meanwhile
        assert sub.peers() == []
        for round_ in range(2):  # first start, then a restart on the same port
            async with started(late) as (pub,):
                await eventually(lambda: pub.peer_id in sub.peers(), 5.0)
                await pub.wait_for_topic_peers("blocks", 1, timeout=5.0)
                await pub.publish("blocks", b"after start %d" % round_)
                await eventually(lambda round_=round_: b"after start %d" % round_ in inbox.got["s"], 5.0)
            await eventually(lambda: sub.peers() == [], 5.0)


async def test_peer_sending_invalid_messages_is_disconnected_and_banned() -> None:
    async with started(config("victim", invalid_limit=5, ban_seconds=30)) as (victim,):
        victim.set_validator("blocks", lambda data: not data.startswith(b"bad"))
        inbox = Inbox()
        await victim.subscribe("blocks", inbox.handler("v"))
        # The spammer has no validator for the topic: it publishes what the victim rejects.
        async with started(config("spammer", bootstrap=(victim.listen_addr,))) as (spammer,):
            await spammer.wait_for_topic_peers("blocks", 1, timeout=PEERS_TIMEOUT_S)
            for i in range(8):
                await spammer.publish("blocks", b"bad-%d" % i)
            await eventually(lambda: victim.metrics().peers_banned == 1, 5.0)
            await eventually(lambda: spammer.peer_id not in victim.peers(), 5.0)
            await asyncio.sleep(1.5)  # the spammer's reconnect loop keeps dialling: still refused
            assert spammer.peer_id not in victim.peers()
            assert inbox.got["v"] == []
            assert victim.metrics().invalid_received >= 5


async def test_garbage_on_a_gossipsub_stream_does_not_take_the_node_down() -> None:
    from libp2p.custom_types import TProtocol
    from libp2p.peer.id import ID
    from libp2p.utils.varint import encode_uvarint

    async with started(config("garbage-victim")) as (victim,):
        inbox = Inbox()
        await victim.subscribe("blocks", inbox.handler("v"))
        async with started(
            config("garbage-attacker", bootstrap=(victim.listen_addr,)),
            config("garbage-honest", bootstrap=(victim.listen_addr,)),
        ) as (attacker, honest):
            await eventually(lambda: attacker.peer_id in victim.peers(), 5.0)
            runtime, bridge = attacker._runtime, attacker._bridge  # test-only access to the raw host
            assert runtime is not None and bridge is not None

            async def write_garbage(blob: bytes) -> None:
                stream = await runtime.host.new_stream(ID.from_base58(victim.peer_id), [TProtocol("/meshsub/1.1.0")])
                await stream.write(blob)
                await trio.sleep(0.2)
                with contextlib.suppress(Exception):
                    await stream.reset()

            for blob in (
                encode_uvarint(64) + b"\xff" * 64,
                encode_uvarint(5) + b"\x0a\x80\x80\x80\x80",
                b"\x80" * 12,
                encode_uvarint(1 << 30),
            ):
                await bridge.run(write_garbage, blob)
            await eventually(lambda: victim.metrics().peer_faults >= 2, 5.0)

            await honest.wait_for_topic_peers("blocks", 1, timeout=PEERS_TIMEOUT_S)
            await honest.publish("blocks", b"still alive")
            await eventually(lambda: inbox.got["v"] == [b"still alive"], 5.0)
            assert victim.running


async def test_message_size_limits() -> None:
    big = 2 * 1024 * 1024  # over py-libp2p's 1 MiB default, under our 4 MiB
    async with started(config("size-pub")) as (pub,):
        async with started(config("size-sub", bootstrap=(pub.listen_addr,))) as (sub,):
            inbox = Inbox()
            await sub.subscribe("blobs", inbox.handler("s"))
            await pub.wait_for_topic_peers("blobs", 1)
            await pub.publish("blobs", b"\x01" * big)
            await eventually(lambda: len(inbox.got["s"]) == 1, 10.0)
            assert len(inbox.got["s"][0]) == big
            with pytest.raises(MessageTooLargeError):
                await pub.publish("blobs", bytes(4 * 1024 * 1024 + 1))


async def test_own_invalid_publish_is_refused_locally() -> None:
    async with started(config("self-check")) as (node,):
        node.set_validator("blocks", lambda data: data != b"nope")
        with pytest.raises(InvalidMessageError):
            await node.publish("blocks", b"nope")
        report = await node.publish("blocks", b"fine")
        assert not report.saturated


async def test_port_already_in_use_raises_a_clear_error() -> None:
    # py-libp2p binds with SO_REUSEPORT: without our check a second node would share the port.
    async with started(config("holder")) as (holder,):
        with pytest.raises(PortInUseError, match=f"{holder.listen_port}.*already in use"):
            async with P2PNode(config("clash", listen_port=holder.listen_port)):
                pass
    with socket.socket() as plain:  # any other program holding the port
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        with pytest.raises(PortInUseError):
            async with P2PNode(config("clash2", listen_port=plain.getsockname()[1])):
                pass
    assert trio_threads() == []


async def test_a_failure_of_the_libp2p_side_is_reported() -> None:
    async with started(config("doomed")) as (node,):
        runtime, bridge = node._runtime, node._bridge  # test-only: inject a crash into the node's task group
        assert runtime is not None and bridge is not None

        async def crash() -> None:
            raise RuntimeError("simulated libp2p crash")

        def inject() -> None:
            runtime.gossip._nursery.start_soon(crash)  # type: ignore[union-attr]

        bridge.call_soon(inject)
        failure = await asyncio.wait_for(node.wait_failed(), 5.0)
        assert isinstance(failure, RuntimeError)
        assert not node.running
    assert trio_threads() == []
