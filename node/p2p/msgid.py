"""Gossip message ids: content-derived for rollup topics (pure; no libp2p import).

Gossipsub deduplicates, caches (IHAVE/IWANT) and relays by a message id that
every peer must compute identically. The pubsub spec's default,
`from || seqno`, differs per publisher and per re-publication, and stacks
differ in how they apply it; the OP Stack and Ethereum's consensus layer
instead hash the payload. So do we, for every topic under `/rollup/`:

    msg_id = SHA-256( MESSAGE_ID_DOMAIN
                      || uint64_le(len(topic_utf8))
                      || topic_utf8
                      || data )[:20]

`MESSAGE_ID_DOMAIN` is the 31 bytes `"\\x19rollup-devnet gossip msgid v1\\x00"`;
`data` is the gossip message's payload exactly as carried in the pubsub
message's `data` field (for blocks: the signed block message); the topic is
the message's first (and, for our messages, only) topic id. The same payload
published by two peers therefore has one id and is delivered once, and a peer
written with another libp2p stack (tests/p2p/js/follow.mjs) computes the same
id. Other topics keep the spec default `from || seqno`. docs/protocol.md §7
has a worked example; tests/p2p/test_msgid.py checks it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Protocol

MESSAGE_ID_DOMAIN = b"\x19rollup-devnet gossip msgid v1\x00"
MESSAGE_ID_LENGTH = 20
ROLLUP_TOPIC_PREFIX = "/rollup/"


class PubsubMessage(Protocol):
    """The fields of a pubsub `rpc_pb2.Message` the id depends on."""

    @property
    def from_id(self) -> bytes: ...

    @property
    def seqno(self) -> bytes: ...

    @property
    def data(self) -> bytes: ...

    @property
    def topicIDs(self) -> Iterable[str]: ...  # noqa: N802 - protobuf's field name


def message_id_input(topic: str, data: bytes) -> bytes:
    """The exact bytes hashed for a rollup topic's message id."""
    encoded_topic = topic.encode("utf-8")
    return MESSAGE_ID_DOMAIN + len(encoded_topic).to_bytes(8, "little") + encoded_topic + bytes(data)


def rollup_message_id(topic: str, data: bytes) -> bytes:
    """The content-derived id: the first 20 bytes of SHA-256 over `message_id_input(topic, data)`."""
    return hashlib.sha256(message_id_input(topic, data)).digest()[:MESSAGE_ID_LENGTH]


def is_rollup_topic(topic: str) -> bool:
    return topic.startswith(ROLLUP_TOPIC_PREFIX)


def pubsub_message_id(msg: PubsubMessage) -> bytes:
    """Pubsub's `msg_id_constructor`: content-derived on rollup topics, `from || seqno` elsewhere."""
    topics = list(msg.topicIDs)
    if topics and is_rollup_topic(topics[0]):
        return rollup_message_id(topics[0], msg.data)
    return bytes(msg.from_id) + bytes(msg.seqno)
