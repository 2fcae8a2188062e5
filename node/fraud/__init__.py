"""Fraud proofs, the pure core: steps of a block, witnesses, the one-step proof, traces, the dispute game.

    steps.py         StepInput, get_block_step, get_next_step, process_step (tx steps, end-of-block chunks)
    partial_tree.py  PartialTree: the tree nodes a witness opens, updatable, checked against a root
    witness.py       Witness (codec), WitnessState, RecordingState, build_witness
    onestep.py       execute_step(pre_root, step, witness, config) -> post_root
    trace.py         intermediate roots r(n, k), step proofs and block outputs from a ChainStore
    game.py          the bisection game with chess clocks (apply_move, resolve_timeout, compute_depth)

Everything here is synchronous and free of I/O except trace.py, which reads a ChainStore.
"""

from node.fraud.game import (
    Claim,
    ClockExpired,
    ClockNotExpired,
    Game,
    GameError,
    GameOver,
    InvalidMove,
    NotYourTurn,
    OpenOutputs,
    Phase,
    ProveStep,
    Respond,
    Side,
    Status,
    apply_move,
    compute_depth,
    compute_max_moves,
    new_game,
    resolve_timeout,
)
from node.fraud.onestep import StepExecutionError, UnreachablePreState, compute_step_result, execute_step
from node.fraud.partial_tree import MissingWitness, PartialTree, WitnessError
from node.fraud.steps import INVALID_ROOT, StepInput, StepOutcome, get_block_step, get_next_step, process_step
from node.fraud.witness import MalformedWitness, RecordingState, VersionedSource, Witness, WitnessState, build_witness

__all__ = [
    "Claim",
    "INVALID_ROOT",
    "ClockExpired",
    "ClockNotExpired",
    "Game",
    "GameError",
    "GameOver",
    "InvalidMove",
    "MalformedWitness",
    "MissingWitness",
    "NotYourTurn",
    "OpenOutputs",
    "PartialTree",
    "Phase",
    "ProveStep",
    "RecordingState",
    "Respond",
    "Side",
    "Status",
    "StepExecutionError",
    "StepInput",
    "StepOutcome",
    "UnreachablePreState",
    "VersionedSource",
    "Witness",
    "WitnessError",
    "WitnessState",
    "apply_move",
    "build_witness",
    "compute_depth",
    "compute_max_moves",
    "compute_step_result",
    "execute_step",
    "get_block_step",
    "get_next_step",
    "new_game",
    "process_step",
    "resolve_timeout",
]
