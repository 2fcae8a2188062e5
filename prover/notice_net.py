"""The dispute-notice topic on the challenger's P2PNode: publish ours, keep our allies' (prover.notices).

On receipt the validator (prover.notices.validate_notice) runs on the p2p
thread before relay; a rejection counts under
`dispute_notices_rejected_total{reason}` and against the forwarding peer
(node.p2p bans it after `invalid_limit`). Valid notices are relayed whoever
signed them; we keep only our allies' (the newest per ally and output, at
most MAX_KEPT), with the L1 head at arrival, and drop the rest
(`dispute_notices_received_total{outcome}`: `ally`, `not_ally`,
`rate_limited`, `duplicate`). Token buckets per originating peer (burst 16,
2 per second) bound the work a flooding peer causes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from node.attestation_pool import TokenBucket
from node.crypto import PrivateKey, to_checksum_address
from node.p2p import P2PError, P2PNode
from node.rpc.metrics import Metrics
from prover.notices import NoticeRejected, notice_topic, sign_notice, validate_notice

log = logging.getLogger("challenger")

MAX_KEPT = 1024
BURST, PER_SECOND = 16, 2.0


class NoticeBoard:
    def __init__(
        self,
        node: P2PNode,
        chain_id: int,
        key: PrivateKey,
        allies: frozenset[bytes],
        l1_head: Callable[[], int],
        metrics: Metrics,
    ) -> None:
        self.node = node
        self.chain_id = chain_id
        self.key = key
        self.allies = allies
        self.topic = notice_topic(chain_id)
        self._l1_head = l1_head
        self._kept: dict[tuple[int, bytes], tuple[bytes, int]] = {}  # (output, ally) -> (root, L1 head at arrival)
        self._buckets: dict[str, TokenBucket] = {}
        self.m_rejected = metrics.counter("dispute_notices_rejected_total", "dispute notices rejected, by reason")
        self.m_received = metrics.counter("dispute_notices_received_total", "valid dispute notices, by outcome")
        self.m_published = metrics.counter("dispute_notices_published_total", "dispute notices we sent")

    async def start(self) -> None:
        self.node.set_validator(self.topic, self._validate)
        await self.node.subscribe(self.topic, self._on_message)

    async def announce(self, output_index: int, output_root: bytes, tx_hash: bytes) -> None:
        notice = sign_notice(self.key, self.chain_id, output_index, output_root, tx_hash)
        try:
            await self.node.publish(self.topic, notice.encode())
        except P2PError as exc:
            log.warning("could not gossip our dispute notice for output %d: %s", output_index, exc)
            return
        self.m_published.inc()

    def announced(self, output_index: int, output_root: bytes) -> Mapping[bytes, int]:
        """Allies that announced a dispute of this output (with this root): ally -> L1 head at arrival."""
        return {
            ally: at
            for (index, ally), (root, at) in self._kept.items()
            if index == output_index and root == output_root
        }

    def _validate(self, data: bytes) -> bool:  # the p2p thread
        try:
            validate_notice(data, self.chain_id)
        except NoticeRejected as exc:
            self.m_rejected.inc(reason=exc.reason)
            return False
        return True

    async def _on_message(self, data: bytes, peer: str) -> None:
        try:
            notice = validate_notice(data, self.chain_id)
        except NoticeRejected:
            return
        signer = bytes(notice.signer)
        if signer == bytes(self.key.address):
            return
        if not self._take(peer):
            self.m_received.inc(outcome="rate_limited")
            return
        if signer not in self.allies:
            self.m_received.inc(outcome="not_ally")
            return
        key = (notice.output_index, signer)
        if key in self._kept:
            self.m_received.inc(outcome="duplicate")
            return
        if len(self._kept) >= MAX_KEPT:
            del self._kept[min(self._kept)]  # the oldest output's
        self._kept[key] = (notice.output_root, self._l1_head())
        self.m_received.inc(outcome="ally")
        log.info("ally %s announced its dispute of output %d", to_checksum_address(signer), notice.output_index)

    def _take(self, peer: str) -> bool:
        now = time.monotonic()
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) >= 4096:
                self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < 60}
            bucket = self._buckets[peer] = TokenBucket(BURST, PER_SECOND)
        return bucket.take(now)
