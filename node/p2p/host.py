"""`P2PNode`: the asyncio-facing libp2p node (gossip + request/response).

    async with P2PNode(P2PConfig(seed=..., listen_port=9000, bootstrap=(...,))) as node:
        node.set_validator("blocks", is_well_formed_block)
        await node.subscribe("blocks", on_block)          # on_block(data, from_peer)
        report = await node.publish("blocks", block_bytes)
        node.register_handler("/rollup/range/1", serve_range)
        blob = await node.request(peer_id, "/rollup/range/1", b"...", timeout=10)

Everything libp2p runs on a dedicated trio thread (`TrioBridge`); handlers
run on the caller's asyncio loop. Validators and request handlers may be
set before entering the context (applied before the node listens) or at any
time after. Received messages are handed to each subscriber's bounded
queue and its handler is awaited one message at a time, in arrival order;
a handler that raises is logged and the next message delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from node.p2p.bridge import TrioBridge, call_in_loop
from node.p2p.errors import MessageTooLargeError, NodeNotRunningError
from node.p2p.identity import parse_multiaddr, peer_id_from_seed, random_seed, validate_seed
from node.p2p.types import GossipMetrics, MessageHandler, PublishReport, ReqRespLimits, RequestHandler, Validator

if TYPE_CHECKING:
    from node.p2p.runtime import NodeRuntime, RuntimeSettings

log = logging.getLogger(__name__)

MiB = 1 << 20


@dataclass(frozen=True, slots=True)
class P2PConfig:
    """Per-node network settings (protocol constants live in the modules)."""

    seed: bytes | None = None  # 32 bytes -> stable peer id; None -> random identity
    listen_host: str = "127.0.0.1"
    listen_port: int = 0  # 0 = ephemeral; the real port is `P2PNode.listen_port`
    bootstrap: tuple[str, ...] = ()  # /ip4/H/tcp/P/p2p/ID, kept connected by a reconnect loop
    max_message_size: int = 4 * MiB
    backpressure_threshold: int = 16  # of the 32 slots of a peer's outbound queue
    backpressure_max_wait: float = 2.0
    invalid_limit: int = 10  # bad messages before a peer is disconnected and banned
    ban_seconds: float = 60.0
    reconnect_interval: float = 0.5
    reconnect_max_interval: float = 2.0
    dedup_capacity: int = 8192
    delivery_queue_size: int = 4096
    close_timeout: float = 5.0
    reqresp: ReqRespLimits = field(default_factory=ReqRespLimits)
    libp2p_log_level: str = "WARNING"

    def __post_init__(self) -> None:
        if self.seed is not None:
            validate_seed(self.seed)
        for addr in self.bootstrap:
            parse_multiaddr(addr)
        if not 0 <= self.listen_port < 65536:
            raise ValueError(f"listen_port {self.listen_port} out of range 0..65535")
        for name in (
            "max_message_size",
            "backpressure_threshold",
            "invalid_limit",
            "dedup_capacity",
            "delivery_queue_size",
            "reconnect_interval",
            "reconnect_max_interval",
            "close_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"P2PConfig.{name} must be positive, got {getattr(self, name)}")
        if self.backpressure_max_wait < 0 or self.ban_seconds < 0:
            raise ValueError("P2PConfig.backpressure_max_wait and ban_seconds must not be negative")


class _Delivery:
    """One subscriber's queue and consumer task, on the asyncio side."""

    def __init__(self, topic: str, handler: MessageHandler, size: int, metrics: GossipMetrics) -> None:
        self.topic = topic
        self._handler = handler
        self._queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(size)
        self._metrics = metrics
        self._dropped = 0
        self.task = asyncio.create_task(self._run(), name=f"p2p-deliver-{topic}")

    def offer(self, data: bytes, from_peer: str) -> None:
        try:
            self._queue.put_nowait((data, from_peer))
        except asyncio.QueueFull:
            self._metrics.delivery_dropped += 1
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 100 == 0:
                log.warning(
                    "p2p: handler of topic %s is %d messages behind; %d message(s) dropped so far",
                    self.topic,
                    self._queue.qsize(),
                    self._dropped,
                )

    async def _run(self) -> None:
        while True:
            data, from_peer = await self._queue.get()
            try:
                await self._handler(data, from_peer)
            except Exception:  # noqa: BLE001 - one bad message must not stop delivery
                log.exception("p2p: handler for topic %s failed on a %d-byte message", self.topic, len(data))


