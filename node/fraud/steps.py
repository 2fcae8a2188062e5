"""The execution of one L2 block as a sequence of steps: the unit a fraud proof bisects to.

Block n executes as its transactions in stored order (deposits and included
forced transactions first, as derivation put them), then its end-of-block
phase in E >= 1 chunks (node.stf.end_of_block: the venue's funding and
liquidation scan, split so that each chunk reads and writes a bounded number
of keys):

    steps(n) = [tx_0, ..., tx_{m-1}, eob_0, ..., eob_{E-1}]      step_count = m + E

The intermediate state root r(n, k) is the root after the first k steps of
block n, applied on top of the state after block n-1; so r(n, 0) = root(n-1)
and r(n, step_count) = root(n).

E is not written in the block: execution finds it (the chunk that closes the
phase is the last). A dispute's defender states the step count when it
opens the block, and the L1 only checks m + 1 <= count <= m +
MAX_END_OF_BLOCK_CHUNKS from the inbox. A wrong count is provable because a
step's meaning depends on its declared position:

- eob_j for j > 0 that starts with the phase closed is an overrun;
- the step declared last (`last`) that leaves the phase open is cut short.

Both are INVALID steps: their post-root is INVALID_ROOT, which is no state's
root, and a step from INVALID_ROOT stays there. So whichever side claims the
wrong count loses the one-step proof at the first position where the counts
part.

Step rules (the same code runs in the trace, the challenger and the L1's
one-step verifier):

- a transaction step decodes the raw transaction, recovers its sender and
  applies it with the state transition's `apply_transaction`. If anything
  raises `InvalidTransaction` (undecodable bytes, bad signature, nonce, fee,
  balance, ...), the step leaves the state untouched: post-root == pre-root.
  A sealed canonical block never holds such a transaction (derivation drops
  the block), so the rule only fixes what a step means for any input.
- an end-of-block step runs chunk `chunk` of the registered end-of-block
  hooks (node.stf.end_of_block), exactly as block execution runs them.

Step kinds are a table (`StepTable`): a new kind registers its processing
function without editing this module; `DEFAULT_STEPS` is the table every
process uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from node.block import MAX_BLOCK_TXS, Block
from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.end_of_block import (
    MAX_END_OF_BLOCK_CHUNKS,
    EndOfBlockOverrun,
    apply_end_of_block_chunk,
    is_end_of_block_open,
)
from node.stf.errors import InvalidTransaction
from node.stf.execute import apply_transaction, recover_transaction
from node.tx import MAX_TX_BYTES

STEP_TRANSACTION = 0
STEP_END_OF_BLOCK = 1
MAX_STEPS_PER_BLOCK = MAX_BLOCK_TXS + MAX_END_OF_BLOCK_CHUNKS
MAX_STEP_INPUT_BYTES = MAX_TX_BYTES + 128
INVALID_ROOT = hashlib.sha256(b"rollup-devnet: no state (an invalid step position)").digest()


class StepError(Exception):
    """A step input is malformed or names no registered step kind."""


class StepOutcome(Enum):
    APPLIED = "applied"
    SKIPPED_INVALID = "skipped_invalid"  # a transaction step whose transaction is invalid: state untouched
    INVALID = "invalid"  # the block has no such step (overrun, or cut short): post-root INVALID_ROOT


@dataclass(frozen=True, slots=True)
class StepInput:
    """Everything a step needs besides state: the block context, its index, and the raw tx (a tx step) or
    the chunk number and whether it is declared the block's last step (an end-of-block step)."""

    number: int
    timestamp_ms: int
    l1_origin_number: int
    index: int
    kind: int
    tx: bytes = b""
    chunk: int = 0
    last: bool = False

    def context(self) -> BlockContext:
        return BlockContext(self.number, self.timestamp_ms, self.l1_origin_number)

    def to_fields(self) -> list[Any]:
        return [
            self.number,
            self.timestamp_ms,
            self.l1_origin_number,
            self.index,
            self.kind,
            self.tx,
            self.chunk,
            int(self.last),
        ]

    def encode(self) -> bytes:
        return pack(self.to_fields())

    @classmethod
    def decode(cls, raw: bytes) -> StepInput:
        fields = expect_list(unpack(raw, MAX_STEP_INPUT_BYTES), 8, "step input")
        step = cls(
            number=expect_int(fields[0], "number"),
            timestamp_ms=expect_int(fields[1], "timestamp_ms"),
            l1_origin_number=expect_int(fields[2], "l1_origin_number"),
            index=expect_int(fields[3], "step index", MAX_STEPS_PER_BLOCK - 1),
            kind=expect_int(fields[4], "step kind", 0xFF),
            tx=expect_bytes(fields[5], "step transaction", max_length=MAX_TX_BYTES),
            chunk=expect_int(fields[6], "end-of-block chunk", MAX_END_OF_BLOCK_CHUNKS - 1),
            last=expect_int(fields[7], "last flag", 1) == 1,
        )
        try:
            validate_step_shape(step)
        except StepError as exc:
            raise DecodeError(str(exc)) from None
        return step


