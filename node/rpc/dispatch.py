"""JSON-RPC 2.0 dispatch: one payload (an HTTP body or a WebSocket message) in, the reply text out.

    dispatcher = Dispatcher("sequencer", metrics, max_batch=100, session_methods=frozenset({"rollup_subscribe"}))
    dispatcher.register("rollup_chainId", handler)
    reply = await dispatcher.handle(b'{"jsonrpc":"2.0","id":1,"method":"rollup_chainId"}', session=None)

Transport-free: it knows JSON-RPC (parsing, request validation, batches,
ids, errors, result encoding) and the request metrics, nothing of HTTP or
WebSockets. A connection that serves methods of its own (a WebSocket's
subscriptions) passes them as `session`; without one those names answer
"only available over WebSocket".

A method may also register a batch preparer (`register_batch_prepare`):
given the params of every entry of a batch that calls it, it returns one
callable per entry that answers that entry in place of the handler, so work
common to the batch (a sequencer recovering the senders of all its
transactions as one group) can start before the entries are answered, still
strictly in order and each with its own result or error. Single requests,
object params and every other method are handled exactly as without it.

The hardening lives here: non-finite numbers and too-deep nesting are parse
errors, ids must be strings, integers, finite numbers or null (an invalid
one is never echoed), batches are capped, error data that cannot be written
as JSON is dropped, and `handle` never raises (a bug becomes -32603).
"""

from __future__ import annotations

import collections
import inspect
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
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
Prepared = Callable[[], Any]  # answers one batch entry in place of handler(params) (sync or async)
BatchPrepare = Callable[[list[list[Any]]], list[Prepared]]  # the params of a batch's entries -> one each
SessionCall = Callable[[str, Any], Any]  # (method, raw params) -> result, for a connection's own methods
Tally = collections.Counter[tuple[str, int | None]]  # (method label, error code or None) -> requests

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


_ENCODE = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode  # one encoder, not one per call


def dumps(obj: Any) -> str:
    """Compact JSON; raises ValueError on NaN/Infinity rather than writing invalid JSON."""
    return _ENCODE(obj)


def result_response(request_id: Any, result: Any) -> str:
    """`dumps({"jsonrpc": "2.0", "id": request_id, "result": result})`, without building the dict."""
    return '{"jsonrpc":"2.0","id":' + _ENCODE(request_id) + ',"result":' + _ENCODE(result) + "}"


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


def _validated(entry: Any) -> Call | BadEntry:
    """The entry as a Call, or the BadEntry that answers it."""
    try:
        return validate_entry(entry)
    except BadEntry as bad:
        return bad


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
        self._preparers: dict[str, BatchPrepare] = {}
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

    def register_batch_prepare(self, method: str, prepare: BatchPrepare) -> None:
        """Answer the entries of a batch that call `method` through `prepare` (see the module docstring).

        `prepare(params_lists)` is called once per batch, before any entry is
        answered, with the params of each entry that calls `method` with
        positional params, in batch order; it returns one callable per entry,
        called (and awaited) when that entry's turn comes, whose result or
        error is the entry's answer as the handler's would be. It must not
        raise for a bad entry (its callable raises); if it fails as a whole,
        the batch is answered by the handler as usual.
        """
        if method not in self._handlers:
            raise ValueError(f"method {method!r} is not registered on rpc server {self.name}")
        if method in self._preparers:
            raise ValueError(f"method {method!r} already has a batch preparer on rpc server {self.name}")
        if not callable(prepare):
            raise TypeError(f"batch preparer for {method!r} is not callable")
        self._preparers[method] = prepare

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
        entries = [_validated(entry) for entry in document]
        prepared = self._prepare(entries) if self._preparers else {}
        parts = []
        tally: Tally = collections.Counter()  # the batch's request and error counts, added up once at its end
        try:
            for index, entry in enumerate(entries):  # in order, one at a time
                part = await self._answer_entry(entry, session, prepared.get(index), tally)
                if part is not None:
                    parts.append(part)
        finally:
            self._add_tally(tally)
        return "[" + ",".join(parts) + "]" if parts else None

    def _prepare(self, entries: list[Call | BadEntry]) -> dict[int, Prepared]:
        """The prepared answer of each batch entry whose method has a preparer, by index."""
        by_method: dict[str, list[int]] = {}
        for index, entry in enumerate(entries):
            if isinstance(entry, Call) and entry.method in self._preparers and isinstance(entry.params, list):
                by_method.setdefault(entry.method, []).append(index)
        prepared: dict[int, Prepared] = {}
        for method, indices in by_method.items():
            try:
                answers = self._preparers[method]([entries[i].params for i in indices])  # type: ignore[union-attr]
                if len(answers) != len(indices):
                    raise ValueError(f"{len(answers)} prepared answers for {len(indices)} entries")
            except Exception:  # noqa: BLE001 - a failing preparer must not fail the batch: the handler answers
                self._log.error("rpc[%s] batch preparer of %s failed", self.name, shorten(method), exc_info=True)
                continue
            prepared.update(zip(indices, answers))
        return prepared

    async def _handle_entry(self, entry: Any, session: SessionCall | None) -> str | None:
        return await self._answer_entry(_validated(entry), session, None, None)

    async def _answer_entry(
        self, entry: Call | BadEntry, session: SessionCall | None, prepared: Prepared | None, tally: Tally | None
    ) -> str | None:
        if isinstance(entry, BadEntry):
            self._count(INVALID_REQUEST_LABEL, entry.error.code, None, tally)
            return error_response(entry.request_id, entry.error)
        call = entry
        label = self._label(call.method, session)
        started = time.perf_counter()
        try:
            result = await self._invoke(call, session, prepared)
            response = None if call.notification else self._encode_result(call, result)
        except RpcError as error:
            self._count(label, error.code, time.perf_counter() - started, tally)
            if call.notification:
                self._log.debug("notification %s failed: %s", shorten(call.method), error)
                return None
            return error_response(call.id, error)
        self._count(label, None, time.perf_counter() - started, tally)
        return response

    def _encode_result(self, call: Call, result: Any) -> str:
        try:
            return result_response(call.id, result)
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

    def _count(self, label: str, code: int | None, seconds: float | None = None, tally: Tally | None = None) -> None:
        if tally is not None:
            tally[(label, code)] += 1
        else:
            self._m_requests.inc(method=label)
            if code is not None:
                self._m_errors.inc(method=label, code=str(code))
        if seconds is not None:
            self._m_duration.observe(seconds, method=label)

    def _add_tally(self, tally: Mapping[tuple[str, int | None], int]) -> None:
        for (label, code), count in tally.items():
            self._m_requests.inc(count, method=label)
            if code is not None:
                self._m_errors.inc(count, method=label, code=str(code))

    # -- calls --

    async def _invoke(self, call: Call, session: SessionCall | None, prepared: Prepared | None = None) -> Any:
        """The call's result (from its prepared answer, if it has one); any failure becomes an RpcError."""
        try:
            if prepared is not None:
                result = prepared()
                return await result if inspect.isawaitable(result) else result
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
