"""JSON-RPC over WebSocket (GET /ws): connections, subscriptions and notifications.

    hub = WebSocketHub("sequencer", dispatcher, metrics, max_clients=64, queue_size=256, max_message_bytes=...)
    hub.add_topic("newHeads")
    app.router.add_get("/ws", hub.handle)
    hub.publish("newHeads", {"number": 1})       # on the event loop; publish_threadsafe from other threads
    await hub.close_all()                          # on shutdown

Each message is answered by the dispatcher (node.rpc.dispatch); a
connection adds two methods of its own, `rollup_subscribe [topic]` and
`rollup_unsubscribe [id]`. Every connection has a bounded outbound queue
drained by one writer task: a client too slow to read is disconnected
(close 1008), never allowed to block the server; the number of clients and
of subscriptions per client are capped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from node.rpc.dispatch import Dispatcher, dumps, shorten
from node.rpc.errors import InvalidParams, LimitExceeded
from node.rpc.metrics import Metrics
from node.rpc.params import positional

SUBSCRIBE = "rollup_subscribe"
UNSUBSCRIBE = "rollup_unsubscribe"
SUBSCRIPTION_NOTIFICATION = "rollup_subscription"
WS_ONLY_METHODS = frozenset({SUBSCRIBE, UNSUBSCRIBE})

WS_CLOSE_GOING_AWAY = 1001
WS_CLOSE_POLICY = 1008
WS_CLOSE_TIMEOUT = 1.0  # seconds to wait for a close handshake before aborting
WS_HEARTBEAT = 30.0
MAX_SUBSCRIPTIONS_PER_CLIENT = 64


class UnknownTopic(ValueError):
    """publish() was called with a topic that was never added with add_topic()."""


@dataclass(eq=False)
class WsClient:
    ws: web.WebSocketResponse
    peer: str
    queue: asyncio.Queue[str]
    transport: asyncio.BaseTransport | None
    subscriptions: dict[str, str] = field(default_factory=dict)  # id -> topic
    writer: asyncio.Task[None] | None = None
    closed: bool = False


class WebSocketHub:
    """The WebSocket side of one RPC server."""

    def __init__(
        self,
        name: str,
        dispatcher: Dispatcher,
        metrics: Metrics,
        *,
        max_clients: int,
        queue_size: int,
        max_message_bytes: int,
        log: logging.Logger | None = None,
    ) -> None:
        self.name = name
        self.max_clients = max_clients
        self.queue_size = queue_size
        self.max_message_bytes = max_message_bytes
        self._dispatcher = dispatcher
        self._log = log if log is not None else logging.getLogger(f"node.rpc.{name}")
        self._topics: dict[str, dict[str, WsClient]] = {}  # topic -> sub id -> client
        self._clients: set[WsClient] = set()
        self._background: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._m_clients = metrics.gauge("rpc_ws_clients", "Connected WebSocket clients")
        self._m_dropped = metrics.counter(
            "rpc_ws_dropped_total", "WebSocket clients rejected or disconnected by the server"
        )
        self._m_published = metrics.counter("rpc_ws_notifications_total", "Subscription notifications queued, by topic")

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def add_topic(self, name: str) -> None:
        """Allow clients to subscribe to `name` (e.g. "newHeads")."""
        if not isinstance(name, str) or not name:
            raise ValueError("topic name must be a non-empty string")
        self._topics.setdefault(name, {})

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """The event loop publish_threadsafe hands over to (None: the server is not running)."""
        self._loop = loop

    # -- a connection's own methods --

    def call_session(self, client: WsClient, method: str, params: Any) -> Any:
        if method == SUBSCRIBE:
            return self._subscribe(client, params)
        return self._unsubscribe(client, params)

    def _subscribe(self, client: WsClient, params: Any) -> str:
        (topic,) = positional(params, 1, 0, SUBSCRIBE)
        if not isinstance(topic, str) or topic not in self._topics:
            available = ", ".join(sorted(self._topics)) or "none"
            shown = repr(shorten(topic)) if isinstance(topic, str) else f"of type {type(topic).__name__}"
            raise InvalidParams(f"unknown subscription topic {shown}; available: {available}")
        if len(client.subscriptions) >= MAX_SUBSCRIPTIONS_PER_CLIENT:
            raise LimitExceeded(f"a connection may hold at most {MAX_SUBSCRIPTIONS_PER_CLIENT} subscriptions")
        sub_id = "0x" + secrets.token_hex(16)
        client.subscriptions[sub_id] = topic
        self._topics[topic][sub_id] = client
        self._log.debug("rpc[%s] %s subscribed to %s as %s", self.name, client.peer, topic, sub_id)
        return sub_id

    def _unsubscribe(self, client: WsClient, params: Any) -> bool:
        (sub_id,) = positional(params, 1, 0, UNSUBSCRIBE)
        if not isinstance(sub_id, str):
            raise InvalidParams("subscription id must be a string")
        topic = client.subscriptions.pop(sub_id, None)
        if topic is None:
            return False
        self._topics[topic].pop(sub_id, None)
        return True

    # -- notifications --

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
        result = dumps(payload)  # serialise once; TypeError here is the caller's bug
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
        except Exception:  # noqa: BLE001 - a failed publish is logged, the loop goes on
            self._log.error("rpc[%s] publish to %s failed", self.name, topic, exc_info=True)

    # -- clients --

    def _enqueue(self, client: WsClient, text: str) -> bool:
        if client.closed:
            return False
        try:
            client.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._drop(
                client,
                WS_CLOSE_POLICY,
                f"client too slow: {self.queue_size} outbound messages queued",
            )
            return False
        return True

    def _detach(self, client: WsClient) -> None:
        for sub_id, topic in client.subscriptions.items():
            self._topics.get(topic, {}).pop(sub_id, None)
        client.subscriptions.clear()
        if client in self._clients:
            self._clients.discard(client)
            self._m_clients.set(len(self._clients))

    def _drop(self, client: WsClient, code: int, reason: str) -> None:
        """Disconnect a client from outside its own handler task (non-blocking)."""
        if client.closed:
            return
        client.closed = True
        self._detach(client)
        if code == WS_CLOSE_POLICY:
            self._log.warning("rpc[%s] dropping WebSocket client %s: %s", self.name, client.peer, reason)
            self._m_dropped.inc(reason="slow")
        task = asyncio.get_running_loop().create_task(self._close_client(client, code, reason))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_client(self, client: WsClient, code: int, reason: str) -> None:
        if client.writer is not None:
            client.writer.cancel()
        clean = False
        try:
            await asyncio.wait_for(client.ws.close(code=code, message=reason.encode()[:123]), WS_CLOSE_TIMEOUT)
            clean = True
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        if not clean and isinstance(client.transport, asyncio.WriteTransport):
            client.transport.abort()  # the peer is not reading; don't wait for a flush

    async def _writer(self, client: WsClient) -> None:
        try:
            while True:
                text = await client.queue.get()
                await client.ws.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            self._log.debug("rpc[%s] WebSocket send to %s failed: %s", self.name, client.peer, exc)
            if not client.closed:
                self._drop(client, WS_CLOSE_GOING_AWAY, "send failed")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET /ws: serve one connection until it closes."""
        if len(self._clients) >= self.max_clients:
            self._m_dropped.inc(reason="cap")
            self._log.warning(
                "rpc[%s] rejecting WebSocket client %s: %d clients connected (cap %d)",
                self.name,
                request.remote,
                len(self._clients),
                self.max_clients,
            )
            return web.json_response({"error": f"too many WebSocket clients (cap {self.max_clients})"}, status=503)
        ws = web.WebSocketResponse(
            max_msg_size=self.max_message_bytes,
            heartbeat=WS_HEARTBEAT,
            compress=False,
            timeout=WS_CLOSE_TIMEOUT,
        )
        await ws.prepare(request)
        client = WsClient(ws, str(request.remote), asyncio.Queue(self.queue_size), request.transport)
        self._clients.add(client)
        self._m_clients.set(len(self._clients))
        client.writer = asyncio.create_task(self._writer(client))
        self._log.debug("rpc[%s] WebSocket client %s connected", self.name, client.peer)
        try:
            await self._read_loop(client)
        finally:
            await self._finish(client)
        return ws

    async def _read_loop(self, client: WsClient) -> None:
        session = functools.partial(self.call_session, client)
        async for message in client.ws:
            if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            reply = await self._dispatcher.handle(message.data, session)
            if reply is not None:
                self._enqueue(client, reply)
            if client.closed:
                break

    async def _finish(self, client: WsClient) -> None:
        self._detach(client)
        if client.closed:
            return  # a drop task owns the close
        client.closed = True
        if client.writer is not None:
            client.writer.cancel()
        if not client.ws.closed:
            await client.ws.close()
        self._log.debug("rpc[%s] WebSocket client %s disconnected", self.name, client.peer)

    async def close_all(self) -> None:
        """Disconnect every client (1001, going away) and wait for the closes."""
        for client in list(self._clients):
            self._drop(client, WS_CLOSE_GOING_AWAY, "server shutting down")
        if self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
