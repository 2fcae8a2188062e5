"""Traces of stored blocks: intermediate state roots, one-step inputs and block outputs.

From a ChainStore holding the blocks and the versioned state of the history
window, block n is replayed step by step over an Overlay on the state after
block n-1 (node.fraud.steps: the same code the verifier runs). After each
step its writes are applied to a scratch tree update chained on the previous
one and never committed: the scratch nodes live in a `LayeredStore` (the KV
store overlaid with the scratch updates' puts), under version numbers from
SCRATCH_VERSION_BASE up, far above any real block, so they never collide with
stored nodes. Proving keys against an intermediate root r(n, k) is then a
plain VersionedTree.prove at scratch version k.

    compute_intermediate_roots(store, config, n)  -> (r(n,0), ..., r(n,step_count))
    compute_step_proof(store, config, n, k[, count]) -> StepProof(pre_root, step, witness, post_root)
    iter_block_trace(store, config, n, with_witness) -> every TracedStep of block n in one replay
    output_roots_between(store, a, b)             -> [BlockOutput a, ..., BlockOutput b]

A block's steps are found as it replays (node.fraud.steps.get_next_step):
its transactions, then end-of-block chunks until one closes the phase, which
is recorded as the last. `compute_step_proof` with another side's step
count proves that count's step instead: a position past the block's own
steps (or a last chunk declared too early) gives INVALID_ROOT.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from node.block import Block
from node.fraud.steps import (
    INVALID_ROOT,
    STEP_END_OF_BLOCK,
    StepError,
    StepInput,
    StepOutcome,
    StepTable,
    get_block_step,
    get_next_step,
    process_step,
)
from node.fraud.witness import RecordingState, VersionedSource, Witness, build_witness
from node.output import compute_output_root
from node.smt.hashing import hash_key
from node.smt.versioned import ByteStore, TreeUpdate, VersionedTree
from node.state.view import Overlay
from node.stf.config import ChainConfig
from node.stf.end_of_block import is_end_of_block_open
from node.store.chain import ChainStore

SCRATCH_VERSION_BASE = 1 << 62
SCRATCH_CACHE_NODES = 50_000
_ABSENT = object()


class TraceError(Exception):
    """The store cannot trace that block (missing block, or its parent's state is pruned)."""


@dataclass(frozen=True, slots=True)
class StepProof:
    """What a prover submits for step `step.index` of block `step.number`."""

    pre_root: bytes
    step: StepInput
    witness: Witness
    post_root: bytes


@dataclass(frozen=True, slots=True)
class TracedStep:
    pre_root: bytes
    step: StepInput
    outcome: StepOutcome
    post_root: bytes
    witness: Witness | None


@dataclass(frozen=True, slots=True)
class BlockOutput:
    number: int
    state_root: bytes
    block_hash: bytes
    output_root: bytes


class LayeredStore:
    """A byte store: `base` overlaid with puts (and deletes) that are never written to it."""

    __slots__ = ("base", "puts")

    def __init__(self, base: ByteStore) -> None:
        self.base = base
        self.puts: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        value = self.puts.get(key, _ABSENT)
        if value is _ABSENT:
            return self.base.get(key)
        return value  # type: ignore[return-value]

    def add_update(self, update: TreeUpdate) -> None:
        for key in update.deletes:
            self.puts[key] = None
        self.puts.update(update.puts)


class _BlockReplay:
    """Block n's steps applied one by one over the state after block n-1, with scratch roots."""

    def __init__(self, store: ChainStore, config: ChainConfig, number: int, table: StepTable | None) -> None:
        self.block = get_traceable_block(store, number)
        self.config = config
        self.table = table
        self.state = Overlay(store.state_at(number - 1))  # the accumulated state r(n, k)
        self.layered = LayeredStore(store.kv)
        self.tree = VersionedTree(self.layered, SCRATCH_CACHE_NODES)
        self.version = number - 1
        self.steps_done = 0
        self.root = self.tree.root_hash(self.version)

    def next_step(self) -> StepInput | None:
        """The block's next step (None once it is done, or once the replay left the block's steps)."""
        if self.root == INVALID_ROOT:
            return None
        return get_next_step(self.block, self.steps_done, self.state)

    def run_step(self, step: StepInput, with_witness: bool) -> TracedStep:
        pre_root = self.root
        if pre_root == INVALID_ROOT:
            return TracedStep(pre_root, step, StepOutcome.INVALID, INVALID_ROOT, Witness(()) if with_witness else None)
        recorder = RecordingState(self.state)
        scratch = Overlay(recorder)
        outcome = process_step(scratch, self.config, step, self.table)
        witness = self._build_witness(recorder, scratch) if with_witness else None
        if outcome is StepOutcome.INVALID:
            self.root = INVALID_ROOT
            return TracedStep(pre_root, step, outcome, INVALID_ROOT, witness)
        writes = {hash_key(key): value for key, value in scratch.writes.items()}
        self._advance(writes)
        self.state.writes.update(scratch.writes)
        return TracedStep(pre_root, step, outcome, self.root, witness)

    def closed_block(self, step: StepInput) -> bool:
        """Whether `step`, just run, was the block's last (an end-of-block chunk that closed the phase)."""
        return step.kind == STEP_END_OF_BLOCK and self.root != INVALID_ROOT and not is_end_of_block_open(self.state)

    def skip_past_end(self) -> None:
        """Stand past the block's last step: a step there starts from INVALID_ROOT."""
        self.root = INVALID_ROOT

    def _build_witness(self, recorder: RecordingState, scratch: Overlay) -> Witness:
        touched = {hash_key(key) for key in recorder.get_touched_keys(scratch.writes)}
        deleted = {hash_key(key) for key, value in scratch.writes.items() if value is None}
        return build_witness(VersionedSource(self.tree, self.version), touched, deleted)

    def _advance(self, writes: dict[bytes, bytes | None]) -> None:
        next_version = SCRATCH_VERSION_BASE + self.steps_done
        update = self.tree.compute_update(self.version, next_version, writes)
        self.layered.add_update(update)
        self.tree.on_committed(update)  # warms the scratch tree's own cache only
        self.version = next_version
        self.steps_done += 1
        self.root = update.root_hash


def get_traceable_block(store: ChainStore, number: int) -> Block:
    if number < 1:
        raise TraceError("block 0 (genesis) has no steps")
    block = store.get_block(number)
    if block is None:
        raise TraceError(f"block {number} is not in the store")
    if not store.tree.has_version(number - 1):
        raise TraceError(f"the state after block {number - 1} is pruned or missing")
    return block


def iter_block_trace(
    store: ChainStore, config: ChainConfig, number: int, with_witness: bool = False, table: StepTable | None = None
) -> Iterator[TracedStep]:
    """Replay block `number`; yield each step with its pre/post roots (and witness if asked)."""
    replay = _BlockReplay(store, config, number, table)
    step = replay.next_step()
    while step is not None:
        traced = replay.run_step(step, with_witness)
        if replay.closed_block(step):
            traced = replace(traced, step=replace(step, last=True))
        yield traced
        step = replay.next_step()


def compute_intermediate_roots(
    store: ChainStore, config: ChainConfig, number: int, table: StepTable | None = None
) -> tuple[bytes, ...]:
    """(r(n, 0), ..., r(n, step_count)); r(n, 0) is block n-1's root, the last is block n's."""
    traced = list(iter_block_trace(store, config, number, False, table))
    return (traced[0].pre_root, *(t.post_root for t in traced))


def compute_step_proof(
    store: ChainStore,
    config: ChainConfig,
    number: int,
    index: int,
    step_count: int | None = None,
    table: StepTable | None = None,
) -> StepProof:
    """The pre-root, input and witness of step `index` of block `number` (replays the steps before it).

    With `step_count` (the count a dispute's defender opened with), the step is that count's step
    `index`; without it, the block's own."""
    replay = _BlockReplay(store, config, number, table)
    for _ in range(index):
        step = replay.next_step()
        if step is None:
            replay.skip_past_end()
            break
        replay.run_step(step, with_witness=False)
    if step_count is not None:
        try:
            target: StepInput | None = get_block_step(replay.block, index, step_count)
        except StepError as exc:
            raise TraceError(str(exc)) from None
    else:
        target = replay.next_step()
    if target is None:
        raise TraceError(f"block {number} has {replay.steps_done} steps, no step {index}")
    traced = replay.run_step(target, with_witness=True)
    return StepProof(traced.pre_root, traced.step, traced.witness, traced.post_root)  # type: ignore[arg-type]


def count_block_steps(store: ChainStore, config: ChainConfig, number: int) -> int:
    """Block `number`'s own step count (its transactions and end-of-block chunks): a replay."""
    return len(compute_intermediate_roots(store, config, number)) - 1


# -- block outputs, for the block-level bisection --


def get_block_output(store: ChainStore, number: int) -> BlockOutput:
    block = store.get_block(number)
    if block is None:
        raise TraceError(f"block {number} is not in the store")
    state_root = block.header.state_root
    block_hash = block.hash()
    return BlockOutput(number, state_root, block_hash, compute_output_root(number, state_root, block_hash))


def output_roots_between(store: ChainStore, first: int, last: int) -> list[BlockOutput]:
    """The outputs of blocks first..last inclusive."""
    if first > last:
        raise ValueError(f"empty block range {first}..{last}")
    return [get_block_output(store, number) for number in range(first, last + 1)]


__all__ = [
    "BlockOutput",
    "LayeredStore",
    "SCRATCH_VERSION_BASE",
    "StepProof",
    "TraceError",
    "TracedStep",
    "compute_intermediate_roots",
    "compute_step_proof",
    "count_block_steps",
    "get_block_output",
    "iter_block_trace",
    "output_roots_between",
]
