"""The L1 contracts, executed purely over an in-memory state: pre-state, block, post-state."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from l1.chain.accounts import get_account, get_balance, get_fees_burned
from l1.chain.events import STATUS_FAILED, STATUS_SUCCESS
from l1.chain.execution import L1BlockExecution, compute_genesis_writes, execute_l1_block, recover_l1_transaction
from l1.chain.runtime import L1BlockEnv
from l1.chain.tx import MAX_L1_TX_BYTES, RecoveredL1Tx, sign_l1_tx
from l1.contracts.errors import ForcedDeposit, NotProposer
from l1.contracts.events import BatchPosted, DepositLocked, OutputFinalized, OutputProposed, TxForced
from l1.contracts.params import L1ChainParams
from l1.contracts.payloads import PAYLOADS, Deposit, ForceTx, L1Transfer, PostBatch, ProposeOutput
from l1.contracts.runtime import ROLLUP
from l1.contracts.state import (
    OutputStatus,
    get_bonds_locked,
    get_last_finalization,
    get_output,
    get_output_count,
    get_portal_balance,
)
from node.crypto import PrivateKey, keccak256
from node.encoding import pack, unpack
from node.keys.hd import dev_account
from node.mempool_errors import TransactionTooLarge
from node.state.view import DictState
from node.stf.errors import (
    BadSignature,
    FeeTooLow,
    InsufficientBalance,
    MalformedTransaction,
    NonceTooHigh,
    NonceTooLow,
    UnknownKind,
    WrongChainId,
)
from node.tx import DepositTx

ALICE = dev_account(0)
BATCHER = dev_account(1)
PROPOSER = dev_account(2)
BOB = dev_account(3)
KEYS = [ALICE, BATCHER, PROPOSER, BOB]
FEE = 100
BOND = 10**6
WINDOW = 5
START = 10**9
PARAMS = L1ChainParams(
    chain_id=900, min_fee=FEE, batcher=BATCHER.address, proposer_bond=BOND, challenge_window=WINDOW, max_batch_bytes=64
)
ROOT = keccak256(b"output")


class Chain:
    """A tiny test harness: state plus the next block number."""

    def __init__(self, params: L1ChainParams = PARAMS) -> None:
        self.params = params
        self.state = DictState()
        self.state.apply(compute_genesis_writes([(k.address, START) for k in KEYS]))
        self.number = 1
        self.nonces: dict[bytes, int] = {}

    def tx(
        self,
        key: PrivateKey,
        payload: object,
        value: int = 0,
        *,
        fee: int = FEE,
        nonce: int | None = None,
        chain_id: int = 900,
    ) -> RecoveredL1Tx:
        if nonce is None:
            nonce = self.nonces.get(key.address, 0)
            self.nonces[key.address] = nonce + 1
        return recover_l1_transaction(sign_l1_tx(key, chain_id, nonce, fee, value, payload).encode(), PAYLOADS)

    def block(self, *txs: RecoveredL1Tx) -> L1BlockExecution:
        execution = execute_l1_block(self.state, self.params, L1BlockEnv(self.number, 1000 * self.number), txs, ROLLUP)
        self.state.apply(execution.writes)
        self.number += 1
        return execution


def total(state: DictState) -> int:
    balances = sum(get_balance(state, k.address) for k in KEYS)
    return balances + get_portal_balance(state) + get_bonds_locked(state) + get_fees_burned(state)


@pytest.fixture
def chain() -> Chain:
    return Chain()


# -- success paths --


def test_transfer_moves_value_and_burns_fee(chain: Chain) -> None:
    execution = chain.block(chain.tx(ALICE, L1Transfer(BOB.address), 500))
    (receipt,) = execution.receipts
    assert (receipt.status, receipt.error, receipt.kind, receipt.index) == (STATUS_SUCCESS, None, "transfer", 0)
    assert get_account(chain.state, ALICE.address).balance == START - 500 - FEE
    assert get_account(chain.state, ALICE.address).nonce == 1
    assert get_balance(chain.state, BOB.address) == START + 500
    assert get_fees_burned(chain.state) == FEE
    assert execution.events == ()


def test_post_batch_by_batcher_emits_batch(chain: Chain) -> None:
    execution = chain.block(chain.tx(BATCHER, PostBatch(b"b" * 64)))
    assert execution.receipts[0].status == STATUS_SUCCESS
    (event,) = execution.events
    assert isinstance(event, BatchPosted) and event.data == b"b" * 64 and event.log_index == 0
    assert execution.receipts[0].log_indices == (0,)


def test_deposit_locks_value_in_portal(chain: Chain) -> None:
    execution = chain.block(chain.tx(ALICE, Deposit(BOB.address), 7000))
    (event,) = execution.events
    assert event == DepositLocked(0, execution.included[0].hash, ALICE.address, BOB.address, 7000)
    assert get_portal_balance(chain.state) == 7000
    assert get_balance(chain.state, ALICE.address) == START - 7000 - FEE
    assert get_balance(chain.state, BOB.address) == START  # nothing arrives on L1


def test_force_tx_emits_forced_tx(chain: Chain) -> None:
    execution = chain.block(chain.tx(BOB, ForceTx(b"\x01\x02")))
    (event,) = execution.events
    assert isinstance(event, TxForced) and event.l2_tx == b"\x01\x02" and event.sender == BOB.address


def test_propose_output_locks_bond_and_records_proposal(chain: Chain) -> None:
    execution = chain.block(chain.tx(PROPOSER, ProposeOutput(10, ROOT), BOND + 1))
    (event,) = execution.events
    assert isinstance(event, OutputProposed) and (event.index, event.l2_block_number, event.bond) == (0, 10, BOND + 1)
    proposal = get_output(chain.state, 0)
    assert proposal is not None
    assert (proposal.proposer, proposal.proposed_at, proposal.status) == (PROPOSER.address, 1, OutputStatus.PENDING)
    assert get_bonds_locked(chain.state) == BOND + 1
    assert get_balance(chain.state, PROPOSER.address) == START - BOND - 1 - FEE


# -- kind rules: included with status 0, nonce and fee consumed, value not moved --


@pytest.mark.parametrize(
    "make,code",
    [
        (lambda c: c.tx(ALICE, PostBatch(b"data")), -32060),
        (lambda c: c.tx(BATCHER, PostBatch(b"x" * 65)), -32063),
        (lambda c: c.tx(PROPOSER, ProposeOutput(10, ROOT), BOND - 1), -32061),
    ],
    ids=["not-batcher", "batch-too-large", "bond-too-low"],
)
def test_kind_rule_failures_give_status_0(chain: Chain, make, code: int) -> None:  # type: ignore[no-untyped-def]
    rtx = make(chain)
    before = get_account(chain.state, rtx.sender)
    execution = chain.block(rtx)
    (receipt,) = execution.receipts
    assert (receipt.status, receipt.error_code, receipt.log_indices) == (STATUS_FAILED, code, ())
    assert receipt.error
    assert execution.events == ()
    after = get_account(chain.state, rtx.sender)
    assert (after.balance, after.nonce) == (before.balance - FEE, before.nonce + 1)
    assert get_bonds_locked(chain.state) == 0 and get_output_count(chain.state) == 0


def test_proposals_need_no_order(chain: Chain) -> None:
    """Each proposal is judged on its own: the same block again, or an earlier one, is accepted."""
    execution = chain.block(
        chain.tx(PROPOSER, ProposeOutput(10, ROOT), BOND),
        chain.tx(PROPOSER, ProposeOutput(10, ROOT), BOND),
        chain.tx(PROPOSER, ProposeOutput(9, ROOT), BOND),
    )
    assert [r.status for r in execution.receipts] == [STATUS_SUCCESS] * 3
    assert get_output_count(chain.state) == 3 and get_bonds_locked(chain.state) == 3 * BOND


def test_only_the_proposer_proposes_until_no_output_finalized_for_the_fallback_blocks() -> None:
    chain = Chain(replace(PARAMS, proposer=PROPOSER.address, proposer_fallback_blocks=8))
    refused = chain.block(chain.tx(BOB, ProposeOutput(1, ROOT), BOND))
    assert (refused.receipts[0].status, refused.receipts[0].error_code) == (STATUS_FAILED, NotProposer.rpc_code)
    assert "anyone may from L1 block 8" in (refused.receipts[0].error or "")
    assert chain.block(chain.tx(PROPOSER, ProposeOutput(1, ROOT), BOND)).receipts[0].status == STATUS_SUCCESS
    while chain.number < 2 + WINDOW:  # the proposer's output finalizes at 2 + WINDOW: the fallback restarts there
        chain.block()
    chain.block()
    assert get_last_finalization(chain.state) == 2 + WINDOW
    while chain.number < 2 + WINDOW + 8:
        assert chain.block(chain.tx(BOB, ProposeOutput(2, ROOT), BOND)).receipts[0].error_code == NotProposer.rpc_code
    # no output finalized for 8 L1 blocks: anyone may propose (bonded; the dispute game guards it)
    assert chain.block(chain.tx(BOB, ProposeOutput(2, ROOT), BOND)).receipts[0].status == STATUS_SUCCESS


def test_a_forced_transaction_may_not_encode_a_deposit(chain: Chain) -> None:
    """Forced transactions are included right after an epoch's deposits: a deposit encoding would mint L2 funds."""
    fake = DepositTx(1, 0, BOB.address, BOB.address, 10**30).encode()
    execution = chain.block(chain.tx(BOB, ForceTx(fake)), chain.tx(BOB, ForceTx(b"\x01garbage")))
    assert [(r.status, r.error_code) for r in execution.receipts] == [
        (STATUS_FAILED, ForcedDeposit.rpc_code),
        (STATUS_SUCCESS, None),
    ]
    assert [type(e) for e in execution.events] == [TxForced]


