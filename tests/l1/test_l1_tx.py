"""L1 transaction codec: round trips, signatures, and rejection of bad encodings."""

from __future__ import annotations

import pytest

from l1.chain.tx import (
    L1_TX_SIGNING_DOMAIN,
    MAX_FORCED_TX_BYTES,
    MAX_L1_TX_BYTES,
    L1Tx,
    UnknownKindError,
    decode_l1_tx,
    recover_l1_tx,
    sign_l1_tx,
)
from l1.contracts.payloads import PAYLOADS, Deposit, ForceTx, L1Transfer, PostBatch, ProposeOutput
from node.crypto import CryptoError, keccak256
from node.encoding import DecodeError, encode_uint, pack, unpack
from node.envelope import SignedEnvelope
from node.keys.hd import dev_account
from node.tx import TX_SIGNING_DOMAIN, SignedTx, Transfer, decode_tx, sign_tx

KEY = dev_account(0)
OTHER = dev_account(1)
CHAIN = 900

CASES = [
    (L1Transfer(OTHER.address), 5),
    (PostBatch(b"\x01batch-bytes"), 0),
    (Deposit(OTHER.address), 10**18),
    (ForceTx(b"\x93\x01\x02\x03"), 0),
    (ProposeOutput(42, keccak256(b"root")), 10**18),
]


@pytest.mark.parametrize("payload,value", CASES, ids=lambda p: getattr(p, "NAME", str(p)))
def test_round_trip_and_recovery(payload: object, value: int) -> None:
    tx = sign_l1_tx(KEY, CHAIN, 7, 1000, value, payload)
    raw = tx.encode()
    assert decode_l1_tx(raw, PAYLOADS) == tx
    rtx = recover_l1_tx(raw, PAYLOADS)
    assert rtx.sender == KEY.address
    assert rtx.hash == keccak256(raw) == tx.hash()
    assert rtx.tx.kind == payload.KIND  # type: ignore[attr-defined]


def test_signing_hash_uses_the_l1_domain() -> None:
    tx = sign_l1_tx(KEY, CHAIN, 0, 1, 2, L1Transfer(OTHER.address))
    assert tx.signing_hash() == keccak256(L1_TX_SIGNING_DOMAIN + pack(tx.unsigned_fields()))


def test_l2_transaction_is_not_an_l1_transaction() -> None:
    l2 = sign_tx(KEY, CHAIN, 0, 1, Transfer(OTHER.address, 5)).encode()
    with pytest.raises(DecodeError):
        decode_l1_tx(l2, PAYLOADS)


def test_signature_over_other_fields_recovers_another_sender() -> None:
    tx = sign_l1_tx(KEY, CHAIN, 0, 1, 2, L1Transfer(OTHER.address))
    fields = unpack(tx.encode())
    fields[4] = encode_uint(3)  # change the value, keep the signature
    assert recover_l1_tx(pack(fields), PAYLOADS).sender != KEY.address


def test_bad_signature_bytes_rejected() -> None:
    tx = sign_l1_tx(KEY, CHAIN, 0, 1, 2, L1Transfer(OTHER.address))
    fields = unpack(tx.encode())
    fields[-1] = fields[-1][:64] + b"\x05"  # recovery id out of range
    with pytest.raises(CryptoError):
        recover_l1_tx(pack(fields), PAYLOADS)


def _fields(payload: object = L1Transfer(OTHER.address), value: int = 1) -> list:
    return unpack(sign_l1_tx(KEY, CHAIN, 0, 1, value, payload).encode())


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda f: f[:-1] + [b"x"] + f[-1:], "fields"),
        (lambda f: f[:-2] + f[-1:], "fields"),
        (lambda f: [f[0], f[1], f[2], 1, *f[4:]], "fee"),
        (lambda f: [*f[:4], b"\x00\x01", *f[5:]], "leading zero"),
        (lambda f: [*f[:5], b"\x01" * 19, f[-1]], "to"),
        (lambda f: [*f[:-1], f[-1][:64]], "signature"),
        (lambda f: [-1, *f[1:]], "kind"),
        (lambda f: [*f[:1], "900", *f[2:]], "chain_id"),
    ],
)
def test_malformed_fields_rejected(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeError, match=message):
        decode_l1_tx(pack(mutate(_fields())), PAYLOADS)


