"""The framed request/response protocol between two in-process nodes."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

import pytest

from node.p2p import (
    MessageTooLargeError,
    P2PConfig,
    P2PNode,
    PeerUnreachableError,
    RemoteError,
    ReqRespLimits,
    RequestRejected,
    RequestTimeoutError,
    Status,
    derive_seed,
)

ECHO = "/test/echo/1"
BLOB = "/test/blob/1"
FAIL = "/test/fail/1"
SLOW = "/test/slow/1"


async def echo(request: bytes, peer: str) -> bytes:
    return peer.encode() + b"|" + request


async def blob(request: bytes, peer: str) -> bytes:
    size = int(request)
    return hashlib.sha256(request).digest() * (size // 32)


async def fail(request: bytes, peer: str) -> bytes:
    if request == b"app":
        raise RequestRejected(42, "range not available")
    raise ValueError("handler exploded")


async def slow(request: bytes, peer: str) -> bytes:
    await asyncio.sleep(5)
    return b"late"


@contextlib.asynccontextmanager
async def pair(server_limits: ReqRespLimits | None = None) -> AsyncIterator[tuple[P2PNode, P2PNode]]:
    server = P2PNode(
        P2PConfig(seed=derive_seed("rr-server"), reqresp=server_limits or ReqRespLimits(), close_timeout=3.0)
    )
    for protocol, handler in ((ECHO, echo), (BLOB, blob), (FAIL, fail), (SLOW, slow)):
        server.register_handler(protocol, handler)
    async with server:
        async with P2PNode(
            P2PConfig(seed=derive_seed("rr-client"), bootstrap=(server.listen_addr,), close_timeout=3.0)
        ) as client:
            async with asyncio.timeout(10):
                while server.peer_id not in client.peers():
                    await asyncio.sleep(0.02)
            yield server, client


async def test_round_trip_and_handler_sees_the_peer() -> None:
    async with pair() as (server, client):
        assert await client.request(server.peer_id, ECHO, b"ping", timeout=5) == client.peer_id.encode() + b"|ping"
        assert await client.request(server.peer_id, ECHO, b"", timeout=5) == client.peer_id.encode() + b"|"


async def test_10_mb_response() -> None:
    async with pair() as (server, client):
        size = 10 * 1024 * 1024
        response = await client.request(server.peer_id, BLOB, str(size).encode(), timeout=20)
        assert len(response) == size
        assert response[:32] == hashlib.sha256(str(size).encode()).digest()


async def test_errors_come_back_as_status_codes() -> None:
    async with pair() as (server, client):
        with pytest.raises(RemoteError) as handler_error:
            await client.request(server.peer_id, FAIL, b"x", timeout=5)
        assert handler_error.value.status == Status.HANDLER_ERROR
        assert "handler exploded" in handler_error.value.message
        with pytest.raises(RemoteError) as app_error:
            await client.request(server.peer_id, FAIL, b"app", timeout=5)
        assert (app_error.value.status, app_error.value.message) == (42, "range not available")
        # the connection survives handler failures
        assert await client.request(server.peer_id, ECHO, b"again", timeout=5)


async def test_requests_over_the_size_limits_are_rejected() -> None:
    async with pair(ReqRespLimits(max_request_size=1000)) as (server, client):
        with pytest.raises(RemoteError) as too_large:
            await client.request(server.peer_id, ECHO, bytes(200_000), timeout=5)
        assert too_large.value.status == Status.REQUEST_TOO_LARGE
        with pytest.raises(MessageTooLargeError):  # over the client's own cap: never sent
            await client.request(server.peer_id, ECHO, bytes(2 * 1024 * 1024), timeout=5)
        assert await client.request(server.peer_id, ECHO, bytes(1000), timeout=5)


async def test_timeout_and_unknown_protocol() -> None:
    async with pair() as (server, client):
        with pytest.raises(RequestTimeoutError):
            await client.request(server.peer_id, SLOW, b"", timeout=0.5)
        with pytest.raises(PeerUnreachableError):
            await client.request(server.peer_id, "/test/nobody-serves-this/1", b"", timeout=5)
        assert await client.request(server.peer_id, ECHO, b"ok", timeout=5)


async def test_200_concurrent_requests() -> None:
    async with pair() as (server, client):
        payloads = [b"req-%03d" % i for i in range(200)]
        responses = await asyncio.gather(*(client.request(server.peer_id, ECHO, p, timeout=30) for p in payloads))
        assert responses == [client.peer_id.encode() + b"|" + p for p in payloads]
