"""Typed exceptions of the p2p layer, classified by what the caller does next.

- `BridgeError` / `BridgeStoppedError`: the trio side is gone; stop or restart
  the node.
- `ListenError` / `PortInUseError`: start-up failed; fix the config.
- `IdentityError` / `MultiaddrError`: a bad seed or address in the config.
- `MessageTooLargeError`, `InvalidMessageError`: the caller's payload is
  rejected locally; nothing was sent.
- `RequestError` and subclasses: one request/response exchange failed;
  retry with another peer (`RequestTimeoutError`, `PeerUnreachableError`)
  or treat the answer as authoritative (`RemoteError` carries the status).
"""

from __future__ import annotations


class P2PError(Exception):
    """Base class of every error raised by `node.p2p`."""


class BridgeError(P2PError):
    """The trio thread could not be started or did not stop in time."""


class BridgeStoppedError(BridgeError):
    """A call was made into (or was running in) a trio thread that has stopped."""


class IdentityError(P2PError, ValueError):
    """A node seed is malformed (must be exactly 32 bytes)."""


class MultiaddrError(P2PError, ValueError):
    """A multiaddr is not of the supported `/ip4/A.B.C.D/tcp/PORT/p2p/PEERID` form."""


class ListenError(P2PError):
    """The host did not end up with a working TCP listener."""


class PortInUseError(ListenError):
    """The requested listen port is already taken by another socket."""


class NodeNotRunningError(P2PError):
    """The node was used outside its `async with` block."""


class MessageTooLargeError(P2PError, ValueError):
    """A payload exceeds the configured maximum size; nothing was sent."""


class InvalidMessageError(P2PError, ValueError):
    """The local validator of the topic rejected a payload we tried to publish."""


class IgnoreMessage(Exception):  # noqa: N818 - a verdict a validator raises, like gossipsub's IGNORE
    """Raised by a topic validator: drop this message (not delivered, not relayed) without holding it
    against the peer that forwarded it (gossipsub v1.1's IGNORE, beside ACCEPT and REJECT).

    For verdicts that depend on the receiver's own state rather than on the message: a height the
    receiver has not reached yet says nothing about the sender's honesty.
    """


class RequestError(P2PError):
    """A request/response exchange failed."""


class RequestTimeoutError(RequestError, TimeoutError):
    """No complete response arrived within the timeout."""


class PeerUnreachableError(RequestError):
    """No stream could be opened to the peer for the protocol."""


class ProtocolViolationError(RequestError):
    """The remote sent a malformed frame (bad length, truncated, oversized)."""


class RemoteError(RequestError):
    """The remote answered with a non-OK status; `status` and `message` say why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"remote returned status {status}: {message}")
        self.status = status
        self.message = message
