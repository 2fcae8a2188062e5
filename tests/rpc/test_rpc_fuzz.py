"""Property-based fuzzing of RpcServer over real sockets (HTTP, batches, raw bytes, WebSocket).

One server runs on an ephemeral loopback port for the whole module, on an
event loop this module owns, so hypothesis drives plain sync tests. Every
request body is judged against an independent model of JSON-RPC 2.0
(`expected_replies`): which entries are answered, with which id, and with
which error code. After every example the server must still answer a good
request, and nothing may have been logged with a traceback.

Ids that are not JSON-RPC ids get -32600 with a null id. The exception is
a NaN / Infinity literal: that text is not JSON at all (RFC 8259), so the
whole body is a -32700 parse error, as for any other non-JSON body.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import math
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.rpc import params as P
from node.rpc.errors import RpcError
from node.rpc.server import RpcServer

T = TypeVar("T")

MAX_BATCH = 5
MAX_BODY = 64 * 1024
STANDARD_CODES = frozenset({-32700, -32600, -32601, -32602, -32603})
LIMIT_EXCEEDED = -32005  # rollup_subscribe past MAX_SUBSCRIPTIONS_PER_CLIENT
FUZZ = settings(max_examples=120, deadline=None)

# -- the server under test --


def build_server() -> RpcServer:
    server = RpcServer("fuzz", max_batch=MAX_BATCH, max_body_bytes=MAX_BODY)

    @server.method("echo")
    async def echo(params: list[Any]) -> Any:
        return params

    def add(params: list[Any]) -> int:
        a, b = P.positional(params, 2, 0, "add")
        return P.uint(a, "a") + P.uint(b, "b")

    server.register("add", add)
    server.add_topic("newHeads")
    return server


class TracebackRecorder(logging.Handler):
    """Collects every record that carries a traceback or comes from aiohttp at ERROR."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or (record.name.startswith("aiohttp") and record.levelno >= logging.ERROR):
            self.bad.append(record)

    def take(self) -> list[str]:
        found = [f"{r.name}: {r.getMessage()}" for r in self.bad]
        self.bad.clear()
        return found


@dataclass
class Harness:
    loop: asyncio.AbstractEventLoop
    server: RpcServer
    http: aiohttp.ClientSession
    ws: aiohttp.ClientWebSocketResponse
    log: TracebackRecorder

    def run(self, coro: Awaitable[T], timeout: float = 10.0) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    loop = asyncio.new_event_loop()
    server = build_server()
    recorder = TracebackRecorder()
    logging.getLogger().addHandler(recorder)

    async def open_clients() -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
        await server.start("127.0.0.1", 0)
        session = aiohttp.ClientSession()
        return session, await session.ws_connect(server.ws_url)

    async def close_clients() -> None:
        await ws.close()
        await http.close()
        await server.stop()

    try:
        http, ws = loop.run_until_complete(open_clients())
        yield Harness(loop, server, http, ws, recorder)
        loop.run_until_complete(close_clients())
    finally:
        logging.getLogger().removeHandler(recorder)
        loop.close()


# -- the model: what a JSON-RPC 2.0 server must answer --


@dataclass(frozen=True)
class Expect:
    """One expected response: its id and the outcomes allowed for it."""

    id: Any
    codes: frozenset[int]  # error codes allowed
    result_ok: bool = False  # may it be a result?
    result: Any = None  # when not None: the exact result required