def test_unknown_kind_rejected() -> None:
    fields = _fields()
    fields[0] = 99  # kinds 1-11 are taken (6-11: l1.contracts.payloads)
    with pytest.raises(UnknownKindError):
        decode_l1_tx(pack(fields), PAYLOADS)


def test_non_canonical_and_trailing_bytes_rejected() -> None:
    raw = sign_l1_tx(KEY, CHAIN, 0, 1, 1, L1Transfer(OTHER.address)).encode()
    with pytest.raises(DecodeError, match="trailing"):
        decode_l1_tx(raw + b"\x00", PAYLOADS)
    # nonce 0 as a uint16 instead of a positive fixint: valid msgpack, not canonical
    assert raw[:6] == b"\x97\x01\xcd\x03\x84\x00"  # [kind 1, chain 900, nonce 0, ...
    non_canonical = raw[:5] + b"\xcd\x00\x00" + raw[6:]
    with pytest.raises(DecodeError):
        decode_l1_tx(non_canonical, PAYLOADS)
    with pytest.raises(DecodeError):
        decode_l1_tx(pack({"kind": 1}), PAYLOADS)


def test_no_value_kinds_reject_value() -> None:
    fields = _fields(PostBatch(b"x"), 0)
    fields[4] = encode_uint(1)
    with pytest.raises(DecodeError, match="value 0"):
        decode_l1_tx(pack(fields), PAYLOADS)
    with pytest.raises(DecodeError, match="value 0"):
        sign_l1_tx(KEY, CHAIN, 0, 1, 1, ForceTx(b"x"))


def test_oversize_rejected() -> None:
    with pytest.raises(DecodeError, match="l2_tx"):
        decode_l1_tx(sign_l1_tx(KEY, CHAIN, 0, 1, 0, ForceTx(b"x" * (MAX_FORCED_TX_BYTES + 1))).encode(), PAYLOADS)
    decode_l1_tx(sign_l1_tx(KEY, CHAIN, 0, 1, 0, ForceTx(b"x" * MAX_FORCED_TX_BYTES)).encode(), PAYLOADS)
    big = sign_l1_tx(KEY, CHAIN, 0, 1, 0, PostBatch(b"x" * MAX_L1_TX_BYTES)).encode()
    with pytest.raises(DecodeError, match="limit"):
        decode_l1_tx(big, PAYLOADS)


def test_output_root_must_be_32_bytes() -> None:
    fields = _fields(ProposeOutput(1, keccak256(b"r")), 10)
    fields[6] = b"\x01" * 31
    with pytest.raises(DecodeError, match="output_root"):
        decode_l1_tx(pack(fields), PAYLOADS)


def test_both_chains_sign_one_envelope() -> None:
    """L1Tx and SignedTx are the same envelope with two formats: a value field and a domain."""
    l1 = sign_l1_tx(KEY, CHAIN, 4, 9, 0, L1Transfer(OTHER.address))
    l2 = sign_tx(KEY, CHAIN, 4, 9, Transfer(OTHER.address, 5))
    assert isinstance(l1, SignedEnvelope) and isinstance(l2, SignedEnvelope)
    assert not isinstance(l1, SignedTx) and not isinstance(l2, L1Tx)
    assert l1.unsigned_fields()[:5] == [1, CHAIN, 4, encode_uint(9), encode_uint(0)]
    assert l2.unsigned_fields()[:4] == [1, CHAIN, 4, encode_uint(9)] and len(l2.unsigned_fields()) == 6
    assert l2.signing_hash() == keccak256(TX_SIGNING_DOMAIN + pack(l2.unsigned_fields()))
    assert l1.recover_sender() == l2.recover_sender() == KEY.address
    assert decode_tx(l2.encode()) == l2


def test_an_l2_transaction_carries_no_value() -> None:
    with pytest.raises(ValueError, match="carries no value"):
        SignedTx(CHAIN, 0, 1, Transfer(OTHER.address, 5), b"\x00" * 65, 7)
