"""State transition vectors: pre-state, block, post-state; and one test per error type.

States are written as {address: (balance, nonce)}; the supply key is the sum
of balances unless a vector says otherwise.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from node.block import ZERO_HASH, BlockHeader, compute_tx_root
from node.crypto import SECP256K1_N, Address, PrivateKey
from node.encoding import UINT64_MAX, UINT256_MAX, pack
from node.state.schema import (
    Account,
    WithdrawalRecord,
    decode_account,
    get_supply,
    get_withdrawal,
    is_account_key,
    set_account,
    set_supply,
)
from node.state.view import DictState, Overlay
from node.stf import (
    STATUS_SUCCESS,
    AmountOverflow,
    BadSignature,
    BlockContext,
    ChainConfig,
    DepositsNotFirst,
    FeeTooLow,
    InsufficientBalance,
    InvalidTransactionInBlock,
    MalformedTransaction,
    NonceOverflow,
    NonceTooHigh,
    NonceTooLow,
    StateInvariantViolated,
    StfError,
    TooManyTransactions,
    TxRootMismatch,
    UnknownKind,
    WrongChainId,
    ZeroAmount,
    apply_transaction,
    build_block_transactions,
    execute_block,
    recover_transaction,
    register_handler,
    validate_transaction,
)
from node.tx import DepositTx, RecoveredTx, SignedTx, Transfer, Withdrawal, sign_tx

ALICE_KEY, BOB_KEY, CAROL_KEY, SEQ_KEY = (PrivateKey(bytes([i + 1]) * 32) for i in range(4))
ALICE, BOB, CAROL, SEQ = ALICE_KEY.address, BOB_KEY.address, CAROL_KEY.address, SEQ_KEY.address
L1_USER = Address(b"\x11" * 20)
CHAIN_ID = 901
FEE = 10
CONFIG = ChainConfig(chain_id=CHAIN_ID, fee_recipient=SEQ, min_fee=FEE, max_block_txs=16)
CTX = BlockContext(number=7, timestamp_ms=1_700_000_000_000, l1_origin_number=3)

Accounts = dict[Address, tuple[int, int]]


# -- helpers --


def make_state(accounts: Accounts, supply: int | None = None) -> DictState:
    state = DictState()
    overlay = Overlay(state)
    for address, (balance, nonce) in accounts.items():
        set_account(overlay, address, Account(balance, nonce))
    set_supply(overlay, sum(b for b, _ in accounts.values()) if supply is None else supply)
    state.apply(overlay.writes)
    return state


def read_accounts(state: DictState) -> Accounts:
    accounts: Accounts = {}
    for key, value in state.items.items():
        if is_account_key(key):
            account = decode_account(value)
            accounts[Address(key[1:])] = (account.balance, account.nonce)
    return accounts


def signed(tx: SignedTx) -> RecoveredTx:
    return recover_transaction(tx.encode())


def transfer(key: PrivateKey, nonce: int, to: Address, amount: int, fee: int = FEE, chain_id: int = CHAIN_ID) -> RecoveredTx:
    return signed(sign_tx(key, chain_id, nonce, fee, Transfer(to, amount)))


def withdraw(key: PrivateKey, nonce: int, l1_recipient: Address, amount: int, fee: int = FEE) -> RecoveredTx:
    return signed(sign_tx(key, CHAIN_ID, nonce, fee, Withdrawal(l1_recipient, amount)))


def deposit(to: Address, amount: int, log_index: int = 0) -> RecoveredTx:
    return recover_transaction(DepositTx(2, log_index, L1_USER, to, amount).encode())


def run_block(pre: Accounts, block: list[RecoveredTx], supply: int | None = None) -> tuple[DictState, Any]:
    state = make_state(pre, supply)
    execution = execute_block(state, CONFIG, CTX, block)
    state.apply(execution.writes)
    return state, execution


# -- vectors: pre, block, post --


@dataclass(frozen=True)
class Vector:
    name: str
    pre: Accounts
    block: list[RecoveredTx]
    post: Accounts
    post_supply: int


VECTORS = [
    Vector(
        "transfer",
        pre={ALICE: (1000, 0)},
        block=[transfer(ALICE_KEY, 0, BOB, 300)],
        post={ALICE: (690, 1), BOB: (300, 0), SEQ: (10, 0)},
        post_supply=1000,
    ),
    Vector(
        "two transfers from one sender in nonce order",
        pre={ALICE: (1000, 4), BOB: (5, 0)},
        block=[transfer(ALICE_KEY, 4, BOB, 100), transfer(ALICE_KEY, 5, CAROL, 200, fee=25)],
        post={ALICE: (665, 6), BOB: (105, 0), CAROL: (200, 0), SEQ: (35, 0)},
        post_supply=1005,
    ),
    Vector(
        "self-transfer costs only the fee",
        pre={ALICE: (1000, 0)},
        block=[transfer(ALICE_KEY, 0, ALICE, 300)],
        post={ALICE: (990, 1), SEQ: (10, 0)},
        post_supply=1000,
    ),
    Vector(
        "transfer of the whole balance minus fee empties the account but keeps its nonce",
        pre={ALICE: (310, 0)},
        block=[transfer(ALICE_KEY, 0, BOB, 300)],
        post={ALICE: (0, 1), BOB: (300, 0), SEQ: (10, 0)},
        post_supply=310,
    ),
    Vector(
        "fee recipient sends: pays its fee to itself",
        pre={SEQ: (100, 0)},
        block=[transfer(SEQ_KEY, 0, ALICE, 50)],
        post={SEQ: (50, 1), ALICE: (50, 0)},
        post_supply=100,
    ),
    Vector(
        "transfer to the fee recipient",
        pre={ALICE: (100, 0), SEQ: (1, 0)},
        block=[transfer(ALICE_KEY, 0, SEQ, 40)],
        post={ALICE: (50, 1), SEQ: (51, 0)},
        post_supply=101,
    ),
    Vector(
        "withdrawal burns amount, pays fee",
        pre={ALICE: (1000, 0)},
        block=[withdraw(ALICE_KEY, 0, L1_USER, 400)],
        post={ALICE: (590, 1), SEQ: (10, 0)},
        post_supply=600,
    ),
    Vector(
        "deposit mints to a new account",
        pre={},
        block=[deposit(BOB, 500)],
        post={BOB: (500, 0)},
        post_supply=500,
    ),
    Vector(
        "deposits first, then the deposited funds are spent in the same block",
        pre={ALICE: (7, 2)},
        block=[deposit(BOB, 500, 0), deposit(ALICE, 3, 1), transfer(BOB_KEY, 0, ALICE, 90)],
        post={ALICE: (100, 2), BOB: (400, 1), SEQ: (10, 0)},
        post_supply=510,
    ),
    Vector(
        "zero deposit is a no-op",
        pre={ALICE: (5, 0)},
        block=[deposit(BOB, 0)],
        post={ALICE: (5, 0)},
        post_supply=5,
    ),
    Vector("empty block", pre={ALICE: (5, 1)}, block=[], post={ALICE: (5, 1)}, post_supply=5),
]


@pytest.mark.parametrize("vector", VECTORS, ids=[v.name for v in VECTORS])
def test_vector(vector: Vector) -> None:
    state, execution = run_block(vector.pre, vector.block)
    assert read_accounts(state) == vector.post
    assert get_supply(state) == vector.post_supply
    assert sum(b for b, _ in read_accounts(state).values()) == vector.post_supply
    assert [r.tx_hash for r in execution.receipts] == [rtx.hash for rtx in vector.block]


def test_withdrawal_records_the_burn_under_the_tx_hash() -> None:
    rtx = withdraw(ALICE_KEY, 0, L1_USER, 400)
    state, _ = run_block({ALICE: (1000, 0)}, [rtx])
    assert get_withdrawal(state, rtx.hash) == WithdrawalRecord(ALICE, L1_USER, 400, CTX.number)
    assert get_withdrawal(state, bytes(32)) is None


def test_receipts_name_kind_fee_index_and_block() -> None:
    block = [deposit(BOB, 500), transfer(BOB_KEY, 0, ALICE, 90, fee=12), withdraw(BOB_KEY, 1, L1_USER, 10)]
    _, execution = run_block({}, block)
    summary = [(r.index, r.status, r.kind, r.fee, r.block_number) for r in execution.receipts]
    assert summary == [
        (0, STATUS_SUCCESS, "deposit", 0, 7),
        (1, STATUS_SUCCESS, "transfer", 12, 7),
        (2, STATUS_SUCCESS, "withdrawal", FEE, 7),
    ]


def test_header_with_matching_tx_root_executes() -> None:
    block = [deposit(BOB, 500), transfer(BOB_KEY, 0, ALICE, 90)]
    header = make_header([rtx.hash for rtx in block])
    execution = execute_block(make_state({}), CONFIG, header, block)
    assert execution.writes == execute_block(make_state({}), CONFIG, CTX, block).writes


def make_header(tx_hashes: list[bytes]) -> BlockHeader:
    root = compute_tx_root(tx_hashes)
    return BlockHeader(CTX.number, ZERO_HASH, CTX.timestamp_ms, CTX.l1_origin_number, ZERO_HASH, root, ZERO_HASH)


# -- one test per transaction error: exact class, rpc code, state untouched --


def assert_rejected(pre: Accounts, rtx: RecoveredTx, error_cls: type[StfError], rpc_code: int, supply: int | None = None) -> StfError:
    state = make_state(pre, supply)
    snapshot = dict(state.items)
    overlay = Overlay(state)
    overlay.set(b"\x7fmarker", b"earlier write in this block")
    before = dict(overlay.writes)
    with pytest.raises(StfError) as info:
        apply_transaction(overlay, CONFIG, CTX, rtx)
    assert type(info.value) is error_cls
    assert info.value.rpc_code == rpc_code
    assert overlay.writes == before
    assert state.items == snapshot
    return info.value


def test_wrong_chain_id() -> None:
    error = assert_rejected({ALICE: (1000, 0)}, transfer(ALICE_KEY, 0, BOB, 1, chain_id=902), WrongChainId, -32011)
    assert "chain is 901, transaction has 902" in str(error)


def test_nonce_too_low() -> None:
    error = assert_rejected({ALICE: (1000, 5)}, transfer(ALICE_KEY, 3, BOB, 1), NonceTooLow, -32012)
    assert "has nonce 5, transaction has 3" in str(error)


def test_nonce_too_high() -> None:
    error = assert_rejected({ALICE: (1000, 5)}, transfer(ALICE_KEY, 6, BOB, 1), NonceTooHigh, -32013)
    assert "has nonce 5, transaction has 6" in str(error)


def test_nonce_overflow() -> None:
    assert_rejected({ALICE: (1000, UINT64_MAX)}, transfer(ALICE_KEY, UINT64_MAX, BOB, 1), NonceOverflow, -32030)


def test_insufficient_balance_for_amount_plus_fee() -> None:
    error = assert_rejected({ALICE: (309, 0)}, transfer(ALICE_KEY, 0, BOB, 300), InsufficientBalance, -32014)
    assert "has 309, needs 310" in str(error)


def test_insufficient_balance_for_withdrawal() -> None:
    assert_rejected({ALICE: (100, 0)}, withdraw(ALICE_KEY, 0, L1_USER, 91), InsufficientBalance, -32014)


def test_insufficient_balance_for_a_self_transfer() -> None:
    assert_rejected({ALICE: (100, 0)}, transfer(ALICE_KEY, 0, ALICE, 100), InsufficientBalance, -32014)


def test_unknown_account_has_no_balance() -> None:
    assert_rejected({}, transfer(CAROL_KEY, 0, BOB, 1), InsufficientBalance, -32014)


def test_fee_too_low() -> None:
    error = assert_rejected({ALICE: (1000, 0)}, transfer(ALICE_KEY, 0, BOB, 1, fee=9), FeeTooLow, -32015)
    assert "minimum is 10, transaction pays 9" in str(error)


def test_zero_amount_transfer() -> None:
    assert_rejected({ALICE: (1000, 0)}, transfer(ALICE_KEY, 0, BOB, 0), ZeroAmount, -32019)


def test_zero_amount_withdrawal() -> None:
    assert_rejected({ALICE: (1000, 0)}, withdraw(ALICE_KEY, 0, L1_USER, 0), ZeroAmount, -32019)


def test_deposit_overflowing_the_supply() -> None:
    pre = {ALICE: (UINT256_MAX, 0)}
    assert_rejected(pre, deposit(BOB, 1), AmountOverflow, -32016)


def test_credit_overflowing_a_balance() -> None:
    # Only reachable from a state that breaks the supply invariant; the check still holds.
    pre = {ALICE: (100, 0), BOB: (UINT256_MAX, 0)}
    assert_rejected(pre, transfer(ALICE_KEY, 0, BOB, 1), AmountOverflow, -32016, supply=UINT256_MAX)


def test_withdrawal_beyond_supply_is_a_state_invariant_violation() -> None:
    assert_rejected({ALICE: (1000, 0)}, withdraw(ALICE_KEY, 0, L1_USER, 5), StateInvariantViolated, -32050, supply=3)


def test_payload_without_handler_is_unknown_kind() -> None:
    tx = sign_tx(ALICE_KEY, CHAIN_ID, 0, FEE, Unhandled(b"hi"))
    rtx = RecoveredTx(tx, tx.hash(), ALICE, tx.encode())
    assert_rejected({ALICE: (1000, 0)}, rtx, UnknownKind, -32017)


@dataclass(frozen=True, slots=True)
class Unhandled:
    KIND: ClassVar[int] = 126
    NAME: ClassVar[str] = "test-unhandled"
    data: bytes

    def to_fields(self) -> list[Any]:
        return [self.data]


def test_validate_transaction_agrees_with_apply() -> None:
    state = make_state({ALICE: (1000, 5)})
    with pytest.raises(NonceTooHigh):
        validate_transaction(state, CONFIG, transfer(ALICE_KEY, 6, BOB, 1))
    validate_transaction(state, CONFIG, transfer(ALICE_KEY, 5, BOB, 990))
    with pytest.raises(InsufficientBalance):
        validate_transaction(state, CONFIG, transfer(ALICE_KEY, 5, BOB, 991))


# -- errors raised while recovering raw bytes --


def test_bad_signature_recovery_id() -> None:
    tx = sign_tx(ALICE_KEY, CHAIN_ID, 0, FEE, Transfer(BOB, 1))
    bad = SignedTx(tx.chain_id, tx.nonce, tx.fee, tx.payload, tx.signature[:64] + b"\x02")
    assert_recovery_error(bad.encode(), BadSignature, -32010)


def test_bad_signature_high_s_is_rejected() -> None:
    tx = sign_tx(ALICE_KEY, CHAIN_ID, 0, FEE, Transfer(BOB, 1))
    s = int.from_bytes(tx.signature[32:64], "big")
    flipped = tx.signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([tx.signature[64] ^ 1])
    bad = SignedTx(tx.chain_id, tx.nonce, tx.fee, tx.payload, flipped)
    assert_recovery_error(bad.encode(), BadSignature, -32010)


def test_malformed_transaction() -> None:
    raw = sign_tx(ALICE_KEY, CHAIN_ID, 0, FEE, Transfer(BOB, 1)).encode()
    assert_recovery_error(raw + b"\x00", MalformedTransaction, -32018)
    assert_recovery_error(b"\xc1", MalformedTransaction, -32018)


def test_unknown_kind_on_the_wire() -> None:
    raw = pack([99, CHAIN_ID, 0, b"\x0a", b"\x00" * 65])
    assert_recovery_error(raw, UnknownKind, -32017)


def assert_recovery_error(raw: bytes, error_cls: type[StfError], rpc_code: int) -> None:
    with pytest.raises(StfError) as info:
        recover_transaction(raw)
    assert type(info.value) is error_cls
    assert info.value.rpc_code == rpc_code


# -- block errors --


def test_deposit_after_signed_transaction() -> None:
    block = [deposit(BOB, 500, 0), transfer(BOB_KEY, 0, ALICE, 90), deposit(ALICE, 1, 1)]
    with pytest.raises(DepositsNotFirst) as info:
        execute_block(make_state({}), CONFIG, CTX, block)
    assert info.value.index == 2
    assert info.value.rpc_code == -32040


def test_invalid_transaction_in_block_is_skipped_with_its_error_code() -> None:
    block = [transfer(ALICE_KEY, 0, BOB, 1), transfer(ALICE_KEY, 2, BOB, 1)]
    state = make_state({ALICE: (1000, 0)})
    alone = execute_block(state, CONFIG, CTX, block[:1])
    both = execute_block(state, CONFIG, CTX, block)
    assert both.writes == alone.writes  # the skipped one changes nothing, not even a fee
    skipped = both.receipts[1]
    assert (skipped.index, skipped.status, skipped.fee, skipped.error) == (1, 0, 0, NonceTooHigh.rpc_code)
    assert both.receipts[0].status == 1


def test_tx_root_mismatch() -> None:
    block = [deposit(BOB, 500)]
    header = make_header([b"\x01" * 32])
    with pytest.raises(TxRootMismatch) as info:
        execute_block(make_state({}), CONFIG, header, block)
    assert info.value.rpc_code == -32042


def test_too_many_transactions() -> None:
    block = [deposit(BOB, 1, i) for i in range(CONFIG.max_block_txs + 1)]
    with pytest.raises(TooManyTransactions) as info:
        execute_block(make_state({}), CONFIG, CTX, block)
    assert info.value.rpc_code == -32043


# -- building blocks (sequencer) --


def test_build_keeps_valid_rejects_invalid_and_defers_overflow() -> None:
    config = ChainConfig(CHAIN_ID, SEQ, FEE, max_block_txs=4)
    state = make_state({ALICE: (1000, 0)})
    deposits = [DepositTx(2, 0, L1_USER, BOB, 50)]
    candidates = [
        transfer(ALICE_KEY, 0, BOB, 100),
        transfer(ALICE_KEY, 0, BOB, 100),  # same nonce again: too low now
        deposit(CAROL, 5),  # deposits cannot be submitted
        transfer(BOB_KEY, 0, CAROL, 10),
        transfer(ALICE_KEY, 1, BOB, 1),
        transfer(ALICE_KEY, 2, BOB, 1),  # block full
    ]
    build = build_block_transactions(state, config, CTX, candidates, deposits)
    assert build.included == (candidates[0], candidates[3], candidates[4])
    assert [(r.rtx, type(r.error)) for r in build.rejected] == [
        (candidates[1], NonceTooLow),
        (candidates[2], MalformedTransaction),
    ]
    assert build.deferred == (candidates[5],)
    assert [r.index for r in build.execution.receipts] == [0, 1, 2, 3]
    replay = execute_block(state, config, CTX, list(build.transactions))
    assert replay == build.execution


def test_build_skips_a_deposit_that_cannot_apply() -> None:
    state = make_state({ALICE: (UINT256_MAX, 0)})
    build = build_block_transactions(state, CONFIG, CTX, [], [DepositTx(2, 0, L1_USER, BOB, 1)])
    assert build.system_count == 1 and len(build.transactions) == 1
    assert [type(s.error) for s in build.system_skipped] == [AmountOverflow]
    assert build.execution.receipts[0].error == AmountOverflow.rpc_code


# -- extension: a new kind registers a handler --


@dataclass(frozen=True, slots=True)
class Tip:
    """Test-only kind: pays `amount` to the fee recipient."""

    KIND: ClassVar[int] = 125
    NAME: ClassVar[str] = "test-tip"
    amount: int

    def to_fields(self) -> list[Any]:
        return [self.amount]


def apply_tip(overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx) -> None:
    from node.stf.ledger import process_credit, process_debit

    process_debit(overlay, rtx.sender, rtx.tx.payload.amount)  # type: ignore[union-attr]
    process_credit(overlay, config.fee_recipient, rtx.tx.payload.amount)  # type: ignore[union-attr]


register_handler(Tip, apply_tip, cost=lambda payload: payload.amount)


def test_registered_handler_runs_after_common_steps() -> None:
    tx = sign_tx(ALICE_KEY, CHAIN_ID, 0, FEE, Tip(5))
    rtx = RecoveredTx(tx, tx.hash(), ALICE, tx.encode())
    state, execution = run_block({ALICE: (100, 0)}, [rtx])
    assert read_accounts(state) == {ALICE: (85, 1), SEQ: (15, 0)}
    assert execution.receipts[0].kind == "test-tip"
    assert_rejected({ALICE: (14, 0)}, rtx, InsufficientBalance, -32014)


def test_handlers_register_once() -> None:
    with pytest.raises(ValueError):
        register_handler(Tip, apply_tip)
    with pytest.raises(ValueError):
        register_handler(Transfer, apply_tip)


# -- the error classes themselves --


def all_error_classes() -> list[type[StfError]]:
    """The state transition's own errors (other packages subclass them with their own codes)."""
    found: list[type[StfError]] = []
    pending: list[type[StfError]] = [StfError]
    while pending:
        cls = pending.pop()
        if cls.__module__ == "node.stf.errors":
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_rpc_codes_are_distinct_and_leave_the_mempool_range_free() -> None:
    codes = [cls.rpc_code for cls in all_error_classes()]
    assert len(codes) == len(set(codes))
    assert all(-32099 <= code <= -32000 for code in codes)
    assert not any(-32029 <= code <= -32020 for code in codes)


def test_errors_pickle_with_their_fields() -> None:
    error = InvalidTransactionInBlock(3, NonceTooLow(ALICE, 5, 3))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InvalidTransactionInBlock
    assert str(copy) == str(error)
    assert copy.index == 3 and isinstance(copy.cause, NonceTooLow) and copy.cause.tx_nonce == 3
    assert str(pickle.loads(pickle.dumps(BadSignature("x")))) == "bad signature: x"