class NotJson(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


def strict_loads(raw: bytes | str) -> Any:
    """RFC 8259 JSON: no NaN / Infinity literals; raises ValueError or RecursionError."""
    return json.loads(raw, parse_constant=_reject_constant)


def is_valid_id(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int)


def has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(has_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(has_non_finite(v) for v in value.values())
    return False


def expected_replies(raw: bytes | str, over_ws: bool) -> list[Expect] | Expect | None:
    """The single response, batch of responses or None (nothing) that `raw` must get."""
    try:
        document = strict_loads(raw)
    except (ValueError, RecursionError):
        return Expect(None, frozenset({-32700}))
    if not isinstance(document, list):
        return expect_entry(document, over_ws) or None
    if not document or len(document) > MAX_BATCH:
        return Expect(None, frozenset({-32600}))
    replies = [e for e in (expect_entry(entry, over_ws) for entry in document) if e is not None]
    return replies or None


def expect_entry(entry: Any, over_ws: bool) -> Expect | None:
    invalid = frozenset({-32600})
    if not isinstance(entry, dict):
        return Expect(None, invalid)
    request_id = entry.get("id")
    echo = request_id if is_valid_id(request_id) else None
    params = entry.get("params")
    if entry.get("jsonrpc") != "2.0" or not isinstance(entry.get("method"), str):
        return Expect(echo, invalid)
    if not is_valid_id(request_id):
        return Expect(None, invalid)
    if params is not None and not isinstance(params, (list, dict)):
        return Expect(echo, invalid)
    if "id" not in entry:
        return None  # a valid notification is never answered
    return expect_call(entry["method"], [] if params is None else params, request_id, over_ws)


def expect_call(method: str, params: Any, request_id: Any, over_ws: bool) -> Expect:
    if method not in ("echo", "add", "rollup_subscribe", "rollup_unsubscribe"):
        return Expect(request_id, frozenset({-32601}))
    if method.startswith("rollup_") and not over_ws:
        return Expect(request_id, frozenset({-32601}))
    if not isinstance(params, list):
        return Expect(request_id, frozenset({-32602}))
    if method == "echo":
        if has_non_finite(params):  # the result cannot be written as JSON
            return Expect(request_id, frozenset({-32603}))
        return Expect(request_id, frozenset(), result_ok=True, result=params)
    if method == "rollup_subscribe":
        return Expect(request_id, frozenset({-32602, LIMIT_EXCEEDED}), result_ok=True)
    return Expect(request_id, frozenset({-32602}), result_ok=True)


def check_reply(reply: Any, expect: Expect) -> None:
    assert isinstance(reply, dict), reply
    assert reply.get("jsonrpc") == "2.0", reply
    assert "id" in reply, reply
    assert reply["id"] == expect.id and type(reply["id"]) is type(expect.id), (reply, expect)
    if "result" in reply:
        assert set(reply) == {"jsonrpc", "id", "result"}, reply
        assert expect.result_ok, (reply, expect)
        if expect.result is not None:
            assert reply["result"] == expect.result
        return
    assert set(reply) == {"jsonrpc", "id", "error"}, reply
    error = reply["error"]
    assert isinstance(error, dict) and set(error) <= {"code", "message", "data"}, error
    assert isinstance(error["message"], str) and error["message"], error
    assert type(error["code"]) is int and error["code"] in expect.codes, (reply, expect)
    assert error["code"] in STANDARD_CODES | {LIMIT_EXCEEDED}


def check_body(body: Any, expected: list[Expect] | Expect) -> None:
    if isinstance(expected, Expect):
        check_reply(body, expected)
        return
    assert isinstance(body, list) and len(body) == len(expected), (body, expected)
    for reply, expect in zip(body, expected):
        check_reply(reply, expect)


# -- strategies: raw JSON text, so non-JSON-RPC and non-finite ids can be written --

BAD_IDS = [
    "1e999",
    "-1e999",
    "1E400",
    "NaN",
    "Infinity",
    "-Infinity",
    "true",
    "false",
    "{}",
    "[]",
    '{"a":1}',
    "[1]",
]
GOOD_IDS = ["1", "0", "-7", "1.5", "-0", "0.0", "1e308", '"abc"', '""', "null", "1234567890" * 3]
METHODS = [
    '"echo"',
    '"add"',
    '"nope"',
    '"rollup_subscribe"',
    '"rollup_unsubscribe"',
    '""',
    '"rpc.x"',
    '"' + "m" * 5000 + '"',
    "5",
    "null",
    "[]",
    '"\\ud800"',
]

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=12) | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


raw_values = json_values.map(dumps) | st.sampled_from(
    BAD_IDS + ["[1e999]", '{"x":-1e999}', nested(50), nested(5000), '"0x10"', "99" * 2600]
)
raw_params = (
    st.sampled_from(["null", "[]", '["newHeads"]', "[1, 2]", '["0x10", 3]', "[1, -5]", '{"a": 1}', "5", '"x"'])
    | st.lists(raw_values, max_size=3).map(lambda items: "[" + ",".join(items) + "]")
    | raw_values
)
raw_ids = st.sampled_from(BAD_IDS + GOOD_IDS) | raw_values


GOOD_METHODS = ['"echo"', '"add"', '"rollup_subscribe"', '"rollup_unsubscribe"']
MEMBER_KINDS = st.sampled_from(["good"] * 13 + ["wrong"] * 5 + ["absent"] * 2)  # shrinks to "good"
GOOD_PARAMS = st.sampled_from(['["newHeads"]', "[1, 2]", '["0x10", 3]']) | st.lists(json_values, max_size=3).map(dumps)


@st.composite
def raw_entries(draw: st.DrawFn) -> str:
    """One request object as JSON text; each member is right, wrong (1 in 4) or absent (1 in 10)."""
    choices = {
        "jsonrpc": (st.just('"2.0"'), st.sampled_from(['"1.0"', "2.0", "null"]) | raw_values),
        "method": (st.sampled_from(GOOD_METHODS), st.sampled_from(METHODS) | raw_values),
        "params": (GOOD_PARAMS, raw_params),
        "id": (st.sampled_from(GOOD_IDS) | st.integers().map(str), st.sampled_from(BAD_IDS) | raw_ids),
    }
    members: dict[str, str] = {}
    for name, (good, wrong) in choices.items():
        kind = draw(MEMBER_KINDS)
        if kind != "absent":
            members[name] = draw(good if kind == "good" else wrong)
    order = draw(st.permutations(list(members)))
    return "{" + ",".join(f'"{k}":{members[k]}' for k in order) + "}"


batch_entries = st.sampled_from(["entry"] * 4 + ["value"]).flatmap(
    lambda kind: raw_entries() if kind == "entry" else json_values.map(dumps)
)
raw_documents = raw_entries() | st.lists(batch_entries, max_size=MAX_BATCH + 2).map(
    lambda entries: "[" + ",".join(entries) + "]"
)
CONTENT_TYPES = [
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "",
    "application/json; charset=latin-1",
]

# -- transports --


async def post(harness: Harness, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
    headers = {"Content-Type": content_type} if content_type else {}
    async with harness.http.post(harness.server.url, data=body, headers=headers) as resp:
        return resp.status, await resp.read()


def assert_http_answer(harness: Harness, body: bytes, content_type: str = "application/json") -> None:
    status, raw = harness.run(post(harness, body, content_type))
    expected = expected_replies(body, over_ws=False)
    if expected is None:
        assert (status, raw) == (204, b"")
    else:
        assert status == 200, raw[:300]
        check_body(strict_loads(raw), expected)


def assert_still_serving(harness: Harness) -> None:
    good = b'{"jsonrpc":"2.0","id":"alive","method":"echo","params":["ok"]}'
    status, raw = harness.run(post(harness, good))
    assert status == 200 and strict_loads(raw) == {"jsonrpc": "2.0", "id": "alive", "result": ["ok"]}
    assert harness.log.take() == []  # no traceback, no aiohttp error, ever


SENTINEL = '{"jsonrpc":"2.0","id":"sentinel","method":"echo","params":["ok"]}'


async def ws_exchange(ws: aiohttp.ClientWebSocketResponse, frame: bytes | str) -> list[Any]:
    """Send `frame` then a sentinel request; return every message up to the sentinel's reply."""
    if isinstance(frame, bytes):
        await ws.send_bytes(frame)
    else:
        await ws.send_str(frame)
    await ws.send_str(SENTINEL)
    received: list[Any] = []
    while True:
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, f"WebSocket not answering: {msg}"
        data = strict_loads(msg.data)
        if isinstance(data, dict) and data.get("id") == "sentinel":
            assert data.get("result") == ["ok"], data
            return received
        received.append(data)


def assert_ws_answer(harness: Harness, frame: bytes | str) -> None:
    received = harness.run(ws_exchange(harness.ws, frame))
    expected = expected_replies(frame, over_ws=True)
    if expected is None:
        assert received == []
    else:
        assert len(received) == 1, received
        check_body(received[0], expected)
    assert not harness.ws.closed
    assert harness.log.take() == []


# -- properties --


@FUZZ
@given(document=raw_documents, content_type=st.sampled_from(CONTENT_TYPES))
def test_http_requests_and_batches_get_precise_json_rpc_answers(
    harness: Harness, document: str, content_type: str
) -> None:
    assert_http_answer(harness, document.encode(), content_type)
    assert_still_serving(harness)


@FUZZ
@given(
    body=st.binary(max_size=200)
    | raw_documents.map(str.encode).flatmap(
        lambda b: st.tuples(st.integers(0, len(b)), st.binary(min_size=1, max_size=4)).map(
            lambda cut: b[: cut[0]] + cut[1] + b[cut[0] :]
        )
    )
)
def test_http_raw_bytes_never_break_the_server(harness: Harness, body: bytes) -> None:
    assert_http_answer(harness, body)
    assert_still_serving(harness)


@FUZZ
@given(frame=raw_documents | raw_documents.map(str.encode) | st.binary(max_size=100) | st.text(max_size=100))
def test_websocket_frames_get_precise_answers_and_keep_the_connection(harness: Harness, frame: bytes | str) -> None:
    assert_ws_answer(harness, frame)
    assert_still_serving(harness)


# -- regressions: invalid ids, on every transport --

INVALID_IDS = ["1e999", "-1e999", "true", "false", "{}", "[]", '{"a":1}', "[1]"]
NON_JSON_IDS = ["NaN", "Infinity", "-Infinity"]


def request_text(raw_id: str, method: str = "echo") -> str:
    return f'{{"jsonrpc":"2.0","id":{raw_id},"method":"{method}","params":[]}}'


def invalid_request(reply: Any) -> None:
    assert reply["id"] is None and reply["error"]["code"] == -32600 and "result" not in reply, reply


@pytest.mark.parametrize("raw_id", INVALID_IDS)
def test_invalid_id_over_http_is_invalid_request(harness: Harness, raw_id: str) -> None:
    status, raw = harness.run(post(harness, request_text(raw_id).encode()))
    assert status == 200
    invalid_request(strict_loads(raw))
    assert_still_serving(harness)


def test_infinite_id_names_the_problem(harness: Harness) -> None:
    _, raw = harness.run(post(harness, request_text("1e999").encode()))
    assert strict_loads(raw)["error"]["message"] == 'invalid request: "id" must be a finite number'


@pytest.mark.parametrize("raw_id", INVALID_IDS)
def test_invalid_id_in_a_batch_spoils_only_its_entry(harness: Harness, raw_id: str) -> None:
    body = f"[{request_text('1')},{request_text(raw_id)},{request_text(chr(34) + 'z' + chr(34))}]"
    status, raw = harness.run(post(harness, body.encode()))
    assert status == 200
    first, middle, last = strict_loads(raw)
    assert first == {"jsonrpc": "2.0", "id": 1, "result": []}
    invalid_request(middle)
    assert last == {"jsonrpc": "2.0", "id": "z", "result": []}


@pytest.mark.parametrize("raw_id", INVALID_IDS)
def test_invalid_id_over_websocket_keeps_the_connection(harness: Harness, raw_id: str) -> None:
    (reply,) = harness.run(ws_exchange(harness.ws, request_text(raw_id)))
    invalid_request(reply)
    batch = f"[{request_text(raw_id)},{request_text('2')}]"
    ((bad, good),) = harness.run(ws_exchange(harness.ws, batch))
    invalid_request(bad)
    assert good == {"jsonrpc": "2.0", "id": 2, "result": []}
    assert not harness.ws.closed


@pytest.mark.parametrize("raw_id", NON_JSON_IDS)
def test_nan_and_infinity_literals_are_parse_errors_everywhere(harness: Harness, raw_id: str) -> None:
    for text in (request_text(raw_id), f"[{request_text('1')},{request_text(raw_id)}]"):
        status, raw = harness.run(post(harness, text.encode()))
        assert status == 200
        reply = strict_loads(raw)
        assert reply["id"] is None and reply["error"]["code"] == -32700
        (ws_reply,) = harness.run(ws_exchange(harness.ws, text))
        assert ws_reply == reply
    assert not harness.ws.closed
    assert_still_serving(harness)


def test_infinite_id_beside_other_faults_gets_a_null_id(harness: Harness) -> None:
    bodies = ('{"id":1e999}', request_text("-1e999", "nope"), '{"jsonrpc":"1.0","id":1e999,"method":"echo"}')
    for body in bodies:
        status, raw = harness.run(post(harness, body.encode()))
        assert status == 200
        invalid_request(strict_loads(raw))


# -- results and errors that cannot be written as JSON --


def test_unserialisable_results_and_error_data_are_clean_internal_errors() -> None:
    async def scenario() -> list[Any]:
        server = RpcServer("fuzz-results")
        server.register("inf", lambda params: {"x": float("inf")})
        server.register("nan", lambda params: [float("nan")])
        server.register("bytes", lambda params: b"\x00")

        def bad_data(params: list[Any]) -> Any:
            raise RpcError(-32004, "not found", data={"raw": b"\x01", "n": float("nan")})

        server.register("bad_data", bad_data)
        await server.start("127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                replies = []
                for method in ("inf", "nan", "bytes", "bad_data"):
                    async with session.post(server.url, data=request_text("1", method).encode()) as resp:
                        assert resp.status == 200
                        replies.append(strict_loads(await resp.read()))
                return replies
        finally:
            await server.stop()

    inf, nan, raw, bad_data = asyncio.run(scenario())
    for reply in (inf, nan, raw):
        assert reply == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "internal error"}}
    assert bad_data == {"jsonrpc": "2.0", "id": 1, "error": {"code": -32004, "message": "not found"}}


# -- HTTP-level answers --


def test_http_level_errors_are_documented_4xx_with_json_rpc_bodies(harness: Harness) -> None:
    async def scenario() -> list[tuple[int, bytes]]:
        url = harness.server.url
        out = []
        async with harness.http.post(url, data=b"[" + b" " * MAX_BODY + b"]") as resp:
            out.append((resp.status, await resp.read()))
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        async with harness.http.post(url, data=b"not gzip at all", headers=headers) as resp:
            out.append((resp.status, await resp.read()))
        good = gzip.compress(request_text("7").encode())
        async with harness.http.post(url, data=good, headers=headers) as resp:
            out.append((resp.status, await resp.read()))
        async with harness.http.put(url, data=request_text("1").encode()) as resp:
            out.append((resp.status, await resp.read()))
        return out

    too_large, bad_gzip, good_gzip, put = harness.run(scenario())
    assert too_large[0] == 413 and strict_loads(too_large[1])["error"]["code"] == -32600
    assert bad_gzip[0] == 400
    assert strict_loads(bad_gzip[1])["error"] == {
        "code": -32700,
        "message": "parse error: request body could not be read (ContentEncodingError)",
    }
    assert good_gzip == (200, b'{"jsonrpc":"2.0","id":7,"result":[]}')
    assert put[0] == 405
    assert_still_serving(harness)


def test_all_notification_batch_over_websocket_gets_nothing(harness: Harness) -> None:
    batch = '[{"jsonrpc":"2.0","method":"echo"},{"jsonrpc":"2.0","method":"nope","params":[1e999]}]'
    assert harness.run(ws_exchange(harness.ws, batch)) == []
