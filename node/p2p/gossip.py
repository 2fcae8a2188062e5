"""Gossip topics on the trio side: validators, deduplicated delivery, publish backpressure.

- Validators are the caller's sync pure functions `bytes -> bool` (raising
  counts as False). They run in the trio thread inside pubsub's validation
  step, so a rejected message is neither delivered nor relayed; each
  rejection is reported to `on_invalid(forwarder)` for penalties.
- Each subscribed topic's 32-slot pubsub channel is drained continuously;
  messages are deduplicated by sha256(topic, data) in a bounded LRU (pubsub
  replays recent messages to new subscribers and a re-published payload gets
  a new message id) and handed to the asyncio sinks.
- Message ids are `node.p2p.msgid.pubsub_message_id` (content-derived on
  rollup topics). py-libp2p 0.8.1 only uses a custom id for its seen cache:
  its gossip message cache (IHAVE/IWANT and the replay to new subscribers)
  always keys by `from || seqno`, so a peer asking for a content id got
  nothing and our IHAVEs named ids no other stack computes. `MessageIdCache`
  replaces that cache with one keyed by the same id function, and lists a
  topic's window oldest first, so the replay to a new subscriber arrives in
  publication order.
- `publish` waits (bounded) while any peer's outbound queue (32 slots, drops
  silently when full) holds `backpressure_threshold`+ entries, and reports
  the peers still saturated when it had to give up waiting.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import trio
from libp2p.peer.id import ID
from libp2p.pubsub.mcache import CacheEntry, MessageCache
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub

from node.p2p.errors import IgnoreMessage, InvalidMessageError
from node.p2p.guards import short_peer
from node.p2p.types import GossipMetrics, PublishReport, Validator

log = logging.getLogger(__name__)

# A sink is called on the trio thread and must only hand off (thread-safe, non-blocking).
Sink = Callable[[bytes, str], None]

_BACKPRESSURE_POLL_S = 0.002


class DedupCache:
    """Bounded LRU of message keys already delivered."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[bytes, None] = OrderedDict()

    def add_if_new(self, key: bytes) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return True


class MessageIdCache(MessageCache):
    """py-libp2p's gossip message cache keyed by our message id function, windows listed oldest first."""

    def __init__(self, window_size: int, history_size: int, msg_id: Callable[[rpc_pb2.Message], bytes]) -> None:
        super().__init__(window_size, history_size)
        self._msg_id = msg_id

    def put(self, msg: rpc_pb2.Message) -> None:
        mid = self._msg_id(msg)
        if mid in self.msgs:
            return
        self.msgs[mid] = msg
        self.history[0].append(CacheEntry(mid, msg.topicIDs))

    def window(self, topic: str) -> list[bytes]:
        """Ids of `topic` in the gossip window, oldest first (the library lists newest heartbeat first)."""
        mids: list[bytes] = []
        for entries in reversed(self.history[: self.window_size]):
            mids.extend(entry.mid for entry in entries if topic in entry.topics)
        return mids


def message_key(topic: str, data: bytes) -> bytes:
    return hashlib.sha256(topic.encode() + b"\x00" + data).digest()


@dataclass
class _Topic:
    sinks: list[tuple[Sink, bool]] = field(default_factory=list)  # (sink, deliver_own)
    drain_scope: trio.CancelScope | None = None


