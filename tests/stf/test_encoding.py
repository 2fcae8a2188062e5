"""Canonical msgpack: round trips, and rejection of every other encoding of a value."""

from __future__ import annotations

from typing import Any

import pytest
import sha3
from Crypto.Hash import keccak as pycryptodome_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from node.block import Block, BlockHeader, decode_block
from node.crypto import keccak256
from node.encoding import UINT64_MAX, UINT256_MAX, DecodeError, decode_uint, encode_uint, pack, unpack
from node.state.schema import (
    Account,
    WithdrawalRecord,
    decode_account,
    decode_supply,
    decode_withdrawal,
    encode_account,
    encode_withdrawal,
)
from node.stf import MalformedTransaction, UnknownKind, recover_transaction
from node.tx import BalanceOverrideTx, DepositTx, SignedTx, Transfer, UnknownKindError, Withdrawal, decode_tx

addresses = st.binary(min_size=20, max_size=20)
hashes = st.binary(min_size=32, max_size=32)
signatures = st.binary(min_size=65, max_size=65)
uint64s = st.integers(0, UINT64_MAX)
amounts = st.one_of(st.integers(0, 2**64), st.integers(0, UINT256_MAX))

transfers = st.builds(Transfer, addresses, amounts)
withdrawals = st.builds(Withdrawal, addresses, amounts)
signed_txs = st.builds(SignedTx, uint64s, uint64s, amounts, st.one_of(transfers, withdrawals), signatures)
deposits = st.builds(DepositTx, uint64s, uint64s, addresses, addresses, amounts)
overrides = st.builds(BalanceOverrideTx, uint64s, uint64s, addresses, addresses, amounts)
headers = st.builds(BlockHeader, uint64s, hashes, uint64s, uint64s, hashes, hashes, hashes)
blocks = st.builds(
    Block,
    headers,
    st.lists(st.one_of(signed_txs, deposits, overrides).map(lambda tx: tx.encode()), max_size=5).map(tuple),
)

ADDRESS = b"\xaa" * 20
SIGNATURE = b"\x01" * 65


def transfer_fields(**changes: Any) -> list[Any]:
    """[kind, chain_id, nonce, fee, to, amount, signature] of a transfer, with fields replaced."""
    fields = {
        "kind": 1,
        "chain_id": 5,
        "nonce": 7,
        "fee": b"\x0a",
        "to": ADDRESS,
        "amount": b"\x01\x00",
        "sig": SIGNATURE,
    }
    fields.update(changes)
    return list(fields.values())


# -- round trips --


@given(signed_txs)
def test_signed_tx_round_trip(tx: SignedTx) -> None:
    raw = tx.encode()
    assert decode_tx(raw) == tx
    assert decode_tx(raw).encode() == raw


@given(deposits)
def test_deposit_round_trip(tx: DepositTx) -> None:
    assert decode_tx(tx.encode()) == tx


@given(overrides)
def test_balance_override_round_trip(tx: BalanceOverrideTx) -> None:
    raw = tx.encode()
    assert type(decode_tx(raw)) is BalanceOverrideTx and decode_tx(raw) == tx and decode_tx(raw).encode() == raw


@settings(max_examples=50)
@given(blocks)
def test_block_round_trip(block: Block) -> None:
    assert decode_block(block.encode()) == block


@given(amounts)
def test_amount_round_trip(value: int) -> None:
    assert decode_uint(encode_uint(value)) == value


@given(st.integers(0, UINT256_MAX), uint64s)
def test_account_round_trip(balance: int, nonce: int) -> None:
    account = Account(balance, nonce)
    if account.is_empty():
        with pytest.raises(ValueError):
            encode_account(account)
    else:
        assert decode_account(encode_account(account)) == account


@given(addresses, addresses, st.integers(0, UINT256_MAX), uint64s)
def test_withdrawal_record_round_trip(sender: bytes, recipient: bytes, amount: int, number: int) -> None:
    record = WithdrawalRecord(sender, recipient, amount, number)  # type: ignore[arg-type]
    assert decode_withdrawal(encode_withdrawal(record)) == record


def test_hand_built_transfer_is_canonical() -> None:
    """The baseline the rejection tests below alter one byte pattern of."""
    tx = decode_tx(pack(transfer_fields()))
    assert isinstance(tx, SignedTx) and tx.payload == Transfer(ADDRESS, 256)  # type: ignore[arg-type]
    by_hand = b"\x97\x01\x05\x07" + pack(b"\x0a") + pack(ADDRESS) + pack(b"\x01\x00") + pack(SIGNATURE)
    assert by_hand == pack(transfer_fields())


# -- rejections --


def test_trailing_bytes_are_rejected() -> None:
    with pytest.raises(DecodeError, match="trailing"):
        decode_tx(pack(transfer_fields()) + b"\x00")


