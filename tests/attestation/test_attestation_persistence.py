"""Attestations kept across restarts (the journal) and re-synced to a late joiner (node.attestation_sync).

Real in-process p2p nodes: a restarted network has its pool and the
equivocation evidence back; a torn or tampered journal record is dropped; a
node that joins after the attestations were gossiped gets them (and the
evidence) by range sync; malformed sync requests are refused with a status
and the server keeps serving; a peer answering garbage counts as a bad
response; the `journal` config key is checked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node.attestation import sign_attestation
from node.attestation_net import AttestationNetwork, AttestationSection, load_attestation_section
from node.attestation_pool import AttestationJournal, Outcome
from node.attestation_sync import encode_sync_request, sync_protocol
from node.crypto import PrivateKey
from node.encoding import pack
from node.p2p import P2PNode, RemoteError
from node.rpc.metrics import Metrics
from node.service import ConfigError
from tests.support.inproc_p2p import eventually, started
from tests.support.inproc_p2p import p2p_config as p2p

CHAIN = 901
KEY_A, KEY_B, KEY_X = (PrivateKey(bytes([i]) * 32) for i in (0x0A, 0x0B, 0x0C))
ROOT, OTHER = b"\x42" * 32, b"\x43" * 32


def network(node: P2PNode, key: PrivateKey | None, journal: Path | None = None) -> AttestationNetwork:
    return AttestationNetwork(
        node, AttestationSection(key, 10, frozenset()), CHAIN, lambda: 100, Metrics(), journal=journal
    )


def fill(net: AttestationNetwork) -> None:
    """Two signers at 10 and 20, and KEY_X equivocating at 20."""
    for key, height in ((KEY_A, 10), (KEY_B, 10), (KEY_A, 20), (KEY_X, 20)):
        assert net.keep(sign_attestation(key, CHAIN, height, ROOT), "peer") is Outcome.NEW
    assert net.keep(sign_attestation(KEY_X, CHAIN, 20, OTHER), "peer") is Outcome.EQUIVOCATION


async def test_a_restart_keeps_the_pool_and_the_evidence(tmp_path: Path) -> None:
    journal = tmp_path / "attestations.journal"
    async with started(p2p("persist-1")) as (node,):
        net = network(node, KEY_A, journal)
        await net.start()
        fill(net)
        await net.attest(30, ROOT)  # our own, journaled too
        await net.close()
    with journal.open("ab") as f:
        f.write(b"\x00\x80" + b"\x01" * 10)  # a record torn by a crash
    async with started(p2p("persist-2")) as (node,):
        again = network(node, KEY_A, journal)
        await again.start()
        assert {bytes(a.signer) for a in again.pool.at(10)} == {bytes(KEY_A.address), bytes(KEY_B.address)}
        assert [bytes(a.signer) for a in again.pool.at(20)] == [bytes(KEY_A.address)]  # the equivocator is out
        (evidence,) = again.pool.equivocations()
        assert evidence.signer == bytes(KEY_X.address) and {
            evidence.first.output_root,
            evidence.second.output_root,
        } == {
            ROOT,
            OTHER,
        }
        assert [a.output_root for a in again.pool.at(30)] == [ROOT]
        assert await again.attest(30, ROOT) is None  # already held: not signed and gossiped twice
        await again.close()
    assert len(AttestationJournal(journal).read()) == 6  # compacted: the torn record is gone


async def test_a_tampered_journal_record_is_dropped(tmp_path: Path) -> None:
    journal = AttestationJournal(tmp_path / "j")
    good = sign_attestation(KEY_A, CHAIN, 10, ROOT).encode()
    bad = bytearray(sign_attestation(KEY_B, CHAIN, 20, ROOT).encode())
    bad[10] ^= 1  # inside the root: the signature no longer recovers the signer
    journal.rewrite([good, bytes(bad)])
    async with started(p2p("persist-3")) as (node,):
        net = network(node, None, journal.path)
        await net.start()
        assert net.pool.heights() == [10]
        await net.close()


async def test_a_late_joiner_gets_the_attestations_and_the_evidence_by_sync() -> None:
    async with started(p2p("sync-old")) as (old,):
        served = network(old, KEY_A)
        await served.start()
        fill(served)
        async with started(p2p("sync-late", bootstrap=(old.listen_addr,))) as (late,):
            joiner = network(late, KEY_B)
            await joiner.start()  # its background sync asks the first peer on the topic
            await eventually(lambda: len(joiner.pool.at(10)) == 2 and joiner.pool.equivocations() != [])
            assert [bytes(a.signer) for a in joiner.pool.at(20)] == [bytes(KEY_A.address)]
            assert joiner.m_synced.value(outcome="new") >= 4
            assert joiner.sync.synced_from == [old.peer_id]
            # malformed requests: refused with a status, and the server keeps serving
            for request in (b"", b"\x93garbage", pack([0, 0]), pack([0, 10**6]), pack(["x", 1])):
                with pytest.raises(RemoteError):
                    await late.request(old.peer_id, sync_protocol(CHAIN), request)
            answer = await late.request(old.peer_id, sync_protocol(CHAIN), encode_sync_request(20, 256))
            assert answer and await joiner.sync.sync_from(old.peer_id, since=20) == 0  # all held already
            await joiner.close()
        await served.close()


async def test_a_garbage_answer_counts_as_a_bad_response() -> None:
    async with started(p2p("sync-liar")) as (liar,):

        async def lie(request: bytes, peer: str) -> bytes:
            return pack([b"\x93garbage"])

        liar.register_handler(sync_protocol(CHAIN), lie)
        async with started(p2p("sync-victim", bootstrap=(liar.listen_addr,))) as (victim,):
            net = network(victim, None)
            await net.start()
            await eventually(lambda: liar.peer_id in victim.peers())
            assert await net.sync.sync_from(liar.peer_id) is None
            assert net.m_synced.value(outcome="bad_response") >= 1
            assert net.pool.heights() == []
            await net.close()


def test_journal_config_key() -> None:
    section = load_attestation_section({"attestation": {"journal": "/var/lib/att.journal"}})
    assert section is not None and section.journal == Path("/var/lib/att.journal")
    for bad in (3, "", ["a"]):
        with pytest.raises(ConfigError, match="journal"):
            load_attestation_section({"attestation": {"journal": bad}})
