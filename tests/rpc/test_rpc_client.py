"""RpcClient and SyncRpcClient against live RpcServers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from node.rpc.client import RpcClient, RpcTransportError, SyncRpcClient
from node.rpc.errors import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    LimitExceeded,
    MethodNotFound,
    ResourceNotFound,
    RpcError,
    Unavailable,
)
from node.rpc.params import positional, uint
from node.rpc.server import RpcServer


class NonceTooLow(Exception):
    rpc_code = -32012


def _raise(exc: Exception) -> Any:
    def handler(params: list[Any]) -> Any:
        raise exc

    return handler


def build_server() -> RpcServer:
    server = RpcServer("client-test", max_body_bytes=4096, max_batch=4)

    @server.method("echo")
    async def echo(params: list[Any]) -> Any:
        return params

    def add(params: list[Any]) -> int:
        a, b = positional(params, 2, 0, "add")
        return uint(a, "a") + uint(b, "b")

    server.register("add", add)

    async def sleep(params: list[Any]) -> str:
        await asyncio.sleep(float(params[0]))
        return "awake"

    server.register("sleep", sleep)
    server.register("not_found", _raise(ResourceNotFound("block 7 not found")))
    server.register("limited", _raise(LimitExceeded("slow down")))
    server.register("unavailable", _raise(Unavailable("upstream down")))
    server.register("nonce", _raise(NonceTooLow("nonce too low: 1 < 2")))
    server.register("crash", _raise(KeyError("secret internals")))
    return server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


ERROR_CASES = [
    ("add", [1], InvalidParams, -32602, "method add expects 2 params, got 1"),
    ("missing", [], MethodNotFound, -32601, "method 'missing' not found"),
    ("not_found", [], ResourceNotFound, -32004, "block 7 not found"),
    ("limited", [], LimitExceeded, -32005, "slow down"),
    ("unavailable", [], Unavailable, -32006, "upstream down"),
    ("crash", [], InternalError, -32603, "internal error"),
]


# -- async client --


@pytest.fixture
async def server() -> AsyncIterator[RpcServer]:
    srv = build_server()
    await srv.start("127.0.0.1", 0)
    yield srv
    await srv.stop()


@pytest.fixture
async def client(server: RpcServer) -> AsyncIterator[RpcClient]:
    async with RpcClient(server.url, timeout=5.0) as rpc:
        yield rpc


async def test_call_returns_result(client: RpcClient) -> None:
    assert await client.call("echo", 1, "a", [True]) == [1, "a", [True]]
    assert await client.call("echo") == []
    assert await client.call("add", 2, "0x3") == 5


@pytest.mark.parametrize("method, params, cls, code, message", ERROR_CASES)
async def test_call_rebuilds_error_classes(
    client: RpcClient, method: str, params: list[Any], cls: type[RpcError], code: int, message: str
) -> None:
    with pytest.raises(RpcError) as info:
        await client.call(method, *params)
    assert type(info.value) is cls
    assert (info.value.code, info.value.message) == (code, message)


async def test_unknown_code_is_plain_rpc_error(client: RpcClient) -> None:
    with pytest.raises(RpcError) as info:
        await client.call("nonce")
    assert type(info.value) is RpcError
    assert info.value.code == -32012
    assert info.value.message == "nonce too low: 1 < 2"
    assert info.value.data == {"error": "NonceTooLow"}


async def test_oversized_request_raises_invalid_request(client: RpcClient) -> None:
    with pytest.raises(InvalidRequest, match="request body exceeds 4096 bytes"):
        await client.call("echo", "x" * 10_000)
    assert await client.call("echo", "ok") == ["ok"]  # same client, still usable


async def test_batch(client: RpcClient) -> None:
    results = await client.batch([("echo", [1]), ("missing", []), ("add", [2, 3]), ("crash", [])])
    assert results[0] == [1]
    assert isinstance(results[1], MethodNotFound)
    assert results[2] == 5
    assert isinstance(results[3], InternalError)
    assert await client.batch([]) == []
    with pytest.raises(InvalidRequest, match="cap of 4"):
        await client.batch([("echo", [])] * 5)


async def test_transport_error_on_closed_port() -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    async with RpcClient(url, timeout=2.0) as rpc:
        with pytest.raises(RpcTransportError) as info:
            await rpc.call("echo")
    assert info.value.url == url
    assert url in str(info.value) and "echo failed" in str(info.value)


async def test_transport_error_on_timeout(client: RpcClient) -> None:
    slow = RpcClient(client.url, timeout=0.2)
    try:
        with pytest.raises(RpcTransportError, match="sleep timed out after 0.2s"):
            await slow.call("sleep", 0.6)
    finally:
        await slow.close()


async def test_transport_error_on_non_json_reply(server: RpcServer) -> None:
    async with RpcClient(server.url + "metrics") as rpc:  # POST /metrics -> 405 text
        with pytest.raises(RpcTransportError, match="HTTP 405 reply is not JSON"):
            await rpc.call("echo")


async def test_close_is_idempotent_and_session_recreated(server: RpcServer) -> None:
    rpc = RpcClient(server.url)
    assert await rpc.call("echo", 1) == [1]
    await rpc.close()
    await rpc.close()
    assert await rpc.call("echo", 2) == [2]  # lazily reopened
    await rpc.close()


# -- sync client (server runs on its own loop in a background thread) --


class ThreadedServer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="rpc-test-loop", daemon=True)
        self.server = build_server()

    def __enter__(self) -> RpcServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self.loop).result(5)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture(scope="module")
def threaded_server() -> Iterator[RpcServer]:
    with ThreadedServer() as server:
        yield server


def test_sync_call(threaded_server: RpcServer) -> None:
    rpc = SyncRpcClient(threaded_server.url, timeout=5.0)
    assert rpc.call("echo", "a", 1) == ["a", 1]
    assert rpc.call("add", 40, 2) == 42


@pytest.mark.parametrize("method, params, cls, code, message", ERROR_CASES)
def test_sync_call_rebuilds_error_classes(
    threaded_server: RpcServer, method: str, params: list[Any], cls: type[RpcError], code: int, message: str
) -> None:
    rpc = SyncRpcClient(threaded_server.url)
    with pytest.raises(RpcError) as info:
        rpc.call(method, *params)
    assert type(info.value) is cls
    assert (info.value.code, info.value.message) == (code, message)


def test_sync_errors_over_http_status(threaded_server: RpcServer) -> None:
    rpc = SyncRpcClient(threaded_server.url)
    with pytest.raises(InvalidRequest, match="exceeds 4096 bytes"):  # HTTP 413 with a JSON-RPC body
        rpc.call("echo", "x" * 10_000)
    with pytest.raises(RpcTransportError, match="HTTP 405 reply is not JSON"):
        SyncRpcClient(threaded_server.url + "metrics").call("echo")


def test_sync_batch(threaded_server: RpcServer) -> None:
    results = SyncRpcClient(threaded_server.url).batch([("add", [1, 1]), ("not_found", [])])
    assert results[0] == 2 and isinstance(results[1], ResourceNotFound)


def test_sync_transport_errors(threaded_server: RpcServer) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    with pytest.raises(RpcTransportError) as info:
        SyncRpcClient(url, timeout=2.0).call("echo")
    assert url in str(info.value)
    with pytest.raises(RpcTransportError, match="timed out after 0.2s"):
        SyncRpcClient(threaded_server.url, timeout=0.2).call("sleep", 0.6)


async def test_sync_client_from_async_code_via_thread(server: RpcServer) -> None:
    rpc = SyncRpcClient(server.url)
    assert await asyncio.to_thread(rpc.call, "echo", 5) == [5]
