"""The two replayers of the state-transition vectors (tests/stf/vectors/*.json).

    replay_stf(vector) -> StfReplay
        the state transition (node.stf): each block through execute_block (a built block through
        build_block_transactions first), and again one transaction at a time (recover, validate, apply in an
        overlay holding an earlier write), then its end-of-block chunks, with the state root after every step;
    compute_sections(replay) -> dict
        the JSON a vector file states about that replay: pre root, receipts, steps, state roots, errors, post;
    replay_onestep(doc) -> list[StepCheck]
        the L1's one-step verifier: each step a vector states is built from the block as the L1 builds it
        (node.fraud.steps.get_block_step) and run by node.fraud.onestep.execute_step (what
        l1/contracts/disputes.py calls) from the pre-root the file states, over a witness built from the
        pre-state (node.fraud.witness) and sent through its wire form, as the L1 receives it; its post-root
        and outcome (compute_step_result) must be the file's.

The first replayer computes everything from the readable inputs; the second only checks the roots the
file states, so the two implementations agree through the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from node.block import Block, compute_tx_root
from node.crypto import keccak256
from node.fraud import StepOutcome, UnreachablePreState, Witness, build_witness, compute_step_result, execute_step
from node.fraud.steps import STEP_END_OF_BLOCK, StepInput, get_block_step, process_step
from node.fraud.witness import RecordingState
from node.smt.hashing import hash_key
from node.smt.reference import MemoryTree
from node.state.view import DictState, Overlay
from node.stf import (
    BlockBuild,
    BlockContext,
    ChainConfig,
    InvalidBlock,
    InvalidTransaction,
    Receipt,
    Rejection,
    StfError,
    apply_transaction,
    build_block_transactions,
    execute_block,
    recover_transaction,
    validate_transaction,
)
from node.stf.end_of_block import MAX_END_OF_BLOCK_CHUNKS, apply_end_of_block_chunk
from node.stf.execute import recover_in_block, skip_transaction
from node.tx import RecoveredTx
from tests.stf.vector_format import (
    BlockInput,
    Vector,
    compute_state_root,
    load_vector,
    make_header,
    parse_bytes,
    render_state,
    render_tx,
    show_bytes,
)

MARKER_KEY = b"\x7fmarker"  # an earlier write in the block, which a failing transaction must leave as it was
KIND_TRANSACTION = "transaction"
KIND_END_OF_BLOCK = "end_of_block"


class ReplayMismatch(AssertionError):
    """Two paths of the state transition disagree (a block and its steps, a build and its execution)."""


@dataclass
class TxResult:
    """One transaction applied alone, as its block applies it, on the state the block left before it."""

    receipt: Receipt | None  # None: the error is the state's, not the transaction's (StateInvariantViolated)
    error: StfError | None = None
    stage: str | None = None  # where it failed: recover, validate (the read-only checks) or apply
    validate_error: StfError | None = None  # what validate_transaction raised, if anything
    untouched: bool = True  # a failing transaction left the overlay (holding an earlier write) as it was
    writes: dict[bytes, bytes | None] = field(default_factory=dict)


@dataclass
class StepRoot:
    index: int
    chunk: int | None  # None: a transaction step
    last: bool
    outcome: StepOutcome | None  # None: the step cannot run (error)
    post_root: bytes | None
    error: StfError | None = None


@dataclass
class BlockReplay:
    block: BlockInput
    body: tuple[RecoveredTx, ...]
    txs: list[TxResult] = field(default_factory=list)
    steps: list[StepRoot] = field(default_factory=list)
    receipts: tuple[Receipt, ...] | None = None
    error: StfError | None = None
    writes: dict[bytes, bytes | None] = field(default_factory=dict)
    build: BlockBuild | None = None
    header_agrees: bool | None = None  # with a tx_root: executing the header equals executing the context

    @property
    def state_root(self) -> bytes | None:
        return self.steps[-1].post_root if self.error is None and self.steps else None


@dataclass
class StfReplay:
    vector: Vector
    pre_root: bytes
    blocks: list[BlockReplay]
    post: DictState


# -- (1) the state transition --


def replay_stf(vector: Vector) -> StfReplay:
    """Every block of the vector in order, stopping after one that raises."""
    state = vector.load_pre()
    pre_root = compute_state_root(state)
    blocks: list[BlockReplay] = []
    for block in vector.blocks:
        replay = replay_block(state, vector.config, block)
        blocks.append(replay)
        if replay.error is not None:
            break
        state.apply(replay.writes)
    return StfReplay(vector, pre_root, blocks, state)


def replay_block(state: DictState, config: ChainConfig, block: BlockInput) -> BlockReplay:
    ctx = block.context
    build = None
    if block.build is not None:
        spec = block.build
        build = build_block_transactions(state, config, ctx, spec.candidates, spec.deposits, spec.forced)
    replay = BlockReplay(block, block.rtxs if build is None else build.transactions, build=build)
    try:
        execution = execute_block(state, config, block.header or ctx, replay.body)
    except StfError as exc:
        replay.error = exc
        if not isinstance(exc, InvalidBlock):  # raised while applying: the steps show where
            run_steps(state, config, ctx, replay)
        return replay
    replay.receipts = execution.receipts
    replay.writes = execution.writes
    if block.header is not None:
        replay.header_agrees = execute_block(state, config, ctx, replay.body).writes == execution.writes
    if build is not None and build.execution != execution:
        raise ReplayMismatch("the built block's execution differs from executing its body")
    run_steps(state, config, ctx, replay)
    after = DictState(state.items)
    after.apply(execution.writes)
    if compute_state_root(after) != replay.state_root:
        raise ReplayMismatch("executing the block and running its steps one by one end in different roots")
    return replay


def run_steps(state: DictState, config: ChainConfig, ctx: BlockContext, replay: BlockReplay) -> None:
    """The block's steps by the state transition alone: each transaction, then the end-of-block chunks."""
    overlay = Overlay(state)
    tree = MemoryTree({hash_key(key): value for key, value in state.items.items()})
    for index, rtx in enumerate(replay.body):
        result = apply_one(overlay, config, ctx, rtx.raw, index)
        replay.txs.append(result)
        if result.receipt is None:
            replay.steps.append(StepRoot(index, None, False, None, None, result.error))
            return
        outcome = StepOutcome.APPLIED if result.error is None else StepOutcome.SKIPPED_INVALID
        replay.steps.append(StepRoot(index, None, False, outcome, tree.update(hash_writes(result.writes))))
    for chunk in range(MAX_END_OF_BLOCK_CHUNKS):
        scratch = overlay.child()
        try:
            closed = apply_end_of_block_chunk(scratch, config, ctx, chunk)
        except StfError as exc:  # the state breaks an invariant of the end-of-block phase: stated as the last step
            replay.steps.append(StepRoot(len(replay.body) + chunk, chunk, True, None, None, exc))
            return
        scratch.merge_into(overlay)
        root = tree.update(hash_writes(scratch.writes))
        replay.steps.append(StepRoot(len(replay.body) + chunk, chunk, closed, StepOutcome.APPLIED, root))
        if closed:
            return


