"""The settler as a gossip peer: it follows the sequencer's signed blocks and range-syncs the gaps.

The network part is the executors' own (node.blocknet.BlockNetwork): the
same topic validator (node.gossip.validate_gossip: canonical encoding, this
chain, the sequencer's signature, size and age), so a bad message is
rejected before relay with its reason counted (`settler_gossip_rejected`)
and the forwarding peer is penalised and dropped by node.p2p as for any
node. Range sync uses the same protocol and the same per-block checks: a
range answer holding a block that fails them is dropped whole, counted by
reason (`settler_range_rejected`), and that peer is not asked again for the
range.
Valid blocks go into the crash-safe l1.settler.blockstore; the settler
serves ranges of what it holds to its peers.

    feed = GossipFeed(section, chain_id, store, metrics)
    await feed.start()
    await feed.fill(first, count)     # range sync from the connected peers
    feed.silent_s()                   # seconds since gossip last brought a new block
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from typing import Any

from l1.settler.blockstore import Added, BlockStore
from node.blocknet import BlockNetwork, P2PSection
from node.encoding import DecodeError
from node.gossip import MAX_RANGE_COUNT, GossipRejected, SignedBlock
from node.p2p import P2PError
from node.p2p.identity import parse_multiaddr
from node.rpc.metrics import Metrics

log = logging.getLogger("settler.gossip")

FILL_TIMEOUT_S = 5.0
LATENCY_SAMPLES = 2048
RECENT_SAMPLES = 200  # about 20 s of 100 ms blocks: the steady state, without a start-up's catch-up
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def compute_percentile(samples: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `samples` (None if there are none)."""
    if not samples:
        return None
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered) - 1e-9) - 1))
    return ordered[index]


class LatencyWindow:
    """The last LATENCY_SAMPLES durations, for p50/p99 in settler_status (also over the last `recent`)."""

    def __init__(self, size: int = LATENCY_SAMPLES, recent: int = RECENT_SAMPLES) -> None:
        self.samples: deque[float] = deque(maxlen=size)
        self.recent = recent

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)

    def report(self) -> dict[str, Any]:
        values = list(self.samples)
        recent = values[-self.recent :]
        return {
            "samples": len(values),
            "p50Ms": _ms(compute_percentile(values, 0.5)),
            "p99Ms": _ms(compute_percentile(values, 0.99)),
            "recentP50Ms": _ms(compute_percentile(recent, 0.5)),
            "recentP99Ms": _ms(compute_percentile(recent, 0.99)),
        }


def _log_fill_failure(task: asyncio.Task[int]) -> None:
    """A background range sync ends by itself (its peers' failures are logged in fill); anything else is a bug."""
    if not task.cancelled() and task.exception() is not None:
        log.error("background range sync failed", exc_info=task.exception())


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


