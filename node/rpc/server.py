"""JSON-RPC 2.0 server over HTTP and WebSocket (aiohttp).

    server = RpcServer("sequencer")

    @server.method("rollup_blockNumber")
    async def block_number(params: list) -> str:
        positional(params, 0, 0, "rollup_blockNumber")
        return hex(chain.height)

    server.add_topic("newHeads")
    port = await server.start("127.0.0.1", 0)
    server.publish("newHeads", {"number": "0x1"})   # from the server's event loop
    await server.stop()

Routes:
    POST /         JSON-RPC 2.0 (single and batch requests). Every JSON-RPC
                   answer, error or not, is HTTP 200 (204 when there is
                   nothing to answer: notifications only); a body over
                   max_body_bytes is 413 and a body that cannot be decoded
                   (bad Content-Encoding) is 400, both with a JSON-RPC error
                   body; another HTTP method is 405
    GET  /ws       JSON-RPC over WebSocket + rollup_subscribe / rollup_unsubscribe
    GET  /health   200 {"status": "ok", "name": ...} or 503
    GET  /metrics  Prometheus text format

Handlers receive the request's positional params as a list (absent or
null params arrive as []) and return a JSON-serialisable result. They may
be sync or async; sync handlers run on the event loop, so they must be
quick (wrap slow work in asyncio.to_thread). Raising RpcError returns that
error; an exception with an integer `rpc_code` keeps its code and message;
anything else is logged with its traceback and returned as a bare -32603.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import ipaddress
import json
import logging
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Awaitable, TypeVar

from aiohttp import WSMsgType, web

from node.rpc.errors import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    LimitExceeded,
    MethodNotFound,
    ParseError,
    RpcError,
    rpc_code_of,
    rpc_error_from,
)
from node.rpc.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from node.rpc.metrics import Metrics
from node.rpc.params import positional

Handler = Callable[[list[Any]], Any]
HealthFn = Callable[[], "dict[str, Any] | Awaitable[dict[str, Any]]"]
F = TypeVar("F", bound=Handler)

SUBSCRIBE = "rollup_subscribe"
UNSUBSCRIBE = "rollup_unsubscribe"
SUBSCRIPTION_NOTIFICATION = "rollup_subscription"
WS_ONLY_METHODS = frozenset({SUBSCRIBE, UNSUBSCRIBE})

WS_CLOSE_GOING_AWAY = 1001
WS_CLOSE_POLICY = 1008
WS_CLOSE_TIMEOUT = 1.0  # seconds to wait for a close handshake before aborting
WS_HEARTBEAT = 30.0
MAX_SUBSCRIPTIONS_PER_CLIENT = 64
UNKNOWN_METHOD_LABEL = "<unknown>"
INVALID_REQUEST_LABEL = "<invalid>"
_JSON_HEADERS = {"Content-Type": "application/json"}
_INTERNAL_ERROR_REPLY = '{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}'
_module_log = logging.getLogger("node.rpc.server")


class ListenError(OSError):
    """The server could not bind its listening socket."""


class PortInUse(ListenError):
    """The requested host:port is already bound by another socket."""


class _BodyTooLarge(Exception):
    """The HTTP body is longer than max_body_bytes."""


class _UnreadableBody(Exception):
    """The HTTP body could not be read: a bad Content-Encoding, or the connection was lost."""


class UnknownTopic(ValueError):
    """publish() was called with a topic that was never added with add_topic()."""


@dataclass(frozen=True)
class _Call:
    """A validated request entry."""

    method: str
    params: list[Any]
    id: Any
    notification: bool


class _BadEntry(Exception):
    """A request entry that is not a valid JSON-RPC 2.0 request."""

    def __init__(self, error: RpcError, request_id: Any) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


@dataclass(eq=False)
class _WsClient:
    ws: web.WebSocketResponse
    peer: str
    queue: asyncio.Queue[str]
    transport: asyncio.BaseTransport | None
    subscriptions: dict[str, str] = field(default_factory=dict)  # id -> topic
    writer: asyncio.Task[None] | None = None
    closed: bool = False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(raw: bytes | str) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ParseError("parse error: JSON nested too deeply") from None
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        raise ParseError(f"parse error: {exc}") from None


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def _error_response(request_id: Any, error: RpcError) -> str:
    """The response text for `error`; never raises.

    `request_id` must already be a valid id (see _id_problem). Error `data`
    that cannot be written as JSON (bytes, NaN, ...) is left out rather
    than turning the reply into an HTTP 500.
    """
    try:
        return _dumps({"jsonrpc": "2.0", "id": request_id, "error": error.to_json()})
    except (TypeError, ValueError, RecursionError):
        _module_log.warning(
            "rpc error %d carries data of type %s that is not JSON-serialisable; sent without it",
            error.code, type(error.data).__name__,
        )
    bare = {"code": error.code, "message": error.message}
    try:
        return _dumps({"jsonrpc": "2.0", "id": request_id, "error": bare})
    except (TypeError, ValueError, RecursionError):
        return _INTERNAL_ERROR_REPLY


def _id_problem(value: Any) -> str | None:
    """Why `value` cannot be a JSON-RPC id, or None if it can.

    An id is a string, an integer, a finite number or null. Booleans are
    not numbers here, and a float that overflowed to infinity (`1e999`)
    could not be echoed back as JSON.
    """
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else '"id" must be a finite number'
    return '"id" must be a string, number or null'


def _valid_id(value: Any) -> bool:
    return _id_problem(value) is None


def _short(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _validate(entry: Any) -> _Call:
    """Check one request object against JSON-RPC 2.0; raise _BadEntry if invalid."""
    if not isinstance(entry, dict):
        kind = "array" if isinstance(entry, list) else type(entry).__name__
        raise _BadEntry(InvalidRequest(f"invalid request: expected a JSON object, got {kind}"), None)
    has_id = "id" in entry
    request_id = entry.get("id")
    echo_id = request_id if _valid_id(request_id) else None
    if entry.get("jsonrpc") != "2.0":
        raise _BadEntry(InvalidRequest('invalid request: "jsonrpc" must be exactly "2.0"'), echo_id)
    method = entry.get("method")
    if not isinstance(method, str):
        raise _BadEntry(InvalidRequest('invalid request: "method" must be a string'), echo_id)
    id_problem = _id_problem(request_id)
    if id_problem is not None:
        raise _BadEntry(InvalidRequest(f"invalid request: {id_problem}"), None)
    params = entry.get("params")
    if params is None:
        params = []
    elif not isinstance(params, (list, dict)):
        raise _BadEntry(InvalidRequest('invalid request: "params" must be an array or object'), echo_id)
    return _Call(method, params, request_id, not has_id)  # type: ignore[arg-type]


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"[{host}]"
    except ValueError:
        pass
    return host


class RpcServer:
    """A JSON-RPC 2.0 server: HTTP POST /, WebSocket /ws, /health and /metrics."""

    def __init__(
        self,
        name: str,
        *,
        max_body_bytes: int = 5 * 1024 * 1024,
        max_batch: int = 100,
        max_ws_clients: int = 64,
        ws_queue_size: int = 256,
        metrics: Metrics | None = None,
        health: HealthFn | None = None,
        access_log: bool = False,
    ) -> None:
        self.name = name
        self.max_body_bytes = max_body_bytes
        self.max_batch = max_batch
        self.max_ws_clients = max_ws_clients
        self.ws_queue_size = ws_queue_size
        self.metrics = metrics if metrics is not None else Metrics()
        self._health = health
        self._access_log = access_log
        self._log = logging.getLogger(f"node.rpc.{name}")
        self._handlers: dict[str, Handler] = {}
        self._topics: dict[str, dict[str, _WsClient]] = {}  # topic -> sub id -> client
        self._ws_clients: set[_WsClient] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._init_metrics()

    def _init_metrics(self) -> None:
        m = self.metrics
        self._m_requests = m.counter("rpc_requests_total", "JSON-RPC requests by method")
        self._m_errors = m.counter("rpc_errors_total", "JSON-RPC error responses by method and code")
        self._m_duration = m.histogram(
            "rpc_request_duration_seconds", "JSON-RPC handler latency by method"
        )
        self._m_ws_clients = m.gauge("rpc_ws_clients", "Connected WebSocket clients")
        self._m_ws_dropped = m.counter(
            "rpc_ws_dropped_total", "WebSocket clients rejected or disconnected by the server"
        )
        self._m_published = m.counter(
            "rpc_ws_notifications_total", "Subscription notifications queued, by topic"
        )

    # -- registration --

    def register(self, method: str, handler: Handler) -> None:
        """Serve `method` with `handler(params: list) -> result` (sync or async)."""
        if not isinstance(method, str) or not method:
            raise ValueError("method name must be a non-empty string")
        if method.startswith("rpc.") or method in WS_ONLY_METHODS:
            raise ValueError(f"method name {method!r} is reserved")
        if method in self._handlers:
            raise ValueError(f"method {method!r} is already registered on rpc server {self.name}")
        if not callable(handler):
            raise TypeError(f"handler for {method!r} is not callable")
        self._handlers[method] = handler

    def method(self, name: str) -> Callable[[F], F]:
        """Decorator form of register()."""

        def decorate(handler: F) -> F:
            self.register(name, handler)
            return handler

        return decorate

    @property
    def methods(self) -> list[str]:
        return sorted(self._handlers)

    def add_topic(self, name: str) -> None:
        """Allow WebSocket clients to subscribe to `name` (e.g. "newHeads")."""
        if not isinstance(name, str) or not name:
            raise ValueError("topic name must be a non-empty string")
        self._topics.setdefault(name, {})

    def set_health(self, fn: HealthFn | None) -> None:
        """Use `fn() -> {"status": "ok", ...}` (sync or async) for GET /health."""
        self._health = fn

    # -- dispatch --

    async def dispatch(self, payload: bytes | str) -> str | None:
        """Handle one raw HTTP-style JSON-RPC payload; None means no response (notifications)."""
        return await self._handle_payload(payload, None)

    async def _handle_payload(self, payload: bytes | str, client: _WsClient | None) -> str | None:
        """The reply to one HTTP body or WebSocket message; never raises.

        A bug that escapes the per-entry handling is logged with its
        traceback and answered with -32603, so a client never sees an HTTP
        500 and a WebSocket connection is never dropped for it.
        """
        try:
            return await self._answer_payload(payload, client)
        except Exception:
            self._log.error("rpc[%s] unexpected error answering a request", self.name, exc_info=True)
            self._count(INVALID_REQUEST_LABEL, InternalError.CODE)
            return _INTERNAL_ERROR_REPLY

    async def _answer_payload(self, payload: bytes | str, client: _WsClient | None) -> str | None:
        try:
            document = _loads(payload)
        except ParseError as exc:
            self._count(INVALID_REQUEST_LABEL, exc.code)
            return _error_response(None, exc)
        if not isinstance(document, list):
            return await self._handle_entry(document, client)
        if not document:
            self._count(INVALID_REQUEST_LABEL, InvalidRequest.CODE)
            return _error_response(None, InvalidRequest("invalid request: empty batch"))
        if len(document) > self.max_batch:
            self._count(INVALID_REQUEST_LABEL, InvalidRequest.CODE)
            error = InvalidRequest(
                f"invalid request: batch of {len(document)} requests exceeds the cap of {self.max_batch}"
            )
            return _error_response(None, error)
        parts = []
        for entry in document:  # in order, one at a time
            part = await self._handle_entry(entry, client)
            if part is not None:
                parts.append(part)
        return "[" + ",".join(parts) + "]" if parts else None

    async def _handle_entry(self, entry: Any, client: _WsClient | None) -> str | None:
        try:
            call = _validate(entry)
        except _BadEntry as bad:
            self._count(INVALID_REQUEST_LABEL, bad.error.code)
            return _error_response(bad.request_id, bad.error)
        label = self._label(call.method, client)
        started = time.perf_counter()
        try:
            result = await self._invoke(call, client)
            response = None if call.notification else self._encode_result(call, result)
        except RpcError as error:
            self._count(label, error.code, time.perf_counter() - started)
            if call.notification:
                self._log.debug("notification %s failed: %s", _short(call.method), error)
                return None
            return _error_response(call.id, error)
        self._count(label, None, time.perf_counter() - started)
        return response

    def _encode_result(self, call: _Call, result: Any) -> str:
        try:
            return _dumps({"jsonrpc": "2.0", "id": call.id, "result": result})
        except (TypeError, ValueError, RecursionError) as exc:
            self._log.error(
                "rpc[%s] method %s returned a result that is not JSON-serialisable: %s",
                self.name, call.method, exc,
            )
            raise InternalError() from exc

    def _label(self, method: str, client: _WsClient | None) -> str:
        if method in self._handlers or (client is not None and method in WS_ONLY_METHODS):
            return method
        return UNKNOWN_METHOD_LABEL  # bounded label cardinality for junk names

    def _count(self, label: str, code: int | None, seconds: float | None = None) -> None:
        self._m_requests.inc(method=label)
        if code is not None:
            self._m_errors.inc(method=label, code=str(code))
        if seconds is not None:
            self._m_duration.observe(seconds, method=label)

    async def _invoke(self, call: _Call, client: _WsClient | None) -> Any:
        """The call's result; any failure becomes an RpcError."""
        try:
            return await self._call_handler(call, client)
        except RpcError:
            raise
        except Exception as exc:
            if rpc_code_of(exc) is not None:
                raise rpc_error_from(exc) from exc
            self._log.error(
                "rpc[%s] method %s raised %s", self.name, _short(call.method), type(exc).__name__,
                exc_info=True,
            )
            raise InternalError() from exc

    async def _call_handler(self, call: _Call, client: _WsClient | None) -> Any:
        handler = self._handlers.get(call.method)
        if handler is None:
            return self._invoke_builtin(call, client)
        if not isinstance(call.params, list):
            raise InvalidParams(
                f"method {call.method} takes positional params (a JSON array), got an object"
            )
        result = handler(call.params)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _invoke_builtin(self, call: _Call, client: _WsClient | None) -> Any:
        if call.method in WS_ONLY_METHODS:
            if client is None:
                raise MethodNotFound(
                    f"method {call.method} is only available over WebSocket (/ws)"
                )
            if call.method == SUBSCRIBE:
                return self._subscribe(client, call.params)
            return self._unsubscribe(client, call.params)
        raise MethodNotFound(f"method {_short(call.method)!r} not found")

    # -- subscriptions --

    def _subscribe(self, client: _WsClient, params: Any) -> str:
        (topic,) = positional(params, 1, 0, SUBSCRIBE)
        if not isinstance(topic, str) or topic not in self._topics:
            available = ", ".join(sorted(self._topics)) or "none"
            shown = repr(_short(topic)) if isinstance(topic, str) else f"of type {type(topic).__name__}"
            raise InvalidParams(f"unknown subscription topic {shown}; available: {available}")
        if len(client.subscriptions) >= MAX_SUBSCRIPTIONS_PER_CLIENT:
            raise LimitExceeded(
                f"a connection may hold at most {MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions"
            )
        sub_id = "0x" + secrets.token_hex(16)
        client.subscriptions[sub_id] = topic
        self._topics[topic][sub_id] = client
        self._log.debug("rpc[%s] %s subscribed to %s as %s", self.name, client.peer, topic, sub_id)
        return sub_id

    def _unsubscribe(self, client: _WsClient, params: Any) -> bool:
        (sub_id,) = positional(params, 1, 0, UNSUBSCRIBE)
        if not isinstance(sub_id, str):
            raise InvalidParams("subscription id must be a string")
        topic = client.subscriptions.pop(sub_id, None)
        if topic is None:
            return False
        self._topics[topic].pop(sub_id, None)
        return True

    def publish(self, topic: str, payload: Any) -> int:
        """Queue `payload` for every subscriber of `topic`; never blocks.

        Must be called on the server's event loop thread (see
        publish_threadsafe). A subscriber whose outbound queue is full is
        disconnected. Returns the number of subscriptions the payload was
        queued for.
        """
        subscribers = self._topics.get(topic)
        if subscribers is None:
            raise UnknownTopic(f"topic {topic!r} was not added to rpc server {self.name}")
        if not subscribers:
            return 0
        result = _dumps(payload)  # serialise once; TypeError here is the caller's bug
        delivered = 0
        for sub_id, client in list(subscribers.items()):
            text = (
                '{"jsonrpc":"2.0","method":"' + SUBSCRIPTION_NOTIFICATION + '",'
                '"params":{"subscription":"' + sub_id + '","result":' + result + "}}"
            )
            if self._enqueue(client, text):
                delivered += 1
        self._m_published.inc(delivered, topic=topic)
        return delivered

    def publish_threadsafe(self, topic: str, payload: Any) -> None:
        """publish() from a thread other than the server's event loop."""
        if self._loop is None:
            raise RuntimeError(f"rpc server {self.name} is not running")
        self._loop.call_soon_threadsafe(self._publish_logged, topic, payload)

    def _publish_logged(self, topic: str, payload: Any) -> None:
        try:
            self.publish(topic, payload)
        except Exception:
            self._log.error("rpc[%s] publish to %s failed", self.name, topic, exc_info=True)

    # -- WebSocket clients --

    def _enqueue(self, client: _WsClient, text: str) -> bool:
        if client.closed:
            return False
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._drop(
                client, WS_CLOSE_POLICY,
                f"client too slow: {self.ws_queue_size} outbound messages queued",
            )
            return False
        return True

    def _detach(self, client: _WsClient) -> None:
        for sub_id, topic in client.subscriptions.items():
            self._topics.get(topic, {}).pop(sub_id, None)
        client.subscriptions.clear()
        if client in self._ws_clients:
            self._ws_clients.discard(client)
            self._m_ws_clients.set(len(self._ws_clients))

    def _drop(self, client: _WsClient, code: int, reason: str) -> None:
        """Disconnect a client from outside its own handler task (non-blocking)."""
        if client.closed:
            return
        client.closed = True
        self._detach(client)
        if code == WS_CLOSE_POLICY:
            self._log.warning("rpc[%s] dropping WebSocket client %s: %s", self.name, client.peer, reason)
            self._m_ws_dropped.inc(reason="slow")
        task = asyncio.get_running_loop().create_task(self._close_client(client, code, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_client(self, client: _WsClient, code: int, reason: str) -> None:
        if client.writer is not None:
            client.writer.cancel()
        clean = False
        try:
            await asyncio.wait_for(
                client.ws.close(code=code, message=reason.encode()[:123]), WS_CLOSE_TIMEOUT
            )
            clean = True
        except (asyncio.TimeoutError, ConnectionError, RuntimeError):
            pass
        if not clean and client.transport is not None:
            client.transport.abort()  # the peer is not reading; don't wait for a flush

    async def _ws_writer(self, client: _WsClient) -> None:
        try:
            while True:
                text = await client.queue.get()
                await client.ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            self._log.debug("rpc[%s] WebSocket send to %s failed: %s", self.name, client.peer, exc)
            if not client.closed:
                self._drop(client, WS_CLOSE_GOING_AWAY, "send failed")

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        if len(self._ws_clients) >= self.max_ws_clients:
            self._m_ws_dropped.inc(reason="cap")
            self._log.warning(
                "rpc[%s] rejecting WebSocket client %s: %d clients connected (cap %d)",
                self.name, request.remote, len(self._ws_clients), self.max_ws_clients,
            )
            return web.json_response(
                {"error": f"too many WebSocket clients (cap {self.max_ws_clients})"}, status=503
            )
        ws = web.WebSocketResponse(
            max_msg_size=self.max_body_bytes, heartbeat=WS_HEARTBEAT, compress=False,
            timeout=WS_CLOSE_TIMEOUT,
        )
        await ws.prepare(request)
        client = _WsClient(
            ws, str(request.remote), asyncio.Queue(self.ws_queue_size), request.transport
        )
        self._ws_clients.add(client)
        self._m_ws_clients.set(len(self._ws_clients))
        client.writer = asyncio.create_task(self._ws_writer(client))
        self._log.debug("rpc[%s] WebSocket client %s connected", self.name, client.peer)
        try:
            await self._ws_read_loop(client)
        finally:
            await self._ws_finish(client)
        return ws

    async def _ws_read_loop(self, client: _WsClient) -> None:
        async for message in client.ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            reply = await self._handle_payload(message.data, client)
            if reply is not None:
                self._enqueue(client, reply)
            if client.closed:
                break

    async def _ws_finish(self, client: _WsClient) -> None:
        self._detach(client)
        if client.closed:
            return  # a drop task owns the close
        client.closed = True
        if client.writer is not None:
            client.writer.cancel()
        if not client.ws.closed:
            await client.ws.close()
        self._log.debug("rpc[%s] WebSocket client %s disconnected", self.name, client.peer)

    # -- HTTP routes --

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(
                status=405, text="405: send JSON-RPC 2.0 requests with POST\n",
                headers={"Allow": "POST"},
            )
        try:
            body = await self._read_body(request)
        except _BodyTooLarge:
            error: RpcError = InvalidRequest(f"request body exceeds {self.max_body_bytes} bytes")
            return self._http_error(413, error)
        except _UnreadableBody as exc:
            request.content.feed_eof()  # abandon the broken stream: aiohttp must not linger reading it
            return self._http_error(400, ParseError(f"parse error: {exc}"))
        reply = await self._handle_payload(body, None)
        if reply is None:
            return web.Response(status=204)
        return web.Response(body=reply.encode(), headers=_JSON_HEADERS)

    async def _read_body(self, request: web.Request) -> bytes:
        """The whole body; raises _BodyTooLarge or _UnreadableBody."""
        length = request.content_length
        if length is not None and length > self.max_body_bytes:
            raise _BodyTooLarge()
        chunks: list[bytes] = []
        total = 0
        try:
            while chunk := await request.content.readany():
                total += len(chunk)
                if total > self.max_body_bytes:
                    raise _BodyTooLarge()
                chunks.append(chunk)
        except (web.RequestPayloadError, ConnectionError) as exc:
            reason = type(exc.__cause__ or exc).__name__  # e.g. ContentEncodingError
            raise _UnreadableBody(f"request body could not be read ({reason})") from exc
        return b"".join(chunks)

    def _http_error(self, status: int, error: RpcError) -> web.Response:
        """A 4xx whose body is a JSON-RPC error; the connection is closed after it."""
        self._count(INVALID_REQUEST_LABEL, error.code)
        response = web.Response(
            status=status, body=_error_response(None, error).encode(), headers=_JSON_HEADERS
        )
        response.force_close()  # the rest of the body is never read
        return response

    async def _handle_health(self, request: web.Request) -> web.Response:
        if self._health is None:
            return web.json_response({"status": "ok", "name": self.name})
        try:
            report = self._health()
            if inspect.isawaitable(report):
                report = await report
            if not isinstance(report, dict):
                raise TypeError(f"health callable returned {type(report).__name__}, not a dict")
        except Exception as exc:
            self._log.warning("rpc[%s] health check failed: %s", self.name, exc, exc_info=True)
            body = {"status": "error", "name": self.name, "error": f"{type(exc).__name__}: {exc}"}
            return web.json_response(body, status=503)
        body = {"name": self.name, **report}
        status = 200 if report.get("status") == "ok" else 503
        try:
            return web.json_response(body, status=status)
        except (TypeError, ValueError) as exc:
            return web.json_response(
                {"status": "error", "name": self.name, "error": f"unserialisable health report: {exc}"},
                status=503,
            )

    async def _handle_metrics(self, request: web.Request) -> web.Response:
        text = self.metrics.render()
        return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        app.router.add_route("*", "/", self._handle_http)
        app.router.add_get("/ws", self._handle_ws)
        app.router.add_get("/health", self._handle_health)
        app.router.add_get("/metrics", self._handle_metrics)
        return app

    # -- lifecycle --

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0 = ephemeral) and return the bound port."""
        if self._runner is not None:
            raise RuntimeError(f"rpc server {self.name} is already running on {self.url}")
        kwargs: dict[str, Any] = {} if self._access_log else {"access_log": None}
        runner = web.AppRunner(
            self._build_app(), handle_signals=False, shutdown_timeout=2.0, **kwargs
        )
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            where = f"{host}:{port}"
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    errno.EADDRINUSE,
                    f"rpc server {self.name} cannot listen on {where}: address already in use",
                ) from exc
            raise ListenError(exc.errno, f"rpc server {self.name} cannot listen on {where}: {exc}") from exc
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        self._loop = asyncio.get_running_loop()
        self._log.info("rpc[%s] listening on %s (ws %s)", self.name, self.url, self.ws_url)
        return self._port

    async def stop(self) -> None:
        """Disconnect WebSocket clients and stop listening. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        for client in list(self._ws_clients):
            self._drop(client, WS_CLOSE_GOING_AWAY, "server shutting down")
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await runner.cleanup()
        self._log.info("rpc[%s] stopped (was %s)", self.name, self._base_url())
        self._port = None
        self._loop = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"rpc server {self.name} is not running")
        return self._port

    def _base_url(self) -> str:
        return f"{_url_host(self._host)}:{self._port}"

    @property
    def url(self) -> str:
        """http://host:port/ for clients (a wildcard bind address becomes loopback)."""
        self.port  # noqa: B018 - raises if not running
        return f"http://{self._base_url()}/"

    @property
    def ws_url(self) -> str:
        self.port  # noqa: B018 - raises if not running
        return f"ws://{self._base_url()}/ws"

    @property
    def ws_client_count(self) -> int:
        return len(self._ws_clients)