StepFn = Callable[[Overlay, ChainConfig, StepInput], StepOutcome]
EndOfBlockHook = Callable[[Overlay, ChainConfig, BlockContext], None]


@dataclass(slots=True)
class StepTable:
    """Step kind -> processing function, plus the hooks the end-of-block step runs. Write-once entries."""

    kinds: dict[int, tuple[str, StepFn]] = field(default_factory=dict)
    end_of_block_hooks: list[tuple[str, EndOfBlockHook]] = field(default_factory=list)

    def register_kind(self, kind: int, name: str, fn: StepFn) -> None:
        if kind in self.kinds:
            raise ValueError(f"step kind {kind} is already registered ({self.kinds[kind][0]})")
        self.kinds[kind] = (name, fn)

    def register_end_of_block_hook(self, name: str, hook: EndOfBlockHook) -> None:
        if any(existing == name for existing, _ in self.end_of_block_hooks):
            raise ValueError(f"end-of-block hook {name!r} is already registered")
        self.end_of_block_hooks.append((name, hook))

    def get_kind(self, kind: int) -> StepFn:
        entry = self.kinds.get(kind)
        if entry is None:
            raise StepError(f"no step kind {kind} is registered")
        return entry[1]


# -- the steps of a block --


def validate_step_count(block: Block, step_count: int) -> None:
    """A claimed step count must leave room for the transactions and 1..MAX_END_OF_BLOCK_CHUNKS chunks."""
    m = len(block.transactions)
    if not m + 1 <= step_count <= m + MAX_END_OF_BLOCK_CHUNKS:
        raise StepError(
            f"block {block.header.number} has {m} transactions: its step count is in "
            f"[{m + 1}, {m + MAX_END_OF_BLOCK_CHUNKS}], not {step_count}"
        )


def get_block_step(block: Block, index: int, step_count: int) -> StepInput:
    """Step `index` of `block` when the block is said to have `step_count` steps."""
    validate_step_count(block, step_count)
    header = block.header
    if not 0 <= index < step_count:
        raise StepError(f"block {header.number} has {step_count} steps, no step {index}")
    m = len(block.transactions)
    if index < m:
        return StepInput(
            header.number,
            header.timestamp_ms,
            header.l1_origin_number,
            index,
            STEP_TRANSACTION,
            block.transactions[index],
        )
    return get_end_of_block_step(block, index - m, index == step_count - 1)


def get_end_of_block_step(block: Block, chunk: int, last: bool) -> StepInput:
    header = block.header
    index = len(block.transactions) + chunk
    return StepInput(
        header.number, header.timestamp_ms, header.l1_origin_number, index, STEP_END_OF_BLOCK, chunk=chunk, last=last
    )


def get_transaction_steps(block: Block) -> tuple[StepInput, ...]:
    header = block.header
    return tuple(
        StepInput(header.number, header.timestamp_ms, header.l1_origin_number, i, STEP_TRANSACTION, tx)
        for i, tx in enumerate(block.transactions)
    )


