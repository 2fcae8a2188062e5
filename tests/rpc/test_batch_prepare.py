"""The dispatcher's batch preparer hook (node.rpc.dispatch.Dispatcher.register_batch_prepare): called once per
batch with the params of that method's entries, its answers replace the handler's entry by entry in batch
order, and everything else (single requests, object params, other methods, a failing preparer) is answered
exactly as without it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from node.rpc import params as P
from node.rpc.dispatch import Prepared
from node.rpc.errors import InvalidParams
from node.rpc.metrics import parse_exposition
from node.rpc.server import RpcServer


class Recorder:
    """A method `double(n) -> 2n` whose preparer records its calls and the order answers are taken in."""

    def __init__(self) -> None:
        self.prepared: list[list[list[Any]]] = []
        self.events: list[str] = []
        self.fail_prepare: Exception | None = None
        self.short_answers = False

    def handler(self, params: list[Any]) -> int:
        (n,) = P.positional(params, 1, 0, "double")
        self.events.append(f"handler {n}")
        return 2 * P.uint(n, "n")

    def prepare(self, params_lists: list[list[Any]]) -> list[Prepared]:
        self.prepared.append(params_lists)
        if self.fail_prepare is not None:
            raise self.fail_prepare
        answers = [self._answer(params) for params in params_lists]
        return answers[:-1] if self.short_answers else answers

    def _answer(self, params: list[Any]) -> Callable[[], Any]:
        async def answer() -> int:
            self.events.append(f"prepared {params!r}")
            return self.handler(params)

        return answer


def build() -> tuple[RpcServer, Recorder]:
    server = RpcServer("test", max_batch=10)
    recorder = Recorder()
    server.register("double", recorder.handler)
    server.register("echo", lambda params: params)
    server.register_batch_prepare("double", recorder.prepare)
    return server, recorder


def request(method: str, params: Any, request_id: Any = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


async def answer(server: RpcServer, body: Any) -> Any:
    reply = await server.dispatch(json.dumps(body))
    return None if reply is None else json.loads(reply)


async def test_one_call_per_batch_with_the_params_of_its_entries_in_order() -> None:
    server, recorder = build()
    body = [
        request("double", [1], 1),
        request("echo", ["x"], 2),
        {"jsonrpc": "2.0", "method": "double", "params": [2]},  # a notification: prepared, not answered
        request("double", [3], 3),
    ]
    replies = await answer(server, body)
    assert recorder.prepared == [[[1], [2], [3]]]
    assert replies == [
        {"jsonrpc": "2.0", "id": 1, "result": 2},
        {"jsonrpc": "2.0", "id": 2, "result": ["x"]},
        {"jsonrpc": "2.0", "id": 3, "result": 6},
    ]
    assert recorder.events == [
        "prepared [1]",
        "handler 1",
        "prepared [2]",
        "handler 2",
        "prepared [3]",
        "handler 3",
    ]


async def test_each_prepared_entry_keeps_its_own_error_and_the_others_succeed() -> None:
    server, recorder = build()
    body = [request("double", [1], 1), request("double", ["x"], 2), request("double", [], 3), request("double", [4], 4)]
    replies = await answer(server, body)
    alone = [await answer(server, entry) for entry in body]
    assert replies == alone  # the same answers as the entries sent one by one
    assert [("result" in r, r.get("error", {}).get("code")) for r in replies] == [
        (True, None),
        (False, InvalidParams.CODE),
        (False, InvalidParams.CODE),
        (True, None),
    ]
    assert len(recorder.prepared) == 1  # the single requests were not prepared


async def test_single_requests_and_object_params_are_never_prepared() -> None:
    server, recorder = build()
    assert (await answer(server, request("double", [5])))["result"] == 10
    replies = await answer(server, [request("double", {"n": 1}, 1), request("echo", [1], 2)])
    assert replies[0]["error"]["code"] == InvalidParams.CODE and replies[1]["result"] == [1]
    assert recorder.prepared == []
    assert recorder.events == ["handler 5"]


async def test_a_failing_preparer_leaves_the_batch_to_the_handler(caplog: pytest.LogCaptureFixture) -> None:
    server, recorder = build()
    recorder.fail_prepare = RuntimeError("boom")
    replies = await answer(server, [request("double", [1], 1), request("double", [2], 2)])
    assert [r["result"] for r in replies] == [2, 4]
    assert recorder.events == ["handler 1", "handler 2"]
    assert "batch preparer of double failed" in caplog.text


async def test_a_preparer_giving_the_wrong_number_of_answers_is_not_used() -> None:
    server, recorder = build()
    recorder.short_answers = True
    replies = await answer(server, [request("double", [1], 1), request("double", [2], 2)])
    assert [r["result"] for r in replies] == [2, 4]
    assert recorder.events == ["handler 1", "handler 2"]


async def test_invalid_entries_are_answered_as_before_around_prepared_ones() -> None:
    server, recorder = build()
    body = [{"jsonrpc": "1.0", "id": 7, "method": "double"}, 5, request("double", [2], 8)]
    replies = await answer(server, body)
    assert [r.get("id") for r in replies] == [7, None, 8]
    assert replies[0]["error"]["code"] == -32600 and replies[1]["error"]["code"] == -32600
    assert replies[2]["result"] == 4
    assert recorder.prepared == [[[2]]]


def test_registration_is_checked() -> None:
    server, recorder = build()
    with pytest.raises(ValueError, match="not registered"):
        server.register_batch_prepare("nope", recorder.prepare)
    with pytest.raises(ValueError, match="already has a batch preparer"):
        server.register_batch_prepare("double", recorder.prepare)
    with pytest.raises(TypeError):
        server.register_batch_prepare("echo", 5)  # type: ignore[arg-type]


async def test_a_batchs_requests_and_errors_are_counted_as_one_by_one() -> None:
    """The counters of a batch are added up once at its end: the same totals as its entries sent alone."""
    body = [
        request("double", [1], 1),
        request("double", ["x"], 2),
        request("echo", [1], 3),
        {"jsonrpc": "1.0", "id": 4, "method": "double"},
        request("nope", [], 5),
        request("double", [2], 6),
    ]
    batched, _ = build()
    alone, _ = build()
    await answer(batched, body)
    for entry in body:
        await answer(alone, entry)
    totals = [parse_exposition(server.metrics.render()) for server in (batched, alone)]
    counted = [{k: v for k, v in t.items() if k.startswith(("rpc_requests_total", "rpc_errors_total"))} for t in totals]
    assert counted[0] == counted[1]
    assert counted[0]['rpc_requests_total{method="double"}'] == 3
    assert counted[0]['rpc_errors_total{code="-32602",method="double"}'] == 1
    assert counted[0]['rpc_requests_total{method="<invalid>"}'] == 1
    durations = [t['rpc_request_duration_seconds_count{method="double"}'] for t in totals]
    assert durations == [3, 3]


async def test_results_are_encoded_as_the_json_of_the_whole_response() -> None:
    server = RpcServer("test")
    values: list[Any] = ["0x" + "ab" * 32, 7, 1.5, None, True, {"a": [1, "é"]}, []]
    server.register("value", lambda params: values[params[0]])
    for request_id in (1, "x", 2.5, None):
        for index, value in enumerate(values):
            reply = await server.dispatch(json.dumps(request("value", [index], request_id)))
            assert reply == json.dumps(
                {"jsonrpc": "2.0", "id": request_id, "result": value}, separators=(",", ":"), allow_nan=False
            )
