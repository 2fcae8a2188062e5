"""The withdrawal contracts (kinds 10, 11): prove an L2 withdrawal against an output, then pay it once.

prove_withdrawal (10), anyone:
  - the output exists and is not `defeated` (pending, disputed or finalized);
  - output_root == compute_output_root(l2_block_number, state_root, block_hash);
  - the proof shows withdrawal_key(withdrawal_id) -> encode_withdrawal(record) under state_root;
  - a withdrawal already proven may be proven again only if the output it was
    proven against has since been defeated (a paid one never again).
  It is stored as `proven` against that output index.
finalize_withdrawal (11), anyone: the withdrawal is proven and not paid, and its
  output is `finalized` (pending / disputed: not yet; defeated: never, prove it
  again against a live output). The portal pays record.amount to
  record.l1_recipient and the withdrawal becomes `finalized`: paid exactly once.
"""

from __future__ import annotations

from l1.chain.events import Event
from l1.chain.runtime import L1BlockEnv
from l1.chain.tx import RecoveredL1Tx
from l1.contracts.dispute_state import (
    WithdrawalClaim,
    WithdrawalStatus,
    get_withdrawal_claim,
    get_withdrawal_count,
    load_output,
    set_withdrawal_claim,
)
from l1.contracts.errors import (
    InvalidWithdrawalProof,
    OutputDefeated,
    OutputMismatch,
    OutputNotFinalized,
    PortalInsufficient,
    WithdrawalAlreadyFinalized,
    WithdrawalAlreadyProven,
    WithdrawalNotProven,
)
from l1.contracts.events import WithdrawalFinalized, WithdrawalProven
from l1.contracts.ledger import process_credit
from l1.contracts.params import L1ChainParams
from l1.contracts.payloads import FinalizeWithdrawal, ProveWithdrawal
from l1.contracts.state import OutputStatus, get_portal_balance, set_portal_balance
from node.encoding import DecodeError
from node.output import compute_output_root
from node.smt.hashing import hash_key
from node.smt.proof import Proof, ProofError, verify_proof
from node.state.schema import encode_withdrawal, withdrawal_key
from node.state.view import Overlay, StateReader


def apply_prove_withdrawal(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: ProveWithdrawal = rtx.tx.payload
    proposal = load_output(overlay, payload.output_index)
    if proposal.status == OutputStatus.DEFEATED:
        raise OutputDefeated(f"output {proposal.index} is defeated: prove against a live output")
    if compute_output_root(proposal.l2_block_number, payload.state_root, payload.block_hash) != proposal.output_root:
        raise OutputMismatch(f"state root and block hash do not open output {proposal.index}'s root")
    validate_inclusion(payload)
    seq = validate_reprovable(overlay, payload)
    record = payload.record
    claim = WithdrawalClaim(
        payload.withdrawal_id,
        seq,
        WithdrawalStatus.PROVEN,
        proposal.index,
        record.l2_sender,
        record.l1_recipient,
        record.amount,
        record.l2_block_number,
        env.number,
        None,
    )
    set_withdrawal_claim(overlay, claim)
    return [WithdrawalProven(log, rtx.hash, claim.withdrawal_id, proposal.index, claim.recipient, claim.amount)]


def validate_inclusion(payload: ProveWithdrawal) -> None:
    try:
        proof = Proof.decode(payload.proof)
        value = encode_withdrawal(payload.record)
        verify_proof(payload.state_root, hash_key(withdrawal_key(payload.withdrawal_id)), value, proof)
    except (DecodeError, ProofError, ValueError) as exc:
        raise InvalidWithdrawalProof(
            f"withdrawal 0x{payload.withdrawal_id.hex()} is not proven under the state root: {exc}"
        ) from None


def validate_reprovable(reader: StateReader, payload: ProveWithdrawal) -> int:
    """The listing seq of the withdrawal: a new one, or an old one whose output was defeated."""
    existing = get_withdrawal_claim(reader, payload.withdrawal_id)
    if existing is None:
        return get_withdrawal_count(reader)
    if existing.status == WithdrawalStatus.FINALIZED:
        raise WithdrawalAlreadyFinalized(f"withdrawal 0x{payload.withdrawal_id.hex()} is paid already")
    earlier = load_output(reader, existing.output_index)
    if earlier.status != OutputStatus.DEFEATED:
        raise WithdrawalAlreadyProven(
            f"withdrawal 0x{payload.withdrawal_id.hex()} is proven against output {existing.output_index} "
            f"({earlier.status.label}); it may be proven again only if that output is defeated"
        )
    return existing.seq


def apply_finalize_withdrawal(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: FinalizeWithdrawal = rtx.tx.payload
    claim = get_withdrawal_claim(overlay, payload.withdrawal_id)
    if claim is None:
        raise WithdrawalNotProven(f"withdrawal 0x{payload.withdrawal_id.hex()} is not proven")
    if claim.status == WithdrawalStatus.FINALIZED:
        raise WithdrawalAlreadyFinalized(
            f"withdrawal 0x{payload.withdrawal_id.hex()} was paid in L1 block {claim.finalized_at}"
        )
    proposal = load_output(overlay, claim.output_index)
    if proposal.status == OutputStatus.DEFEATED:
        raise OutputDefeated(
            f"output {proposal.index} that the withdrawal was proven against is defeated: prove it again"
        )
    if proposal.status != OutputStatus.FINALIZED:
        raise OutputNotFinalized(
            f"output {proposal.index} is {proposal.status.label}: it finalizes at L1 block "
            f"{proposal.finalizes_at(params.challenge_window)} at the earliest"
        )
    portal = get_portal_balance(overlay)
    if portal < claim.amount:
        raise PortalInsufficient(f"the portal holds {portal}, the withdrawal is {claim.amount}")
    set_portal_balance(overlay, portal - claim.amount)
    process_credit(overlay, claim.recipient, claim.amount)
    paid = WithdrawalClaim(
        claim.withdrawal_id,
        claim.seq,
        WithdrawalStatus.FINALIZED,
        claim.output_index,
        claim.l2_sender,
        claim.recipient,
        claim.amount,
        claim.l2_block_number,
        claim.proven_at,
        env.number,
    )
    set_withdrawal_claim(overlay, paid)
    return [WithdrawalFinalized(log, rtx.hash, paid.withdrawal_id, paid.output_index, paid.recipient, paid.amount)]


__all__ = ["apply_finalize_withdrawal", "apply_prove_withdrawal"]