class P2PNode:
    """An asyncio async context manager around one libp2p host. Single use."""

    def __init__(self, config: P2PConfig | None = None) -> None:
        self.config = config or P2PConfig()
        self._seed = self.config.seed or random_seed()
        self.peer_id = peer_id_from_seed(self._seed)
        self._validators: dict[str, Validator] = {}
        self._handlers: dict[str, RequestHandler] = {}
        self._deliveries: list[_Delivery] = []
        self._bridge: TrioBridge | None = None
        self._runtime: NodeRuntime | None = None  # libp2p is imported only when the node starts
        self._loop: asyncio.AbstractEventLoop | None = None
        self.listen_port = 0
        self.failure: BaseException | None = None
        self._failed = asyncio.Event()

    # ---- lifecycle -------------------------------------------------------
    async def __aenter__(self) -> P2PNode:
        from node.p2p.runtime import NodeRuntime, RuntimeSettings

        _route_libp2p_logs(self.config.libp2p_log_level)
        self._loop = asyncio.get_running_loop()
        c = self.config
        settings = RuntimeSettings(
            seed=self._seed,
            listen_host=c.listen_host,
            listen_port=c.listen_port,
            bootstrap=c.bootstrap,
            max_message_size=c.max_message_size,
            backpressure_threshold=c.backpressure_threshold,
            backpressure_max_wait=c.backpressure_max_wait,
            invalid_limit=c.invalid_limit,
            ban_seconds=c.ban_seconds,
            reconnect_interval=c.reconnect_interval,
            reconnect_max_interval=c.reconnect_max_interval,
            dedup_capacity=c.dedup_capacity,
            close_timeout=c.close_timeout,
            reqresp=c.reqresp,
        )
        self._bridge = TrioBridge(name=f"p2p-trio-{self.peer_id[-6:]}")
        self._bridge.start()
        try:
            self._runtime = await self._bridge.run(
                _build_runtime,
                NodeRuntime,
                settings,
                self._loop,
                self._report_failure,
                dict(self._validators),
                dict(self._handlers),
            )
            self.listen_port = await self._bridge.start_background(self._runtime.serve)
        except BaseException:
            await self._bridge.astop(self.config.close_timeout + 2.0)
            self._bridge = None
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        bridge, runtime = self._bridge, self._runtime
        self._bridge = self._runtime = None
        for delivery in self._deliveries:
            delivery.task.cancel()
        for delivery in self._deliveries:
            with contextlib.suppress(asyncio.CancelledError):
                await delivery.task
        self._deliveries.clear()
        if bridge is None:
            return
        if runtime is not None and bridge.running:
            with contextlib.suppress(Exception):
                await bridge.run(runtime.stop)
        await bridge.astop(self.config.close_timeout + 2.0)
        log.info("p2p node %s stopped", self.peer_id)

    @property
    def running(self) -> bool:
        """True while the node is up and its libp2p side has not failed."""
        return self._bridge is not None and self._bridge.running and self.failure is None

    async def forget_gossip_history(self) -> None:
        """Empty the gossip message cache (what IHAVE/IWANT serve and new subscribers are replayed), on the trio
        thread: after a devnet revert (node.devnet.inproc) no message of the abandoned chain is served again."""
        bridge, runtime = self._bridge, self._runtime
        if bridge is None or runtime is None:
            return
        cache = runtime.router.mcache

        async def forget() -> None:
            cache.msgs.clear()
            cache.history = [[] for _ in range(cache.history_size)]

        await bridge.run(forget)

    def _report_failure(self, exc: BaseException) -> None:  # trio thread
        if self._loop is not None:
            call_in_loop(self._loop, self._set_failed, exc)

    def _set_failed(self, exc: BaseException) -> None:
        self.failure = exc
        self._failed.set()

    async def wait_failed(self) -> BaseException:
        """Return when the libp2p side has failed for good (for a supervisor to stop the process)."""
        await self._failed.wait()
        return self.failure or NodeNotRunningError("p2p node failed")

    @property
    def listen_addr(self) -> str:
        """This node's dialable multiaddr `/ip4/HOST/tcp/PORT/p2p/PEERID`."""
        return f"/ip4/{self.config.listen_host}/tcp/{self.listen_port}/p2p/{self.peer_id}"

    def _require(self) -> tuple[TrioBridge, NodeRuntime]:
        if self._bridge is None or self._runtime is None:
            raise NodeNotRunningError("P2PNode is not running (use `async with P2PNode(...)`)")
        return self._bridge, self._runtime

    # ---- peers -----------------------------------------------------------
    def peers(self) -> list[str]:
        """Peer ids with an open connection (a snapshot, refreshed on connect/disconnect)."""
        return [] if self._runtime is None else list(self._runtime.peers.peer_ids())

    def metrics(self) -> GossipMetrics:
        return self._runtime.metrics.snapshot() if self._runtime is not None else GossipMetrics()

    # ---- gossip ----------------------------------------------------------
    def set_validator(self, topic: str, fn: Validator) -> None:
        """`fn(data) -> bool` (sync, pure; raising = False), run on the trio thread before delivery and relay."""
        self._validators[topic] = fn
        if self._runtime is not None and self._bridge is not None:
            self._bridge.call_soon(self._runtime.gossip.set_validator, topic, fn)

    async def subscribe(self, topic: str, handler: MessageHandler, *, deliver_own: bool = False) -> None:
        """Deliver each new message of `topic` once to `await handler(data, from_peer)` (originator's id)."""
        bridge, runtime = self._require()
        if self._loop is None:
            raise NodeNotRunningError("P2PNode has no event loop")
        delivery = _Delivery(topic, handler, self.config.delivery_queue_size, runtime.metrics)
        self._deliveries.append(delivery)
        loop = self._loop

        def sink(data: bytes, from_peer: str) -> None:  # trio thread: hand off only
            call_in_loop(loop, delivery.offer, data, from_peer)

        await bridge.run(runtime.gossip.subscribe, topic, sink, deliver_own)

    async def unsubscribe(self, topic: str) -> None:
        bridge, runtime = self._require()
        await bridge.run(runtime.gossip.unsubscribe, topic)
        for delivery in [d for d in self._deliveries if d.topic == topic]:
            delivery.task.cancel()
            self._deliveries.remove(delivery)

    async def topic_peers(self, topic: str) -> list[str]:
        """Connected peers subscribed to `topic` (e.g. wait for listeners before publishing)."""
        bridge, runtime = self._require()
        return await bridge.run(runtime.gossip.topic_peers, topic)

    async def wait_for_topic_peers(self, topic: str, count: int, timeout: float = 10.0) -> list[str]:
        """Poll `topic_peers` until at least `count` are known; `TimeoutError` after `timeout`."""
        async with asyncio.timeout(timeout):
            while True:
                peers = await self.topic_peers(topic)
                if len(peers) >= count:
                    return peers
                await asyncio.sleep(0.05)

    async def publish(self, topic: str, data: bytes) -> PublishReport:
        """Validate locally, wait (bounded) for peer queues to drain, publish; see `PublishReport`."""
        if len(data) > self.config.max_message_size:
            raise MessageTooLargeError(
                f"{len(data)}-byte message exceeds max_message_size {self.config.max_message_size}"
            )
        bridge, runtime = self._require()
        return await bridge.run(runtime.gossip.publish, topic, bytes(data))

    # ---- request/response ------------------------------------------------
    def register_handler(self, protocol_id: str, handler: RequestHandler) -> None:
        """Serve `protocol_id` with `await handler(request, peer) -> bytes` on this loop."""
        self._handlers[protocol_id] = handler
        if self._runtime is not None and self._bridge is not None:
            self._bridge.call_soon(self._runtime.reqresp.register, protocol_id, handler)

    async def request(self, peer: str, protocol_id: str, payload: bytes, timeout: float = 10.0) -> bytes:
        """One request/response exchange; raises a `RequestError` subclass on failure."""
        bridge, runtime = self._require()
        return await bridge.run(runtime.reqresp.request, peer, protocol_id, bytes(payload), timeout)

    async def set_partitioned(self, partitioned: bool) -> int:
        """Cut the node off the network (disconnect all, refuse and stop dialling) or heal it; returns peers now."""
        bridge, runtime = self._require()
        return await bridge.run(runtime.peers.set_partitioned, partitioned)

    @property
    def partitioned(self) -> bool:
        return self._runtime is not None and self._runtime.peers.partitioned

    async def connect(self, multiaddr: str) -> None:
        """Dial a peer once (bootstrap peers are dialled and re-dialled automatically)."""
        bridge, runtime = self._require()
        parse_multiaddr(multiaddr)
        await bridge.run(runtime.peers.dial, multiaddr)


