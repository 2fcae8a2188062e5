"""The L1's settlement contracts, executed purely: (state, params, block, txs) -> writes, receipts, events.

No clock and no I/O: the block number and timestamp arrive as arguments and
all writes go to an `Overlay` the caller commits.

A block, in order:
  1. `process_block_start`: the L2 default blocks of the epochs whose
     sequencing window closed with the previous L1 block (l1.l2_blocks), then
     `process_finalizations`: every pending proposal whose window passed is
     settled (finalized, or defeated if a challenger beat every defender).
  2. each transaction: `validate_l1_transaction` (chain id, fee >= min_fee,
     nonce == account nonce, balance >= fee + value). If that fails the
     transaction is not included (an InvalidTransaction from node.stf.errors).
     Otherwise the fee is burned and the nonce bumped; then the kind's rule
     runs in a child overlay. A KindRuleError (l1.errors) discards the kind's
     effects and gives a status-0 receipt; success merges them and gives status 1.

Kinds: transfer (value -> to), post_batch (batcher only, data <=
max_batch_bytes; its L2 blocks are derived at once, l1.l2_blocks), deposit
(value locked in the portal), force_tx (event only; never a deposit
encoding), propose_output (the permissioned proposer, or anyone once no
output has finalized for proposer_fallback_blocks; value >= proposer_bond is
the bond; the L2 block must already be derived from this L1's inbox).
Kinds 6-9 and 12 (disputes) are in l1.disputes, 10-11 (withdrawals) in
l1.withdrawals; both register their rules with `register_kind_rule`,
imported at the end here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from node.crypto import CryptoError
from node.encoding import UINT64_MAX, DecodeError
from node.tx import DepositTx, decode_tx
from node.state.schema import Account
from node.state.view import Overlay, StateReader
from node.stf.errors import (
    BadSignature,
    FeeTooLow,
    InsufficientBalance,
    InvalidTransaction,
    MalformedTransaction,
    NonceOverflow,
    NonceTooHigh,
    NonceTooLow,
    UnknownKind,
    WrongChainId,
)
from l1.config import L1ChainParams
from l1.errors import (
    BatchTooLarge,
    BondTooLow,
    ForcedDeposit,
    KindRuleError,
    L2BlockNotDerived,
    NotBatcher,
    NotProposer,
    TransactionTooLarge,
)
from l1.l2_blocks import get_l2_head, process_expired_epochs, process_posted_batch
from l1.ledger import process_credit, process_debit, process_lock_bond
from l1.settlement import settle_output
from l1.events import (
    STATUS_FAILED,
    STATUS_SUCCESS,
    BatchPosted,
    DepositLocked,
    Event,
    L1Receipt,
    OutputProposed,
    TxForced,
)
from l1.state import (
    OutputProposal,
    OutputStatus,
    append_output,
    get_account,
    get_fees_burned,
    get_finalization_cursor,
    get_last_finalization,
    get_output,
    get_output_count,
    get_portal_balance,
    set_account,
    set_fees_burned,
    set_finalization_cursor,
    set_portal_balance,
)
from l1.tx import (
    MAX_L1_TX_BYTES,
    Deposit,
    ForceTx,
    L1Transfer,
    PostBatch,
    ProposeOutput,
    RecoveredL1Tx,
    UnknownL1KindError,
    recover_l1_tx,
)


@dataclass(frozen=True, slots=True)
class L1BlockEnv:
    number: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Dropped:
    """A transaction offered to a block but not included, and why."""

    rtx: RecoveredL1Tx
    error: InvalidTransaction


@dataclass(frozen=True, slots=True)
class L1BlockExecution:
    writes: dict[bytes, bytes | None]
    included: tuple[RecoveredL1Tx, ...]
    receipts: tuple[L1Receipt, ...]
    events: tuple[Event, ...]
    dropped: tuple[Dropped, ...]


# A kind's rule: (overlay, params, env, rtx, first log index) -> its events; raises KindRuleError.
KindRule = Callable[[Overlay, L1ChainParams, L1BlockEnv, RecoveredL1Tx, int], list[Event]]


# -- decoding --


def recover_l1_transaction(raw: bytes) -> RecoveredL1Tx:
    """Decode an L1 transaction and recover its sender, raising node.stf.errors types."""
    if len(raw) > MAX_L1_TX_BYTES:
        raise TransactionTooLarge(len(raw), MAX_L1_TX_BYTES)
    try:
        return recover_l1_tx(raw)
    except UnknownL1KindError as exc:
        raise UnknownKind(str(exc)) from None
    except DecodeError as exc:
        raise MalformedTransaction(str(exc)) from None
    except CryptoError as exc:
        raise BadSignature(str(exc)) from None


# -- validation (read-only) --


def validate_l1_transaction(reader: StateReader, params: L1ChainParams, rtx: RecoveredL1Tx) -> None:
    """Raise the InvalidTransaction that keeps `rtx` out of a block on `reader`, if any."""
    validate_chain_id(params, rtx)
    validate_fee(params, rtx)
    account = get_account(reader, rtx.sender)
    validate_nonce(rtx, account)
    validate_balance(rtx, account)


def validate_chain_id(params: L1ChainParams, rtx: RecoveredL1Tx) -> None:
    if rtx.tx.chain_id != params.chain_id:
        raise WrongChainId(params.chain_id, rtx.tx.chain_id)


def validate_fee(params: L1ChainParams, rtx: RecoveredL1Tx) -> None:
    if rtx.tx.fee < params.min_fee:
        raise FeeTooLow(params.min_fee, rtx.tx.fee)


def validate_nonce(rtx: RecoveredL1Tx, account: Account) -> None:
    if rtx.tx.nonce < account.nonce:
        raise NonceTooLow(rtx.sender, account.nonce, rtx.tx.nonce)
    if rtx.tx.nonce > account.nonce:
        raise NonceTooHigh(rtx.sender, account.nonce, rtx.tx.nonce)
    if account.nonce == UINT64_MAX:
        raise NonceOverflow(rtx.sender, account.nonce)


def validate_balance(rtx: RecoveredL1Tx, account: Account) -> None:
    required = rtx.tx.fee + rtx.tx.value
    if account.balance < required:
        raise InsufficientBalance(rtx.sender, account.balance, required)


# -- one transaction --


def apply_l1_transaction(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, index: int, first_log_index: int
) -> tuple[L1Receipt, list[Event]]:
    """Apply one transaction; on InvalidTransaction `overlay` is untouched (not included)."""
    validate_l1_transaction(overlay, params, rtx)
    scratch = overlay.child()
    process_fee_and_nonce(scratch, rtx)
    receipt, events = process_kind_rule(scratch, params, env, rtx, index, first_log_index)
    scratch.merge_into(overlay)
    return receipt, events


def process_fee_and_nonce(overlay: Overlay, rtx: RecoveredL1Tx) -> None:
    account = get_account(overlay, rtx.sender)
    set_account(overlay, rtx.sender, Account(account.balance - rtx.tx.fee, account.nonce + 1))
    set_fees_burned(overlay, get_fees_burned(overlay) + rtx.tx.fee)


def process_kind_rule(
    overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, index: int, first_log_index: int
) -> tuple[L1Receipt, list[Event]]:
    """Run the kind's rule in a child overlay: merged on success, discarded on KindRuleError."""
    payload = rtx.tx.payload
    rule = get_kind_rule(type(payload))
    attempt = overlay.child()
    try:
        events = rule(attempt, params, env, rtx, first_log_index)
    except KindRuleError as exc:
        receipt = L1Receipt(rtx.hash, index, rtx.sender, payload.NAME, STATUS_FAILED, exc.rpc_code, str(exc), ())
        return receipt, []
    attempt.merge_into(overlay)
    log_indices = tuple(event.log_index for event in events)
    return L1Receipt(rtx.hash, index, rtx.sender, payload.NAME, STATUS_SUCCESS, None, None, log_indices), events


