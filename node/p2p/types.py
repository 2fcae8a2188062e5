"""Value types and callback signatures of the p2p API (no libp2p import here).

Kept apart from the trio-side modules so `import node.p2p` stays cheap:
py-libp2p takes 0.6-1.4 s to import and is only loaded when a node starts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

Validator = Callable[[bytes], bool]
"""Sync, pure: payload -> accept? Raising counts as reject. Runs on the trio thread."""

MessageHandler = Callable[[bytes, str], Awaitable[None]]
"""`await handler(data, from_peer)`: one delivered gossip message and its originator's peer id."""

RequestHandler = Callable[[bytes, str], Coroutine[Any, Any, bytes]]
"""`await handler(request, peer) -> response` for one request/response protocol."""


@dataclass
class GossipMetrics:
    """Counters (written on the trio thread; read a `snapshot()` elsewhere)."""

    published: int = 0
    published_while_saturated: int = 0
    backpressure_waits: int = 0
    backpressure_wait_seconds: float = 0.0
    delivered: int = 0
    duplicates_dropped: int = 0
    invalid_received: int = 0
    ignored_received: int = 0  # dropped by a validator's IgnoreMessage: not held against the peer
    delivery_dropped: int = 0
    peer_faults: int = 0
    peers_banned: int = 0

    def snapshot(self) -> GossipMetrics:
        return GossipMetrics(**vars(self))


@dataclass(frozen=True, slots=True)
class PublishReport:
    """What one publish did: how long it waited, and peers still saturated when it went out."""

    waited_s: float
    saturated_peers: tuple[str, ...] = ()

    @property
    def saturated(self) -> bool:
        """True when the message went out while some peer's queue was still full (it may miss it)."""
        return bool(self.saturated_peers)


class Status(IntEnum):
    """First byte of every request/response answer."""

    OK = 0
    HANDLER_ERROR = 1
    REQUEST_TOO_LARGE = 2
    BAD_REQUEST = 3
    OVERLOADED = 4
    RESPONSE_TOO_LARGE = 5
    HANDLER_TIMEOUT = 6
    APP_MIN = 16  # statuses APP_MIN..255 belong to the application's handlers


class RequestRejected(Exception):
    """Raised by a request handler to answer with an application status and message."""

    def __init__(self, status: int, message: str) -> None:
        if not Status.APP_MIN <= status <= 255:
            raise ValueError(f"application status must be in {int(Status.APP_MIN)}..255, got {status}")
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ReqRespLimits:
    max_request_size: int = 1 << 20
    max_response_size: int = 64 << 20
    max_concurrent_inbound: int = 512  # py-libp2p's own helper resets beyond 128
    request_read_timeout: float = 10.0
    handler_timeout: float = 30.0
