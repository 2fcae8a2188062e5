"""Peers on the trio side: bootstrap reconnect loop, penalties and bans, peer list.

- py-libp2p's own bootstrap gives up for good when a peer starts a few
  seconds late (60 s failed-dial cache, then the peer is dropped). Here each
  bootstrap peer gets a loop that, while not connected, lifts the swarm's
  negative dial cache and dials again (exponential backoff from
  `reconnect_interval` up to `reconnect_max_interval`, reset on success),
  so peers that start late or restart are picked up within about a second.
- Faults (invalid gossip, garbled RPCs) are counted per peer; at
  `invalid_limit` the peer is banned for `ban_seconds`: it is put on pubsub's
  blacklist (its messages are dropped), disconnected, and any new
  connection from it is closed until the ban ends, when its count resets.
- `peer_ids()` is a snapshot refreshed on connect/disconnect, safe to read
  from any thread.
- Partition (devnet_partition / devnet_heal, node.blocknet): while
  partitioned every peer is disconnected, the reconnect loops stop dialling,
  `dial` refuses and any connection a peer opens is closed at once; healing
  lets the reconnect loops dial the bootstrap peers again (within
  `reconnect_interval`).
- Liveness: every `ping_interval` each connected peer is pinged
  (/ipfs/ping/1.0.0, a new stream on its connection); a peer that does not
  answer within `ping_timeout` is disconnected. A peer whose link went down
  keeps its TCP connection (no RST arrives), and once the socket's send
  buffer is full py-libp2p's pubsub blocks writing to it, which stalls
  gossip to every other peer too (seen on the namespaced devnet,
  scripts/netns_devnet.py: a cut settler stopped blocks reaching both
  executors). Disconnecting the dead peer unblocks pubsub; the reconnect
  loop dials it again once it is back. A peer that declines the ping protocol
  (js-libp2p without its ping service) has answered, so it counts as alive.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

import trio
from libp2p.abc import INetConn, INetStream, INetwork, INotifee
from libp2p.host.ping import ID as PING_PROTOCOL
from libp2p.host.ping import perform_ping_roundtrip
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.protocol_muxer.exceptions import MultiselectClientError, ProtocolNotSupportedError
from multiaddr import Multiaddr

from node.p2p.errors import PeerUnreachableError
from node.p2p.guards import short_peer
from node.p2p.types import GossipMetrics

if TYPE_CHECKING:
    from libp2p.abc import IHost
    from libp2p.pubsub.pubsub import Pubsub

log = logging.getLogger(__name__)

_DIAL_TIMEOUT_S = 5.0
_DISCONNECT_TIMEOUT_S = 3.0
_SNAPSHOT_REFRESH_S = 0.5
PING_INTERVAL_S = 2.0
PING_TIMEOUT_S = 5.0


class PeerManager(INotifee):
    """Connection upkeep and peer discipline for one host. Runs on the trio thread."""

    def __init__(
        self,
        host: IHost,
        pubsub: Pubsub,
        *,
        bootstrap: tuple[str, ...],
        reconnect_interval: float,
        reconnect_max_interval: float,
        invalid_limit: int,
        ban_seconds: float,
        metrics: GossipMetrics,
        ping_interval: float = PING_INTERVAL_S,
        ping_timeout: float = PING_TIMEOUT_S,
    ) -> None:
        self._host = host
        self._pubsub = pubsub
        self._bootstrap = [info_from_p2p_addr(Multiaddr(addr)) for addr in bootstrap]
        self._interval = reconnect_interval
        self._max_interval = reconnect_max_interval
        self._invalid_limit = invalid_limit
        self._ban_seconds = ban_seconds
        self._metrics = metrics
        self._faults: Counter[ID] = Counter()
        self._banned: dict[ID, float] = {}
        self._nursery: trio.Nursery | None = None
        self._snapshot: tuple[str, ...] = ()
        self.partitioned = False
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._pinging: set[ID] = set()
        self.dead_peers_dropped = 0  # peers disconnected because they stopped answering pings

    # ---- lifecycle -----------------------------------------------------
    def start(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._host.get_network().register_notifee(self)
        nursery.start_soon(self._refresh_loop)
        nursery.start_soon(self._liveness_loop)
        own = self._host.get_id()
        for info in self._bootstrap:
            if info.peer_id != own:
                nursery.start_soon(self._keep_connected, info)

    def stop(self) -> None:
        self._host.get_network().remove_notifee(self)
        self._nursery = None

    # ---- peer list -----------------------------------------------------
    def peer_ids(self) -> tuple[str, ...]:
        return self._snapshot

    def is_banned(self, peer: ID) -> bool:
        until = self._banned.get(peer)
        return until is not None and trio.current_time() < until

    def _refresh(self) -> None:
        network = self._host.get_network()
        previous = set(self._snapshot)
        self._snapshot = (
            ()
            if self.partitioned
            else tuple(
                sorted(
                    str(peer) for peer, conns in list(network.connections.items()) if conns and not self.is_banned(peer)
                )
            )
        )
        current = set(self._snapshot)
        for peer in sorted(current - previous):
            log.info("peer %s connected (%d peers)", short_peer(peer), len(current))
        for peer in sorted(previous - current):
            log.info("peer %s disconnected (%d peers)", short_peer(peer), len(current))

    async def _refresh_loop(self) -> None:
        while True:
            self._refresh()
            await trio.sleep(_SNAPSHOT_REFRESH_S)

    # ---- liveness ------------------------------------------------------
    async def _liveness_loop(self) -> None:
        while True:
            await trio.sleep(self._ping_interval)
            if self.partitioned or self._nursery is None:
                continue
            for peer, conns in list(self._host.get_network().connections.items()):
                if conns and peer not in self._pinging and not self.is_banned(peer):
                    self._pinging.add(peer)  # until its ping task ends, however long that takes
                    self._nursery.start_soon(self._check_alive, peer)

    async def _check_alive(self, peer: ID) -> None:
        """Ping `peer`; when no answer comes within `ping_timeout`, close its connection's socket and disconnect.

        The ping runs in a task of its own and is not awaited past the timeout: on a dead link
        py-libp2p's stream cleanup (a shielded reset) blocks until the link returns, so only closing
        the socket underneath frees it (and pubsub's blocked writes).
        """
        outcome: list[str | None] = []
        done = trio.Event()

        async def ping() -> None:
            try:
                outcome.append(await self._ping(peer))
            finally:
                done.set()
                self._pinging.discard(peer)

        nursery = self._nursery
        if nursery is None:  # stopped meanwhile
            self._pinging.discard(peer)
            return
        nursery.start_soon(ping)
        with trio.move_on_after(self._ping_timeout + 0.5):
            await done.wait()
        failure = outcome[0] if outcome else "timeout"
        if failure is None or not self._is_connected(peer) or self.partitioned:
            return
        self.dead_peers_dropped += 1
        log.warning(
            "peer %s did not answer a ping within %.1fs (%s): closing its connection",
            short_peer(peer),
            self._ping_timeout,
            failure,
        )
        for conn in list(self._host.get_network().connections.get(peer, [])):
            close_socket(conn)
        await self._disconnect(peer)

    async def _ping(self, peer: ID) -> str | None:
        """None when `peer` answered; otherwise why not."""
        stream: INetStream | None = None
        try:
            with trio.fail_after(self._ping_timeout):
                stream = await self._host.new_stream(peer, [PING_PROTOCOL])
                await perform_ping_roundtrip(stream)
        except trio.TooSlowError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001 - any other failure to ping counts as "not answering"
            if refused_protocol(exc):
                return None  # it answered "na" to /ipfs/ping (js-libp2p without its ping service): alive
            return type(exc).__name__
        finally:
            if stream is not None:
                with trio.move_on_after(1.0):
                    try:
                        await stream.close()
                    except Exception:  # noqa: BLE001 - the stream is done with either way
                        pass
        return None

    # ---- partition -----------------------------------------------------
    async def set_partitioned(self, partitioned: bool) -> int:
        """Cut this node off every peer (True) or let it reconnect (False); returns the peers connected now."""
        self.partitioned = partitioned
        if partitioned:
            log.warning("partitioned: disconnecting every peer and refusing connections until healed")
            for peer in [peer for peer, conns in list(self._host.get_network().connections.items()) if conns]:
                await self._disconnect(peer)
        else:
            log.warning("partition healed: reconnecting to the bootstrap peers")
        self._refresh()
        return len(self._snapshot)

    # ---- reconnect loop ------------------------------------------------
    def _is_connected(self, peer: ID) -> bool:
        return bool(self._host.get_network().connections.get(peer))

    async def _keep_connected(self, info: PeerInfo) -> None:
        delay = self._interval
        failures = 0
        while True:
            if self.partitioned or self.is_banned(info.peer_id) or self._is_connected(info.peer_id):
                delay = self._interval
                await trio.sleep(self._interval)
                continue
            self._host.get_network().unblock_peer(info.peer_id)  # type: ignore[attr-defined]
            try:
                with trio.fail_after(_DIAL_TIMEOUT_S):
                    await self._host.connect(info)
            except Exception as exc:  # noqa: BLE001 - any dial failure means "retry later"
                failures += 1
                level = logging.INFO if failures == 1 else logging.DEBUG
                log.log(
                    level,
                    "bootstrap peer %s not reachable yet (%s); retrying every <=%.1fs",
                    short_peer(info.peer_id),
                    type(exc).__name__,
                    self._max_interval,
                )
                delay = min(delay * 2, self._max_interval)
            else:
                if failures:
                    log.info("reached bootstrap peer %s after %d failed dial(s)", short_peer(info.peer_id), failures)
                failures = 0
                delay = self._interval
                self._refresh()
            await trio.sleep(delay)

    async def dial(self, multiaddr: str) -> None:
        """Connect once to `multiaddr` (raises on failure; not retried)."""
        info = info_from_p2p_addr(Multiaddr(multiaddr))
        if self.partitioned:
            raise PeerUnreachableError(f"cannot connect to {multiaddr}: this node is partitioned (devnet_partition)")
        self._host.get_network().unblock_peer(info.peer_id)  # type: ignore[attr-defined]
        try:
            with trio.fail_after(_DIAL_TIMEOUT_S):
                await self._host.connect(info)
        except Exception as exc:  # noqa: BLE001 - every dial failure is "unreachable" to the caller
            raise PeerUnreachableError(f"cannot connect to {multiaddr}: {type(exc).__name__}: {exc}") from exc
        self._refresh()

    # ---- penalties -----------------------------------------------------
    def record_fault(self, peer: ID, reason: str) -> None:
        """Count one fault (sync; called from validators and guards)."""
        if peer == self._host.get_id() or peer in self._banned:
            return
        self._metrics.peer_faults += 1
        self._faults[peer] += 1
        count = self._faults[peer]
        if count == 1:
            log.info("peer %s sent a bad message: %s", short_peer(peer), reason)
        if count >= self._invalid_limit and self._nursery is not None:
            self._banned[peer] = trio.current_time() + self._ban_seconds
            self._nursery.start_soon(self._ban, peer, count)

    async def _ban(self, peer: ID, count: int) -> None:
        self._metrics.peers_banned += 1
        log.warning(
            "banning peer %s for %.0fs after %d bad messages; disconnecting", short_peer(peer), self._ban_seconds, count
        )
        self._pubsub.blacklisted_peers.add(peer)  # not add_to_blacklist(): see _disconnect
        await self._disconnect(peer)
        try:
            await trio.sleep(self._ban_seconds)
        finally:
            self._pubsub.blacklisted_peers.discard(peer)
            self._banned.pop(peer, None)
            self._faults.pop(peer, None)
        log.info("ban of peer %s ended", short_peer(peer))

    async def _disconnect(self, peer: ID) -> None:
        # A plain disconnect lets pubsub's dead-peer path clean up the peer's
        # stream, queue and mesh state together (add_to_blacklist() would
        # drop only the stream and leave the queue and router state behind).
        with trio.move_on_after(_DISCONNECT_TIMEOUT_S):
            try:
                await self._host.disconnect(peer)
            except Exception as exc:  # noqa: BLE001
                log.debug("disconnecting %s failed: %s", short_peer(peer), exc)
        self._refresh()

    # ---- INotifee ------------------------------------------------------
    async def connected(self, network: INetwork, conn: INetConn) -> None:
        peer = conn.muxed_conn.peer_id
        if (self.partitioned or self.is_banned(peer)) and self._nursery is not None:
            log.debug("closing connection from %s peer %s", "a" if self.partitioned else "banned", short_peer(peer))
            self._nursery.start_soon(self._disconnect, peer)
        self._refresh()

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._refresh()

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        return None

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        return None

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        return None


def refused_protocol(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the peer declined the protocol: it is there, and answered."""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, ProtocolNotSupportedError) or (
            isinstance(seen, MultiselectClientError) and "protocol not supported" in str(seen)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def close_socket(conn: object) -> bool:
    """Close the TCP socket under a libp2p connection (swarm conn -> yamux -> security -> raw -> trio stream).

    Tasks blocked reading or writing it get ClosedResourceError at once (trio), unlike a
    graceful close, which first writes to the (possibly dead) peer. False when none was found.
    """
    obj: object = conn
    for _ in range(8):
        if isinstance(obj, trio.SocketStream):
            obj.socket.close()
            return True
        nxt = next(
            (getattr(obj, attr) for attr in ("muxed_conn", "secured_conn", "conn", "stream") if hasattr(obj, attr)),
            None,
        )
        if nxt is None or nxt is obj:
            return False
        obj = nxt
    return False
