"""The p2p layer: libp2p gossip and request/response for asyncio code.

Independent of the rollup's block format: topics, payload bytes, validators
and protocol ids all belong to the caller.

Node
----
``P2PNode(P2PConfig(...))`` is an async context manager (single use):

- ``P2PConfig``: ``seed`` (32 bytes -> stable peer id), ``listen_host`` /
  ``listen_port`` (0 = ephemeral), ``bootstrap`` (multiaddrs kept connected
  by a reconnect loop that survives peers starting late or restarting),
  ``max_message_size`` (default 4 MiB), backpressure, ban and timeout knobs.
- Entering raises ``PortInUseError`` if the port is taken (py-libp2p itself
  would only log it), ``ListenError`` for any other missing listener.
- ``node.peer_id``, ``node.listen_port``, ``node.listen_addr``,
  ``node.peers() -> list[str]`` (connected peer ids), ``node.metrics()``.

Gossip (gossipsub ``/meshsub/1.1.0`` + ``/meshsub/1.0.0``, TCP+Noise+yamux)
- ``node.set_validator(topic, fn)``: ``fn(data: bytes) -> bool`` is sync and
  pure (raising = reject); it runs on the trio thread before delivery and
  relay, so rejected messages are neither delivered nor forwarded. Each
  rejection counts against the forwarding peer; after
  ``invalid_limit`` bad messages (rejections or garbled RPCs) the peer is
  disconnected and banned for ``ban_seconds``. A validator that raises
  ``IgnoreMessage`` drops the message without counting it against anyone
  (gossipsub's IGNORE: for verdicts that depend on the receiver's own state).
- ``await node.subscribe(topic, handler, deliver_own=False)``: ``await
  handler(data, from_peer)`` once per distinct payload (sha256 dedup, so the
  replay pubsub sends to new subscribers is not delivered twice), in
  arrival order, on the caller's loop. ``from_peer`` is the originator.
  A subscriber that joins late may still get the last few seconds of
  messages (pubsub's replay window); delivery is at most once per payload.
- ``await node.publish(topic, data) -> PublishReport``: validates locally
  (``InvalidMessageError``), checks size (``MessageTooLargeError``), waits up
  to ``backpressure_max_wait`` while any peer's outbound queue holds
  ``backpressure_threshold``+ entries (py-libp2p drops silently beyond 32),
  then publishes; ``report.saturated`` says a peer was still saturated.
  ``metrics().published_while_saturated`` counts those.

Request/response (framed: 4-byte big-endian length + body; status byte first)
- ``node.register_handler(protocol_id, handler)``: ``await handler(request,
  peer) -> bytes``; raise ``RequestRejected(status>=16, message)`` for an
  application status; other exceptions answer ``Status.HANDLER_ERROR``.
- ``await node.request(peer, protocol_id, payload, timeout) -> bytes``;
  raises ``RemoteError`` (``.status``), ``RequestTimeoutError``,
  ``PeerUnreachableError``, ``ProtocolViolationError`` or
  ``MessageTooLargeError``. Size caps and inbound concurrency in
  ``ReqRespLimits``.

Identity and addresses (``node.p2p.identity``, no libp2p import)
- ``peer_id_from_seed(seed)``, ``derive_seed(label)``,
  ``make_multiaddr(port, peer_id, host)``, ``parse_multiaddr(addr)``.

Threads: py-libp2p runs on trio in one daemon thread per node
(``node.p2p.bridge.TrioBridge``); the py-libp2p 0.8.1 defects worked around
are listed in ``node.p2p.guards``. ``import node.p2p`` does not import
libp2p; it is loaded when the first node starts.
"""

from node.p2p.errors import (
    BridgeError,
    BridgeStoppedError,
    IdentityError,
    IgnoreMessage,
    InvalidMessageError,
    ListenError,
    MessageTooLargeError,
    MultiaddrError,
    NodeNotRunningError,
    P2PError,
    PeerUnreachableError,
    PortInUseError,
    ProtocolViolationError,
    RemoteError,
    RequestError,
    RequestTimeoutError,
)
from node.p2p.host import P2PConfig, P2PNode
from node.p2p.identity import derive_seed, make_multiaddr, parse_multiaddr, peer_id_from_seed
from node.p2p.types import (
    GossipMetrics,
    MessageHandler,
    PublishReport,
    ReqRespLimits,
    RequestHandler,
    RequestRejected,
    Status,
    Validator,
)

__all__ = [
    "BridgeError",
    "BridgeStoppedError",
    "GossipMetrics",
    "IdentityError",
    "IgnoreMessage",
    "InvalidMessageError",
    "ListenError",
    "MessageHandler",
    "MessageTooLargeError",
    "MultiaddrError",
    "NodeNotRunningError",
    "P2PConfig",
    "P2PError",
    "P2PNode",
    "PeerUnreachableError",
    "PortInUseError",
    "ProtocolViolationError",
    "PublishReport",
    "RemoteError",
    "ReqRespLimits",
    "RequestError",
    "RequestHandler",
    "RequestRejected",
    "RequestTimeoutError",
    "Status",
    "Validator",
    "derive_seed",
    "make_multiaddr",
    "parse_multiaddr",
    "peer_id_from_seed",
]
