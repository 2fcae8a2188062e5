"""JSON-RPC 2.0 server over HTTP and WebSocket (aiohttp): the three parts wired together.

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

The parts, one job each: node.rpc.dispatch (JSON-RPC: requests, batches,
ids, errors, handlers), node.rpc.http (the HTTP routes and the listening
socket), node.rpc.websocket (connections, subscriptions, notifications).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from node.rpc.dispatch import BatchPrepare, Dispatcher, Handler
from node.rpc.http import HealthFn, HttpRoutes, Listener, ListenError, PortInUse
from node.rpc.metrics import Metrics
from node.rpc.websocket import WS_ONLY_METHODS, UnknownTopic, WebSocketHub

F = TypeVar("F", bound=Handler)

__all__ = ["HealthFn", "ListenError", "PortInUse", "RpcServer", "UnknownTopic"]


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
        self._log = logging.getLogger(f"node.rpc.{name}")
        self._dispatcher = Dispatcher(
            name, self.metrics, max_batch=max_batch, session_methods=WS_ONLY_METHODS, log=self._log
        )
        self._ws = WebSocketHub(
            name,
            self._dispatcher,
            self.metrics,
            max_clients=max_ws_clients,
            queue_size=ws_queue_size,
            max_message_bytes=max_body_bytes,
            log=self._log,
        )
        self._http = HttpRoutes(
            name, self._dispatcher, self.metrics, max_body_bytes=max_body_bytes, health=health, log=self._log
        )
        self._listener = Listener(name, access_log=access_log, log=self._log)

    # -- registration --

    def register(self, method: str, handler: Handler) -> None:
        """Serve `method` with `handler(params: list) -> result` (sync or async)."""
        self._dispatcher.register(method, handler)

    def register_batch_prepare(self, method: str, prepare: BatchPrepare) -> None:
        """Answer the entries of a batch that call `method` through `prepare` (Dispatcher.register_batch_prepare)."""
        self._dispatcher.register_batch_prepare(method, prepare)

    def method(self, name: str) -> Callable[[F], F]:
        """Decorator form of register()."""

        def decorate(handler: F) -> F:
            self.register(name, handler)
            return handler

        return decorate

    @property
    def methods(self) -> list[str]:
        return self._dispatcher.methods

    def add_topic(self, name: str) -> None:
        """Allow WebSocket clients to subscribe to `name` (e.g. "newHeads")."""
        self._ws.add_topic(name)

    def set_health(self, fn: HealthFn | None) -> None:
        """Use `fn() -> {"status": "ok", ...}` (sync or async) for GET /health."""
        self._http.health = fn

    # -- dispatch and notifications --

    async def dispatch(self, payload: bytes | str) -> str | None:
        """Handle one raw HTTP-style JSON-RPC payload; None means no response (notifications)."""
        return await self._dispatcher.handle(payload, None)

    def publish(self, topic: str, payload: Any) -> int:
        """Queue `payload` for every subscriber of `topic`; never blocks (see WebSocketHub.publish)."""
        return self._ws.publish(topic, payload)

    def publish_threadsafe(self, topic: str, payload: Any) -> None:
        """publish() from a thread other than the server's event loop."""
        self._ws.publish_threadsafe(topic, payload)

    # -- lifecycle --

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes)
        self._http.add_to(app)
        app.router.add_get("/ws", self._ws.handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0 = ephemeral) and return the bound port."""
        if self._listener.running:
            raise RuntimeError(f"rpc server {self.name} is already running on {self.url}")
        bound = await self._listener.start(self._build_app(), host, port)
        self._ws.bind_loop(asyncio.get_running_loop())
        self._log.info("rpc[%s] listening on %s (ws %s)", self.name, self.url, self.ws_url)
        return bound

    async def stop(self) -> None:
        """Disconnect WebSocket clients and stop listening. Safe to call twice."""
        if await self._listener.stop(drain=self._ws.close_all):
            self._ws.bind_loop(None)

    @property
    def port(self) -> int:
        return self._listener.port

    @property
    def url(self) -> str:
        """http://host:port/ for clients (a wildcard bind address becomes loopback)."""
        return self._listener.url

    @property
    def ws_url(self) -> str:
        return self._listener.ws_url

    @property
    def ws_client_count(self) -> int:
        return self._ws.client_count
