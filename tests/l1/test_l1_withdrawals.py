"""Withdrawals on the L1 contracts: proven against an output with a Merkle proof, paid once it is finalized."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from l1.chain.accounts import get_balance
from l1.contracts.dispute_state import WithdrawalStatus, get_withdrawal_claim, list_withdrawal_claims
from l1.contracts.errors import (
    InvalidWithdrawalProof,
    OutputDefeated,
    OutputMismatch,
    OutputNotFinalized,
    OutputNotFound,
    WithdrawalAlreadyFinalized,
    WithdrawalAlreadyProven,
    WithdrawalNotProven,
)
from l1.contracts.payloads import DisputeOutput, FinalizeWithdrawal, ProveWithdrawal
from l1.contracts.state import OutputStatus, get_output, get_portal_balance
from node.crypto import Hash32
from node.fraud.trace import get_block_output
from node.smt.proof import Proof
from node.state.schema import get_withdrawal, withdrawal_key
from tests.fraud.support import L1_RECIPIENT
from tests.l1.support import (
    BOND,
    CHALLENGER,
    DEPOSIT,
    HELPER,
    USER,
    WINDOW,
    WITHDRAW_AMOUNT,
    View,
    World,
    expect_failure,
    play,
    status_of,
)


def prove_payload(world: World, index: int, number: int, faulty: bool = False) -> ProveWithdrawal:
    chain = world.faulty if faulty else world.honest
    assert chain is not None
    withdrawal_id = world.withdrawal_ids[0]
    record = get_withdrawal(chain.store.state_at(number), withdrawal_id)
    assert record is not None
    _, proof = chain.store.prove(withdrawal_key(withdrawal_id), number)
    out = get_block_output(chain.store, number)
    return ProveWithdrawal(
        index, Hash32(withdrawal_id), record, Hash32(out.state_root), Hash32(out.block_hash), proof.encode()
    )


def finalize_after_window(world: World, index: int) -> None:
    world.mine_until(get_output(world.l1.kv, index).finalizes_at(world.l1.params.challenge_window))  # type: ignore[union-attr]
    assert status_of(world, index) is OutputStatus.FINALIZED


def test_withdrawal_proven_against_a_finalized_output_is_paid_exactly_once(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        world.build_scenario()
        supply = world.total_supply()
        index = world.propose(3)
        payload = prove_payload(world, index, 3)
        withdrawal_id = payload.withdrawal_id
        expect_failure(world, HELPER, FinalizeWithdrawal(withdrawal_id), WithdrawalNotProven)
        assert world.run(HELPER, payload).receipt.status == 1  # proving against a pending output is fine
        expect_failure(world, HELPER, payload, WithdrawalAlreadyProven)
        expect_failure(world, HELPER, FinalizeWithdrawal(withdrawal_id), OutputNotFinalized)
        finalize_after_window(world, index)
        portal = get_portal_balance(world.l1.kv)
        assert portal == DEPOSIT + 7
        receipt = world.run(USER, FinalizeWithdrawal(withdrawal_id))
        assert receipt.receipt.status == 1
        assert get_balance(world.l1.kv, L1_RECIPIENT) == WITHDRAW_AMOUNT
        assert get_portal_balance(world.l1.kv) == portal - WITHDRAW_AMOUNT
        claim = get_withdrawal_claim(world.l1.kv, withdrawal_id)
        assert (
            claim is not None
            and claim.status is WithdrawalStatus.FINALIZED
            and claim.finalized_at == receipt.block_number
        )
        expect_failure(world, USER, FinalizeWithdrawal(withdrawal_id), WithdrawalAlreadyFinalized)
        expect_failure(world, USER, payload, WithdrawalAlreadyFinalized)
        later = world.propose(6)
        expect_failure(world, USER, prove_payload(world, later, 6), WithdrawalAlreadyFinalized)
        assert get_balance(world.l1.kv, L1_RECIPIENT) == WITHDRAW_AMOUNT
        assert [c.withdrawal_id for c in list_withdrawal_claims(world.l1.kv, 0, 10)] == [withdrawal_id]
        assert world.total_supply() == supply
    finally:
        world.close()


def test_withdrawal_proven_against_a_defeated_output_is_never_paid(tmp_path: Path) -> None:
    world = World(tmp_path, faulty_block=2)
    try:
        world.build_scenario()
        bad = world.propose(3, faulty=True)
        payload = prove_payload(world, bad, 3, faulty=True)  # the faulty state holds the record too
        assert world.run(HELPER, payload).receipt.status == 1
        receipt = world.run(CHALLENGER, DisputeOutput(bad), BOND)
        game_id = int(receipt.events[0].game_id)
        expect_failure(world, USER, FinalizeWithdrawal(payload.withdrawal_id), OutputNotFinalized)  # disputed
        play(world, game_id, View.faulty(world), View(world.honest), prover=CHALLENGER)
        world.mine_until(world.l1.head.number + WINDOW + 1)  # long past the bad output's deadline
        assert status_of(world, bad) is OutputStatus.DEFEATED
        expect_failure(world, USER, FinalizeWithdrawal(payload.withdrawal_id), OutputDefeated)
        expect_failure(world, USER, payload, OutputDefeated)
        assert get_balance(world.l1.kv, L1_RECIPIENT) == 0
        # proven again against the correct output, it is paid once that finalizes
        good = world.propose(3)
        assert world.run(USER, prove_payload(world, good, 3)).receipt.status == 1
        claim = get_withdrawal_claim(world.l1.kv, payload.withdrawal_id)
        assert claim is not None and claim.output_index == good and claim.seq == 0
        finalize_after_window(world, good)
        assert world.run(USER, FinalizeWithdrawal(payload.withdrawal_id)).receipt.status == 1
        assert get_balance(world.l1.kv, L1_RECIPIENT) == WITHDRAW_AMOUNT
    finally:
        world.close()


def test_bad_withdrawal_proofs_rejected(tmp_path: Path) -> None:
    world = World(tmp_path)
    try:
        world.build_scenario()
        index = world.propose(3)
        good = prove_payload(world, index, 3)
        record = good.record
        _, other_proof = world.honest.store.prove(withdrawal_key(b"\x07" * 32), 3)  # an exclusion proof
        cases = [
            (replace(good, record=replace(record, amount=record.amount + 1)), InvalidWithdrawalProof),
            (replace(good, record=replace(record, l1_recipient=USER.address)), InvalidWithdrawalProof),
            (replace(good, proof=b"\x93garbage"), InvalidWithdrawalProof),
            (replace(good, proof=other_proof.encode()), InvalidWithdrawalProof),
            (replace(good, withdrawal_id=Hash32(b"\x07" * 32)), InvalidWithdrawalProof),
            (replace(good, proof=Proof((), None).encode()), InvalidWithdrawalProof),
            (replace(good, state_root=Hash32(b"\x01" * 32)), OutputMismatch),
            (replace(good, block_hash=Hash32(b"\x01" * 32)), OutputMismatch),
            (replace(good, output_index=index + 1), OutputNotFound),
        ]
        for payload, error in cases:
            expect_failure(world, HELPER, payload, error)
        assert get_withdrawal_claim(world.l1.kv, good.withdrawal_id) is None
        assert world.run(HELPER, good).receipt.status == 1
    finally:
        world.close()
