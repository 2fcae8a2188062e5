"""Properties of the state transition over random block sequences.

Random deposits, balance overrides, transfers and withdrawals (some invalid:
wrong nonce, low fee, wrong chain, too little balance, zero amount, supply
overflow; overrides on a chain whose genesis has the devnet_overrides rule
or not) are built into blocks by the sequencer path and replayed by the
executor path, block by block over a DictState. After every block:

- sum of all balances == supply key == deposits minted + override deltas - withdrawals burned;
- an applied override left its account at exactly its balance; without the rule every override is skipped;
- each account's nonce grew by exactly its number of included transactions;
- executing the same block twice from the same pre-state gives identical writes;
- an invalid transaction leaves the block overlay untouched, and
  validate_transaction predicts exactly which candidates apply;
- a block that cannot apply (a deposit overflowing the supply) changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node.block import ZERO_HASH, BlockHeader, compute_tx_root
from node.crypto import Address, PrivateKey
from node.state.schema import decode_account, get_account, get_supply, is_account_key
from node.state.view import DictState, Overlay
from node.stf import (
    AmountOverflow,
    BalanceOverridesDisabled,
    BlockBuild,
    BlockContext,
    ChainConfig,
    InvalidTransaction,
    apply_transaction,
    build_block_transactions,
    execute_block,
    recover_transaction,
    validate_transaction,
)
from node.stf.chain_rules import compute_chain_rule_writes
from node.tx import BalanceOverrideTx, DepositTx, RecoveredTx, SignedTx, Transfer, Withdrawal, sign_tx

KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(4)]
ADDRESSES = [key.address for key in KEYS] + [Address(b"\xee" * 20)]  # last one has no key
CHAIN_ID = 901
CONFIG = ChainConfig(chain_id=CHAIN_ID, fee_recipient=KEYS[0].address, min_fee=5, max_block_txs=12)

key_index = st.integers(0, len(KEYS) - 1)
address_index = st.integers(0, len(ADDRESSES) - 1)
amounts = st.integers(1, 3_000)
fees = st.integers(CONFIG.min_fee, 40)
FAULTS = ["zero amount", "fee too low", "nonce too low", "nonce too high", "wrong chain", "more than the balance"]
faults = st.sampled_from([None] * 8 + FAULTS)  # None: built to be valid (may still fail on balance)
deposit_amounts = st.sampled_from([None] * 12 + [0, 2**255]).flatmap(
    lambda a: st.integers(1, 5_000) if a is None else st.just(a)
)

override_balances = st.sampled_from([None] * 10 + [0, 1, 2**255, 2**256 - 1]).flatmap(
    lambda a: st.integers(0, 50_000) if a is None else st.just(a)
)

deposit_op = st.tuples(st.just("deposit"), address_index, deposit_amounts)
override_op = st.tuples(st.just("override"), address_index, override_balances)
transfer_op = st.tuples(st.just("transfer"), key_index, address_index, amounts, fees, faults)
withdraw_op = st.tuples(st.just("withdraw"), key_index, st.just(4), amounts, fees, faults)
blocks_strategy = st.lists(
    st.lists(st.one_of(deposit_op, override_op, transfer_op, transfer_op, withdraw_op), max_size=10), max_size=8
)


@dataclass
class Model:
    """What the test expects, tracked beside the real state."""

    state: DictState = field(default_factory=DictState)
    overrides_enabled: bool = False  # the chain rule in genesis state (node.stf.chain_rules)
    minted: int = 0
    burned: int = 0
    number: int = 0
    next_log_index: int = 0


Op = tuple  # ("deposit", to, amount) | ("override", to, balance) | (kind, signer, to, amount, fee, fault)


def new_model(overrides_enabled: bool) -> Model:
    return Model(DictState(compute_chain_rule_writes(overrides_enabled)), overrides_enabled)


def make_block_inputs(model: Model, ops: list[Op]) -> tuple[list[DepositTx], list[RecoveredTx]]:
    deposits: list[DepositTx] = []
    candidates: list[RecoveredTx] = []
    pending = {i: get_account(model.state, key.address).nonce for i, key in enumerate(KEYS)}
    for op in ops:
        if op[0] in ("deposit", "override"):
            cls = DepositTx if op[0] == "deposit" else BalanceOverrideTx
            deposits.append(cls(model.number, model.next_log_index, ADDRESSES[0], ADDRESSES[op[1]], op[2]))
            model.next_log_index += 1
        else:
            candidates.append(make_signed(op, pending))
    return deposits, candidates


def make_signed(op: Op, pending: dict[int, int]) -> RecoveredTx:
    kind, signer, to, amount, fee, fault = op
    nonce, chain_id = pending[signer], CHAIN_ID
    if fault is None:
        pending[signer] += 1
    elif fault == "zero amount":
        amount = 0
    elif fault == "fee too low":
        fee = CONFIG.min_fee - 1
    elif fault == "nonce too low":
        nonce = max(0, nonce - 1)  # at nonce 0 this is a valid transaction
        pending[signer] += nonce == pending[signer]
    elif fault == "nonce too high":
        nonce += 1
    elif fault == "wrong chain":
        chain_id += 1
    elif fault == "more than the balance":
        amount = 2**200
    payload = Transfer(ADDRESSES[to], amount) if kind == "transfer" else Withdrawal(ADDRESSES[to], amount)
    tx: SignedTx = sign_tx(KEYS[signer], chain_id, nonce, fee, payload)
    return recover_transaction(tx.encode())


def make_header(number: int, rtxs: tuple[RecoveredTx, ...]) -> BlockHeader:
    root = compute_tx_root([rtx.hash for rtx in rtxs])
    return BlockHeader(number, ZERO_HASH, 1_000 * number, number, ZERO_HASH, root, ZERO_HASH)


def apply_one_by_one(model: Model, ctx: BlockContext, deposits: list[DepositTx], candidates: list[RecoveredTx]) -> dict:
    """The sequencer loop written out (candidates fit the block), checking that invalid ones touch nothing."""
    overlay = Overlay(model.state)
    for deposit in deposits:
        before = dict(overlay.writes)
        try:
            apply_transaction(overlay, CONFIG, ctx, recover_transaction(deposit.encode()))
        except InvalidTransaction:  # a deposit that would overflow the supply is skipped
            assert overlay.writes == before
    for rtx in candidates:
        predicted_valid = _is_valid(overlay, rtx)
        before = dict(overlay.writes)
        try:
            apply_transaction(overlay, CONFIG, ctx, rtx)
        except InvalidTransaction:
            assert overlay.writes == before
            assert not predicted_valid
        else:
            assert predicted_valid
    return overlay.writes


def _is_valid(overlay: Overlay, rtx: RecoveredTx) -> bool:
    try:
        validate_transaction(overlay, CONFIG, rtx)
    except InvalidTransaction:
        return False
    return True


def sum_of_balances(state: DictState) -> int:
    return sum(decode_account(v).balance for k, v in state.items.items() if is_account_key(k))


def nonces(state: DictState) -> dict[Address, int]:
    return {key.address: get_account(state, key.address).nonce for key in KEYS}


def run_block(model: Model, ops: list[Op]) -> None:
    model.number += 1
    ctx = BlockContext(model.number, 1_000 * model.number, model.number)
    deposits, candidates = make_block_inputs(model, ops)
    fitting = candidates[: CONFIG.max_block_txs - len(deposits)]
    build = build_block_transactions(model.state, CONFIG, ctx, fitting, deposits)
    for skipped in build.system_skipped:
        if isinstance(skipped.rtx.tx, BalanceOverrideTx) and not model.overrides_enabled:
            assert isinstance(skipped.error, BalanceOverridesDisabled)
            event("override skipped: the chain rule is off")
            continue
        assert isinstance(skipped.error, AmountOverflow)
        event("system transaction skipped: it would overflow the supply")
    check_block(model, ctx, deposits, candidates, build)


def check_block(
    model: Model, ctx: BlockContext, deposits: list[DepositTx], candidates: list[RecoveredTx], build: BlockBuild
) -> None:
    header = make_header(model.number, build.transactions)
    first = execute_block(model.state, CONFIG, header, list(build.transactions))
    second = execute_block(model.state, CONFIG, header, list(build.transactions))
    assert list(first.writes.items()) == list(second.writes.items())
    assert first == build.execution
    tried = candidates[: CONFIG.max_block_txs - len(deposits)]
    assert apply_one_by_one(model, ctx, deposits, tried) == first.writes
    assert len(build.included) + len(build.rejected) == len(tried)
    event(
        f"signed transactions included in a block: {'3 or more' if len(build.included) >= 3 else len(build.included)}"
    )
    for rejection in build.rejected:
        event(f"rejected: {type(rejection.error).__name__}")

    before = nonces(model.state)
    applied = build.execution.receipts[: len(deposits)]
    model.minted += sum_system_minted(model, ctx, deposits, [r.status == 1 for r in applied])
    model.state.apply(first.writes)
    model.burned += sum_withdrawn(build.included)
    check_invariants(model, before, build.included)


def sum_system_minted(model: Model, ctx: BlockContext, deposits: list[DepositTx], applied: list[bool]) -> int:
    """What the block's system transactions added to the supply: a deposit its amount, an override the new
    balance minus the account's balance at its point (read before it runs); an override applied leaves exactly
    its balance, and none applies without the chain rule."""
    overlay = Overlay(model.state)
    minted = 0
    for deposit, ok in zip(deposits, applied):
        if not ok:
            continue
        if isinstance(deposit, BalanceOverrideTx):
            assert model.overrides_enabled
            minted += deposit.amount - get_account(overlay, deposit.to).balance
            apply_transaction(overlay, CONFIG, ctx, recover_transaction(deposit.encode()))
            assert get_account(overlay, deposit.to).balance == deposit.amount
            event("override applied")
        else:
            minted += deposit.amount
            apply_transaction(overlay, CONFIG, ctx, recover_transaction(deposit.encode()))
    return minted


def sum_withdrawn(rtxs: tuple[RecoveredTx, ...]) -> int:
    payloads = [rtx.tx.payload for rtx in rtxs if isinstance(rtx.tx, SignedTx)]
    return sum(p.amount for p in payloads if isinstance(p, Withdrawal))


def check_invariants(model: Model, nonces_before: dict[Address, int], included: tuple[RecoveredTx, ...]) -> None:
    supply = get_supply(model.state)
    assert sum_of_balances(model.state) == supply == model.minted - model.burned
    per_sender = Counter(rtx.sender for rtx in included)
    after = nonces(model.state)
    for address, nonce in after.items():
        assert nonce == nonces_before[address] + per_sender[address]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blocks_strategy, st.booleans())
def test_random_blocks_conserve_supply_and_are_deterministic(blocks: list[list[Op]], overrides_enabled: bool) -> None:
    model = new_model(overrides_enabled)
    run_block(model, [("deposit", i, 20_000) for i in range(len(KEYS))])
    for ops in blocks:
        run_block(model, ops)