def get_next_step(block: Block, done: int, state: StateReader) -> StepInput | None:
    """The step after the first `done` steps of `block`, given the state they left; None when the block is done.

    End-of-block steps come out with last=False: whether one was the last is known after it ran
    (the phase closed), and a chunk that closes the phase has the same result either way."""
    m = len(block.transactions)
    if done < m:
        header = block.header
        return StepInput(
            header.number,
            header.timestamp_ms,
            header.l1_origin_number,
            done,
            STEP_TRANSACTION,
            block.transactions[done],
        )
    if done == m or (done - m < MAX_END_OF_BLOCK_CHUNKS and is_end_of_block_open(state)):
        return get_end_of_block_step(block, done - m, False)
    return None


def validate_step_shape(step: StepInput) -> None:
    """Shape rules of the core kinds: a transaction step carries its tx, an end-of-block step its chunk."""
    if step.kind == STEP_TRANSACTION and (not step.tx or step.chunk or step.last):
        raise StepError("a transaction step carries the raw transaction and no chunk")
    if step.kind == STEP_END_OF_BLOCK and step.tx:
        raise StepError("an end-of-block step carries no bytes")
    if step.kind == STEP_END_OF_BLOCK and not 0 <= step.chunk <= min(step.index, MAX_END_OF_BLOCK_CHUNKS - 1):
        raise StepError(f"end-of-block chunk {step.chunk} cannot be step {step.index}")
    if not 0 <= step.index < MAX_STEPS_PER_BLOCK:
        raise StepError(f"step index {step.index} is outside [0, {MAX_STEPS_PER_BLOCK})")


# -- processing one step --


def process_step(overlay: Overlay, config: ChainConfig, step: StepInput, table: StepTable | None = None) -> StepOutcome:
    """Apply one step's effects into `overlay` (the caller owns committing or discarding it)."""
    validate_step_shape(step)
    return (table or DEFAULT_STEPS).get_kind(step.kind)(overlay, config, step)


def process_transaction_step(overlay: Overlay, config: ChainConfig, step: StepInput) -> StepOutcome:
    """Apply the step's transaction; an invalid one leaves `overlay` untouched (apply_transaction's rule)."""
    try:
        rtx = recover_transaction(step.tx)
        apply_transaction(overlay, config, step.context(), rtx, step.index)
    except InvalidTransaction:
        return StepOutcome.SKIPPED_INVALID
    return StepOutcome.APPLIED


def _make_end_of_block_step(table: StepTable) -> StepFn:
    def process_end_of_block_step(overlay: Overlay, config: ChainConfig, step: StepInput) -> StepOutcome:
        ctx = step.context()
        try:  # the protocol's hooks, exactly as block execution runs them
            closed = apply_end_of_block_chunk(overlay, config, ctx, step.chunk)
        except EndOfBlockOverrun:
            return StepOutcome.INVALID
        if step.last and not closed:
            return StepOutcome.INVALID
        if closed:
            for _, hook in table.end_of_block_hooks:  # extra hooks of a custom table (tests)
                hook(overlay, config, ctx)
        return StepOutcome.APPLIED

    return process_end_of_block_step


def new_step_table() -> StepTable:
    """A table with the core kinds (transaction, end_of_block) and no end-of-block hooks."""
    table = StepTable()
    table.register_kind(STEP_TRANSACTION, "transaction", process_transaction_step)
    table.register_kind(STEP_END_OF_BLOCK, "end_of_block", _make_end_of_block_step(table))
    return table


DEFAULT_STEPS = new_step_table()


__all__ = [
    "DEFAULT_STEPS",
    "EndOfBlockHook",
    "INVALID_ROOT",
    "MAX_STEPS_PER_BLOCK",
    "STEP_END_OF_BLOCK",
    "STEP_TRANSACTION",
    "StepError",
    "StepFn",
    "StepInput",
    "StepOutcome",
    "StepTable",
    "get_block_step",
    "get_end_of_block_step",
    "get_next_step",
    "get_transaction_steps",
    "new_step_table",
    "process_step",
    "process_transaction_step",
    "validate_step_count",
    "validate_step_shape",
]