@pytest.mark.parametrize(
    "make,error",
    [
        (lambda c: c.tx(ALICE, L1Transfer(BOB.address), START), InsufficientBalance),
        (lambda c: c.tx(ALICE, L1Transfer(BOB.address), 1, nonce=1), NonceTooHigh),
        (lambda c: c.tx(ALICE, L1Transfer(BOB.address), 1, chain_id=901), WrongChainId),
        (lambda c: c.tx(ALICE, L1Transfer(BOB.address), 1, fee=FEE - 1), FeeTooLow),
    ],
    ids=["insufficient-balance", "nonce-too-high", "wrong-chain-id", "fee-too-low"],
)
def test_invalid_transactions_are_dropped(chain: Chain, make, error: type) -> None:  # type: ignore[no-untyped-def]
    before = dict(chain.state.items)
    execution = chain.block(make(chain))
    assert execution.included == () and execution.receipts == ()
    assert isinstance(execution.dropped[0].error, error)
    assert chain.state.items == before


def test_replayed_nonce_is_dropped(chain: Chain) -> None:
    rtx = chain.tx(ALICE, L1Transfer(BOB.address), 1)
    chain.block(rtx)
    execution = chain.block(rtx)
    assert isinstance(execution.dropped[0].error, NonceTooLow)


