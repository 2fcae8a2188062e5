"""A framed request/response protocol over libp2p streams.

py-libp2p's request/response helper fails on responses over ~6.5 MB, turns a
handler exception into a stream reset (the client sees a generic transport
error) and resets inbound requests beyond 128 in flight. This protocol
avoids all three:

- one stream per exchange; the client writes one frame, the server answers
  one frame and closes. A frame is a 4-byte big-endian length then the body.
- the response body starts with a status byte (`Status`); on non-OK the rest
  is a UTF-8 message, raised on the client as `RemoteError(status, message)`.
  Handlers raise `RequestRejected(status, message)` for application statuses
  (`Status.APP_MIN`..255); any other exception becomes `Status.HANDLER_ERROR`.
- request and response sizes are capped on both sides (`ReqRespLimits`); a
  too-large request is answered `REQUEST_TOO_LARGE` without reading it.
- inbound concurrency is our own limit (default 512), answered `OVERLOADED`
  beyond it.

Handlers are asyncio coroutine functions `async fn(request: bytes, peer: str)
-> bytes`, called on the application's loop; the trio side only moves bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from typing import TYPE_CHECKING

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from node.p2p.bridge import await_in_loop
from node.p2p.errors import (
    MessageTooLargeError,
    PeerUnreachableError,
    ProtocolViolationError,
    RemoteError,
    RequestTimeoutError,
)
from node.p2p.guards import short_peer
from node.p2p.types import ReqRespLimits, RequestHandler, RequestRejected, Status

if TYPE_CHECKING:
    from libp2p.abc import IHost, INetStream

log = logging.getLogger(__name__)


_LEN = struct.Struct(">I")
_MAX_FRAME = 0xFFFFFFFF
_READ_CHUNK = 1 << 20
_CLEANUP_TIMEOUT_S = 1.0


class FrameTooLargeError(ProtocolViolationError):
    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"frame of {length} bytes exceeds the limit of {limit}")
        self.length = length


def encode_frame(body: bytes) -> bytes:
    if len(body) > _MAX_FRAME:
        raise MessageTooLargeError(f"frame body of {len(body)} bytes does not fit a 4-byte length")
    return _LEN.pack(len(body)) + body


async def read_frame(stream: INetStream, limit: int) -> bytes:
    header = await _read_exactly(stream, _LEN.size)
    (length,) = _LEN.unpack(header)
    if length > limit:
        raise FrameTooLargeError(length, limit)
    return await _read_exactly(stream, length)


async def _read_exactly(stream: INetStream, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = await stream.read(min(n - len(buf), _READ_CHUNK))
        except Exception as exc:  # noqa: BLE001 - EOF/reset/transport errors all mean a short frame
            raise ProtocolViolationError(f"stream ended after {len(buf)} of {n} bytes ({type(exc).__name__})") from exc
        if not chunk:
            raise ProtocolViolationError(f"stream ended after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _error_body(status: int, message: str) -> bytes:
    return bytes([status]) + message.encode("utf-8", "replace")[:4096]


async def _discard(stream: INetStream) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(_CLEANUP_TIMEOUT_S), contextlib.suppress(Exception):
        await stream.reset()


class ReqRespService:
    """Trio side of the protocol for one host; handlers run on the asyncio `loop`."""

    def __init__(self, host: IHost, loop: asyncio.AbstractEventLoop, limits: ReqRespLimits) -> None:
        self._host = host
        self._loop = loop
        self.limits = limits
        self._inflight = 0

    def register(self, protocol_id: str, handler: RequestHandler) -> None:
        async def stream_handler(stream: INetStream) -> None:
            await self._serve(protocol_id, handler, stream)

        self._host.set_stream_handler(TProtocol(protocol_id), stream_handler)

    # ---- server ----------------------------------------------------------
    async def _serve(self, protocol_id: str, handler: RequestHandler, stream: INetStream) -> None:
        peer = str(stream.muxed_conn.peer_id)
        try:
            if self._inflight >= self.limits.max_concurrent_inbound:
                await self._respond(stream, _error_body(Status.OVERLOADED, "too many requests in flight"))
                return
            self._inflight += 1
            try:
                body = await self._answer(protocol_id, handler, stream, peer)
            finally:
                self._inflight -= 1
            await self._respond(stream, body)
        except Exception as exc:  # noqa: BLE001 - one failed exchange must not reach the connection
            log.debug("reqresp %s: exchange with %s failed: %s", protocol_id, short_peer(peer), exc)
            await _discard(stream)

    async def _answer(self, protocol_id: str, handler: RequestHandler, stream: INetStream, peer: str) -> bytes:
        try:
            with trio.fail_after(self.limits.request_read_timeout):
                request = await read_frame(stream, self.limits.max_request_size)
        except FrameTooLargeError as exc:
            return _error_body(Status.REQUEST_TOO_LARGE, str(exc))
        except trio.TooSlowError:
            return _error_body(Status.BAD_REQUEST, "request not received in time")
        try:
            with trio.fail_after(self.limits.handler_timeout):
                response = await await_in_loop(self._loop, handler, request, peer)
        except trio.TooSlowError:
            log.warning(
                "reqresp %s: handler timed out after %.0fs (peer %s)",
                protocol_id,
                self.limits.handler_timeout,
                short_peer(peer),
            )
            return _error_body(Status.HANDLER_TIMEOUT, "handler timed out")
        except RequestRejected as exc:
            return _error_body(exc.status, exc.message)
        except Exception as exc:  # noqa: BLE001 - carried to the client as a status, not a reset
            log.warning(
                "reqresp %s: handler failed for peer %s: %s: %s", protocol_id, short_peer(peer), type(exc).__name__, exc
            )
            return _error_body(Status.HANDLER_ERROR, f"{type(exc).__name__}: {exc}")
        if not isinstance(response, (bytes, bytearray, memoryview)):
            return _error_body(Status.HANDLER_ERROR, f"handler returned {type(response).__name__}, not bytes")
        if len(response) + 1 > self.limits.max_response_size:
            return _error_body(Status.RESPONSE_TOO_LARGE, f"response of {len(response)} bytes over the limit")
        return bytes([Status.OK]) + bytes(response)

    async def _respond(self, stream: INetStream, body: bytes) -> None:
        await stream.write(encode_frame(body))
        with trio.move_on_after(_CLEANUP_TIMEOUT_S):
            await stream.close()

    # ---- client ----------------------------------------------------------
    async def request(self, peer_id: str, protocol_id: str, payload: bytes, timeout: float) -> bytes:
        if len(payload) > self.limits.max_request_size:
            raise MessageTooLargeError(
                f"request of {len(payload)} bytes exceeds max_request_size {self.limits.max_request_size}"
            )
        peer = ID.from_base58(peer_id)
        try:
            with trio.fail_after(timeout):
                body = await self._exchange(peer, protocol_id, payload)
        except trio.TooSlowError:
            raise RequestTimeoutError(
                f"{protocol_id} to {short_peer(peer_id)}: no response within {timeout}s"
            ) from None
        if not body:
            raise ProtocolViolationError(f"{protocol_id} to {short_peer(peer_id)}: empty response frame")
        if body[0] != Status.OK:
            raise RemoteError(body[0], body[1:].decode("utf-8", "replace"))
        return body[1:]

    async def _exchange(self, peer: ID, protocol_id: str, payload: bytes) -> bytes:
        try:
            stream = await self._host.new_stream(peer, [TProtocol(protocol_id)])
        except Exception as exc:  # noqa: BLE001 - dial/negotiation failures of every kind
            raise PeerUnreachableError(f"cannot open {protocol_id} stream to {short_peer(peer)}: {exc}") from exc
        ok = False
        try:
            # Write while already reading: a server that rejects a request
            # early (too large) answers without draining it, and a blocked
            # write must not hide that answer.
            failure: ProtocolViolationError | None = None
            body = b""
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._write_request, stream, payload)
                try:
                    body = await read_frame(stream, self.limits.max_response_size + 1)
                except ProtocolViolationError as exc:  # re-raised below, outside the nursery's group
                    failure = exc
                nursery.cancel_scope.cancel()
            if failure is not None:
                raise failure
            ok = True
            return body
        finally:
            if ok:
                with trio.move_on_after(_CLEANUP_TIMEOUT_S), contextlib.suppress(Exception):
                    await stream.close()
            else:
                await _discard(stream)

    @staticmethod
    async def _write_request(stream: INetStream, payload: bytes) -> None:
        try:
            await stream.write(encode_frame(payload))
        except Exception as exc:  # noqa: BLE001 - the read side reports the outcome
            log.debug("reqresp: request write ended early: %s", exc)