def hash_writes(writes: dict[bytes, bytes | None]) -> dict[bytes, bytes | None]:
    return {hash_key(key): value for key, value in writes.items()}


def apply_one(overlay: Overlay, config: ChainConfig, ctx: BlockContext, raw: bytes, index: int) -> TxResult:
    """Recover, validate and apply one transaction into `overlay` (merged only on success)."""
    try:
        rtx = recover_transaction(raw)
    except InvalidTransaction as exc:
        return TxResult(skip_transaction(ctx, recover_in_block(raw), index, exc), exc, "recover")
    validate_error: StfError | None = None
    try:
        validate_transaction(overlay, config, rtx)
    except InvalidTransaction as exc:
        validate_error = exc
    scratch = overlay.child()
    scratch.set(MARKER_KEY, b"an earlier write in this block")
    before = dict(scratch.writes)
    try:
        receipt = apply_transaction(scratch, config, ctx, rtx, index)
    except StfError as exc:
        stage = "validate" if validate_error is not None else "apply"
        skipped = skip_transaction(ctx, rtx, index, exc) if isinstance(exc, InvalidTransaction) else None
        return TxResult(skipped, exc, stage, validate_error, scratch.writes == before)
    del scratch.writes[MARKER_KEY]
    scratch.merge_into(overlay)
    return TxResult(receipt, validate_error=validate_error, writes=dict(scratch.writes))


