"""The attestation record: canonical encoding, signing hash, and every validation rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.attestation import (
    MAX_ATTESTATION_BYTES,
    Attestation,
    AttestationRejected,
    AttestationRules,
    attestation_topic,
    compute_attestation_hash,
    decode_attestation,
    sign_attestation,
    validate_attestation,
)
from node.crypto import PrivateKey
from node.encoding import DecodeError, pack

CHAIN = 901
KEY = PrivateKey(b"\x11" * 32)
OTHER = PrivateKey(b"\x22" * 32)
ROOT = b"\xab" * 32
RULES = AttestationRules(chain_id=CHAIN, output_interval=10)


def reason(data: bytes, rules: AttestationRules = RULES, head: int = 100) -> str:
    with pytest.raises(AttestationRejected) as info:
        validate_attestation(data, rules, head)
    return info.value.reason


@given(
    chain_id=st.integers(0, 2**64 - 1),
    number=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    signer=st.binary(min_size=20, max_size=20),
    signature=st.binary(min_size=65, max_size=65),
)
def test_encoding_round_trips(chain_id: int, number: int, root: bytes, signer: bytes, signature: bytes) -> None:
    record = Attestation(chain_id, number, root, signer, signature)  # type: ignore[arg-type]
    data = record.encode()
    assert len(data) <= MAX_ATTESTATION_BYTES
    assert decode_attestation(data) == record


def test_signing_hash_is_domain_separated_and_binds_every_field() -> None:
    base = compute_attestation_hash(CHAIN, 10, ROOT)
    assert base != compute_attestation_hash(CHAIN + 1, 10, ROOT)
    assert base != compute_attestation_hash(CHAIN, 20, ROOT)
    assert base != compute_attestation_hash(CHAIN, 10, b"\x00" * 32)
    signed = sign_attestation(KEY, CHAIN, 10, ROOT)
    assert signed.signing_hash() == base
    assert signed.recover_signer() == KEY.address
    assert attestation_topic(CHAIN) == "/rollup/901/attestations/1"


def test_a_valid_attestation_is_accepted() -> None:
    signed = sign_attestation(KEY, CHAIN, 100, ROOT)
    assert validate_attestation(signed.encode(), RULES, 100) == signed


def test_too_large() -> None:
    assert reason(b"\x00" * (MAX_ATTESTATION_BYTES + 1)) == "too_large"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc1",
        pack([CHAIN, 10, ROOT]),
        pack([CHAIN, 10, ROOT[:31], b"\x01" * 20, b"\x02" * 65]),
        pack([CHAIN, -1, ROOT, b"\x01" * 20, b"\x02" * 65]),
        pack([CHAIN, 10, ROOT, b"\x01" * 19, b"\x02" * 65]),
        pack(["901", 10, ROOT, b"\x01" * 20, b"\x02" * 65]),
    ],
)
def test_malformed(data: bytes) -> None:
    assert reason(data) == "malformed"


def test_non_canonical_encoding_is_malformed() -> None:
    signed = sign_attestation(KEY, CHAIN, 10, ROOT)
    data = signed.encode()
    # the chain id 901 as a uint32 (0xce) instead of the shortest uint16 (0xcd)
    assert data[1:4] == b"\xcd\x03\x85"
    longer = data[:1] + b"\xce\x00\x00\x03\x85" + data[4:]
    with pytest.raises(DecodeError):
        decode_attestation(longer)
    assert reason(longer) == "malformed"


def test_wrong_chain() -> None:
    assert reason(sign_attestation(KEY, CHAIN + 1, 10, ROOT).encode()) == "wrong_chain"


def test_signature_must_recover_the_signer() -> None:
    signed = sign_attestation(KEY, CHAIN, 10, ROOT)
    forged = Attestation(CHAIN, 10, ROOT, OTHER.address, signed.signature)
    assert reason(forged.encode()) == "bad_signature"
    garbage = Attestation(CHAIN, 10, ROOT, KEY.address, b"\xff" * 65)
    assert reason(garbage.encode()) == "bad_signature"
    moved = Attestation(CHAIN, 20, ROOT, KEY.address, signed.signature)  # replayed at another height
    assert reason(moved.encode()) == "bad_signature"


def test_attester_set() -> None:
    only_key = AttestationRules(CHAIN, 10, attesters=frozenset({bytes(KEY.address)}))
    assert reason(sign_attestation(OTHER, CHAIN, 10, ROOT).encode(), only_key) == "unknown_signer"
    assert validate_attestation(sign_attestation(KEY, CHAIN, 10, ROOT).encode(), only_key, 10).signer == KEY.address
    # an empty set accepts any signer
    assert validate_attestation(sign_attestation(OTHER, CHAIN, 10, ROOT).encode(), RULES, 10).signer == OTHER.address


@pytest.mark.parametrize("number", [0, 5, 11, 99])
def test_not_output_height(number: int) -> None:
    assert reason(sign_attestation(KEY, CHAIN, number, ROOT).encode()) == "not_output_height"


def test_height_bounds() -> None:
    rules = AttestationRules(CHAIN, 10, max_ahead=20, max_behind=50)
    assert validate_attestation(sign_attestation(KEY, CHAIN, 120, ROOT).encode(), rules, 100)
    assert reason(sign_attestation(KEY, CHAIN, 130, ROOT).encode(), rules, 100) == "future"
    assert validate_attestation(sign_attestation(KEY, CHAIN, 50, ROOT).encode(), rules, 100)
    assert reason(sign_attestation(KEY, CHAIN, 40, ROOT).encode(), rules, 100) == "stale"


def test_rules_reject_nonsense() -> None:
    with pytest.raises(ValueError):
        AttestationRules(CHAIN, 0)
    with pytest.raises(ValueError):
        AttestationRules(CHAIN, 10, max_ahead=-1)
    with pytest.raises(ValueError):
        sign_attestation(KEY, CHAIN, 10, b"\x00" * 31)