def test_second_tx_of_a_drained_sender_is_dropped(chain: Chain) -> None:
    first = chain.tx(ALICE, L1Transfer(BOB.address), START - FEE)
    second = chain.tx(ALICE, L1Transfer(BOB.address), 1)
    execution = chain.block(first, second)
    assert execution.included == (first,)
    assert isinstance(execution.dropped[0].error, InsufficientBalance)
    assert get_balance(chain.state, ALICE.address) == 0


def test_recover_rejects_bad_signature_malformed_unknown_and_oversize() -> None:
    fields = unpack(sign_l1_tx(ALICE, 900, 0, FEE, 1, L1Transfer(BOB.address)).encode())
    bad_sig = list(fields)
    bad_sig[-1] = bytes(64) + b"\x00"
    with pytest.raises(BadSignature):
        recover_l1_transaction(pack(bad_sig), PAYLOADS)
    with pytest.raises(MalformedTransaction):
        recover_l1_transaction(b"\xc1", PAYLOADS)
    unknown = list(fields)
    unknown[0] = 99  # kinds 1-11 are taken
    with pytest.raises(UnknownKind):
        recover_l1_transaction(pack(unknown), PAYLOADS)
    with pytest.raises(TransactionTooLarge):
        recover_l1_transaction(b"\x00" * (MAX_L1_TX_BYTES + 1), PAYLOADS)