# -- the JSON a vector states about a replay --


def compute_sections(replay: StfReplay) -> dict[str, Any]:
    """{"pre_root", "blocks": [per-block sections], "post"}: what `fill` writes and the tests compare."""
    post = {**render_state(replay.post), "root": show_bytes(compute_state_root(replay.post))}
    return {"pre_root": show_bytes(replay.pre_root), "blocks": [block_sections(b) for b in replay.blocks], "post": post}


def block_sections(replay: BlockReplay) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if replay.build is not None:
        out["transactions"] = [tx_entry(rtx.raw) for rtx in replay.body]
        out["build"] = build_outputs(replay)
    if replay.receipts is not None:
        out["receipts"] = [receipt_json(r, tx) for r, tx in zip(replay.receipts, replay.txs)]
    if replay.error is not None:
        out["expect_error"] = block_error_json(replay)
    out["steps"] = [step_json(step) for step in replay.steps]
    if replay.state_root is not None:
        out["state_root"] = show_bytes(replay.state_root)
    return out


def tx_entry(raw: bytes) -> dict[str, Any]:
    try:
        readable = render_tx(raw)
    except ValueError:
        readable = {"type": "raw"}
    return {"tx": readable, "raw": show_bytes(raw), "hash": show_bytes(keccak256(raw))}


