"""Peer liveness (node.p2p.peering): a peer that stops answering is dropped, and reconnected when it is back.

A frozen process (SIGSTOP) keeps its TCP connections open, like a host whose
link went down: nothing tells the other side it is gone. Our node pings it,
closes its connection after the ping timeout, and keeps gossiping to the
peers that are alive; after SIGCONT the frozen peer's reconnect loop dials us
again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from node.p2p import P2PConfig, P2PNode, derive_seed
from tests.support.p2p_peer import PeerProcess, make_payload

TOPIC = "/test/liveness/1"
DROP_WITHIN_S = 20.0  # ping interval 2 s + timeout 5 s, with room for a loaded machine


async def wait_until(predicate: object, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.slow
async def test_a_frozen_peer_is_dropped_and_reconnected_and_gossip_goes_on_meanwhile() -> None:
    async with P2PNode(P2PConfig(seed=derive_seed("liveness hub"))) as hub:
        frozen = PeerProcess(
            "--seed", "liveness frozen", "--bootstrap", hub.listen_addr, "--topic", TOPIC, name="frozen"
        )
        alive = PeerProcess("--seed", "liveness alive", "--bootstrap", hub.listen_addr, "--topic", TOPIC, name="alive")
        try:
            frozen_id = frozen.wait_ready()["peer_id"]
            alive_id = alive.wait_ready()["peer_id"]
            await wait_until(lambda: {frozen_id, alive_id} <= set(hub.peers()), 30, "both peers connected")
            await hub.wait_for_topic_peers(TOPIC, 2, timeout=30)
            os.kill(frozen.proc.pid, signal.SIGSTOP)
            try:
                sequence = 0
                started = time.monotonic()
                while frozen_id in hub.peers():  # 64 KiB messages fill the frozen peer's socket buffers
                    sequence += 1
                    await hub.publish(TOPIC, make_payload(sequence, 64 * 1024))
                    await asyncio.sleep(0.05)
                    if time.monotonic() - started > DROP_WITHIN_S:
                        raise AssertionError(f"the frozen peer was not dropped within {DROP_WITHIN_S} s")
                dropped_after = time.monotonic() - started
                assert alive_id in hub.peers()
                first_after_drop = sequence + 1
                for _ in range(5):
                    sequence += 1
                    await hub.publish(TOPIC, make_payload(sequence, 64 * 1024))
                alive.wait_until(
                    lambda: any((m.get("seq") or 0) >= first_after_drop for m in alive.received(TOPIC)),
                    15,
                    "a message published after the frozen peer was dropped",
                )
            finally:
                os.kill(frozen.proc.pid, signal.SIGCONT)
            back_after = await wait_until(lambda: frozen_id in hub.peers(), 30, "the frozen peer to reconnect")
            print(f"frozen peer dropped after {dropped_after:.1f} s, back {back_after:.1f} s after SIGCONT")
        finally:
            frozen.stop()
            alive.stop()


def test_a_peer_that_declines_the_ping_protocol_counts_as_alive() -> None:
    from libp2p.host.exceptions import StreamFailure
    from libp2p.protocol_muxer.exceptions import MultiselectClientError, ProtocolNotSupportedError

    from node.p2p.peering import refused_protocol

    declined = StreamFailure("failed to open a stream")
    declined.__cause__ = ProtocolNotSupportedError("protocol not supported: /ipfs/ping/1.0.0")
    assert refused_protocol(declined)
    worded = StreamFailure("failed to open a stream")
    worded.__cause__ = MultiselectClientError("protocol not supported")
    assert refused_protocol(worded)
    dead = StreamFailure("failed to open a stream")
    dead.__cause__ = MultiselectClientError("handshake read failed: connection closed")
    assert not refused_protocol(dead)
    assert not refused_protocol(TimeoutError())
