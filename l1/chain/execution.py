"""Executing an L1 block, purely: (state, params, block, txs, runtime) -> writes, receipts, events.

No clock and no I/O: the block number and timestamp arrive as arguments and
all writes go to an `Overlay` the caller commits. What the transactions do is
the contracts' business, handed in as a `Runtime` (l1.chain.runtime; the
rollup's is l1.contracts.runtime.ROLLUP): the chain itself knows the envelope,
accounts, fees and nonces.

A block, in order:
  1. the runtime's block start (the rollup's: L2 default blocks, settlements);
  2. each transaction: `validate_l1_transaction`, the account ledger's checks
     shared with L2 (node.stf.ledger: chain id, fee >= min_fee, nonce ==
     account nonce, balance >= fee + value). If that fails the transaction is
     not included (an InvalidTransaction from node.stf.errors). Otherwise the
     ledger takes the fee (burned) and bumps the nonce; then the kind's rule
     runs in a child overlay. A KindRuleError (l1.chain.errors) discards the
     kind's effects and gives a status-0 receipt; success merges them and
     gives status 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from l1.chain.accounts import L1_LEDGER, get_account, get_fees_burned, set_fees_burned
from l1.chain.errors import KindRuleError
from l1.chain.events import STATUS_FAILED, STATUS_SUCCESS, Event, L1Receipt
from l1.chain.runtime import ChainParams, L1BlockEnv, Runtime
from l1.chain.tx import MAX_L1_TX_BYTES, PayloadTable, RecoveredL1Tx, UnknownKindError, recover_l1_tx
from node.crypto import CryptoError
from node.encoding import DecodeError
from node.mempool_errors import TransactionTooLarge
from node.state.view import Overlay, StateReader
from node.stf.errors import BadSignature, InvalidTransaction, MalformedTransaction, UnknownKind
from node.stf.ledger import compute_envelope_cost, validate_balance, validate_chain_id, validate_fee, validate_nonce


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


# -- decoding --


def recover_l1_transaction(raw: bytes, payloads: PayloadTable) -> RecoveredL1Tx:
    """Decode an L1 transaction of a kind in `payloads` and recover its sender, raising node.stf.errors types."""
    if len(raw) > MAX_L1_TX_BYTES:
        raise TransactionTooLarge(len(raw), MAX_L1_TX_BYTES)
    try:
        return recover_l1_tx(raw, payloads)
    except UnknownKindError as exc:
        raise UnknownKind(str(exc)) from None
    except DecodeError as exc:
        raise MalformedTransaction(str(exc)) from None
    except CryptoError as exc:
        raise BadSignature(str(exc)) from None


# -- validation (read-only) --


def validate_l1_transaction(reader: StateReader, params: ChainParams, rtx: RecoveredL1Tx) -> None:
    """Raise the InvalidTransaction that keeps `rtx` out of a block on `reader`, if any (the ledger's checks)."""
    tx = rtx.tx
    validate_chain_id(params, tx)
    validate_fee(params, tx)
    account = get_account(reader, rtx.sender)
    validate_nonce(rtx.sender, account, tx)
    validate_balance(rtx.sender, account, compute_envelope_cost(tx))


# -- one transaction --


def apply_l1_transaction(
    overlay: Overlay,
    params: ChainParams,
    env: L1BlockEnv,
    rtx: RecoveredL1Tx,
    index: int,
    first_log_index: int,
    runtime: Runtime,
) -> tuple[L1Receipt, list[Event]]:
    """Apply one transaction; on InvalidTransaction `overlay` is untouched (not included)."""
    validate_l1_transaction(overlay, params, rtx)
    scratch = overlay.child()
    process_fee_and_nonce(scratch, rtx)
    receipt, events = process_kind_rule(scratch, params, env, rtx, index, first_log_index, runtime)
    scratch.merge_into(overlay)
    return receipt, events


def process_fee_and_nonce(overlay: Overlay, rtx: RecoveredL1Tx) -> None:
    """The ledger's fee-and-nonce step; the fee is burned."""
    L1_LEDGER.process_fee_and_nonce(overlay, rtx.sender, rtx.tx.fee)
    set_fees_burned(overlay, get_fees_burned(overlay) + rtx.tx.fee)


def process_kind_rule(
    overlay: Overlay,
    params: ChainParams,
    env: L1BlockEnv,
    rtx: RecoveredL1Tx,
    index: int,
    first_log_index: int,
    runtime: Runtime,
) -> tuple[L1Receipt, list[Event]]:
    """Run the kind's rule in a child overlay: merged on success, discarded on KindRuleError."""
    payload = rtx.tx.payload
    rule = runtime.rule_for(type(payload))
    attempt = overlay.child()
    try:
        events = rule(attempt, params, env, rtx, first_log_index)
    except KindRuleError as exc:
        receipt = L1Receipt(rtx.hash, index, rtx.sender, payload.NAME, STATUS_FAILED, exc.rpc_code, str(exc), ())
        return receipt, []
    attempt.merge_into(overlay)
    log_indices = tuple(event.log_index for event in events)
    return L1Receipt(rtx.hash, index, rtx.sender, payload.NAME, STATUS_SUCCESS, None, None, log_indices), events


# -- a whole block --


def execute_l1_block(
    reader: StateReader, params: ChainParams, env: L1BlockEnv, candidates: Iterable[RecoveredL1Tx], runtime: Runtime
) -> L1BlockExecution:
    """The runtime's block start, then the candidates in order; invalid ones are dropped, not included."""
    overlay = Overlay(reader)
    events: list[Event] = runtime.block_start(overlay, params, env.number)
    included: list[RecoveredL1Tx] = []
    receipts: list[L1Receipt] = []
    dropped: list[Dropped] = []
    for rtx in candidates:
        try:
            receipt, tx_events = apply_l1_transaction(overlay, params, env, rtx, len(included), len(events), runtime)
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
        L1_LEDGER.process_credit(overlay, address, balance)
    return overlay.writes


class _EmptyState:
    def get(self, key: bytes) -> bytes | None:
        return None


__all__ = [
    "Dropped",
    "L1BlockExecution",
    "apply_l1_transaction",
    "compute_genesis_writes",
    "execute_l1_block",
    "recover_l1_transaction",
    "validate_l1_transaction",
]
