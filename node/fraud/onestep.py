"""The one-step proof: run one step of a block over a Merkle witness and compute its post-root.

    execute_step(pre_root, step, witness, config) -> post_root

1. The witness is verified against `pre_root` (WitnessError: bad proofs, a
   value that does not match, proofs for another root, malformed openings).
2. The step runs through the project's own step code (node.fraud.steps, i.e.
   the state transition's apply_transaction in a child overlay) over a
   `WitnessState`; reading a key the witness does not settle raises
   MissingWitness. A transaction step whose transaction is invalid leaves
   the state untouched, so its post-root is the pre-root.
3. The step's writes are applied to the partial tree (sets, then deletes, by
   key hash; a deletion's collapse needs the witness's node openings) and the
   new root is returned.

A step the block does not have (node.fraud.steps: an end-of-block chunk
after the phase closed, or the declared last chunk leaving it open) has the
post-root INVALID_ROOT, and every step from INVALID_ROOT stays there without
a witness.

The pre-state is proven, so it is whatever the pre-root commits to. If it
holds values the state transition cannot decode, or breaks an invariant (a
burn above the supply), no honest party can have agreed to that root:
`UnreachablePreState` is raised and the step cannot be proven (in a dispute,
the side that must prove loses on time). Pure and synchronous: this is what
the L1 runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import node.venue  # noqa: F401  the venue's transaction kinds and end-of-block hook are part of the chain's rules
from node.encoding import DecodeError
from node.fraud.partial_tree import WitnessError
from node.fraud.steps import INVALID_ROOT, StepInput, StepOutcome, StepTable, process_step
from node.fraud.witness import Witness, WitnessState
from node.smt.hashing import hash_key
from node.state.view import Overlay
from node.stf.config import ChainConfig
from node.stf.errors import StfError


class StepExecutionError(Exception):
    """The step cannot be executed over this pre-state (not a witness problem)."""


class UnreachablePreState(StepExecutionError):
    """The proven pre-state cannot be decoded by, or breaks an invariant of, the state transition."""


@dataclass(frozen=True, slots=True)
class StepResult:
    post_root: bytes
    outcome: StepOutcome
    writes: int  # how many keys the step wrote (unchanged values included)


def execute_step(
    pre_root: bytes, step: StepInput, witness: Witness, config: ChainConfig, table: StepTable | None = None
) -> bytes:
    """The post-root of `step` applied to the state `pre_root` commits to, as opened by `witness`."""
    return compute_step_result(pre_root, step, witness, config, table).post_root


def compute_step_result(
    pre_root: bytes, step: StepInput, witness: Witness, config: ChainConfig, table: StepTable | None = None
) -> StepResult:
    if pre_root == INVALID_ROOT:
        return StepResult(INVALID_ROOT, StepOutcome.INVALID, 0)
    tree = witness.open(pre_root)
    overlay = Overlay(WitnessState(tree))
    outcome = process_step_over_witness(overlay, config, step, table)
    if outcome is StepOutcome.INVALID:
        return StepResult(INVALID_ROOT, outcome, 0)
    post_root = tree.apply_writes({hash_key(key): value for key, value in overlay.writes.items()})
    return StepResult(post_root, outcome, len(overlay.writes))


def process_step_over_witness(
    overlay: Overlay, config: ChainConfig, step: StepInput, table: StepTable | None
) -> StepOutcome:
    try:
        return process_step(overlay, config, step, table)
    except WitnessError:
        raise
    except (StfError, DecodeError) as exc:
        raise UnreachablePreState(f"step {step.index} of block {step.number}: {exc}") from exc


__all__ = ["StepExecutionError", "StepResult", "UnreachablePreState", "compute_step_result", "execute_step"]