async def _build_runtime(
    runtime_cls: type[NodeRuntime],
    settings: RuntimeSettings,
    loop: asyncio.AbstractEventLoop,
    on_failure: Callable[[BaseException], None],
    validators: dict[str, Validator],
    handlers: dict[str, RequestHandler],
) -> NodeRuntime:
    runtime = runtime_cls(settings, loop, on_failure)
    for topic, fn in validators.items():
        runtime.gossip.set_validator(topic, fn)
    for protocol_id, handler in handlers.items():
        runtime.reqresp.register(protocol_id, handler)
    return runtime


class _DropDialErrors(logging.Filter):
    """py-libp2p logs every failed dial at ERROR; the reconnect loop reports unreachable peers itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to open TCP stream") or record.levelno < logging.ERROR


def _route_libp2p_logs(level: str) -> None:
    """py-libp2p detaches its logger from the root and forces INFO on the auto-connector: undo both."""
    numeric = getattr(logging, level.upper(), logging.WARNING)
    libp2p_logger = logging.getLogger("libp2p")
    libp2p_logger.propagate = True
    libp2p_logger.setLevel(numeric)
    logging.getLogger("libp2p.network.auto_connector").setLevel(numeric)
    tcp_logger = logging.getLogger("libp2p.transport.tcp.tcp")
    if numeric > logging.DEBUG and not any(isinstance(f, _DropDialErrors) for f in tcp_logger.filters):
        tcp_logger.addFilter(_DropDialErrors())