class GossipService:
    """Trio-side topic state of one node. All methods run on the trio thread."""

    def __init__(
        self,
        pubsub: Pubsub,
        *,
        on_invalid: Callable[[ID, str], None],
        dedup_capacity: int,
        backpressure_threshold: int,
        backpressure_max_wait: float,
        metrics: GossipMetrics,
    ) -> None:
        self._pubsub = pubsub
        self._on_invalid = on_invalid
        self._dedup = DedupCache(dedup_capacity)
        self._threshold = backpressure_threshold
        self._max_wait = backpressure_max_wait
        self._validators: dict[str, Validator] = {}
        self._topics: dict[str, _Topic] = {}
        self._nursery: trio.Nursery | None = None
        self.metrics = metrics

    def attach(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery

    # ---- validation ------------------------------------------------------
    def set_validator(self, topic: str, fn: Validator) -> None:
        self._validators[topic] = fn
        self._pubsub.set_topic_validator(topic, self._make_pubsub_validator(topic, fn), False)

    def _make_pubsub_validator(self, topic: str, fn: Validator) -> Callable[[ID, rpc_pb2.Message], bool]:
        my_id = self._pubsub.my_id

        def validate(forwarder: ID, msg: rpc_pb2.Message) -> bool:
            if forwarder == my_id:
                return True  # our own publish was validated in publish()
            verdict = _run_validator(fn, msg.data)
            ok, why = verdict.ok, verdict.why
            if verdict.ignored:
                self.metrics.ignored_received += 1
                log.debug("gossip: ignored %d-byte message on %s (%s)", len(msg.data), topic, why)
                return False
            if not ok:
                self.metrics.invalid_received += 1
                log.debug(
                    "gossip: rejected %d-byte message on %s from %s (%s)",
                    len(msg.data),
                    topic,
                    short_peer(forwarder),
                    why,
                )
                self._on_invalid(forwarder, f"invalid message on {topic} ({why})")
            return ok

        return validate

    # ---- subscriptions ---------------------------------------------------
    async def subscribe(self, topic: str, sink: Sink, deliver_own: bool) -> None:
        entry = self._topics.get(topic)
        if entry is None:
            entry = self._topics[topic] = _Topic()
            subscription = await self._pubsub.subscribe(topic)
            if self._nursery is None:
                raise RuntimeError("gossip service is not attached to a nursery")
            entry.drain_scope = trio.CancelScope()
            self._nursery.start_soon(self._drain, topic, subscription, entry.drain_scope)
        entry.sinks.append((sink, deliver_own))

    async def unsubscribe(self, topic: str) -> None:
        entry = self._topics.pop(topic, None)
        if entry is None:
            return
        if entry.drain_scope is not None:
            entry.drain_scope.cancel()
        await self._pubsub.unsubscribe(topic)

    async def _drain(self, topic: str, subscription: object, scope: trio.CancelScope) -> None:
        my_id_bytes = self._pubsub.my_id.to_bytes()
        with scope:
            async for msg in subscription:  # type: ignore[attr-defined]
                try:
                    self._deliver(topic, msg, own=msg.from_id == my_id_bytes)
                except Exception:  # noqa: BLE001 - the drain must never stop (the channel would fill)
                    log.exception("gossip: delivering a message on %s failed", topic)

    def _deliver(self, topic: str, msg: rpc_pb2.Message, own: bool) -> None:
        if not self._dedup.add_if_new(message_key(topic, msg.data)):
            self.metrics.duplicates_dropped += 1
            return
        entry = self._topics.get(topic)
        if entry is None:
            return
        from_peer = _peer_text(msg.from_id)
        for sink, deliver_own in entry.sinks:
            if own and not deliver_own:
                continue
            self.metrics.delivered += 1
            sink(msg.data, from_peer)

    async def topic_peers(self, topic: str) -> list[str]:
        """Connected peers that told us they subscribe to `topic`."""
        return sorted(str(peer) for peer in self._pubsub.peer_topics.get(topic, ()) if peer in self._pubsub.peers)

    # ---- publishing ------------------------------------------------------
    async def publish(self, topic: str, data: bytes) -> PublishReport:
        validator = self._validators.get(topic)
        if validator is not None:
            verdict = _run_validator(validator, data)
            if not verdict.ok:
                raise InvalidMessageError(f"local validator of topic {topic!r} rejected the payload ({verdict.why})")
        waited, saturated = await self._wait_for_capacity()
        await self._pubsub.publish(topic, data)
        self.metrics.published += 1
        if saturated:
            self.metrics.published_while_saturated += 1
            log.warning(
                "gossip: published on %s after waiting %.2fs while peer queue(s) of %s were still full; "
                "those peers may miss it",
                topic,
                waited,
                ", ".join(short_peer(p) for p in saturated),
            )
        return PublishReport(waited_s=waited, saturated_peers=saturated)

    async def _wait_for_capacity(self) -> tuple[float, tuple[str, ...]]:
        start = trio.current_time()
        deadline = start + self._max_wait
        saturated = self._saturated_peers()
        if saturated:
            self.metrics.backpressure_waits += 1
        while saturated and trio.current_time() < deadline:
            await trio.sleep(_BACKPRESSURE_POLL_S)
            saturated = self._saturated_peers()
        waited = trio.current_time() - start
        self.metrics.backpressure_wait_seconds += waited
        return waited, saturated

    def _saturated_peers(self) -> tuple[str, ...]:
        return tuple(str(peer) for peer, queue in self._pubsub.peer_queues.items() if len(queue) >= self._threshold)


class _Verdict(NamedTuple):
    ok: bool
    why: str = ""
    ignored: bool = False  # IgnoreMessage: dropped without holding it against the forwarding peer


def _run_validator(fn: Validator, data: bytes) -> _Verdict:
    """A validator returning False or raising rejects; raising IgnoreMessage ignores."""
    try:
        return _Verdict(True) if fn(data) else _Verdict(False, "validator returned False")
    except IgnoreMessage as exc:
        return _Verdict(False, f"ignored: {str(exc)[:120]}", ignored=True)
    except Exception as exc:  # noqa: BLE001 - a raising validator rejects the message
        return _Verdict(False, f"validator raised {type(exc).__name__}: {str(exc)[:120]}")


def _peer_text(from_id: bytes) -> str:
    try:
        return ID(from_id).to_base58()
    except Exception:  # noqa: BLE001 - a malformed origin still gets a printable name
        return from_id.hex()