# -- finalization --


def test_proposal_finalizes_exactly_at_window_and_returns_bond(chain: Chain) -> None:
    chain.block(chain.tx(PROPOSER, ProposeOutput(10, ROOT), BOND))  # block 1
    proposed_at = 1
    while chain.number < proposed_at + WINDOW:
        assert chain.block().events == ()
        assert get_output(chain.state, 0).status == OutputStatus.PENDING  # type: ignore[union-attr]
    transfer = chain.tx(ALICE, Deposit(BOB.address), 5)
    execution = chain.block(transfer)  # block proposed_at + WINDOW
    finalized, deposit = execution.events
    assert isinstance(finalized, OutputFinalized) and finalized.log_index == 0 and finalized.tx_hash is None
    assert (finalized.index, finalized.bond, finalized.proposer) == (0, BOND, PROPOSER.address)
    assert isinstance(deposit, DepositLocked) and deposit.log_index == 1
    assert execution.receipts[0].log_indices == (1,)
    assert get_output(chain.state, 0).status == OutputStatus.FINALIZED  # type: ignore[union-attr]
    assert get_bonds_locked(chain.state) == 0
    assert get_balance(chain.state, PROPOSER.address) == START - FEE
    assert chain.block().events == ()  # finalized once


def test_several_proposals_finalize_in_order(chain: Chain) -> None:
    chain.block(chain.tx(PROPOSER, ProposeOutput(1, ROOT), BOND), chain.tx(PROPOSER, ProposeOutput(2, ROOT), BOND))
    chain.block(chain.tx(PROPOSER, ProposeOutput(3, ROOT), BOND))
    finalized: list[int] = []
    for _ in range(WINDOW + 1):
        finalized += [e.index for e in chain.block().events if isinstance(e, OutputFinalized)]
    assert finalized == [0, 1, 2]


def test_log_indices_follow_transaction_order(chain: Chain) -> None:
    execution = chain.block(
        chain.tx(BATCHER, PostBatch(b"1")),
        chain.tx(ALICE, L1Transfer(BOB.address), 1),
        chain.tx(ALICE, Deposit(ALICE.address), 2),
        chain.tx(BOB, ForceTx(b"f")),
        chain.tx(PROPOSER, ProposeOutput(5, ROOT), BOND),
    )
    assert [e.log_index for e in execution.events] == [0, 1, 2, 3]
    assert [r.log_indices for r in execution.receipts] == [(0,), (), (1,), (2,), (3,)]


# -- conservation --


def test_conservation_over_random_blocks() -> None:
    rng = random.Random(7)
    chain = Chain()
    supply = total(chain.state)
    l2_number = 0
    for _ in range(40):
        txs = []
        for _ in range(rng.randint(0, 6)):
            key = rng.choice(KEYS)
            choice = rng.randrange(6)
            if choice == 0:
                txs.append(chain.tx(key, L1Transfer(rng.choice(KEYS).address), rng.randint(0, 10**5)))
            elif choice == 1:
                txs.append(chain.tx(key, Deposit(key.address), rng.randint(0, 10**5)))
            elif choice == 2:
                txs.append(chain.tx(key, PostBatch(b"x" * rng.randint(0, 80))))
            elif choice == 3:
                txs.append(chain.tx(key, ForceTx(b"f")))
            elif choice == 4:
                l2_number += rng.choice([-1, 1, 3])
                txs.append(
                    chain.tx(key, ProposeOutput(max(l2_number, 0), ROOT), rng.choice([BOND - 1, BOND, 2 * BOND]))
                )
            else:
                txs.append(chain.tx(key, L1Transfer(BOB.address), START * 2))  # dropped; later nonces too
        execution = chain.block(*txs)
        for dropped in execution.dropped:  # keep the harness's nonces in step with the chain
            chain.nonces[dropped.rtx.sender] = get_account(chain.state, dropped.rtx.sender).nonce
        assert total(chain.state) == supply
    assert get_fees_burned(chain.state) > 0 and get_output_count(chain.state) > 0
