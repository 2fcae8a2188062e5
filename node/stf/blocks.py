"""Whole blocks: executing a sealed block, and building one from candidates.

A block is its deposits (derived from L1, in L1 order; a devnet's balance
overrides among them, node.tx.BalanceOverrideTx) followed by signed
transactions. What a block holds is decided by L1 data alone (a batch's
transactions; every deposit and forced transaction of an epoch's origin), so
executing a block never rejects it for a transaction's validity: a
transaction invalid at its point is *skipped* (status-0 receipt with its
error code, no effect), exactly as the fraud-proof step runs it
(node.fraud.steps). Only the block's structure can make it invalid (too many
transactions, deposits not first, a wrong transaction root). Building a
block (the sequencer) chooses its candidates: invalid ones are set aside
with their error and left out; system transactions are all included.

Neither computes a state root: `BlockExecution.writes` is the batch the
caller's tree applies (None = delete). A key may appear with its unchanged
value or as the delete of a missing key; the tree must treat both as no-ops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from node.block import BlockHeader, compute_tx_root
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.end_of_block import apply_end_of_block
from node.stf.errors import (
    DepositsNotFirst,
    InvalidTransaction,
    MalformedTransaction,
    TooManyTransactions,
    TxRootMismatch,
)
from node.stf.execute import Receipt, apply_transaction, skip_transaction
from node.tx import DepositTx, RecoveredTx


@dataclass(frozen=True, slots=True)
class BlockExecution:
    writes: dict[bytes, bytes | None]
    receipts: tuple[Receipt, ...]


@dataclass(frozen=True, slots=True)
class Rejection:
    rtx: RecoveredTx
    error: InvalidTransaction


@dataclass(frozen=True, slots=True)
class BlockBuild:
    """A built block: `transactions` (deposits then `included`) is the block body."""

    transactions: tuple[RecoveredTx, ...]
    included: tuple[RecoveredTx, ...]
    rejected: tuple[Rejection, ...]
    deferred: tuple[RecoveredTx, ...]  # not tried: the block was full
    execution: BlockExecution
    system_count: int = 0  # deposits + forced transactions at the head of the block
    system_skipped: tuple[Rejection, ...] = ()  # system transactions included but skipped as invalid


# -- executing a sealed block --


def execute_block(
    reader: StateReader,
    config: ChainConfig,
    block: BlockHeader | BlockContext,
    rtxs: Sequence[RecoveredTx],
) -> BlockExecution:
    """Apply a block's transactions over `reader`, skipping invalid ones; raise InvalidBlock if its structure is wrong.

    Given a header, its tx_root is checked against the transactions too.
    """
    validate_transaction_count(config, len(rtxs))
    validate_deposits_first(rtxs)
    if isinstance(block, BlockHeader):
        validate_tx_root(block, rtxs)
    ctx = compute_block_context(block)
    overlay = Overlay(reader)
    receipts = tuple(apply_block_transaction(overlay, config, ctx, rtx, i) for i, rtx in enumerate(rtxs))
    apply_end_of_block(overlay, config, ctx)
    return BlockExecution(dict(overlay.writes), receipts)


def compute_block_context(block: BlockHeader | BlockContext) -> BlockContext:
    return BlockContext.from_header(block) if isinstance(block, BlockHeader) else block


def validate_transaction_count(config: ChainConfig, count: int) -> None:
    if count > config.max_block_txs:
        raise TooManyTransactions(count, config.max_block_txs)


def validate_deposits_first(rtxs: Sequence[RecoveredTx]) -> None:
    seen_signed = False
    for index, rtx in enumerate(rtxs):
        is_deposit = isinstance(rtx.tx, DepositTx)
        if is_deposit and seen_signed:
            raise DepositsNotFirst(index)
        seen_signed = seen_signed or not is_deposit


def validate_tx_root(header: BlockHeader, rtxs: Sequence[RecoveredTx]) -> None:
    computed = compute_tx_root([rtx.hash for rtx in rtxs])
    if computed != header.tx_root:
        raise TxRootMismatch(header.tx_root, computed)


def apply_block_transaction(
    overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx, index: int
) -> Receipt:
    """Apply a block's transaction; one invalid at this point is skipped (status 0, state untouched)."""
    try:
        return apply_transaction(overlay, config, ctx, rtx, index)
    except InvalidTransaction as exc:
        return skip_transaction(ctx, rtx, index, exc)


# -- building a block (sequencer) --


def build_block_transactions(
    reader: StateReader,
    config: ChainConfig,
    ctx: BlockContext,
    candidates: Sequence[RecoveredTx],
    deposits: Sequence[DepositTx | RecoveredTx] = (),
    forced: Sequence[RecoveredTx] = (),
) -> BlockBuild:
    """Apply `deposits`, then every `forced` transaction (forced inclusion from
    L1; one invalid at its point is included and skipped), then as many
    `candidates` as fit, in order.

    Invalid candidates are rejected with their error and left out; candidates
    past `config.max_block_txs` are deferred untried. A deposit among the
    candidates is rejected: only derivation puts deposits in a block.
    """
    system = [as_recovered_deposit(d) for d in deposits] + list(forced)
    validate_transaction_count(config, len(system))
    overlay = Overlay(reader)
    receipts: list[Receipt] = []
    system_skipped: list[Rejection] = []
    for rtx in system:
        try:
            receipts.append(apply_transaction(overlay, config, ctx, rtx, len(receipts)))
        except InvalidTransaction as exc:
            receipts.append(skip_transaction(ctx, rtx, len(receipts), exc))
            system_skipped.append(Rejection(rtx, exc))
    included: list[RecoveredTx] = []
    rejected: list[Rejection] = []
    capacity = config.max_block_txs - len(system)
    tried = 0
    for rtx in candidates:
        if len(included) == capacity:
            break
        tried += 1
        outcome = _try_candidate(overlay, config, ctx, rtx, len(receipts))
        if isinstance(outcome, Rejection):
            rejected.append(outcome)
        else:
            receipts.append(outcome)
            included.append(rtx)
    apply_end_of_block(overlay, config, ctx)
    return BlockBuild(
        transactions=tuple(system) + tuple(included),
        included=tuple(included),
        rejected=tuple(rejected),
        deferred=tuple(candidates[tried:]),
        execution=BlockExecution(dict(overlay.writes), tuple(receipts)),
        system_count=len(system),
        system_skipped=tuple(system_skipped),
    )


def _try_candidate(
    overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx, index: int
) -> Receipt | Rejection:
    try:
        if isinstance(rtx.tx, DepositTx):
            raise MalformedTransaction("deposits and balance overrides are system transactions and cannot be submitted")
        return apply_transaction(overlay, config, ctx, rtx, index)
    except InvalidTransaction as exc:
        return Rejection(rtx, exc)


def as_recovered_deposit(deposit: DepositTx | RecoveredTx) -> RecoveredTx:
    if isinstance(deposit, RecoveredTx):
        if not isinstance(deposit.tx, DepositTx):
            raise ValueError("build_block_transactions: `deposits` must hold deposits only")
        return deposit
    raw = deposit.encode()
    return RecoveredTx(deposit, deposit.hash(), deposit.l1_sender, raw)
