"""An attestation journal replayed by a devnet revert (node.devnet.inproc.known): known messages are not validated.

The pool an executor or the challenger held at a hold is remembered by the messages' exact bytes;
replaying the snapshot copy's journal then validates only what is not known, and gives the same
pool and evidence as a full replay; a tampered record is still dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node import attestation_net
from node.attestation import sign_attestation
from node.attestation_pool import AttestationJournal, AttestationPool
from node.devnet.inproc.known import KnownMessages, pool_messages
from tests.attestation.test_attestation_persistence import CHAIN, KEY_B, ROOT, fill, network
from tests.support.inproc_p2p import p2p_config as p2p
from tests.support.inproc_p2p import started


async def test_known_attestations_are_replayed_unchecked_and_the_pool_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "attestations.journal"
    async with started(p2p("known-1")) as (node,):
        net = network(node, None, journal)
        await net.start()
        fill(net)
        known: KnownMessages[Any] = KnownMessages(limit=100)
        known.remember(pool_messages(net.pool))
        assert len(known) == 5  # four held (the equivocator's first too) and the evidence's second
        full = [a.encode() for a in net.pool.held()], [(e.first, e.second) for e in net.pool.equivocations()]
        await net.close()
    bad = bytearray(sign_attestation(KEY_B, CHAIN, 40, ROOT).encode())
    bad[10] ^= 1  # the signature no longer recovers the signer
    AttestationJournal(journal).append(bytes(bad))
    validated: list[bytes] = []
    real = attestation_net.validate_attestation

    def counting(data: bytes, *args: Any) -> Any:
        validated.append(data)
        return real(data, *args)

    monkeypatch.setattr(attestation_net, "validate_attestation", counting)
    async with started(p2p("known-2")) as (node,):
        again = network(node, None, journal)
        again.pool = AttestationPool()
        again.replay_journal(known.snapshot())
        assert validated == [bytes(bad)]  # only what was not known (and it is dropped)
        assert [a.encode() for a in again.pool.held()] == full[0]
        assert [(e.first, e.second) for e in again.pool.equivocations()] == full[1]


def test_the_oldest_known_are_forgotten_first() -> None:
    known: KnownMessages[int] = KnownMessages(limit=3)
    known.remember((bytes([n]), n) for n in range(5))
    assert known.snapshot() == {b"\x02": 2, b"\x03": 3, b"\x04": 4}
