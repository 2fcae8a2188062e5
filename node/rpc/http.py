"""JSON-RPC over HTTP: the routes (POST /, GET /health, GET /metrics) and the listening socket.

    routes = HttpRoutes("sequencer", dispatcher, metrics, max_body_bytes=5 << 20, health=None)
    app = web.Application(client_max_size=5 << 20)
    routes.add_to(app)
    listener = Listener("sequencer")
    port = await listener.start(app, "127.0.0.1", 0)
    await listener.stop(drain=some_coroutine_function)

POST / hands the body to the dispatcher (node.rpc.dispatch). Every JSON-RPC
answer, error or not, is HTTP 200 (204 when there is nothing to answer:
notifications only); a body over max_body_bytes is 413 and a body that
cannot be decoded (bad Content-Encoding) is 400, both with a JSON-RPC error
body and the connection closed; another HTTP method is 405. GET /health is
200 {"status": "ok", "name": ...} or 503; GET /metrics is Prometheus text.
"""

from __future__ import annotations

import errno
import inspect
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from node.rpc.dispatch import Dispatcher, error_response
from node.rpc.errors import InvalidRequest, ParseError, RpcError
from node.rpc.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from node.rpc.metrics import Metrics

HealthFn = Callable[[], "dict[str, Any] | Awaitable[dict[str, Any]]"]

_JSON_HEADERS = {"Content-Type": "application/json"}


class ListenError(OSError):
    """The server could not bind its listening socket."""


class PortInUse(ListenError):
    """The requested host:port is already bound by another socket."""


class BodyTooLarge(Exception):
    """The HTTP body is longer than max_body_bytes."""


class UnreadableBody(Exception):
    """The HTTP body could not be read: a bad Content-Encoding, or the connection was lost."""


class HttpRoutes:
    """The HTTP handlers of one RPC server."""

    def __init__(
        self,
        name: str,
        dispatcher: Dispatcher,
        metrics: Metrics,
        *,
        max_body_bytes: int,
        health: HealthFn | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.max_body_bytes = max_body_bytes
        self.health = health
        self._dispatcher = dispatcher
        self._metrics = metrics
        self._log = log if log is not None else logging.getLogger(f"node.rpc.{name}")

    def add_to(self, app: web.Application) -> None:
        app.router.add_route("*", "/", self.handle_rpc)
        app.router.add_get("/health", self.handle_health)
        app.router.add_get("/metrics", self.handle_metrics)

    # -- POST / --

    async def handle_rpc(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(
                status=405,
                text="405: send JSON-RPC 2.0 requests with POST\n",
                headers={"Allow": "POST"},
            )
        try:
            body = await self._read_body(request)
        except BodyTooLarge:
            error: RpcError = InvalidRequest(f"request body exceeds {self.max_body_bytes} bytes")
            return self._http_error(413, error)
        except UnreadableBody as exc:
            request.content.feed_eof()  # abandon the broken stream: aiohttp must not linger reading it
            return self._http_error(400, ParseError(f"parse error: {exc}"))
        reply = await self._dispatcher.handle(body, None)
        if reply is None:
            return web.Response(status=204)
        return web.Response(body=reply.encode(), headers=_JSON_HEADERS)

    async def _read_body(self, request: web.Request) -> bytes:
        """The whole body; raises BodyTooLarge or UnreadableBody."""
        length = request.content_length
        if length is not None and length > self.max_body_bytes:
            raise BodyTooLarge()
        chunks: list[bytes] = []
        total = 0
        try:
            while chunk := await request.content.readany():
                total += len(chunk)
                if total > self.max_body_bytes:
                    raise BodyTooLarge()
                chunks.append(chunk)
        except (web.RequestPayloadError, ConnectionError) as exc:
            reason = type(exc.__cause__ or exc).__name__  # e.g. ContentEncodingError
            raise UnreadableBody(f"request body could not be read ({reason})") from exc
        return b"".join(chunks)

    def _http_error(self, status: int, error: RpcError) -> web.Response:
        """A 4xx whose body is a JSON-RPC error; the connection is closed after it."""
        self._dispatcher.count_invalid(error.code)
        response = web.Response(status=status, body=error_response(None, error).encode(), headers=_JSON_HEADERS)
        response.force_close()  # the rest of the body is never read
        return response

    # -- GET /health, GET /metrics --

    async def handle_health(self, request: web.Request) -> web.Response:
        if self.health is None:
            return web.json_response({"status": "ok", "name": self.name})
        try:
            report = self.health()
            if inspect.isawaitable(report):
                report = await report
            if not isinstance(report, dict):
                raise TypeError(f"health callable returned {type(report).__name__}, not a dict")
        except Exception as exc:  # noqa: BLE001 - any failure of the health callable is a 503
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

    async def handle_metrics(self, request: web.Request) -> web.Response:
        text = self._metrics.render()
        return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})


def url_host(host: str) -> str:
    """`host` as it goes into a client URL: a wildcard bind address becomes loopback, IPv6 in brackets."""
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


class Listener:
    """The listening socket of one RPC server: start, stop, and the URLs clients use."""

    def __init__(self, name: str, *, access_log: bool = False, log: logging.Logger | None = None) -> None:
        self.name = name
        self._access_log = access_log
        self._log = log if log is not None else logging.getLogger(f"node.rpc.{name}")
        self._runner: web.AppRunner | None = None
        self._host = ""
        self._port: int | None = None

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def start(self, app: web.Application, host: str, port: int) -> int:
        """Listen on host:port (0 = ephemeral) and return the bound port; ListenError/PortInUse if it cannot."""
        kwargs: dict[str, Any] = {} if self._access_log else {"access_log": None}
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0, **kwargs)
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
        return self._port

    async def stop(self, drain: Callable[[], Awaitable[None]]) -> bool:
        """Await `drain()`, then stop listening; False (and nothing done) if not running. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return False
        await drain()
        await runner.cleanup()
        self._log.info("rpc[%s] stopped (was %s)", self.name, self.base_url())
        self._port = None
        return True

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"rpc server {self.name} is not running")
        return self._port

    def base_url(self) -> str:
        return f"{url_host(self._host)}:{self._port}"

    @property
    def url(self) -> str:
        """http://host:port/ for clients (a wildcard bind address becomes loopback)."""
        self.port  # noqa: B018 - raises if not running
        return f"http://{self.base_url()}/"

    @property
    def ws_url(self) -> str:
        self.port  # noqa: B018 - raises if not running
        return f"ws://{self.base_url()}/ws"
