"""JSON-RPC 2.0 dispatch: one payload (an HTTP body or a WebSocket message) in, the reply text out.

    dispatcher = Dispatcher("sequencer", metrics, max_batch=100, session_methods=frozenset({"rollup_subscribe"}))
    dispatcher.register("rollup_chainId", handler)
    reply = await dispatcher.handle(b'{"jsonrpc":"2.0","id":1,"method":"rollup_chainId"}', session=None)

Transport-free: it knows JSON-RPC (parsing, request validation, batches,
ids, errors, result encoding) and the request metrics, nothing of HTTP or
WebSockets. A connection that serves methods of its own (a WebSocket's
subscriptions) passes them as `session`; without one those names answer
"only available over WebSocket".

The hardening lives here: non-finite numbers and too-deep nesting are parse
errors, ids must be strings, integers, finite numbers or null (an invalid
one is never echoed), batches are capped, error data that cannot be written
as JSON is dropped, and `handle` never raises (a bug becomes -32603).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node.rpc.errors import (
    InternalError,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    RpcError,
    rpc_code_of,
    rpc_error_from,
)
from node.rpc.metrics import Metrics

Handler = Callable[[list[Any]], Any]
SessionCall = Callable[[str, Any], Any]  # (method, raw params) -> result, for a connection's own methods

UNKNOWN_METHOD_LABEL = "<unknown>"
INVALID_REQUEST_LABEL = "<invalid>"
INTERNAL_ERROR_REPLY = '{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error"}}'
_module_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """A validated request entry."""

    method: str
    params: list[Any]
    id: Any
    notification: bool


class BadEntry(Exception):
    """A request entry that is not a valid JSON-RPC 2.0 request."""

    def __init__(self, error: RpcError, request_id: Any) -> None:
        super().__init__(error.message)
        self.error = error
        self.request_id = request_id


# -- JSON text --


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes | str) -> Any:
    """Parse a payload; NaN/Infinity and too-deep nesting are ParseErrors like any bad JSON."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise ParseError("parse error: JSON nested too deeply") from None
    except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
        raise ParseError(f"parse error: {exc}") from None


