"""Balance overrides in the state transition: exact balances both ways, supply kept, refused where the chain
rule is off, and never a user's transaction (submission, batches, a block's user part).

Vectors: pre-state (genesis with or without the rule), the override, post-state.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.batch import BatchBlock, BatchError, encode_batch
from node.block import ZERO_HASH, BlockHeader, compute_tx_root
from node.crypto import Address, PrivateKey
from node.encoding import UINT256_MAX, DecodeError, encode_uint, pack
from node.state.schema import Account, get_account, get_supply, set_account, set_supply
from node.state.view import DictState, Overlay
from node.stf import (
    STATUS_SUCCESS,
    AmountOverflow,
    BalanceOverridesDisabled,
    BlockContext,
    ChainConfig,
    MalformedTransaction,
    UnknownKind,
    apply_transaction,
    build_block_transactions,
    execute_block,
    recover_transaction,
    validate_transaction,
)
from node.stf.chain_rules import DEVNET_OVERRIDES_KEY, compute_chain_rule_writes, is_devnet_overrides_enabled
from node.stf.execute import recover_in_block
from node.tx import (
    KIND_BALANCE_OVERRIDE,
    BalanceOverrideTx,
    DepositTx,
    RecoveredTx,
    Transfer,
    UnrecoverableTx,
    decode_signed_tx,
    decode_tx,
    sign_tx,
)

KEY = PrivateKey(b"\x07" * 32)
FRESH = Address(b"\xab" * 20)
L1_SENDER = Address(b"\x11" * 20)
CONFIG = ChainConfig(chain_id=901, fee_recipient=Address(b"\xfe" * 20), min_fee=3)
CTX = BlockContext(1, 1_000, 1)

addresses = st.binary(min_size=20, max_size=20).map(Address)
uint64s = st.integers(0, 2**64 - 1)
balances = st.one_of(st.integers(0, 10**30), st.just(UINT256_MAX), st.just(0))
overrides = st.builds(BalanceOverrideTx, uint64s, uint64s, addresses, addresses, balances)


def state(rule: bool, accounts: dict[bytes, tuple[int, int]] | None = None) -> DictState:
    """A genesis-like state: the chain rule (or not), accounts (balance, nonce) and their supply."""
    overlay = Overlay(DictState(compute_chain_rule_writes(rule)))
    accounts = accounts if accounts is not None else {KEY.address: (1_000, 4)}
    for address, (balance, nonce) in accounts.items():
        set_account(overlay, address, Account(balance, nonce))
    set_supply(overlay, sum(b for b, _ in accounts.values()))
    result = DictState(compute_chain_rule_writes(rule))
    result.apply(overlay.writes)
    return result


def override(to: bytes, balance: int, log_index: int = 0) -> RecoveredTx:
    return recover_transaction(BalanceOverrideTx(1, log_index, L1_SENDER, Address(to), balance).encode())


def run(pre: DictState, *rtxs: RecoveredTx) -> DictState:
    overlay = Overlay(pre)
    for rtx in rtxs:
        apply_transaction(overlay, CONFIG, CTX, rtx)
    post = DictState(pre.items)
    post.apply(overlay.writes)
    return post


# -- encoding --


@given(overrides)
def test_override_round_trips_and_is_no_deposit_encoding(tx: BalanceOverrideTx) -> None:
    raw = tx.encode()
    decoded = decode_tx(raw)
    assert type(decoded) is BalanceOverrideTx and decoded == tx and decoded.encode() == raw
    deposit = DepositTx(tx.l1_block, tx.log_index, tx.l1_sender, tx.to, tx.amount)
    assert deposit.hash() != tx.hash() and decode_tx(deposit.encode()) != tx  # the kind is in the hash
    assert recover_transaction(raw).sender == tx.l1_sender


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ([KIND_BALANCE_OVERRIDE, 1, 0, b"\x11" * 20, b"\x22" * 20], "balance override must"),
        ([KIND_BALANCE_OVERRIDE, 1, 0, b"\x11" * 20, b"\x22" * 19, b"\x05"], "to"),
        ([KIND_BALANCE_OVERRIDE, 1, 0, b"\x11" * 20, b"\x22" * 20, b"\x00\x05"], "leading zero"),
        ([KIND_BALANCE_OVERRIDE, 1, 0, b"\x11" * 20, b"\x22" * 20, b"\x01" * 33], "exceeds 2\\^256 - 1"),
        ([KIND_BALANCE_OVERRIDE, -1, 0, b"\x11" * 20, b"\x22" * 20, b"\x05"], "l1_block"),
    ],
)
def test_malformed_overrides_are_rejected(fields: list[Any], why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_tx(pack(fields))


def test_an_override_cannot_be_submitted_batched_or_built_into_a_block() -> None:
    rtx = override(FRESH, 5)
    with pytest.raises(DecodeError, match="system transactions and cannot be submitted"):
        decode_signed_tx(rtx.raw)
    posed = BalanceOverrideTx(CONFIG.chain_id, 0, L1_SENDER, FRESH, 5).encode()  # its l1_block as a chain id
    for raw, why in ((rtx.raw, "transaction for chain 1"), (posed, "not a low-s 65-byte recoverable signature")):
        with pytest.raises(BatchError, match=why):
            encode_batch([BatchBlock(1, 1_000, 1, (raw,))], CONFIG.chain_id)
    # what a batch would rebuild from a forged entry of that kind ends in a 65-byte signature: never an override
    rebuilt = pack([KIND_BALANCE_OVERRIDE, CONFIG.chain_id, 0, bytes(FRESH), bytes(FRESH), b"\x01" * 65])
    assert isinstance(recover_in_block(rebuilt).tx, UnrecoverableTx)
    build = build_block_transactions(state(True), CONFIG, CTX, [rtx])
    assert build.included == () and isinstance(build.rejected[0].error, MalformedTransaction)


# -- on a devnet chain (rule on) --


def test_override_sets_a_fresh_account_then_lowers_it_to_one_wei_then_zero() -> None:
    pre = state(True)
    up = run(pre, override(FRESH, 5 * 10**18))
    assert get_account(up, FRESH) == Account(5 * 10**18, 0)
    assert get_supply(up) == 1_000 + 5 * 10**18
    down = run(up, override(FRESH, 1))
    assert get_account(down, FRESH).balance == 1 and get_supply(down) == 1_001
    zero = run(down, override(FRESH, 0))
    assert get_account(zero, FRESH) == Account(0, 0)
    assert zero.items == pre.items  # an empty account is no key: back to the pre-state exactly


def test_override_keeps_the_nonce_and_charges_no_fee() -> None:
    pre = state(True)
    post = run(pre, override(KEY.address, 7))
    assert get_account(post, KEY.address) == Account(7, 4)
    assert get_account(post, CONFIG.fee_recipient).balance == 0
    assert get_supply(post) == 7
    receipt = apply_transaction(Overlay(pre), CONFIG, CTX, override(KEY.address, 7))
    assert (receipt.status, receipt.kind, receipt.fee) == (STATUS_SUCCESS, "balance_override", 0)


def test_the_account_can_spend_an_overridden_balance() -> None:
    post = run(state(True), override(KEY.address, 10**18))
    spend = recover_transaction(sign_tx(KEY, CONFIG.chain_id, 4, 3, Transfer(FRESH, 10**18 - 3)).encode())
    after = run(post, spend)
    assert get_account(after, KEY.address) == Account(0, 5) and get_account(after, FRESH).balance == 10**18 - 3


def test_an_override_overflowing_the_supply_is_skipped_in_a_block() -> None:
    pre = state(True, {KEY.address: (1_000, 0)})
    with pytest.raises(AmountOverflow, match="total supply"):
        validate_transaction(pre, CONFIG, override(FRESH, UINT256_MAX))
    rtxs = [override(FRESH, UINT256_MAX), override(FRESH, 9, 1)]
    execution = execute_block(pre, CONFIG, CTX, rtxs)
    assert [r.status for r in execution.receipts] == [0, 1]
    assert execution.receipts[0].error == AmountOverflow.rpc_code
    post = DictState(pre.items)
    post.apply(execution.writes)
    assert get_account(post, FRESH).balance == 9 and get_supply(post) == 1_009


@given(st.lists(st.tuples(st.integers(0, 3), balances.filter(lambda b: b < 2**200)), max_size=12))
def test_random_overrides_keep_the_sum_of_balances_equal_to_the_supply(ops: list[tuple[int, int]]) -> None:
    targets = [KEY.address, FRESH, Address(b"\x01" * 20), CONFIG.fee_recipient]
    current = state(True)
    expected = {KEY.address: 1_000}
    for index, (who, balance) in enumerate(ops):
        current = run(current, override(targets[who], balance, index))
        expected[targets[who]] = balance
        assert {a: get_account(current, a).balance for a in expected} == expected
        assert get_supply(current) == sum(expected.values())


# -- on any other chain (rule off): skipped, state untouched --


def test_without_the_chain_rule_an_override_is_an_unknown_kind_and_changes_nothing() -> None:
    pre = state(False)
    assert not is_devnet_overrides_enabled(pre) and is_devnet_overrides_enabled(state(True))
    rtx = override(FRESH, 5 * 10**18)
    with pytest.raises(BalanceOverridesDisabled, match="devnet_overrides is off") as info:
        validate_transaction(pre, CONFIG, rtx)
    assert isinstance(info.value, UnknownKind) and info.value.rpc_code == UnknownKind.rpc_code
    overlay = Overlay(pre)
    with pytest.raises(BalanceOverridesDisabled):
        apply_transaction(overlay, CONFIG, CTX, rtx)
    assert overlay.writes == {}


def test_a_block_carrying_an_override_without_the_rule_skips_it_with_the_same_roots() -> None:
    """Executed twice (two nodes), with and without the override: the same writes, the override skipped."""
    pre = state(False)
    deposit = recover_transaction(DepositTx(1, 0, L1_SENDER, FRESH, 50).encode())
    with_override = [deposit, override(FRESH, 10**30, 1), override(KEY.address, 0, 2)]
    header = BlockHeader(1, ZERO_HASH, 1_000, 1, ZERO_HASH, compute_tx_root([r.hash for r in with_override]), ZERO_HASH)
    first = execute_block(pre, CONFIG, header, with_override)
    second = execute_block(DictState(pre.items), CONFIG, header, with_override)
    plain = execute_block(pre, CONFIG, CTX, [deposit])
    assert first == second
    assert first.writes == plain.writes
    assert [(r.status, r.error) for r in first.receipts[1:]] == [(0, UnknownKind.rpc_code)] * 2
    assert DEVNET_OVERRIDES_KEY not in first.writes


def test_no_transaction_writes_the_chain_rule() -> None:
    """Only genesis writes it: a deposit, a transfer and an override on a devnet chain leave the key as it was."""
    pre = state(True)
    rtxs = [
        recover_transaction(DepositTx(1, 0, L1_SENDER, FRESH, 50).encode()),
        override(FRESH, 3, 1),
        recover_transaction(sign_tx(KEY, CONFIG.chain_id, 4, 3, Transfer(FRESH, 1)).encode()),
    ]
    execution = execute_block(pre, CONFIG, CTX, rtxs)
    assert all(r.status == 1 for r in execution.receipts)
    assert DEVNET_OVERRIDES_KEY not in execution.writes
    assert encode_uint(1) == b"\x01"  # the rule's value, as the key table documents it
