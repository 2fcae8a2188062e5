"""Content-derived gossip message ids (node/p2p/msgid.py): the documented example, the id pubsub
uses, the gossip message cache keyed by it, and dedup by content between real in-process nodes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from libp2p.pubsub.pb import rpc_pb2

from node.gossip import block_topic
from node.p2p import P2PConfig, P2PNode, derive_seed
from node.p2p.gossip import MessageIdCache
from node.p2p.msgid import (
    MESSAGE_ID_DOMAIN,
    message_id_input,
    pubsub_message_id,
    rollup_message_id,
)

# The worked example of docs/protocol.md §7 (payload: msgpack [1, 2, 3]).
EXAMPLE_TOPIC = "/rollup/901/blocks/1"
EXAMPLE_DATA = bytes.fromhex("93010203")
EXAMPLE_INPUT = (
    "19726f6c6c75702d6465766e657420676f73736970206d7367696420763100"  # domain (31 bytes)
    "1400000000000000"  # len(topic) = 20, uint64 little-endian
    "2f726f6c6c75702f3930312f626c6f636b732f31"  # "/rollup/901/blocks/1"
    "93010203"  # data
)
EXAMPLE_ID = "89b5cec795281941e0d00169bedf58f39f970d20"

FAST = dict(reconnect_interval=0.2, reconnect_max_interval=0.5, close_timeout=3.0)


def test_documented_example() -> None:
    assert len(MESSAGE_ID_DOMAIN) == 31
    assert message_id_input(EXAMPLE_TOPIC, EXAMPLE_DATA).hex() == EXAMPLE_INPUT
    assert rollup_message_id(EXAMPLE_TOPIC, EXAMPLE_DATA).hex() == EXAMPLE_ID
    assert hashlib.sha256(bytes.fromhex(EXAMPLE_INPUT)).digest()[:20].hex() == EXAMPLE_ID
    assert EXAMPLE_TOPIC == block_topic(901)


def test_id_depends_on_topic_and_payload_only() -> None:
    base = rollup_message_id(EXAMPLE_TOPIC, EXAMPLE_DATA)
    assert len(base) == 20
    assert rollup_message_id("/rollup/902/blocks/1", EXAMPLE_DATA) != base
    assert rollup_message_id(EXAMPLE_TOPIC, EXAMPLE_DATA + b"\x00") != base
    # the topic length prefix keeps (topic, data) splits apart
    assert rollup_message_id("/rollup/a", b"b") != rollup_message_id("/rollup/", b"ab")


def message(topic: str, data: bytes, sender: bytes, seqno: int) -> rpc_pb2.Message:
    return rpc_pb2.Message(from_id=sender, seqno=seqno.to_bytes(8, "big"), data=data, topicIDs=[topic])


def test_pubsub_id_is_content_derived_on_rollup_topics_only() -> None:
    a = message(EXAMPLE_TOPIC, EXAMPLE_DATA, b"peer-a", 1)
    b = message(EXAMPLE_TOPIC, EXAMPLE_DATA, b"peer-b", 99)
    assert pubsub_message_id(a) == pubsub_message_id(b) == bytes.fromhex(EXAMPLE_ID)
    other = message("blocks", EXAMPLE_DATA, b"peer-a", 1)
    assert pubsub_message_id(other) == b"peer-a" + (1).to_bytes(8, "big")
    assert pubsub_message_id(rpc_pb2.Message(from_id=b"p", seqno=b"\x01", data=b"x")) == b"p\x01"


def test_message_cache_keys_by_content_and_lists_oldest_first() -> None:
    cache = MessageIdCache(3, 5, pubsub_message_id)
    first = message(EXAMPLE_TOPIC, b"first", b"peer-a", 1)
    cache.put(first)
    cache.put(message(EXAMPLE_TOPIC, b"first", b"peer-b", 7))  # same content from another publisher
    cache.shift()
    cache.put(message(EXAMPLE_TOPIC, b"second", b"peer-a", 2))
    cache.put(message(EXAMPLE_TOPIC, b"third", b"peer-a", 3))
    cache.put(message("/rollup/901/other/1", b"elsewhere", b"peer-a", 4))
    window = cache.window(EXAMPLE_TOPIC)
    assert window == [rollup_message_id(EXAMPLE_TOPIC, d) for d in (b"first", b"second", b"third")]
    assert cache.get(rollup_message_id(EXAMPLE_TOPIC, b"first")) == first  # an IWANT for a content id is served
    for _ in range(5):
        cache.shift()
    assert cache.window(EXAMPLE_TOPIC) == [] and cache.get(window[0]) is None


# ---- real in-process nodes -------------------------------------------------------------


def config(label: str, **overrides: object) -> P2PConfig:
    return P2PConfig(seed=derive_seed(label), **{**FAST, **overrides})  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def started(*configs: P2PConfig) -> AsyncIterator[list[P2PNode]]:
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(P2PNode(c)) for c in configs]


def collector(into: list[bytes]) -> Callable[[bytes, str], Awaitable[None]]:
    async def on_message(data: bytes, from_peer: str) -> None:
        into.append(data)

    return on_message


async def eventually(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@pytest.mark.parametrize(
    ("topic", "libp2p_dedups"),
    [("/rollup/901/test/1", True), ("plain-topic", False)],
)
async def test_same_payload_from_two_publishers_is_delivered_once(topic: str, libp2p_dedups: bool) -> None:
    """On a rollup topic pubsub itself drops the second publisher's copy (same id); on another
    topic both copies reach the node and only its own delivery dedup stops the second."""
    async with started(config("msgid-sub")) as (sub,):
        pubs_cfg = [config(f"msgid-pub{i}", bootstrap=(sub.listen_addr,)) for i in range(2)]
        async with started(*pubs_cfg) as pubs:
            got: list[bytes] = []
            await sub.subscribe(topic, collector(got))
            for pub in pubs:
                await pub.wait_for_topic_peers(topic, 1, timeout=20)
            payload = b"the same block, published twice"
            for pub in pubs:
                await pub.publish(topic, payload)
            await eventually(lambda: len(got) >= 1, 20, "the first delivery")
            if libp2p_dedups:
                await asyncio.sleep(1.5)  # room for the second copy to arrive
            else:
                await eventually(lambda: sub.metrics().duplicates_dropped >= 1, 20, "the second copy")
            assert got == [payload]
            assert sub.metrics().delivered == 1
            assert sub.metrics().duplicates_dropped == (0 if libp2p_dedups else 1)


async def test_new_subscriber_gets_recent_messages_in_publication_order() -> None:
    topic = "/rollup/901/test/1"
    async with started(config("order-pub")) as (pub,):
        async with started(config("order-early", bootstrap=(pub.listen_addr,))) as (early,):
            early_got: list[bytes] = []
            await early.subscribe(topic, collector(early_got))
            await pub.wait_for_topic_peers(topic, 1, timeout=20)
            payloads = [n.to_bytes(4, "big") for n in range(20)]
            for i, data in enumerate(payloads):
                await pub.publish(topic, data)
                if i % 5 == 4:
                    await asyncio.sleep(0.4)  # spread over several heartbeats of the message cache
            await eventually(lambda: len(early_got) == len(payloads), 20, "the early subscriber")
            async with started(config("order-late", bootstrap=(pub.listen_addr,))) as (late,):
                late_got: list[bytes] = []
                await late.subscribe(topic, collector(late_got))
                await eventually(lambda: len(late_got) > 0, 20, "the replay to the late subscriber")
                await asyncio.sleep(1.0)
                assert late_got, "no replay"
                assert late_got == sorted(late_got), f"replayed out of order: {[int.from_bytes(d) for d in late_got]}"
                assert late_got == payloads[-len(late_got) :]  # the most recent ones, in order