def error_json(error: StfError, stage: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": type(error).__name__, "code": error.rpc_code}
    if stage is not None:
        out["stage"] = stage
    return out


def receipt_json(receipt: Receipt, tx: TxResult) -> dict[str, Any]:
    out: dict[str, Any] = {
        "index": receipt.index,
        "tx_hash": show_bytes(receipt.tx_hash),
        "status": receipt.status,
        "kind": receipt.kind,
        "fee": str(receipt.fee),
        "block_number": receipt.block_number,
    }
    if receipt.error is not None:
        if tx.error is None or tx.error.rpc_code != receipt.error:
            raise ReplayMismatch(
                f"receipt {receipt.index} has error code {receipt.error}, applying it alone gave {tx.error!r}"
            )
        out["error"] = error_json(tx.error, tx.stage)
    return out


def block_error_json(replay: BlockReplay) -> dict[str, Any]:
    error = replay.error
    assert error is not None
    out = error_json(error)
    if hasattr(error, "index"):
        out["index"] = error.index
    failing = [i for i, tx in enumerate(replay.txs) if tx.receipt is None]
    if failing:
        out.update(transaction=failing[0], stage=replay.txs[failing[0]].stage)
    elif replay.steps and replay.steps[-1].error is not None:
        out["step"] = replay.steps[-1].index
    return out


def step_json(step: StepRoot) -> dict[str, Any]:
    out: dict[str, Any] = {"index": step.index, "kind": KIND_TRANSACTION if step.chunk is None else KIND_END_OF_BLOCK}
    if step.chunk is not None:
        out.update(chunk=step.chunk, last=step.last)
    if step.error is not None:
        out["error"] = type(step.error).__name__
        return out
    assert step.outcome is not None and step.post_root is not None
    out.update(outcome=step.outcome.value, post_root=show_bytes(step.post_root))
    return out


def build_outputs(replay: BlockReplay) -> dict[str, Any]:
    build, spec = replay.build, replay.block.build
    assert build is not None and spec is not None

    def position(rtx: RecoveredTx, among: tuple[RecoveredTx, ...]) -> int:
        return next(i for i, candidate in enumerate(among) if candidate is rtx)

    def rejection(r: Rejection, among: tuple[RecoveredTx, ...], key: str) -> dict[str, Any]:
        return {key: position(r.rtx, among), "error": error_json(r.error)}

    system = spec.deposits + spec.forced
    return {
        "included": [position(rtx, spec.candidates) for rtx in build.included],
        "rejected": [rejection(r, spec.candidates, "candidate") for r in build.rejected],
        "deferred": [position(rtx, spec.candidates) for rtx in build.deferred],
        "system_count": build.system_count,
        "system_skipped": [rejection(r, system, "index") for r in build.system_skipped],
    }


# -- (2) the L1's one-step verifier --


@dataclass(frozen=True)
class StepCheck:
    """One stated fact checked by the verifier: `where` (block, step), what the file states, what was computed."""

    where: str
    stated: str
    computed: str


def replay_onestep(doc: dict[str, Any]) -> list[StepCheck]:
    """Run every step the vector states through the one-step verifier; one StepCheck per stated root."""
    vector = load_vector(doc)
    state = vector.load_pre()
    pre_root = parse_bytes(doc["pre"]["root"])
    checks = [StepCheck("pre", show_bytes(pre_root), show_bytes(compute_state_root(state)))]
    for number, (block_doc, block) in enumerate(zip(doc["blocks"], vector.blocks)):
        steps = block_doc.get("steps", [])
        raws = tuple(parse_bytes(entry["raw"]) for entry in block_doc.get("transactions", ()))
        header = make_header(block.context, compute_tx_root([keccak256(raw) for raw in raws]))
        chain_block = Block(header, raws)
        count = max(len(steps), len(raws) + 1)  # a block that raises states its steps up to the error
        for k, step_doc in enumerate(steps):
            where = f"block {number} step {k}"
            step = get_block_step(chain_block, k, count)
            checks.append(StepCheck(where + " input", describe_step_doc(step_doc), describe_step(step)))
            witness, writes = prove_step(state, vector.config, step)
            wire_step, wire_witness = StepInput.decode(step.encode()), Witness.decode(witness.encode())
            if "error" in step_doc:
                checks.append(
                    StepCheck(
                        where + " error",
                        step_doc["error"],
                        run_unprovable(pre_root, wire_step, wire_witness, vector.config),
                    )
                )
                return checks
            post_root = execute_step(pre_root, wire_step, wire_witness, vector.config)  # what the L1 runs
            outcome = compute_step_result(pre_root, wire_step, wire_witness, vector.config).outcome
            checks.append(
                StepCheck(
                    where, f"{step_doc['outcome']} {step_doc['post_root']}", f"{outcome.value} {show_bytes(post_root)}"
                )
            )
            state.apply(writes)
            pre_root = parse_bytes(step_doc["post_root"])
        if "state_root" in block_doc:
            checks.append(StepCheck(f"block {number} state root", block_doc["state_root"], show_bytes(pre_root)))
    return checks


def prove_step(state: DictState, config: ChainConfig, step: StepInput) -> tuple[Witness, dict[bytes, bytes | None]]:
    """The prover's side: run the step over the pre-state, recording what it reads and writes; its witness."""
    recorder = RecordingState(state)
    scratch = Overlay(recorder)
    try:
        process_step(scratch, config, step)
    except StfError:
        pass  # an unreachable pre-state: the witness holds what the step read until it failed
    touched = {hash_key(key) for key in recorder.get_touched_keys(scratch.writes)}
    deleted = {hash_key(key) for key, value in scratch.writes.items() if value is None}
    tree = MemoryTree({hash_key(key): value for key, value in state.items.items()})
    return build_witness(tree, touched, deleted), dict(scratch.writes)


def run_unprovable(pre_root: bytes, step: StepInput, witness: Witness, config: ChainConfig) -> str:
    """The state-transition error behind the verifier's UnreachablePreState, or what it returned instead."""
    try:
        result = compute_step_result(pre_root, step, witness, config)
    except UnreachablePreState as exc:
        return type(exc.__cause__).__name__
    return f"no error: {result.outcome.value} {show_bytes(result.post_root)}"


def describe_step(step: StepInput) -> str:
    if step.kind == STEP_END_OF_BLOCK:
        return f"{KIND_END_OF_BLOCK} chunk {step.chunk} last {step.last}"
    return f"{KIND_TRANSACTION} {step.index}"


def describe_step_doc(doc: dict[str, Any]) -> str:
    if doc["kind"] == KIND_END_OF_BLOCK:
        return f"{KIND_END_OF_BLOCK} chunk {doc['chunk']} last {doc['last']}"
    return f"{KIND_TRANSACTION} {doc['index']}"


__all__ = [
    "BlockReplay",
    "ReplayMismatch",
    "StepCheck",
    "StfReplay",
    "TxResult",
    "compute_sections",
    "replay_onestep",
    "replay_stf",
]
