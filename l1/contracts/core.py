"""The rollup's core contracts: kinds 1-5 and what happens at the start of every L1 block.

Kinds: transfer (value -> to), post_batch (batcher only, data <=
max_batch_bytes; its L2 blocks are derived at once, l1.contracts.l2_blocks),
deposit (value locked in the portal), force_tx (event only; never a deposit
encoding), propose_output (the permissioned proposer, or anyone once no
output has finalized for proposer_fallback_blocks; value >= proposer_bond is
the bond; the L2 block must already be derived from this L1's inbox).

Block start: the L2 default blocks of the epochs whose sequencing window
closed with the previous L1 block, then every pending proposal whose window
passed is settled (finalized, or defeated if a challenger beat every
defender: l1.contracts.settlement).
"""

from __future__ import annotations

from l1.chain.events import Event
from l1.chain.runtime import L1BlockEnv
from l1.chain.tx import RecoveredL1Tx
from l1.contracts.errors import BatchTooLarge, BondTooLow, ForcedDeposit, L2BlockNotDerived, NotBatcher, NotProposer
from l1.contracts.events import BatchPosted, DepositLocked, OutputProposed, TxForced
from l1.contracts.l2_blocks import get_l2_head, process_expired_epochs, process_posted_batch
from l1.contracts.ledger import process_credit, process_debit, process_lock_bond
from l1.contracts.params import L1ChainParams
from l1.contracts.payloads import Deposit, ForceTx, L1Transfer, PostBatch, ProposeOutput
from l1.contracts.settlement import settle_output
from l1.contracts.state import (
    OutputProposal,
    OutputStatus,
    append_output,
    get_finalization_cursor,
    get_last_finalization,
    get_output,
    get_output_count,
    get_portal_balance,
    set_finalization_cursor,
    set_portal_balance,
)
from node.encoding import DecodeError
from node.state.view import Overlay, StateReader
from node.tx import DepositTx, decode_tx


def apply_transfer(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: L1Transfer = rtx.tx.payload
    process_debit(overlay, rtx.sender, rtx.tx.value)
    process_credit(overlay, payload.to, rtx.tx.value)
    return []


def apply_post_batch(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: PostBatch = rtx.tx.payload
    if rtx.sender != params.batcher:
        raise NotBatcher(rtx.sender, params.batcher)
    if len(payload.data) > params.max_batch_bytes:
        raise BatchTooLarge(len(payload.data), params.max_batch_bytes)
    if params.disputes.rules is not None:
        process_posted_batch(overlay, params.disputes.rules, env.number, log, payload.data)
    return [BatchPosted(log, rtx.hash, rtx.sender, payload.data)]


def apply_deposit(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: Deposit = rtx.tx.payload
    process_debit(overlay, rtx.sender, rtx.tx.value)
    set_portal_balance(overlay, get_portal_balance(overlay) + rtx.tx.value)
    return [DepositLocked(log, rtx.hash, rtx.sender, payload.l2_to, rtx.tx.value)]


def apply_force_tx(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: ForceTx = rtx.tx.payload
    validate_not_a_deposit(payload.l2_tx)
    return [TxForced(log, rtx.hash, rtx.sender, payload.l2_tx)]


def validate_not_a_deposit(l2_tx: bytes) -> None:
    """A forced transaction is included in its epoch's first block whatever it is (skipped if invalid), right
    after the deposits: one that decoded as a deposit would mint L2 funds the portal never locked."""
    try:
        decoded = decode_tx(l2_tx)
    except DecodeError:
        return  # garbage: included and skipped
    if isinstance(decoded, DepositTx):
        raise ForcedDeposit()


def apply_propose_output(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int
) -> list[Event]:
    payload: ProposeOutput = rtx.tx.payload
    bond = rtx.tx.value
    validate_proposal(overlay, params, env, rtx.sender, payload, bond)
    process_lock_bond(overlay, rtx.sender, bond)
    proposal = OutputProposal(
        index=get_output_count(overlay),
        l2_block_number=payload.l2_block_number,
        output_root=payload.output_root,
        proposer=rtx.sender,
        bond=bond,
        proposed_at=env.number,
        status=OutputStatus.PENDING,
    )
    append_output(overlay, proposal)
    return [
        OutputProposed(log, rtx.hash, proposal.index, proposal.l2_block_number, proposal.output_root, rtx.sender, bond)
    ]


def validate_proposal(
    reader: StateReader, params: L1ChainParams, env: L1BlockEnv, sender: bytes, payload: ProposeOutput, bond: int
) -> None:
    validate_proposer(reader, params, env, sender)
    if bond < params.proposer_bond:
        raise BondTooLow(bond, params.proposer_bond)
    if params.disputes.rules is not None:
        head = get_l2_head(reader)
        if payload.l2_block_number > head.number:
            raise L2BlockNotDerived(payload.l2_block_number, head.number)


def validate_proposer(reader: StateReader, params: L1ChainParams, env: L1BlockEnv, sender: bytes) -> None:
    """Only the permissioned proposer proposes, unless no output has finalized for proposer_fallback_blocks
    (then anyone may, with a bond: the rollup's liveness never depends on one key)."""
    if params.proposer is None or sender == params.proposer:
        return
    opens_at = get_last_finalization(reader) + params.proposer_fallback_blocks
    if env.number < opens_at:
        raise NotProposer(sender, params.proposer, opens_at)


# -- block start: L2 default blocks, then settlements --


def process_block_start(overlay: Overlay, params: L1ChainParams, number: int) -> list[Event]:
    """What happens at the start of L1 block `number`, before its transactions."""
    if params.disputes.rules is not None and number > 0:
        process_expired_epochs(overlay, params.disputes.rules, number - 1)
    return process_finalizations(overlay, params, number)


def process_finalizations(
    overlay: Overlay, params: L1ChainParams, number: int, first_log_index: int = 0
) -> list[Event]:
    """Settle every pending proposal with proposed_at + challenge_window <= number; return the events.

    Proposals are stored in L1-block order, so a cursor walks them once: it
    stops at the first whose window has not passed. A proposal still disputed
    then (a game running) is settled when its last game ends (l1.contracts.disputes);
    one no longer disputed is settled here (finalized, or defeated if a
    challenger beat every defender: l1.contracts.settlement).
    """
    cursor = get_finalization_cursor(overlay)
    count = get_output_count(overlay)
    events: list[Event] = []
    while cursor < count:
        proposal = get_output(overlay, cursor)
        if proposal is None or proposal.finalizes_at(params.challenge_window) > number:
            break
        if proposal.status == OutputStatus.PENDING:
            events.extend(settle_output(overlay, number, proposal, first_log_index + len(events)))
        cursor += 1
    if cursor != get_finalization_cursor(overlay):
        set_finalization_cursor(overlay, cursor)
    return events


__all__ = [
    "apply_deposit",
    "apply_force_tx",
    "apply_post_batch",
    "apply_propose_output",
    "apply_transfer",
    "process_block_start",
    "process_finalizations",
    "validate_not_a_deposit",
    "validate_proposal",
    "validate_proposer",
]
