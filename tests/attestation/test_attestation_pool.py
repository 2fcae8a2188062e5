"""The attestation pool: one per (signer, height), equivocation evidence, rate limits, tallies."""

from __future__ import annotations

from node.attestation import sign_attestation
from node.attestation_pool import AttestationPool, Outcome, PoolLimits, TokenBucket
from node.crypto import PrivateKey

CHAIN = 901
A = PrivateKey(b"\x11" * 32)
B = PrivateKey(b"\x22" * 32)
C = PrivateKey(b"\x33" * 32)
R1 = b"\x01" * 32
R2 = b"\x02" * 32


def test_new_then_duplicate() -> None:
    pool = AttestationPool()
    att = sign_attestation(A, CHAIN, 10, R1)
    assert pool.add(att, "peer-a", 0.0) is Outcome.NEW
    assert pool.add(att, "peer-b", 0.0) is Outcome.DUPLICATE
    assert pool.at(10) == [att]
    assert pool.at(20) == []


def test_equivocation_is_kept_and_later_attestations_ignored() -> None:
    pool = AttestationPool()
    first = sign_attestation(A, CHAIN, 10, R1)
    second = sign_attestation(A, CHAIN, 10, R2)
    assert pool.add(first, "p", 0.0) is Outcome.NEW
    assert pool.add(second, "p", 0.0) is Outcome.EQUIVOCATION
    [evidence] = pool.equivocations()
    assert (evidence.signer, evidence.first, evidence.second) == (bytes(A.address), first, second)
    assert pool.add(sign_attestation(A, CHAIN, 20, R1), "p", 0.0) is Outcome.EQUIVOCATOR
    assert pool.add(first, "p", 0.0) is Outcome.EQUIVOCATOR
    assert pool.at(10) == []  # an equivocator's attestations no longer count
    assert pool.at(20) == []


def test_tally_splits_by_root_and_trust() -> None:
    pool = AttestationPool()
    a, b, c = (sign_attestation(k, CHAIN, 30, r) for k, r in ((A, R1), (B, R1), (C, R2)))
    for att in (a, b, c):
        pool.add(att, "p" + att.signer.hex(), 0.0)
    tally = pool.tally(30, R1)
    assert set(tally.agree) == {a, b} and tally.disagree == (c,)
    trusted = pool.tally(30, R2, trusted=[bytes(A.address)])
    assert trusted.agree == () and trusted.disagree == (a,)


def test_rate_limit_per_signer_and_per_peer() -> None:
    pool = AttestationPool(PoolLimits(burst=3, per_second=1.0))
    outcomes = [pool.add(sign_attestation(A, CHAIN, 10 * i, R1), "peer", 0.0) for i in range(1, 6)]
    assert outcomes == [Outcome.NEW] * 3 + [Outcome.RATE_LIMITED] * 2
    assert pool.add(sign_attestation(A, CHAIN, 60, R1), "peer", 1.0) is Outcome.NEW  # one token refilled
    # the same peer relaying as originator for another signer: its bucket is empty too
    assert pool.add(sign_attestation(B, CHAIN, 10, R1), "peer", 1.0) is Outcome.RATE_LIMITED
    assert pool.add(sign_attestation(B, CHAIN, 10, R1), "other", 1.0) is Outcome.NEW
    # our own attestations are never rate limited
    assert all(pool.add(sign_attestation(C, CHAIN, 10 * i, R1), "self", 0.0) is Outcome.NEW for i in range(1, 10))


def test_old_heights_are_pruned() -> None:
    pool = AttestationPool(PoolLimits(keep_heights=20))
    for n in (10, 20, 30, 40):
        pool.add(sign_attestation(A, CHAIN, n, R1), "self", 0.0)
    assert pool.heights() == [20, 30, 40]


def test_token_bucket() -> None:
    bucket = TokenBucket(capacity=2, rate=0.5)
    assert bucket.take(0.0) and bucket.take(0.0) and not bucket.take(0.0)
    assert not bucket.take(1.0)
    assert bucket.take(2.0)
