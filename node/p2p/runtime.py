"""Assembly and lifecycle of one libp2p node on the trio thread.

Builds the host (TCP + Noise + yamux only), gossipsub (`/meshsub/1.1.0` with
`/meshsub/1.0.0` fallback; spam protection, adaptive gossip and eclipse
protection off; 1 s heartbeat) and pubsub (signed messages, our max RPC
size, content-derived message ids on rollup topics: `node.p2p.msgid`, also
used by the gossip message cache, `MessageIdCache`), installs the guards, verifies the TCP listener really exists, then
runs the peer manager and topic drains until `stop()`.

Shutdown is bounded: background tasks are cancelled, pubsub and gossipsub
services stopped, `host.close()` called and the host context exited, all
under one `close_timeout` deadline (py-libp2p's close can hang after a peer
crash); then the seen-message cache's sweeper thread (which nothing in
libp2p stops) is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from libp2p import new_host
from libp2p.crypto.x25519 import create_new_key_pair as new_x25519_key_pair
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID as MESHSUB_V10
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11 as MESHSUB_V11
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from node.p2p.bridge import unwrap_exception
from node.p2p.errors import ListenError, PortInUseError
from node.p2p.gossip import GossipService, MessageIdCache
from node.p2p.guards import install_pubsub_guards
from node.p2p.identity import key_pair_from_seed
from node.p2p.msgid import pubsub_message_id
from node.p2p.peering import PeerManager
from node.p2p.reqresp import ReqRespService
from node.p2p.types import GossipMetrics, ReqRespLimits

log = logging.getLogger(__name__)

RPC_OVERHEAD = 64 * 1024  # envelope, signature, topic and sender record around a payload


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    seed: bytes
    listen_host: str
    listen_port: int
    bootstrap: tuple[str, ...]
    max_message_size: int
    backpressure_threshold: int
    backpressure_max_wait: float
    invalid_limit: int
    ban_seconds: float
    reconnect_interval: float
    reconnect_max_interval: float
    dedup_capacity: int
    close_timeout: float
    reqresp: ReqRespLimits


class NodeRuntime:
    """Everything libp2p of one node; all methods run on the trio thread."""

    def __init__(
        self, settings: RuntimeSettings, loop: asyncio.AbstractEventLoop, on_failure: Callable[[BaseException], None]
    ) -> None:
        self.settings = settings
        self.failure: BaseException | None = None
        self._on_failure = on_failure
        key_pair = key_pair_from_seed(settings.seed)
        self.host = new_host(
            key_pair=key_pair,
            sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(key_pair, noise_privkey=new_x25519_key_pair().private_key)},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
        )
        self.metrics = GossipMetrics()
        self.router = GossipSub(
            protocols=[MESHSUB_V11, MESHSUB_V10],
            degree=6,
            degree_low=4,
            degree_high=12,
            heartbeat_initial_delay=0.1,
            heartbeat_interval=1,
            time_to_live=30,
            spam_protection_enabled=False,
            adaptive_gossip_enabled=False,
            eclipse_protection_enabled=False,
        )
        self.router.mcache = MessageIdCache(
            self.router.mcache.window_size, self.router.mcache.history_size, pubsub_message_id
        )
        rpc_limit = settings.max_message_size + RPC_OVERHEAD
        self.pubsub = Pubsub(
            self.host, self.router, max_inbound_rpc_size=rpc_limit, msg_id_constructor=pubsub_message_id
        )
        self.peers = PeerManager(
            self.host,
            self.pubsub,
            bootstrap=settings.bootstrap,
            reconnect_interval=settings.reconnect_interval,
            reconnect_max_interval=settings.reconnect_max_interval,
            invalid_limit=settings.invalid_limit,
            ban_seconds=settings.ban_seconds,
            metrics=self.metrics,
        )
        install_pubsub_guards(self.pubsub, max_rpc_size=rpc_limit, on_peer_fault=self.peers.record_fault)
        self.gossip = GossipService(
            self.pubsub,
            on_invalid=self.peers.record_fault,
            dedup_capacity=settings.dedup_capacity,
            backpressure_threshold=settings.backpressure_threshold,
            backpressure_max_wait=settings.backpressure_max_wait,
            metrics=self.metrics,
        )
        self.reqresp = ReqRespService(self.host, loop, settings.reqresp)
        self._log_iwants()
        self.listen_port = 0
        self._stop = trio.Event()
        self._finished = trio.Event()
        self._outer = trio.CancelScope()

    def _log_iwants(self) -> None:
        """Count and log every IWANT this node sends: a publisher re-requesting its own messages
        (ids computed differently by a peer) shows up here (`iwant_ids_sent`)."""
        emit_iwant = self.router.emit_iwant

        async def counted(msg_ids: Sequence[bytes], to_peer: ID) -> None:
            self.iwant_ids_sent += len(msg_ids)
            log.info("gossip: IWANT %d message id(s) from %s", len(msg_ids), to_peer)
            await emit_iwant(msg_ids, to_peer)

        self.iwant_ids_sent = 0
        self.router.emit_iwant = counted  # type: ignore[method-assign]

    @property
    def peer_id(self) -> str:
        return str(self.host.get_id())

    async def serve(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Start everything, report the listen port via `task_status`, run until `stop()`.

        Contexts are nested (not an exit stack) so trio's cancel scopes stay
        balanced; `stop()` puts a deadline on the outer scope, which bounds
        the whole shutdown.
        """
        self._check_port_free()
        listen = Multiaddr(f"/ip4/{self.settings.listen_host}/tcp/{self.settings.listen_port}")
        try:
            with self._outer:
                async with self.host.run([listen]):
                    try:
                        self.listen_port = self._check_listening()
                        async with background_trio_service(self.pubsub), background_trio_service(self.router):
                            await self.pubsub.wait_until_ready()
                            await self._run_until_stopped(task_status)
                    finally:
                        await self.host.close()
            if self._outer.cancelled_caught:
                log.warning(
                    "p2p shutdown: libp2p did not close within %.1fs; abandoned its remaining tasks",
                    self.settings.close_timeout,
                )
        finally:
            with contextlib.suppress(Exception):
                self.peers.stop()
            self.pubsub.seen_messages.stop()  # its sweeper thread is never stopped by libp2p
            self._finished.set()

    async def _run_until_stopped(self, task_status: Any) -> None:
        started = False
        try:
            async with trio.open_nursery() as nursery:
                self.peers.start(nursery)
                self.gossip.attach(nursery)
                log.info("p2p node %s listening on %s:%d", self.peer_id, self.settings.listen_host, self.listen_port)
                task_status.started(self.listen_port)
                started = True
                await self._stop.wait()
                nursery.cancel_scope.cancel()
        except Exception as exc:
            if not started:
                raise
            self.failure = unwrap_exception(exc)
            log.critical(
                "p2p node %s failed: %r; it no longer sends or receives", self.peer_id, self.failure, exc_info=exc
            )
            self._on_failure(self.failure)

    def _check_port_free(self) -> None:
        """py-libp2p listens with SO_REUSEPORT, so a second node on a taken port would
        silently share it (the kernel splits connections between them). Probe first."""
        host, port = self.settings.listen_host, self.settings.listen_port
        if port and _port_in_use(host, port):
            raise PortInUseError(f"cannot listen on {host}:{port}: address already in use")

    def _check_listening(self) -> int:
        """py-libp2p only logs a failed bind; make it an error, and learn the real port."""
        for listener in self.host.get_network().listeners.values():
            for addr in listener.get_addrs():
                port = addr.value_for_protocol("tcp")
                if port:
                    return int(port)
        host, port = self.settings.listen_host, self.settings.listen_port
        if port and _port_in_use(host, port):
            raise PortInUseError(f"cannot listen on {host}:{port}: address already in use")
        raise ListenError(f"libp2p started without a listener on {host}:{port}")

    async def stop(self) -> None:
        """Stop serving; the whole shutdown is bounded by `close_timeout`."""
        self._stop.set()
        self._outer.deadline = trio.current_time() + self.settings.close_timeout
        with trio.move_on_after(self.settings.close_timeout + 1.0):
            await self._finished.wait()


def _port_in_use(host: str, port: int) -> bool:
    """True if a socket is bound to (host, port); lingering TIME_WAIT connections do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # but not SO_REUSEPORT
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