def dumps(obj: Any) -> str:
    """Compact JSON; raises ValueError on NaN/Infinity rather than writing invalid JSON."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def error_response(request_id: Any, error: RpcError) -> str:
    """The response text for `error`; never raises.

    `request_id` must already be a valid id (see id_problem). Error `data`
    that cannot be written as JSON (bytes, NaN, ...) is left out rather
    than turning the reply into an HTTP 500.
    """
    try:
        return dumps({"jsonrpc": "2.0", "id": request_id, "error": error.to_json()})
    except (TypeError, ValueError, RecursionError):
        _module_log.warning(
            "rpc error %d carries data of type %s that is not JSON-serialisable; sent without it",
            error.code,
            type(error.data).__name__,
        )
    bare = {"code": error.code, "message": error.message}
    try:
        return dumps({"jsonrpc": "2.0", "id": request_id, "error": bare})
    except (TypeError, ValueError, RecursionError):
        return INTERNAL_ERROR_REPLY


# -- request validation --


def id_problem(value: Any) -> str | None:
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


def is_valid_id(value: Any) -> bool:
    return id_problem(value) is None


def shorten(text: str, limit: int = 64) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_entry(entry: Any) -> Call:
    """Check one request object against JSON-RPC 2.0; raise BadEntry if invalid."""
    if not isinstance(entry, dict):
        kind = "array" if isinstance(entry, list) else type(entry).__name__
        raise BadEntry(InvalidRequest(f"invalid request: expected a JSON object, got {kind}"), None)
    has_id = "id" in entry
    request_id = entry.get("id")
    echo_id = request_id if is_valid_id(request_id) else None
    if entry.get("jsonrpc") != "2.0":
        raise BadEntry(InvalidRequest('invalid request: "jsonrpc" must be exactly "2.0"'), echo_id)
    method = entry.get("method")
    if not isinstance(method, str):
        raise BadEntry(InvalidRequest('invalid request: "method" must be a string'), echo_id)
    problem = id_problem(request_id)
    if problem is not None:
        raise BadEntry(InvalidRequest(f"invalid request: {problem}"), None)
    params = entry.get("params")
    if params is None:
        params = []
    elif not isinstance(params, (list, dict)):
        raise BadEntry(InvalidRequest('invalid request: "params" must be an array or object'), echo_id)
    return Call(method, params, request_id, not has_id)  # type: ignore[arg-type]


# -- the dispatcher --


class Dispatcher:
    """Registered handlers and the JSON-RPC 2.0 rules around calling them."""

    def __init__(
        self,
        name: str,
        metrics: Metrics,
        *,
        max_batch: int,
        session_methods: frozenset[str] = frozenset(),
        log: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.max_batch = max_batch
        self.session_methods = session_methods
        self._log = log if log is not None else logging.getLogger(f"node.rpc.{name}")
        self._handlers: dict[str, Handler] = {}
        self._m_requests = metrics.counter("rpc_requests_total", "JSON-RPC requests by method")
        self._m_errors = metrics.counter("rpc_errors_total", "JSON-RPC error responses by method and code")
        self._m_duration = metrics.histogram("rpc_request_duration_seconds", "JSON-RPC handler latency by method")

    # -- registration --

    def register(self, method: str, handler: Handler) -> None:
        """Serve `method` with `handler(params: list) -> result` (sync or async)."""
        if not isinstance(method, str) or not method:
            raise ValueError("method name must be a non-empty string")
        if method.startswith("rpc.") or method in self.session_methods:
            raise ValueError(f"method name {method!r} is reserved")
        if method in self._handlers:
            raise ValueError(f"method {method!r} is already registered on rpc server {self.name}")
        if not callable(handler):
            raise TypeError(f"handler for {method!r} is not callable")
        self._handlers[method] = handler

    @property
    def methods(self) -> list[str]:
        return sorted(self._handlers)

    # -- payloads --

    async def handle(self, payload: bytes | str, session: SessionCall | None) -> str | None:
        """The reply to one HTTP body or WebSocket message (None: nothing to send); never raises.

        A bug that escapes the per-entry handling is logged with its
        traceback and answered with -32603, so a client never sees an HTTP
        500 and a WebSocket connection is never dropped for it.
        """
        try:
            return await self._answer_payload(payload, session)
        except Exception:  # noqa: BLE001 - the reply must never be an HTTP 500 or a dropped connection
            self._log.error("rpc[%s] unexpected error answering a request", self.name, exc_info=True)
            self.count_invalid(InternalError.CODE)
            return INTERNAL_ERROR_REPLY

    def count_invalid(self, code: int) -> None:
        """Count a request refused before any method was read (bad JSON, body too large, ...)."""
        self._count(INVALID_REQUEST_LABEL, code)

    async def _answer_payload(self, payload: bytes | str, session: SessionCall | None) -> str | None:
        try:
            document = loads(payload)
        except ParseError as exc:
            self.count_invalid(exc.code)
            return error_response(None, exc)
        if not isinstance(document, list):
            return await self._handle_entry(document, session)
        if not document:
            self.count_invalid(InvalidRequest.CODE)
            return error_response(None, InvalidRequest("invalid request: empty batch"))
        if len(document) > self.max_batch:
            self.count_invalid(InvalidRequest.CODE)
            error = InvalidRequest(
                f"invalid request: batch of {len(document)} requests exceeds the cap of {self.max_batch}"
            )
            return error_response(None, error)
        parts = []
        for entry in document:  # in order, one at a time
            part = await self._handle_entry(entry, session)
            if part is not None:
                parts.append(part)
        return "[" + ",".join(parts) + "]" if parts else None

    async def _handle_entry(self, entry: Any, session: SessionCall | None) -> str | None:
        try:
            call = validate_entry(entry)
        except BadEntry as bad:
            self.count_invalid(bad.error.code)
            return error_response(bad.request_id, bad.error)
        label = self._label(call.method, session)
        started = time.perf_counter()
        try:
            result = await self._invoke(call, session)
            response = None if call.notification else self._encode_result(call, result)
        except RpcError as error:
            self._count(label, error.code, time.perf_counter() - started)
            if call.notification:
                self._log.debug("notification %s failed: %s", shorten(call.method), error)
                return None
            return error_response(call.id, error)
        self._count(label, None, time.perf_counter() - started)
        return response

    def _encode_result(self, call: Call, result: Any) -> str:
        try:
            return dumps({"jsonrpc": "2.0", "id": call.id, "result": result})
        except (TypeError, ValueError, RecursionError) as exc:
            self._log.error(
                "rpc[%s] method %s returned a result that is not JSON-serialisable: %s",
                self.name,
                call.method,
                exc,
            )
            raise InternalError() from exc

    def _label(self, method: str, session: SessionCall | None) -> str:
        if method in self._handlers or (session is not None and method in self.session_methods):
            return method
        return UNKNOWN_METHOD_LABEL  # bounded label cardinality for junk names

    def _count(self, label: str, code: int | None, seconds: float | None = None) -> None:
        self._m_requests.inc(method=label)
        if code is not None:
            self._m_errors.inc(method=label, code=str(code))
        if seconds is not None:
            self._m_duration.observe(seconds, method=label)

    # -- calls --

    async def _invoke(self, call: Call, session: SessionCall | None) -> Any:
        """The call's result; any failure becomes an RpcError."""
        try:
            return await self._call_handler(call, session)
        except RpcError:
            raise
        except Exception as exc:
            if rpc_code_of(exc) is not None:
                raise rpc_error_from(exc) from exc
            self._log.error(
                "rpc[%s] method %s raised %s",
                self.name,
                shorten(call.method),
                type(exc).__name__,
                exc_info=True,
            )
            raise InternalError() from exc

    async def _call_handler(self, call: Call, session: SessionCall | None) -> Any:
        handler = self._handlers.get(call.method)
        if handler is None:
            return self._call_session(call, session)
        if not isinstance(call.params, list):
            raise InvalidParams(f"method {call.method} takes positional params (a JSON array), got an object")
        result = handler(call.params)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _call_session(self, call: Call, session: SessionCall | None) -> Any:
        if call.method in self.session_methods:
            if session is None:
                raise MethodNotFound(f"method {call.method} is only available over WebSocket (/ws)")
            return session(call.method, call.params)
        raise MethodNotFound(f"method {shorten(call.method)!r} not found")
