"""Attestation range sync: a node that joins late (or restarts) asks a peer for the attestations it missed.

    protocol   /rollup/<chain_id>/attestations-since/1   (node.p2p request/response)
    request    pack([since_l2_block, limit])              limit in [1, MAX_SYNC_ATTESTATIONS]
    response   pack([attestation message, ...])           at most `limit`, oldest height first

The server answers from its pool (node.attestation_pool.since: stored
attestations and the second message of each equivocation, so the evidence
travels too). A malformed request gets STATUS_BAD_REQUEST. The client
validates every returned message exactly as gossip (signer, chain, output
height; heights outside its own head window are skipped) and adds it to its
pool without the gossip rate limits (the answer is bounded); a response that
does not decode, holds more than asked, or carries an invalid message counts
as `bad_response`, and the client tries another peer.

On start (AttestationNetwork.start) a background task waits for a peer on the
topic and syncs from `since = max(0, head - max_behind)` with up to three
peers, retrying every SYNC_RETRY_S seconds until one answer was taken whole
(none of it beyond our own head's window: while we catch up, we ask again)
or SYNC_GIVE_UP_S passed. Counted under `attestations_synced_total{outcome}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from node.attestation import Attestation, AttestationRejected, validate_attestation
from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.p2p import P2PError, RequestRejected

if TYPE_CHECKING:
    from node.attestation_net import AttestationNetwork

log = logging.getLogger(__name__)

MAX_SYNC_ATTESTATIONS = 256
MAX_RESPONSE_BYTES = MAX_SYNC_ATTESTATIONS * 160 + 16
STATUS_BAD_REQUEST = 16
SYNC_RETRY_S = 2.0
SYNC_GIVE_UP_S = 120.0
SYNC_PEERS = 3


def sync_protocol(chain_id: int) -> str:
    return f"/rollup/{chain_id}/attestations-since/1"


def encode_sync_request(since: int, limit: int) -> bytes:
    return pack([since, limit])


def decode_sync_request(data: bytes) -> tuple[int, int]:
    fields = expect_list(unpack(data, 64), 2, "attestation sync request")
    since = expect_int(fields[0], "since")
    limit = expect_int(fields[1], "limit", MAX_SYNC_ATTESTATIONS)
    if limit < 1:
        raise DecodeError("limit must be at least 1")
    if encode_sync_request(since, limit) != data:
        raise DecodeError("attestation sync request is not canonically encoded")
    return since, limit


def decode_sync_response(data: bytes, limit: int) -> list[bytes]:
    items = unpack(data, MAX_RESPONSE_BYTES)
    if not isinstance(items, list) or len(items) > limit:
        raise DecodeError(f"attestation sync response must be a list of at most {limit} messages")
    return [expect_bytes(item, "attestation", max_length=512) for item in items]


class AttestationSync:
    def __init__(self, network: AttestationNetwork) -> None:
        self.network = network
        self.synced_from: list[str] = []
        self.skipped = 0  # messages of the last answer our head could not place yet (future or stale)
        self._task: asyncio.Task[None] | None = None

    # -- server --

    async def serve(self, request: bytes, peer: str) -> bytes:
        try:
            since, limit = decode_sync_request(request)
        except DecodeError as exc:
            raise RequestRejected(STATUS_BAD_REQUEST, str(exc)) from None
        return pack([a.encode() for a in self.network.pool.since(since, limit)])

    # -- client --

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._catch_up(), name="attestation-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _catch_up(self) -> None:
        try:
            await self._catch_up_until_done()
        except Exception as exc:  # noqa: BLE001 - a background helper: the node itself may be closing
            log.debug("attestation sync stopped: %s", exc)

    async def _catch_up_until_done(self) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + SYNC_GIVE_UP_S
        while loop.time() < give_up:
            with contextlib.suppress(P2PError):
                peers = await self.network.node.topic_peers(self.network.topic)
                for peer in peers[:SYNC_PEERS]:
                    if await self.sync_from(peer) is not None and not self.skipped:
                        return  # else our head is behind what peers hold: ask again once it moved
            await asyncio.sleep(SYNC_RETRY_S)

    async def sync_from(self, peer: str, since: int | None = None) -> int | None:
        """Ask `peer` for what it holds from `since` (default: our head - max_behind); the number of new
        attestations taken, or None when the peer failed or answered badly."""
        rules = self.network.rules
        start = since if since is not None else max(0, self.network.head() - rules.max_behind)
        self.skipped = 0
        try:
            raw = await self.network.node.request(
                peer, sync_protocol(rules.chain_id), encode_sync_request(start, MAX_SYNC_ATTESTATIONS)
            )
            messages = decode_sync_response(raw, MAX_SYNC_ATTESTATIONS)
            checked = [a for a in (self._check(m) for m in messages) if a is not None]
        except (P2PError, DecodeError, AttestationRejected) as exc:
            self.network.m_synced.inc(outcome="bad_response")
            log.info("attestation sync from %s failed: %s", peer, exc)
            return None
        new = 0
        for attestation in checked:
            outcome = self.network.keep(attestation, f"sync:{peer}", limited=False)
            self.network.m_synced.inc(outcome=outcome.value)
            self.network.received(attestation, outcome)
            new += outcome.value == "new"
        self.synced_from.append(peer)
        log.info("attestation sync from %s: %d messages, %d new", peer, len(checked), new)
        return new

    def _check(self, message: bytes) -> Attestation | None:
        """Validated as gossip; heights our own head cannot place yet (future/stale) are skipped, not held
        against the peer; any other failure rejects the whole answer."""
        try:
            return validate_attestation(message, self.network.rules, self.network.head())
        except AttestationRejected as exc:
            if exc.reason in ("future", "stale"):
                self.skipped += 1
                return None
            raise