def test_int_in_a_wider_format_than_needed_is_rejected() -> None:
    chain_id_as_uint16 = (
        b"\x97\x01\xcd\x00\x05\x07" + pack(b"\x0a") + pack(ADDRESS) + pack(b"\x01\x00") + pack(SIGNATURE)
    )
    with pytest.raises(DecodeError, match="non-canonical"):
        decode_tx(chain_id_as_uint16)


def test_bytes_in_a_wider_format_than_needed_is_rejected() -> None:
    address_as_bin16 = (
        b"\x97\x01\x05\x07" + pack(b"\x0a") + b"\xc5\x00\x14" + ADDRESS + pack(b"\x01\x00") + pack(SIGNATURE)
    )
    with pytest.raises(DecodeError, match="non-canonical"):
        decode_tx(address_as_bin16)


def test_array_in_a_wider_format_than_needed_is_rejected() -> None:
    as_array16 = b"\xdc\x00\x07" + pack(transfer_fields())[1:]
    with pytest.raises(DecodeError, match="non-canonical"):
        decode_tx(as_array16)


def test_amount_with_leading_zero_is_rejected() -> None:
    with pytest.raises(DecodeError, match="leading zero"):
        decode_tx(pack(transfer_fields(amount=b"\x00\x05")))
    with pytest.raises(DecodeError, match="leading zero"):
        decode_tx(pack(transfer_fields(fee=b"\x00")))


def test_amount_above_uint256_is_rejected() -> None:
    assert decode_uint(b"\xff" * 32) == UINT256_MAX
    with pytest.raises(DecodeError, match="exceeds"):
        decode_tx(pack(transfer_fields(amount=b"\x01" + bytes(32))))
    with pytest.raises(ValueError):
        encode_uint(UINT256_MAX + 1)


def test_map_instead_of_array_is_rejected() -> None:
    with pytest.raises(DecodeError):
        decode_tx(pack({"kind": 1, "chain_id": 5, "nonce": 7}))
    with pytest.raises(DecodeError):
        decode_account(pack({"balance": b"\x01", "nonce": 0}))


def test_wrong_signature_length_is_rejected() -> None:
    with pytest.raises(DecodeError, match="signature"):
        decode_tx(pack(transfer_fields(sig=SIGNATURE[:64])))
    with pytest.raises(DecodeError, match="signature"):
        decode_tx(pack(transfer_fields(sig=SIGNATURE + b"\x00")))


def test_unknown_kind_is_rejected() -> None:
    raw = pack(transfer_fields(kind=99))
    with pytest.raises(UnknownKindError):
        decode_tx(raw)
    with pytest.raises(UnknownKind):
        recover_transaction(raw)


@pytest.mark.parametrize(
    "fields",
    [
        transfer_fields(nonce=1.0),  # float
        transfer_fields(nonce=-1),  # negative
        transfer_fields(nonce=True),  # bool
        transfer_fields(to="aa" * 20),  # str where bytes are expected
        transfer_fields(to=ADDRESS[:19]),  # short address
        transfer_fields(amount=256),  # int where amount bytes are expected
        transfer_fields()[:-2] + [SIGNATURE],  # missing amount
        [1],  # too short
        [],  # empty
    ],
)
def test_malformed_fields_are_rejected(fields: list[Any]) -> None:
    raw = pack(fields)
    with pytest.raises(DecodeError):
        decode_tx(raw)
    with pytest.raises(MalformedTransaction):
        recover_transaction(raw)


def test_non_canonical_state_values_are_rejected() -> None:
    with pytest.raises(DecodeError):
        decode_account(pack([b"", 0]))  # the empty account is stored as absence
    with pytest.raises(DecodeError):
        decode_account(pack([b"\x00\x01", 1]))
    with pytest.raises(DecodeError):
        decode_account(b"\x92\xc4\x01\x01\xcc\x01")  # nonce 1 as uint8
    with pytest.raises(DecodeError):
        decode_account(encode_account(Account(1, 1)) + b"\x00")
    with pytest.raises(DecodeError):
        decode_supply(b"")
    with pytest.raises(DecodeError):
        decode_supply(b"\x00\x01")


def test_unpack_rejects_oversized_input() -> None:
    with pytest.raises(DecodeError):
        unpack(pack(b"\x00" * 100), max_size=50)


# -- keccak: the fast binding agrees with pycryptodome --


def test_keccak_known_vector() -> None:
    empty = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"").hex() == empty


@given(st.binary(max_size=600))
def test_keccak_backends_agree(data: bytes) -> None:
    reference = pycryptodome_keccak.new(digest_bits=256, data=data).digest()
    assert sha3.keccak_256(data).digest() == reference
    assert keccak256(data) == reference


def test_tx_root_binds_the_transaction_count() -> None:
    from node.block import compute_tx_root

    a, b, c = (bytes([i]) * 32 for i in (1, 2, 3))
    roots = {compute_tx_root(list(txs)) for txs in ([a], [a, a], [a, b, c], [a, b, c, c], [a, b], [b, a])}
    assert len(roots) == 6