# -- the kinds' rules --


def apply_transfer(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
    payload: L1Transfer = rtx.tx.payload
    process_debit(overlay, rtx.sender, rtx.tx.value)
    process_credit(overlay, payload.to, rtx.tx.value)
    return []


def apply_post_batch(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
    payload: PostBatch = rtx.tx.payload
    if rtx.sender != params.batcher:
        raise NotBatcher(rtx.sender, params.batcher)
    if len(payload.data) > params.max_batch_bytes:
        raise BatchTooLarge(len(payload.data), params.max_batch_bytes)
    if params.disputes.rules is not None:
        process_posted_batch(overlay, params.disputes.rules, env.number, log, payload.data)
    return [BatchPosted(log, rtx.hash, rtx.sender, payload.data)]


def apply_deposit(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
    payload: Deposit = rtx.tx.payload
    process_debit(overlay, rtx.sender, rtx.tx.value)
    set_portal_balance(overlay, get_portal_balance(overlay) + rtx.tx.value)
    return [DepositLocked(log, rtx.hash, rtx.sender, payload.l2_to, rtx.tx.value)]


def apply_force_tx(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
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


def apply_propose_output(overlay: Overlay, params: L1ChainParams, env: L1BlockEnv, rtx: RecoveredL1Tx, log: int) -> list[Event]:
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
    return [OutputProposed(log, rtx.hash, proposal.index, proposal.l2_block_number, proposal.output_root, rtx.sender, bond)]


def validate_proposal(reader: StateReader, params: L1ChainParams, env: L1BlockEnv, sender: bytes, payload: ProposeOutput, bond: int) -> None:
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


_KIND_RULES: dict[type, KindRule] = {
    L1Transfer: apply_transfer,
    PostBatch: apply_post_batch,
    Deposit: apply_deposit,
    ForceTx: apply_force_tx,
    ProposeOutput: apply_propose_output,
}


def register_kind_rule(payload_cls: type, rule: KindRule) -> None:
    """Register the rule of a later kind (the fraud-proof contracts); each class once."""
    if payload_cls in _KIND_RULES:
        raise ValueError(f"a rule for {payload_cls.__name__} is already registered")
    _KIND_RULES[payload_cls] = rule


def get_kind_rule(payload_cls: type) -> KindRule:
    try:
        return _KIND_RULES[payload_cls]
    except KeyError:
        raise UnknownKind(f"no L1 contract for {payload_cls.__name__}") from None


# -- block start: L2 default blocks, then settlements --


def process_block_start(overlay: Overlay, params: L1ChainParams, number: int) -> list[Event]:
    """What happens at the start of L1 block `number`, before its transactions."""
    if params.disputes.rules is not None and number > 0:
        process_expired_epochs(overlay, params.disputes.rules, number - 1)
    return process_finalizations(overlay, params, number)


def process_finalizations(overlay: Overlay, params: L1ChainParams, number: int, first_log_index: int = 0) -> list[Event]:
    """Settle every pending proposal with proposed_at + challenge_window <= number; return the events.

    Proposals are stored in L1-block order, so a cursor walks them once: it
    stops at the first whose window has not passed. A proposal still disputed
    then (a game running) is settled when its last game ends (l1.disputes);
    one no longer disputed is settled here (finalized, or defeated if a
    challenger beat every defender: l1.settlement).
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


# -- a whole block --


def execute_l1_block(
    reader: StateReader, params: L1ChainParams, env: L1BlockEnv, candidates: Iterable[RecoveredL1Tx]
) -> L1BlockExecution:
    """The block start (L2 default blocks, settlements), then the candidates in order; invalid ones are dropped."""
    overlay = Overlay(reader)
    events: list[Event] = process_block_start(overlay, params, env.number)
    included: list[RecoveredL1Tx] = []
    receipts: list[L1Receipt] = []
    dropped: list[Dropped] = []
    for rtx in candidates:
        try:
            receipt, tx_events = apply_l1_transaction(overlay, params, env, rtx, len(included), len(events))
        except InvalidTransaction as exc:
            dropped.append(Dropped(rtx, exc))
            continue
        included.append(rtx)
        receipts.append(receipt)
        events.extend(tx_events)
    return L1BlockExecution(overlay.writes, tuple(included), tuple(receipts), tuple(events), tuple(dropped))


def compute_genesis_writes(alloc: Iterable[tuple[bytes, int]]) -> dict[bytes, bytes | None]:
    """The state writes of the genesis allocation (address -> balance)."""
    overlay = Overlay(_EmptyState())
    for address, balance in alloc:
        process_credit(overlay, address, balance)
    return overlay.writes


class _EmptyState:
    def get(self, key: bytes) -> bytes | None:
        return None


# The rules of kinds 6-11 register themselves on import (they import this module, which is complete by now).
import l1.disputes  # noqa: E402,F401
import l1.withdrawals  # noqa: E402,F401
