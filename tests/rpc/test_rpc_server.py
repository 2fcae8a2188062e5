"""RpcServer over real sockets, plus the params validators, errors and metrics registry."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import pickle
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.crypto import PrivateKey, to_checksum_address
from node.rpc import params as P
from node.rpc.errors import (
    InternalError,
    InvalidParams,
    LimitExceeded,
    MethodNotFound,
    ResourceNotFound,
    RpcError,
    Unavailable,
    error_from_json,
    rpc_error_from,
)
from node.rpc.metrics import Metrics, MetricsError, parse_exposition
from node.rpc.server import PortInUse, RpcServer, UnknownTopic
from node.stf.errors import NonceTooLow

# -- fixtures and helpers --


class CodedError(Exception):
    rpc_code = -32012


def build_server(**kwargs: Any) -> tuple[RpcServer, list[Any]]:
    server = RpcServer("test", **kwargs)
    seen: list[Any] = []

    @server.method("echo")
    async def echo(params: list[Any]) -> Any:
        seen.append(params)
        return params

    def add(params: list[Any]) -> int:  # a sync handler
        a, b = P.positional(params, 2, 0, "add")
        return P.uint(a, "a") + P.uint(b, "b")

    server.register("add", add)

    async def block(params: list[Any]) -> str:
        (tag,) = P.positional(params, 1, 0, "block")
        value = P.block_tag(tag, "block")
        if value == 99:
            raise ResourceNotFound("block 99 not found")
        return str(value)

    server.register("block", block)
    server.register("crash", lambda params: 1 / 0)
    server.register("coded", _raise(CodedError("nonce too low: wanted 3")))
    server.register("stf", _raise(NonceTooLow(b"\x01" * 20, 5, 3)))
    server.register("limit", _raise(LimitExceeded("too many")))
    server.register("unavailable", _raise(Unavailable("not synced")))
    server.register("unserialisable", lambda params: {"raw": b"\x00"})

    async def slow(params: list[Any]) -> str:
        await asyncio.sleep(float(params[0]) if params else 0.2)
        return "done"

    server.register("slow", slow)
    server.add_topic("newHeads")
    return server, seen


def _raise(exc: Exception) -> Any:
    def handler(params: list[Any]) -> Any:
        raise exc

    return handler


@pytest.fixture
async def server() -> AsyncIterator[RpcServer]:
    srv, _ = build_server(max_batch=5)
    await srv.start("127.0.0.1", 0)
    yield srv
    await srv.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(session: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session.post(url, data=data) as resp:
        raw = await resp.read()
        return resp.status, resp.headers, (json.loads(raw) if raw else None)


def req(method: str, params: Any = None, id: Any = 1) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
    if params is not None:
        out["params"] = params
    return out


def note(method: str, params: Any = None) -> dict[str, Any]:
    out = req(method, params)
    del out["id"]
    return out


async def rpc_error(session: aiohttp.ClientSession, url: str, body: Any) -> dict[str, Any]:
    status, _, reply = await post(session, url, body)
    assert status == 200
    assert "result" not in reply
    return reply


# -- single calls --


async def test_single_call_async_handler(server: RpcServer, http: aiohttp.ClientSession) -> None:
    status, headers, reply = await post(http, server.url, req("echo", [1, "two", None], id="abc"))
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert reply == {"jsonrpc": "2.0", "id": "abc", "result": [1, "two", None]}


async def test_sync_handler_and_positional_params(server: RpcServer, http: aiohttp.ClientSession) -> None:
    _, _, reply = await post(http, server.url, req("add", [2, "0x10"], id=7))
    assert reply == {"jsonrpc": "2.0", "id": 7, "result": 18}
    reply = await rpc_error(http, server.url, req("add", [1, 2, 3]))
    assert reply["error"]["code"] == -32602
    assert reply["error"]["message"] == "method add expects 2 params, got 3"


async def test_missing_and_null_params_mean_empty(server: RpcServer, http: aiohttp.ClientSession) -> None:
    assert (await post(http, server.url, req("echo")))[2]["result"] == []
    body = {"jsonrpc": "2.0", "id": 1, "method": "echo", "params": None}
    assert (await post(http, server.url, body))[2]["result"] == []


async def test_null_and_float_ids_are_echoed(server: RpcServer, http: aiohttp.ClientSession) -> None:
    assert (await post(http, server.url, req("echo", [], id=None)))[2]["id"] is None
    assert (await post(http, server.url, req("echo", [], id=1.5)))[2]["id"] == 1.5


async def test_parse_error(server: RpcServer, http: aiohttp.ClientSession) -> None:
    for body in (b"{not json", b'{"jsonrpc": "2.0", "method": "echo", "id": NaN}', b"\xff\xfe\x00"):
        reply = await rpc_error(http, server.url, body)
        assert reply["id"] is None
        assert reply["error"]["code"] == -32700


@pytest.mark.parametrize(
    "body, echoed_id",
    [
        (1, None),
        ("hello", None),
        ({"method": "echo", "id": 3}, 3),
        ({"jsonrpc": "1.0", "method": "echo", "id": 3}, 3),
        ({"jsonrpc": 2.0, "method": "echo", "id": 3}, 3),
        ({"jsonrpc": "2.0", "method": 5, "id": 3}, 3),
        ({"jsonrpc": "2.0", "id": 3}, 3),
        ({"jsonrpc": "2.0", "method": "echo", "id": {"a": 1}}, None),
        ({"jsonrpc": "2.0", "method": "echo", "id": [1]}, None),
        ({"jsonrpc": "2.0", "method": "echo", "id": True}, None),
        ({"jsonrpc": "2.0", "method": "echo", "id": 3, "params": "x"}, 3),
        ({"jsonrpc": "2.0", "method": "echo", "id": 3, "params": 4}, 3),
    ],
)
async def test_invalid_request(server: RpcServer, http: aiohttp.ClientSession, body: Any, echoed_id: Any) -> None:
    reply = await rpc_error(http, server.url, body)
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == echoed_id
    assert reply["error"]["code"] == -32600


async def test_wrong_version_message(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, {"jsonrpc": "1.0", "method": "echo", "id": 1})
    assert reply["error"]["message"] == 'invalid request: "jsonrpc" must be exactly "2.0"'


async def test_unknown_method(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, req("nope", [], id=4))
    assert reply["id"] == 4
    assert reply["error"] == {"code": -32601, "message": "method 'nope' not found"}


async def test_invalid_params_from_validator(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, req("add", [1, -5]))
    assert reply["error"] == {"code": -32602, "message": "b must be non-negative, got -5"}
    reply = await rpc_error(http, server.url, req("block", ["newest"]))
    assert reply["error"]["code"] == -32602
    assert reply["error"]["message"].startswith("block must be a block number or one of")


async def test_named_params_rejected_for_positional_handlers(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, req("echo", {"a": 1}))
    assert reply["error"]["code"] == -32602


@pytest.mark.parametrize(
    "method, code, message",
    [
        ("limit", -32005, "too many"),
        ("unavailable", -32006, "not synced"),
        ("coded", -32012, "nonce too low: wanted 3"),
    ],
)
async def test_server_defined_errors(
    server: RpcServer, http: aiohttp.ClientSession, method: str, code: int, message: str
) -> None:
    reply = await rpc_error(http, server.url, req(method, []))
    assert reply["error"]["code"] == code
    assert reply["error"]["message"] == message


async def test_resource_not_found(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, req("block", [99]))
    assert reply["error"] == {"code": -32004, "message": "block 99 not found"}


async def test_exception_with_rpc_code_maps_code_message_and_class(
    server: RpcServer, http: aiohttp.ClientSession
) -> None:
    reply = await rpc_error(http, server.url, req("stf", []))
    error = reply["error"]
    assert error["code"] == -32012
    assert error["message"].startswith("nonce too low: account 0x")
    assert error["data"] == {"error": "NonceTooLow"}


async def test_crashing_handler_is_internal_error_without_traceback(
    server: RpcServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="node.rpc.test"):
        status, _, reply = await post(http, server.url, req("crash", [], id=9))
    assert status == 200
    assert reply == {"jsonrpc": "2.0", "id": 9, "error": {"code": -32603, "message": "internal error"}}
    assert "ZeroDivision" not in json.dumps(reply)
    crash_logs = [r for r in caplog.records if "crash" in r.getMessage()]
    assert crash_logs and crash_logs[0].exc_info is not None  # the operator sees the traceback


async def test_unserialisable_result_is_internal_error(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, req("unserialisable", []))
    assert reply["error"] == {"code": -32603, "message": "internal error"}


async def test_single_notification_gets_204(server: RpcServer, http: aiohttp.ClientSession) -> None:
    async with http.post(server.url, json=note("echo", ["n"])) as resp:
        assert resp.status == 204
        assert await resp.read() == b""


async def test_get_on_root_is_405(server: RpcServer, http: aiohttp.ClientSession) -> None:
    async with http.get(server.url) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "POST"


async def test_subscribe_over_http_is_method_not_found(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, req("rollup_subscribe", ["newHeads"]))
    assert reply["error"]["code"] == -32601
    assert "WebSocket" in reply["error"]["message"]


# -- batches --


async def test_batch_mixed_entries_in_order(server: RpcServer, http: aiohttp.ClientSession) -> None:
    srv, seen = build_server()
    await srv.start("127.0.0.1", 0)
    try:
        body = [
            req("echo", ["first"], id=1),
            note("echo", ["notified"]),
            1,
            req("nope", [], id=2),
            req("add", [1, 2], id="three"),
        ]
        status, _, reply = await post(http, srv.url, body)
        assert status == 200
        assert isinstance(reply, list) and len(reply) == 4
        assert reply[0] == {"jsonrpc": "2.0", "id": 1, "result": ["first"]}
        assert reply[1]["id"] is None and reply[1]["error"]["code"] == -32600
        assert reply[2]["id"] == 2 and reply[2]["error"]["code"] == -32601
        assert reply[3] == {"jsonrpc": "2.0", "id": "three", "result": 3}
        assert seen == [["first"], ["notified"]]  # processed in order, notification executed
    finally:
        await srv.stop()


async def test_batch_of_invalid_entries(server: RpcServer, http: aiohttp.ClientSession) -> None:
    _, _, reply = await post(http, server.url, [1, 2, 3])
    assert [r["error"]["code"] for r in reply] == [-32600] * 3


async def test_empty_batch_is_single_invalid_request(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, [])
    assert isinstance(reply, dict)
    assert reply["id"] is None and reply["error"]["code"] == -32600


async def test_batch_over_cap(server: RpcServer, http: aiohttp.ClientSession) -> None:
    reply = await rpc_error(http, server.url, [req("echo", [], id=i) for i in range(6)])
    assert isinstance(reply, dict)
    assert reply["error"]["code"] == -32600
    assert "cap of 5" in reply["error"]["message"]
    _, _, ok = await post(http, server.url, [req("echo", [], id=i) for i in range(5)])
    assert [r["id"] for r in ok] == [0, 1, 2, 3, 4]


async def test_all_notification_batch_is_204(server: RpcServer, http: aiohttp.ClientSession) -> None:
    async with http.post(server.url, json=[note("echo"), note("nope")]) as resp:
        assert resp.status == 204
        assert await resp.read() == b""


# -- body size --


async def test_oversized_body_is_413_and_server_keeps_working(http: aiohttp.ClientSession) -> None:
    srv, _ = build_server(max_body_bytes=1024)
    await srv.start("127.0.0.1", 0)
    try:
        big = json.dumps(req("echo", ["x" * 4096])).encode()
        status, headers, reply = await post(http, srv.url, big)
        assert status == 413
        assert headers["Content-Type"].startswith("application/json")
        assert reply["error"] == {"code": -32600, "message": "request body exceeds 1024 bytes"}

        async def chunks() -> AsyncIterator[bytes]:  # chunked: no Content-Length
            for _ in range(64):
                yield b" " * 256

        async with http.post(srv.url, data=chunks()) as resp:
            assert resp.status == 413

        status, _, reply = await post(http, srv.url, req("echo", ["small"]))
        assert status == 200 and reply["result"] == ["small"]
    finally:
        await srv.stop()


# -- health and metrics --


async def test_metrics_endpoint_counts_requests_and_errors(server: RpcServer, http: aiohttp.ClientSession) -> None:
    await post(http, server.url, req("echo", []))
    await post(http, server.url, req("echo", []))
    await post(http, server.url, req("crash", []))
    await post(http, server.url, req("random-junk-1", []))
    async with http.get(server.url + "metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await resp.text()
    assert "# TYPE rpc_requests_total counter" in text
    assert 'rpc_requests_total{method="echo"} 2' in text
    assert 'rpc_errors_total{code="-32603",method="crash"} 1' in text
    assert 'rpc_errors_total{code="-32601",method="<unknown>"} 1' in text
    assert "random-junk" not in text  # unknown names don't create label series
    assert 'rpc_request_duration_seconds_count{method="echo"} 2' in text


async def test_health_default(server: RpcServer, http: aiohttp.ClientSession) -> None:
    async with http.get(server.url + "health") as resp:
        assert resp.status == 200
        assert await resp.json() == {"status": "ok", "name": "test"}


async def test_health_custom_ok_unhealthy_and_raising(server: RpcServer, http: aiohttp.ClientSession) -> None:
    state: dict[str, Any] = {"status": "ok", "height": 5}
    server.set_health(lambda: dict(state))
    async with http.get(server.url + "health") as resp:
        assert resp.status == 200
        assert await resp.json() == {"name": "test", "status": "ok", "height": 5}
    state["status"] = "syncing"
    async with http.get(server.url + "health") as resp:
        assert resp.status == 503
        assert (await resp.json())["status"] == "syncing"

    async def broken() -> dict[str, Any]:
        raise RuntimeError("database closed")

    server.set_health(broken)
    async with http.get(server.url + "health") as resp:
        assert resp.status == 503
        body = await resp.json()
        assert body["status"] == "error" and "database closed" in body["error"]


# -- WebSocket --


async def ws_call(ws: aiohttp.ClientWebSocketResponse, method: str, params: list[Any], id: int) -> Any:
    await ws.send_json(req(method, params, id=id))
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        if msg.get("id") == id:
            return msg


async def test_ws_calls_subscribe_publish_unsubscribe(server: RpcServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(server.ws_url) as ws:
        assert (await ws_call(ws, "echo", ["hi"], 1))["result"] == ["hi"]
        assert (await ws_call(ws, "crash", [], 2))["error"]["code"] == -32603
        bad = await ws_call(ws, "rollup_subscribe", ["oldHeads"], 3)
        assert bad["error"]["code"] == -32602 and "newHeads" in bad["error"]["message"]

        sub = (await ws_call(ws, "rollup_subscribe", ["newHeads"], 4))["result"]
        assert isinstance(sub, str) and sub.startswith("0x")
        assert server.publish("newHeads", {"number": "0x1"}) == 1
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        assert msg == {
            "jsonrpc": "2.0",
            "method": "rollup_subscription",
            "params": {"subscription": sub, "result": {"number": "0x1"}},
        }

        await ws.send_json([req("echo", [1], id=10), req("add", [1, 1], id=11)])
        batch = await asyncio.wait_for(ws.receive_json(), 5)
        assert [r["result"] for r in batch] == [[1], 2]

        assert (await ws_call(ws, "rollup_unsubscribe", [sub], 5))["result"] is True
        assert (await ws_call(ws, "rollup_unsubscribe", [sub], 6))["result"] is False
        assert server.publish("newHeads", {"number": "0x2"}) == 0
    with pytest.raises(UnknownTopic):
        server.publish("oldHeads", {})


async def test_ws_disconnect_removes_subscriptions(server: RpcServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(server.ws_url) as ws:
        await ws_call(ws, "rollup_subscribe", ["newHeads"], 1)
        assert server.ws_client_count == 1
    await wait_until(lambda: server.ws_client_count == 0)
    assert server.publish("newHeads", 1) == 0


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.002)


async def test_slow_ws_client_is_dropped_without_blocking_publish(http: aiohttp.ClientSession) -> None:
    srv, _ = build_server(ws_queue_size=8)
    await srv.start("127.0.0.1", 0)
    try:
        slow = await http.ws_connect(srv.ws_url)
        fast = await http.ws_connect(srv.ws_url)
        await ws_call(slow, "rollup_subscribe", ["newHeads"], 1)
        fast_sub = (await ws_call(fast, "rollup_subscribe", ["newHeads"], 1))["result"]
        received: list[int] = []

        async def read_fast() -> None:
            async for msg in fast:
                data = json.loads(msg.data)
                assert data["params"]["subscription"] == fast_sub
                received.append(data["params"]["result"]["n"])

        reader = asyncio.create_task(read_fast())
        blob = "x" * 200_000
        slowest = 0.0
        n = 0
        while srv.ws_client_count == 2 and n < 2000:  # the slow one never reads
            started = time.perf_counter()
            srv.publish("newHeads", {"n": n, "blob": blob})
            slowest = max(slowest, time.perf_counter() - started)
            n += 1
            await wait_until(lambda n=n: len(received) == n)  # the healthy subscriber keeps up
        assert srv.ws_client_count == 1, "slow client was never dropped"
        assert slowest < 0.1  # publish never waited for a socket
        assert 'rpc_ws_dropped_total{reason="slow"} 1' in srv.metrics.render()

        srv.publish("newHeads", {"n": -1})
        await wait_until(lambda: received and received[-1] == -1)
        assert received == list(range(n)) + [-1]  # the healthy subscriber lost nothing
        reader.cancel()
        await slow.close()
        await fast.close()
    finally:
        await srv.stop()


async def test_ws_client_cap(http: aiohttp.ClientSession) -> None:
    srv, _ = build_server(max_ws_clients=2)
    await srv.start("127.0.0.1", 0)
    try:
        first = await http.ws_connect(srv.ws_url)
        second = await http.ws_connect(srv.ws_url)
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await http.ws_connect(srv.ws_url)
        assert info.value.status == 503
        await first.close()
        await wait_until(lambda: srv.ws_client_count == 1)
        third = await http.ws_connect(srv.ws_url)
        assert (await ws_call(third, "echo", [3], 1))["result"] == [3]
        await second.close()
        await third.close()
    finally:
        await srv.stop()


async def test_stop_closes_ws_clients(http: aiohttp.ClientSession) -> None:
    srv, _ = build_server()
    await srv.start("127.0.0.1", 0)
    ws = await http.ws_connect(srv.ws_url)
    receiving = asyncio.create_task(ws.receive())  # a live client is always reading
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await srv.stop()
    assert time.monotonic() - started < 0.9  # the close handshake completed
    msg = await asyncio.wait_for(receiving, 5)
    assert msg.type == aiohttp.WSMsgType.CLOSE
    assert msg.data == 1001 and msg.extra == "server shutting down"
    await ws.close()
    await srv.stop()  # idempotent


# -- lifecycle and registration --


async def test_port_in_use_raises() -> None:
    first = RpcServer("first")
    port = await first.start("127.0.0.1", 0)
    try:
        assert first.url == f"http://127.0.0.1:{port}/"
        assert first.ws_url == f"ws://127.0.0.1:{port}/ws"
        second = RpcServer("second")
        with pytest.raises(PortInUse) as info:
            await second.start("127.0.0.1", port)
        assert isinstance(info.value, OSError)
        assert info.value.errno == errno.EADDRINUSE
        assert f"127.0.0.1:{port}" in str(info.value) and "second" in str(info.value)
    finally:
        await first.stop()


def test_register_rejects_duplicates_and_reserved_names() -> None:
    srv = RpcServer("r")
    srv.register("a", lambda p: 1)
    with pytest.raises(ValueError):
        srv.register("a", lambda p: 2)
    for name in ("rpc.discover", "rollup_subscribe", ""):
        with pytest.raises(ValueError):
            srv.register(name, lambda p: 1)
    with pytest.raises(RuntimeError):
        srv.url  # noqa: B018


async def test_dispatch_without_network() -> None:
    srv, _ = build_server()
    reply = await srv.dispatch(json.dumps(req("add", [1, 2])))
    assert reply is not None and json.loads(reply)["result"] == 3
    assert await srv.dispatch(json.dumps(note("add", [1, 2]))) is None


# -- errors --


def test_error_to_json_and_pickle() -> None:
    err = InvalidParams("bad x", data={"param": "x"})
    assert err.to_json() == {"code": -32602, "message": "bad x", "data": {"param": "x"}}
    assert MethodNotFound().to_json() == {"code": -32601, "message": "method not found"}
    clone = pickle.loads(pickle.dumps(err))
    assert type(clone) is InvalidParams and clone.to_json() == err.to_json()
    plain = RpcError(-32099, "custom")
    assert pickle.loads(pickle.dumps(plain)).code == -32099


def test_rpc_error_from() -> None:
    err = rpc_error_from(CodedError("boom"))
    assert (err.code, err.message, err.data) == (-32012, "boom", {"error": "CodedError"})
    assert isinstance(rpc_error_from(ValueError("secret")), InternalError)
    assert rpc_error_from(ValueError("secret")).message == "internal error"
    same = LimitExceeded("x")
    assert rpc_error_from(same) is same
    assert isinstance(rpc_error_from(type("E", (Exception,), {"rpc_code": -32602})("p")), InvalidParams)


def test_error_from_json() -> None:
    assert type(error_from_json({"code": -32004, "message": "m"})) is ResourceNotFound
    unknown = error_from_json({"code": -32044, "message": "root", "data": {"error": "X"}})
    assert type(unknown) is RpcError and unknown.code == -32044 and unknown.data == {"error": "X"}
    with pytest.raises(ValueError):
        error_from_json({"message": "no code"})


# -- params validators --


def test_hex_bytes() -> None:
    assert P.hex_bytes("0x", "data") == b""
    assert P.hex_bytes("0xABcd", "data") == b"\xab\xcd"
    cases = {
        "abcd": "data must be a 0x-prefixed hex string, got 'abcd'",
        "0xabc": "data has an odd number of hex digits (3)",
        "0xzz": "data contains non-hex characters: '0xzz'",
        "0x00 1": "data contains non-hex characters: '0x00 1'",
    }
    for value, message in cases.items():
        with pytest.raises(InvalidParams) as info:
            P.hex_bytes(value, "data")
        assert info.value.message == message
    with pytest.raises(InvalidParams, match="data must be a 0x-prefixed hex string, got number"):
        P.hex_bytes(12, "data")
    with pytest.raises(InvalidParams, match="data must be 2 bytes, got 1"):
        P.hex_bytes("0x00", "data", length=2)
    with pytest.raises(InvalidParams, match="data exceeds 2 bytes"):
        P.hex_bytes("0x000000", "data", max_length=2)


@given(st.binary(max_size=64), st.booleans())
def test_hex_bytes_roundtrip(raw: bytes, upper: bool) -> None:
    body = raw.hex().upper() if upper else raw.hex()
    assert P.hex_bytes("0x" + body, "v") == raw


def test_address_and_hash32() -> None:
    addr = PrivateKey(b"\x11" * 32).address
    checksum = to_checksum_address(addr)
    assert P.address(checksum, "to") == addr
    assert P.address(checksum.lower(), "to") == addr
    assert P.address("0x" + checksum[2:].upper(), "to") == addr
    letters = [i for i, c in enumerate(checksum) if c.isalpha() and i > 1]
    i = letters[0]
    broken = checksum[:i] + checksum[i].swapcase() + checksum[i + 1 :]
    with pytest.raises(InvalidParams, match="^to: .*checksum"):
        P.address(broken, "to")
    with pytest.raises(InvalidParams, match="to must be 20 bytes, got 19"):
        P.address("0x" + "00" * 19, "to")
    assert P.hash32("0x" + "ab" * 32, "hash") == b"\xab" * 32
    with pytest.raises(InvalidParams, match="hash must be 32 bytes"):
        P.hash32("0x" + "ab" * 31, "hash")


def test_uint() -> None:
    assert P.uint(5, "n") == 5
    assert P.uint("0005", "n") == 5
    assert P.uint("0xff", "n") == 255
    assert P.uint(2**256 - 1, "n") == 2**256 - 1
    with pytest.raises(InvalidParams) as info:
        P.uint(2**256, "amount")
    assert info.value.message == "amount exceeds 2^256-1"
    with pytest.raises(InvalidParams, match="amount exceeds 2\\^256-1"):
        P.uint(hex(2**256), "amount")
    with pytest.raises(InvalidParams, match="n exceeds 10"):
        P.uint(11, "n", maximum=10)
    for bad in (True, False, 1.0, None, [], "-1", -1, "1e3", " 1", "0x", "0xg", "", "1_000"):
        with pytest.raises(InvalidParams, match="^n "):
            P.uint(bad, "n")
    with pytest.raises(InvalidParams, match="too long"):
        P.uint("1" * 5000, "n")


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_uint_accepts_all_encodings(n: int) -> None:
    assert P.uint(n, "n") == P.uint(str(n), "n") == P.uint(hex(n), "n") == n


@given(st.integers(min_value=2**256, max_value=2**300))
def test_uint_rejects_above_max(n: int) -> None:
    for value in (n, str(n), hex(n)):
        with pytest.raises(InvalidParams, match="exceeds"):
            P.uint(value, "n")


@given(st.integers(max_value=-1))
def test_uint_rejects_negative(n: int) -> None:
    for value in (n, str(n)):
        with pytest.raises(InvalidParams, match="non-negative"):
            P.uint(value, "n")


def test_block_tag_boolean_positional() -> None:
    for tag in ("latest", "safe", "finalized", "earliest", "pending"):
        assert P.block_tag(tag, "block") == tag
    assert P.block_tag(0, "block") == 0
    assert P.block_tag("0x10", "block") == 16
    for bad in (-1, True, "10", "head", "0x", 1.5, None):
        with pytest.raises(InvalidParams, match="^block "):
            P.block_tag(bad, "block")

    assert P.boolean(True, "full") is True
    for bad in (1, "true", None):
        with pytest.raises(InvalidParams, match="full must be true or false"):
            P.boolean(bad, "full")

    assert P.positional(None, 0, 2, "m") == []
    assert P.positional([1], 1, 1, "m") == [1]  # optional params are not padded
    assert P.positional([1, 2], 1, 1, "m") == [1, 2]
    with pytest.raises(InvalidParams) as info:
        P.positional([1, 2, 3], 1, 1, "X")
    assert info.value.message == "method X expects 1 to 2 params, got 3"
    with pytest.raises(InvalidParams, match="method m expects 1 param, got 0"):
        P.positional([], 1, 0, "m")
    with pytest.raises(InvalidParams, match="method m expects no params, got 1"):
        P.positional([1], 0, 0, "m")
    with pytest.raises(InvalidParams, match="positional params"):
        P.positional({"a": 1}, 0, 1, "m")


# -- metrics registry --


def test_metrics_render() -> None:
    m = Metrics()
    c = m.counter("b_total", "A counter")
    c.inc(method="x")
    c.inc(2, method="x")
    c.inc(method='we"ird\\name\n')
    g = m.gauge("a_gauge", "A gauge\nwith newline")
    g.set(5)
    g.inc(2)
    g.dec()
    h = m.histogram("c_seconds", "A histogram", buckets=[0.1, 1])
    for value in (0.05, 0.5, 5):
        h.observe(value, op="w")
    m.gauge_fn("d_fn", "Callback", lambda: 42)
    m.gauge_fn("e_fn", "Callback with labels", lambda: [({"peer": "p2"}, 2), ({"peer": "p1"}, 1)])

    def broken() -> float:
        raise RuntimeError("gone")

    m.gauge_fn("f_fn", "Broken callback", broken)
    text = m.render()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[:3] == ["# HELP a_gauge A gauge\\nwith newline", "# TYPE a_gauge gauge", "a_gauge 6"]
    assert 'b_total{method="x"} 3' in lines
    assert 'b_total{method="we\\"ird\\\\name\\n"} 1' in lines
    assert "# TYPE c_seconds histogram" in lines
    assert 'c_seconds_bucket{le="0.1",op="w"} 1' in lines
    assert 'c_seconds_bucket{le="1",op="w"} 2' in lines
    assert 'c_seconds_bucket{le="+Inf",op="w"} 3' in lines
    assert 'c_seconds_sum{op="w"} 5.55' in lines
    assert 'c_seconds_count{op="w"} 3' in lines
    assert "d_fn 42" in lines
    assert lines.index('e_fn{peer="p1"} 1') < lines.index('e_fn{peer="p2"} 2')
    assert "# TYPE f_fn gauge" in lines and not any(line.startswith("f_fn ") for line in lines)
    helps = [line.split()[2] for line in lines if line.startswith("# HELP")]
    assert helps == sorted(helps)


def test_parse_exposition_reads_back_what_render_writes() -> None:
    m = Metrics()
    m.counter("b_total", "A counter").inc(3, method="x")
    m.gauge("a_gauge", "A gauge").set(6)
    m.histogram("c_seconds", "A histogram", buckets=[0.1]).observe(0.05)
    values = parse_exposition(m.render() + "garbage line without a number x\n")
    assert values["a_gauge"] == 6 and values['b_total{method="x"}'] == 3
    assert values['c_seconds_bucket{le="0.1"}'] == 1 and values["c_seconds_count"] == 1
    assert not any(key.startswith("#") or key.startswith("garbage") for key in values)


def test_metrics_registration_rules() -> None:
    m = Metrics()
    c = m.counter("x_total", "X")
    assert m.counter("x_total", "X") is c
    with pytest.raises(MetricsError):
        m.gauge("x_total", "X")
    with pytest.raises(MetricsError):
        m.counter("bad name", "X")
    with pytest.raises(MetricsError):
        c.inc(-1)
    with pytest.raises(MetricsError):
        c.inc(**{"bad-label": "v"})
    assert Metrics().render() == ""
