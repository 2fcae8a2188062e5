"""Sender recovery hashes the signing preimage read off the raw bytes: the same hash, the same rejections.

node.tx.compute_signing_hash_of_raw slices the unsigned fields' encoding out
of the canonical transaction bytes instead of re-encoding the decoded
payload. These tests hold it to the re-encoding (`SignedTx.signing_hash`) on
random transactions of every kind it takes, check that other kinds still
re-encode, and that non-canonical bytes are still rejected before any hash.
"""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.crypto import Address, PrivateKey
from node.encoding import UINT64_MAX, UINT256_MAX, DecodeError, pack
from node.stf import BadSignature, MalformedTransaction, recover_transaction
from node.tx import (
    RAW_PREIMAGE_PAYLOADS,
    SignedTx,
    Transfer,
    Withdrawal,
    compute_signing_hash_of_raw,
    decode_tx,
    recover,
    sign_tx,
)
from node.venue.payloads import ORDER_IOC, SIDE_BUY, PlaceOrder

KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(3)]

addresses = st.binary(min_size=20, max_size=20).map(Address)
amounts = st.one_of(st.integers(0, 300), st.integers(0, UINT256_MAX))
uint64s = st.one_of(st.integers(0, 300), st.integers(0, UINT64_MAX))
payloads = st.one_of(st.builds(Transfer, addresses, amounts), st.builds(Withdrawal, addresses, amounts))


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(KEYS), chain_id=uint64s, nonce=uint64s, fee=amounts, payload=payloads)
def test_the_raw_preimage_hashes_as_the_reencoded_fields(
    key: PrivateKey, chain_id: int, nonce: int, fee: int, payload: Transfer | Withdrawal
) -> None:
    tx = sign_tx(key, chain_id, nonce, fee, payload)
    raw = tx.encode()
    decoded = decode_tx(raw)
    assert isinstance(decoded, SignedTx)
    assert compute_signing_hash_of_raw(decoded, raw) == decoded.signing_hash() == tx.signing_hash()
    assert recover(raw).sender == key.address


def test_a_kind_outside_the_raw_set_re_encodes() -> None:
    order = PlaceOrder(0, SIDE_BUY, 10, 1000, ORDER_IOC)
    assert type(order) not in RAW_PREIMAGE_PAYLOADS
    tx = sign_tx(KEYS[0], 901, 0, 10**12, order)
    raw = tx.encode()
    decoded = decode_tx(raw)
    assert isinstance(decoded, SignedTx)
    assert compute_signing_hash_of_raw(decoded, raw) == tx.signing_hash()
    assert recover(raw).sender == KEYS[0].address


def test_a_signature_over_other_bytes_recovers_another_sender() -> None:
    tx = sign_tx(KEYS[0], 901, 5, 10**12, Transfer(Address(bytes(20)), 7))
    other = SignedTx(901, 6, 10**12, tx.payload, tx.signature)  # same signature, another nonce
    rtx = recover_transaction(other.encode())
    assert rtx.sender != KEYS[0].address


def test_non_canonical_bytes_are_still_rejected_before_hashing() -> None:
    tx = sign_tx(KEYS[0], 901, 5, 10**12, Transfer(Address(bytes(20)), 7))
    fields = [*tx.unsigned_fields(), tx.signature]
    canonical = pack(fields)
    array16 = b"\xdc" + len(fields).to_bytes(2, "big") + canonical[1:]  # same fields, a wider array header
    wide_nonce = canonical.replace(b"\x05", b"\xcc\x05", 1)  # nonce 5 as uint8 instead of a fixint
    assert msgpack.unpackb(array16) == msgpack.unpackb(canonical) == msgpack.unpackb(wide_nonce)
    for raw in (array16, wide_nonce, canonical + b"\x00"):
        with pytest.raises(DecodeError):
            decode_tx(raw)
        with pytest.raises(MalformedTransaction):
            recover_transaction(raw)


def test_a_signature_that_does_not_parse_or_recover_is_a_bad_signature() -> None:
    tx = sign_tx(KEYS[0], 901, 5, 10**12, Transfer(Address(bytes(20)), 7))
    unparsable = b"\xff" * 32 + tx.signature[32:]  # r above the group order
    unrecoverable = bytes(32) + tx.signature[32:]  # r = 0
    for signature, text in ((unparsable, "Failed to parse"), (unrecoverable, "failed to recover")):
        raw = SignedTx(901, 5, 10**12, tx.payload, signature).encode()
        with pytest.raises(BadSignature, match=text):
            recover_transaction(raw)
