"""THE one place where py-libp2p 0.8.1 internals are wrapped (trio side).

Every wrap is per `Pubsub` instance (instance attributes or re-registered
stream handlers); no class or module of libp2p is modified, so two nodes in
one process never see each other's guards. Each fix names the defect:

1. Interleaved writes (crash when a peer joins during large publishes).
   Gossipsub writes to a peer's stream from several tasks at once: the
   per-peer sending loop (`Pubsub.handle_sending_messages`) and, when a peer
   joins or subscribes, `GossipSub.send_recent_messages` /
   `flush_pending_messages`, all through `Pubsub.write_msg`. Yamux locks a
   stream per 64 KiB frame, not per message, so two 100+ KB messages
   interleave on the wire and the receiver fails to parse the RPC.
   Fix: `write_msg` takes a per-stream `trio.Lock` for the whole message.

2. Uncontained decode errors (one bad peer takes the node down).
   `Pubsub.stream_handler` only catches StreamError/ParseError/
   IncompleteReadError; a protobuf `DecodeError` (garbled or interleaved
   RPC) or an error raised while handling a control message escapes into
   the connection's nursery and can bring the whole libp2p side down.
   Fix: the pubsub protocols are re-registered with a handler that catches
   every `Exception`, resets only that stream, drops the peer from pubsub
   (it re-registers if still connected) and reports a fault for that peer.
   `Pubsub.push_msg` (spawned per received message) gets the same
   containment for messages from other peers.

3. Outbound size cap hard-wired to 1 MiB. `_handle_new_peer` builds each
   peer's `RpcQueue()` with the 1 MiB default, silently dropping larger
   messages whatever `max_inbound_rpc_size` says. Fix: `peer_queues` is a
   dict that sets `max_message_size` on every queue stored into it.

4. Sequence numbers reused after a restart. Message ids are
   `from_id + seqno` and the seqno counter starts at `int(time.time())`,
   +1 per publish: a node restarted with the same identity within N seconds
   of having published N messages reuses seqnos, and peers silently drop
   its new messages as already seen (measured: 49 of 200 lost after a
   restart). Fix: start the counter at `time.time_ns()` (as go-libp2p does).
"""

from __future__ import annotations

import contextlib
import logging
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio
from libp2p.io.exceptions import IncompleteReadError
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.rpc_queue import RpcQueue

if TYPE_CHECKING:
    from libp2p.abc import INetStream
    from libp2p.pubsub.pubsub import Pubsub

log = logging.getLogger(__name__)

PeerFaultFn = Callable[[ID, str], None]

_RESET_TIMEOUT_S = 2.0


def short_peer(peer: ID | str) -> str:
    """The last 8 characters of a peer id, enough to tell peers apart in logs."""
    text = str(peer)
    return f"..{text[-8:]}" if len(text) > 10 else text


class SizedQueues(dict[ID, RpcQueue]):
    """`Pubsub.peer_queues` replacement that applies our max RPC size (defect 3)."""

    def __init__(self, max_message_size: int) -> None:
        super().__init__()
        self.max_message_size = max_message_size

    def __setitem__(self, peer: ID, queue: RpcQueue) -> None:
        queue.max_message_size = self.max_message_size
        super().__setitem__(peer, queue)


def install_pubsub_guards(pubsub: Pubsub, *, max_rpc_size: int, on_peer_fault: PeerFaultFn) -> None:
    """Apply fixes 1-4 to a freshly constructed (not yet running) `Pubsub`."""
    if pubsub.peer_queues:
        raise RuntimeError("install_pubsub_guards must run before any peer is registered")
    pubsub.peer_queues = SizedQueues(max_rpc_size)
    pubsub.counter = time.time_ns()  # fix 4
    _serialise_stream_writes(pubsub)
    _contain_inbound_errors(pubsub, on_peer_fault)
    _contain_push_errors(pubsub, on_peer_fault)


def _serialise_stream_writes(pubsub: Pubsub) -> None:
    original = pubsub.write_msg
    locks: weakref.WeakKeyDictionary[INetStream, trio.Lock] = weakref.WeakKeyDictionary()

    async def write_whole_message(stream: INetStream, rpc_msg: rpc_pb2.RPC) -> bool:
        lock = locks.get(stream)
        if lock is None:
            lock = locks[stream] = trio.Lock()
        async with lock:
            return await original(stream, rpc_msg)

    pubsub.write_msg = write_whole_message  # type: ignore[method-assign]


def _contain_inbound_errors(pubsub: Pubsub, on_peer_fault: PeerFaultFn) -> None:
    async def guarded_stream_handler(stream: INetStream) -> None:
        peer_id = stream.muxed_conn.peer_id
        fault: str | None = None
        try:
            await pubsub.continuously_read_stream(stream)
            return
        except (StreamError, IncompleteReadError) as exc:  # the peer went away mid-read
            log.debug("gossip stream from %s ended: %s", short_peer(peer_id), exc)
        except Exception as exc:  # noqa: BLE001 - containment is the point (defect 2)
            fault = f"{type(exc).__name__}: {str(exc)[:160]}"
            log.warning(
                "gossip: malformed RPC from peer %s (%s); dropped that stream, node unaffected",
                short_peer(peer_id),
                fault,
            )
        with trio.move_on_after(_RESET_TIMEOUT_S), contextlib.suppress(Exception):
            await stream.reset()
        try:
            pubsub._handle_dead_peer(peer_id)
        except Exception:  # noqa: BLE001
            log.debug("gossip: cleanup after stream error from %s failed", short_peer(peer_id), exc_info=True)
        if fault is not None:
            on_peer_fault(peer_id, fault)

    for protocol in pubsub.protocols:
        pubsub.host.set_stream_handler(protocol, guarded_stream_handler)


def _contain_push_errors(pubsub: Pubsub, on_peer_fault: PeerFaultFn) -> None:
    original = pubsub.push_msg

    async def guarded_push(msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        if msg_forwarder == pubsub.my_id:
            await original(msg_forwarder, msg)  # our own publish: errors go to the caller
            return
        try:
            await original(msg_forwarder, msg)
        except Exception as exc:  # noqa: BLE001 - containment (defect 2)
            reason = f"{type(exc).__name__}: {str(exc)[:160]}"
            log.warning("gossip: message from peer %s could not be processed (%s)", short_peer(msg_forwarder), reason)
            on_peer_fault(msg_forwarder, reason)

    pubsub.push_msg = guarded_push  # type: ignore[method-assign]
