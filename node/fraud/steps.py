"""The execution of one L2 block as a sequence of steps: the unit a fraud proof bisects to.

Block n executes as its transactions in stored order (deposits and included
forced transactions first, as derivation put them), then one `end_of_block`
step:

    steps(n) = [tx_0, tx_1, ..., tx_{m-1}, end_of_block]      count_steps = m + 1

The intermediate state root r(n, k) is the root after the first k steps of
block n, applied on top of the state after block n-1; so r(n, 0) = root(n-1)
and r(n, count_steps) = root(n).

Step rules (the same code runs in the trace, the challenger and the L1's
one-step verifier):

- a transaction step decodes the raw transaction, recovers its sender and
  applies it with the state transition's `apply_transaction`. If anything
  raises `InvalidTransaction` (undecodable bytes, bad signature, nonce, fee,
  balance, ...), the step leaves the state untouched: post-root == pre-root.
  A sealed canonical block never holds such a transaction (derivation drops
  the block), so the rule only fixes what a step means for any input.
- `end_of_block` runs the registered end-of-block hooks in registration
  order (none today: the venue's liquidations go there).

Step kinds are a table (`StepTable`): a new kind registers its processing
function without editing this module; `DEFAULT_STEPS` is the table every
process uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable

from node.stf.end_of_block import apply_end_of_block
from node.stf.end_of_block import register_end_of_block_hook as register_stf_end_of_block_hook
from node.block import MAX_BLOCK_TXS, Block
from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.state.view import Overlay
from node.stf.config import BlockContext, ChainConfig
from node.stf.errors import InvalidTransaction
from node.stf.execute import apply_transaction, recover_transaction
from node.tx import MAX_TX_BYTES

STEP_TRANSACTION = 0
STEP_END_OF_BLOCK = 1
MAX_STEPS_PER_BLOCK = MAX_BLOCK_TXS + 1
MAX_STEP_INPUT_BYTES = MAX_TX_BYTES + 128


class StepError(Exception):
    """A step input is malformed or names no registered step kind."""


class StepOutcome(Enum):
    APPLIED = "applied"
    SKIPPED_INVALID = "skipped_invalid"  # a transaction step whose transaction is invalid: state untouched


@dataclass(frozen=True, slots=True)
class StepInput:
    """Everything a step needs besides state: the block context, its index and (for a tx step) the raw tx."""

    number: int
    timestamp_ms: int
    l1_origin_number: int
    index: int
    kind: int
    tx: bytes = b""

    def context(self) -> BlockContext:
        return BlockContext(self.number, self.timestamp_ms, self.l1_origin_number)

    def to_fields(self) -> list[Any]:
        return [self.number, self.timestamp_ms, self.l1_origin_number, self.index, self.kind, self.tx]

    def encode(self) -> bytes:
        return pack(self.to_fields())

    @classmethod
    def decode(cls, raw: bytes) -> "StepInput":
        fields = expect_list(unpack(raw, MAX_STEP_INPUT_BYTES), 6, "step input")
        step = cls(
            number=expect_int(fields[0], "number"),
            timestamp_ms=expect_int(fields[1], "timestamp_ms"),
            l1_origin_number=expect_int(fields[2], "l1_origin_number"),
            index=expect_int(fields[3], "step index", MAX_STEPS_PER_BLOCK - 1),
            kind=expect_int(fields[4], "step kind", 0xFF),
            tx=expect_bytes(fields[5], "step transaction", max_length=MAX_TX_BYTES),
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


def count_steps(block: Block) -> int:
    return len(block.transactions) + 1


def get_block_step(block: Block, index: int) -> StepInput:
    """Step `index` of `block` (0 <= index < count_steps(block))."""
    header = block.header
    if not 0 <= index < count_steps(block):
        raise StepError(f"block {header.number} has {count_steps(block)} steps, no step {index}")
    if index < len(block.transactions):
        return StepInput(header.number, header.timestamp_ms, header.l1_origin_number, index, STEP_TRANSACTION, block.transactions[index])
    return StepInput(header.number, header.timestamp_ms, header.l1_origin_number, index, STEP_END_OF_BLOCK)


def get_block_steps(block: Block) -> tuple[StepInput, ...]:
    return tuple(get_block_step(block, i) for i in range(count_steps(block)))


def validate_step_shape(step: StepInput) -> None:
    """Shape rules of the core kinds: a transaction step carries its tx, end_of_block carries nothing."""
    if step.kind == STEP_TRANSACTION and not step.tx:
        raise StepError("a transaction step carries the raw transaction")
    if step.kind == STEP_END_OF_BLOCK and step.tx:
        raise StepError("the end-of-block step carries no bytes")
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
        apply_end_of_block(overlay, config, ctx)  # the protocol's hooks, exactly as block execution runs them
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


def register_end_of_block_hook(name: str, hook: EndOfBlockHook) -> None:
    """For the venue: a protocol hook run at the end of every block, in block execution and here alike."""
    register_stf_end_of_block_hook(name, hook)


__all__ = [
    "DEFAULT_STEPS",
    "EndOfBlockHook",
    "MAX_STEPS_PER_BLOCK",
    "STEP_END_OF_BLOCK",
    "STEP_TRANSACTION",
    "StepError",
    "StepFn",
    "StepInput",
    "StepOutcome",
    "StepTable",
    "count_steps",
    "get_block_step",
    "get_block_steps",
    "new_step_table",
    "process_step",
    "process_transaction_step",
    "register_end_of_block_hook",
    "validate_step_shape",
]