class GossipFeed:
    def __init__(self, section: P2PSection, chain_id: int, store: BlockStore, metrics: Metrics) -> None:
        if section.sequencer is None:
            raise ValueError("the settler's [p2p] section needs the sequencer's gossip address")
        self.store = store
        self.network = BlockNetwork(section, chain_id, section.sequencer, store.serve_range)
        self.bootstrap_ids = frozenset(parse_multiaddr(addr).peer_id for addr in section.bootstrap)
        self.started_at = time.monotonic()
        self.last_new: float | None = None
        self.latency = LatencyWindow()
        self.range_rejected: dict[str, int] = {}
        self._filling: asyncio.Task[int] | None = None  # the range sync in the background (fill_soon)
        self.m_blocks = metrics.counter("settler_gossip_blocks_total", "signed blocks taken in, by how they came")
        self.m_latency = metrics.histogram(
            "settler_gossip_latency_seconds", "sealed (block timestamp) to received over gossip", LATENCY_BUCKETS
        )
        self.m_replaced = metrics.counter("settler_gossip_replaced_total", "held blocks the sequencer re-sealed")
        metrics.gauge_fn(
            "settler_gossip_rejected",
            "gossip messages rejected by validation, by reason",
            lambda: [({"reason": r}, n) for r, n in sorted(self.network.rejected.items())],
        )
        metrics.gauge_fn(
            "settler_range_rejected",
            "range sync answers rejected by validation, by reason",
            lambda: [({"reason": r}, n) for r, n in sorted(self.range_rejected.items())],
        )
        metrics.gauge_fn("settler_p2p_peers", "connected p2p peers", lambda: len(self.network.peers()))
        metrics.gauge_fn("settler_held_blocks", "signed blocks held for batches", lambda: len(self.store))

    async def start(self) -> None:
        await self.network.__aenter__()
        await self.network.follow(self._on_gossip)

    async def stop(self) -> None:
        await self.cancel_fill()
        await self.network.__aexit__(None, None, None)

    def silent_s(self) -> float:
        """Seconds since gossip or range sync last brought a new block (or since start)."""
        return time.monotonic() - (self.last_new if self.last_new is not None else self.started_at)

    async def _on_gossip(self, signed: SignedBlock, peer: str) -> None:
        seconds = max(0.0, time.time() - signed.block.header.timestamp_ms / 1000)
        self.m_latency.observe(seconds)
        self.latency.add(seconds)
        self._take(signed, "gossip")

    def _take(self, signed: SignedBlock, how: str) -> bool:
        added = self.store.add(signed)
        if added in (Added.NEW, Added.REPLACED):
            self.last_new = time.monotonic()
            self.m_blocks.inc(how=how)
            if added is Added.REPLACED:
                self.m_replaced.inc()
            return True
        return False

    async def fill(self, first: int, count: int) -> int:
        """Range-sync blocks first.. from the connected peers (bootstrap peers first: the configured ones,
        not those found by discovery); returns how many new blocks were taken."""
        taken = 0
        for peer in sorted(self.network.peers(), key=lambda p: p not in self.bootstrap_ids):
            fetched = await self._fill_from(peer, first, count)
            taken += fetched
            if fetched:
                return taken
        return taken

    def fill_soon(self, first: int, count: int) -> bool:
        """Range-sync blocks first.. in the background unless a range sync already runs (returns whether one
        started). The settler's round goes on meanwhile: a peer that answers slowly (up to FILL_TIMEOUT_S per
        request) holds back neither the blocks gossip brings nor the other duties; what the sync takes is
        in the store for the next round."""
        if self._filling is not None and not self._filling.done():
            return False
        self._filling = asyncio.get_running_loop().create_task(self.fill(first, count), name=f"range-sync-{first}")
        self._filling.add_done_callback(_log_fill_failure)
        return True

    async def cancel_fill(self) -> None:
        """Stop the background range sync, if any (a devnet revert's hold, or the settler stopping)."""
        task, self._filling = self._filling, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _fill_from(self, peer: str, first: int, count: int) -> int:
        """Blocks first.. from one peer, MAX_RANGE_COUNT per request, until it has no more or `count` came."""
        taken = 0
        while taken < count:
            try:
                blocks = await asyncio.wait_for(
                    self.network.request_range(peer, first + taken, min(count - taken, MAX_RANGE_COUNT)),
                    FILL_TIMEOUT_S,
                )
            except GossipRejected as exc:
                self.range_rejected[exc.reason] = self.range_rejected.get(exc.reason, 0) + 1
                log.warning("range sync from %d: %s sent an invalid block (%s)", first + taken, peer, exc)
                return taken
            except (P2PError, DecodeError, TimeoutError) as exc:
                log.info("range sync of blocks from %d with %s failed: %s", first + taken, peer, exc)
                return taken
            wanted = [s for s in blocks if s.block.number >= first + taken]
            for signed in wanted:
                self._take(signed, "range")
            if not wanted:
                return taken
            taken = max(s.block.number for s in wanted) + 1 - first
        return taken

    def report(self) -> dict[str, Any]:
        return {
            "peerId": self.network.peer_id,
            "peers": sorted(self.network.peers()),
            "held": len(self.store),
            "newestHeld": self.store.newest(),
            "silentS": round(self.silent_s(), 3),
            "rejected": dict(self.network.rejected),
            "rangeRejected": dict(self.range_rejected),
            "latency": self.latency.report(),
        }
