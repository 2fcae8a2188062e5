"""Judging output proposals against our own chain, and choosing our side in a game (pure).

    judge_output(output, oracle)                 -> CORRECT | WRONG | UNKNOWN (not derived yet)
    should_dispute(output, verdict, mode, me)    -> bool
    find_anchor(output, outputs, genesis_root)   -> (L2 block, root) the L1 would start the game from, or None
    choose_side(game, verdict, me, ...)          -> Side | None

The anchor rule mirrors the L1's (l1.disputes.find_anchor): the newest
finalized proposal before the disputed one, else L2 genesis if the L1 knows
its output root. Without one the L1 refuses the dispute, so we wait for the
earlier output to finalize (it always does before the disputed one's
window closes, being older).
"""

from __future__ import annotations

from enum import Enum
from typing import Iterable

from node.fraud.game import Side
from prover.config import Mode
from prover.games import GameView, OutputView
from prover.oracle import TraceOracle

DISPUTABLE_STATUS = "pending"
FINALIZED_STATUS = "finalized"


class Verdict(Enum):
    CORRECT = "correct"
    WRONG = "wrong"
    UNKNOWN = "unknown"  # our chain has not derived that block yet


def judge_output(output: OutputView, oracle: TraceOracle) -> Verdict:
    if not oracle.has_block(output.l2_block_number):
        return Verdict.UNKNOWN
    ours = oracle.output_root(output.l2_block_number)
    return Verdict.CORRECT if ours == output.output_root else Verdict.WRONG


def should_dispute(output: OutputView, verdict: Verdict, mode: Mode, me: bytes) -> bool:
    """Honest: dispute a pending output our chain contradicts, even one that survived an earlier game (a
    wrong output defended against a bad challenger is pending again). dispute_all: every pending output of
    others, once (a defended output is pending again and carries its game id)."""
    if output.status != DISPUTABLE_STATUS:
        return False
    if mode is Mode.DISPUTE_ALL:
        return output.proposer != me and output.game_id is None
    return verdict is Verdict.WRONG


def find_anchor(output: OutputView, outputs: Iterable[OutputView], genesis_root: bytes | None) -> tuple[int, bytes] | None:
    earlier = [
        o for o in outputs
        if o.index < output.index and o.status == FINALIZED_STATUS and o.l2_block_number < output.l2_block_number
    ]
    if earlier:
        newest = max(earlier, key=lambda o: o.index)
        return newest.l2_block_number, newest.output_root
    return (0, genesis_root) if genesis_root is not None else None


def is_window_open(output: OutputView, head: int) -> bool:
    return output.finalizes_at == 0 or head < output.finalizes_at


def choose_side(game: GameView, verdict: Verdict, me: bytes, mode: Mode, defend: bool) -> Side | None:
    """The side we play in `game`: ours if we disputed; the defender's if the output is correct and we defend."""
    if game.challenger == me:
        return Side.CHALLENGER
    if defend and mode is Mode.HONEST and verdict is Verdict.CORRECT:
        return Side.DEFENDER
    return None
