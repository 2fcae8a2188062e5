"""JSON-RPC 2.0 clients: `RpcClient` (asyncio, aiohttp) and `SyncRpcClient` (urllib).

    async with RpcClient("http://127.0.0.1:8545/") as rpc:
        height = await rpc.call("rollup_blockNumber")
        results = await rpc.batch([("rollup_getBalance", ["0x..."]), ("rollup_blockNumber", [])])

Errors returned by the server are raised (or, in batch results, returned)
as RpcError subclasses rebuilt from their code (InvalidParams for -32602
...; codes without a class give a plain RpcError). Anything that prevents
getting a well-formed reply (refused connection, timeout, HTTP error
without a JSON-RPC body, malformed JSON) raises RpcTransportError.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import TracebackType
from typing import Any

import aiohttp

from node.rpc.errors import RpcError, error_from_json

_PREVIEW = 200


class RpcTransportError(Exception):
    """No usable JSON-RPC reply: connection failure, timeout or malformed response."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


def _preview(body: bytes) -> str:
    text = body[:_PREVIEW].decode("utf-8", "replace")
    return text + ("..." if len(body) > _PREVIEW else "")


def _request(request_id: int, method: str, params: list[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def _decode(url: str, status: int, body: bytes) -> Any:
    """Parse a reply body; an undecodable body is a transport error naming the status."""
    try:
        return json.loads(body)
    except ValueError:
        raise RpcTransportError(url, f"HTTP {status} reply is not JSON: {_preview(body)!r}") from None


def _outcome(url: str, reply: Any) -> Any | RpcError:
    """The result of one response object, or the RpcError it carries."""
    if not isinstance(reply, dict):
        raise RpcTransportError(url, f"malformed JSON-RPC response: {reply!r:.{_PREVIEW}}")
    if "error" in reply and reply["error"] is not None:
        try:
            return error_from_json(reply["error"])
        except ValueError as exc:
            raise RpcTransportError(url, f"malformed JSON-RPC error: {exc}") from None
    if "result" not in reply:
        raise RpcTransportError(url, "JSON-RPC response has neither result nor error")
    return reply["result"]


def _single_result(url: str, status: int, body: bytes, request_id: int) -> Any:
    reply = _decode(url, status, body)
    outcome = _outcome(url, reply)
    if isinstance(outcome, RpcError):
        raise outcome  # the server may answer some errors (e.g. 413) with id null
    if reply.get("id") != request_id:
        raise RpcTransportError(url, f"response id {reply.get('id')!r} does not match request id {request_id}")
    return outcome


def _batch_results(url: str, status: int, body: bytes, ids: list[int]) -> list[Any | RpcError]:
    reply = _decode(url, status, body)
    if isinstance(reply, dict):  # the whole batch was rejected (too large, empty...)
        outcome = _outcome(url, reply)
        if isinstance(outcome, RpcError):
            raise outcome
        raise RpcTransportError(url, "batch request got a single, non-error response")
    if not isinstance(reply, list):
        raise RpcTransportError(url, f"malformed batch response: {reply!r:.{_PREVIEW}}")
    by_id: dict[Any, Any] = {}
    for entry in reply:
        if isinstance(entry, dict):
            by_id[entry.get("id")] = entry
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise RpcTransportError(url, f"batch response lacks replies for ids {missing}")
    return [_outcome(url, by_id[i]) for i in ids]


def _encode(payload: Any) -> bytes:
    try:
        return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"JSON-RPC params are not JSON-serialisable: {exc}") from None


class RpcClient:
    """An asyncio JSON-RPC client over one lazily created aiohttp session."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._ids: Iterator[int] = itertools.count(1)

    async def __aenter__(self) -> RpcClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers={"Content-Type": "application/json"},
            )
        return self._session

    async def _post(self, what: str, payload: Any) -> tuple[int, bytes]:
        data = _encode(payload)
        try:
            async with self._get_session().post(self.url, data=data) as response:
                return response.status, await response.read()
        except TimeoutError:
            raise RpcTransportError(self.url, f"{what} timed out after {self.timeout}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise RpcTransportError(self.url, f"{what} failed: {exc or type(exc).__name__}") from None

    async def call(self, method: str, *params: Any) -> Any:
        """Call `method` with positional params; return its result or raise RpcError."""
        request_id = next(self._ids)
        status, body = await self._post(method, _request(request_id, method, list(params)))
        return _single_result(self.url, status, body, request_id)

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any | RpcError]:
        """Send calls as one batch; results in order, RpcError instances for failed entries."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [_request(i, method, list(params)) for i, (method, params) in zip(ids, calls)]
        status, body = await self._post(f"batch of {len(calls)}", payload)
        return _batch_results(self.url, status, body, ids)


class SyncRpcClient:
    """A blocking JSON-RPC client on urllib (for the CLI; no event loop needed)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids: Iterator[int] = itertools.count(1)

    def _post(self, what: str, payload: Any) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.url,
            data=_encode(payload),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:  # 4xx/5xx: the body may still be JSON-RPC
            with exc:
                return exc.code, exc.read()
        except TimeoutError:
            raise RpcTransportError(self.url, f"{what} timed out after {self.timeout}s") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise RpcTransportError(self.url, f"{what} timed out after {self.timeout}s") from None
            raise RpcTransportError(self.url, f"{what} failed: {exc.reason}") from None
        except OSError as exc:
            raise RpcTransportError(self.url, f"{what} failed: {exc}") from None

    def call(self, method: str, *params: Any) -> Any:
        """Call `method` with positional params; return its result or raise RpcError."""
        request_id = next(self._ids)
        status, body = self._post(method, _request(request_id, method, list(params)))
        return _single_result(self.url, status, body, request_id)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any | RpcError]:
        """Send calls as one batch; results in order, RpcError instances for failed entries."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [_request(i, method, list(params)) for i, (method, params) in zip(ids, calls)]
        status, body = self._post(f"batch of {len(calls)}", payload)
        return _batch_results(self.url, status, body, ids)
