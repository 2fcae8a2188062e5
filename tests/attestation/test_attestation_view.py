"""Comparing a proposal with the attestations several nodes report."""

from __future__ import annotations

import pytest

from node.attestation import sign_attestation
from node.attestation_net import attestations_report
from node.attestation_pool import AttestationPool
from node.attestation_view import compare_attestations
from node.crypto import PrivateKey

A, B, C = (PrivateKey(bytes([i]) * 32) for i in (1, 2, 3))
GOOD, BAD = b"\x01" * 32, b"\x02" * 32


def report(*signed: tuple[PrivateKey, bytes]) -> dict[str, object]:
    pool = AttestationPool()
    for key, root in signed:
        pool.add(sign_attestation(key, 901, 10, root), "self", 0.0)
    return attestations_report(pool, 10, None)


def test_a_wrong_proposal_is_contradicted() -> None:
    view = compare_attestations(10, BAD, [report((A, GOOD), (B, GOOD)), report((A, GOOD), (C, BAD))])
    assert len(view.same) == 1 and len(view.other) == 2 and view.contradicted
    assert view.cell() == "1/2!"
    assert view.to_json()["other"][0]["outputRoot"] == "0x" + GOOD.hex()


def test_an_agreed_proposal_is_not_contradicted() -> None:
    view = compare_attestations(10, GOOD, [report((A, GOOD), (B, GOOD))])
    assert view.cell() == "2/0" and not view.contradicted
    assert compare_attestations(10, GOOD, []).cell() == "0/0"


def test_a_signer_seen_with_two_roots_counts_for_neither_side() -> None:
    view = compare_attestations(10, GOOD, [report((A, GOOD)), report((A, BAD), (B, GOOD))])
    assert view.equivocators == ("0x" + A.address.hex(),)
    assert view.same == ("0x" + B.address.hex(),) and view.other == ()


@pytest.mark.parametrize("bad", [{}, {"attestations": [{"signer": "0x1"}]}, {"attestations": 5}])
def test_malformed_reports_raise(bad: dict[str, object]) -> None:
    with pytest.raises((KeyError, TypeError, ValueError)):
        compare_attestations(10, GOOD, [bad])
