"""Judging output proposals against our own chain, and choosing our side in a game (pure).

    judge_output(output, oracle)                 -> CORRECT | WRONG | UNKNOWN (not derived yet)
    should_dispute(output, verdict, me)          -> bool  (the honest rule)
    should_defend(output, verdict, me)           -> bool
    find_anchor(output, outputs, genesis_root)   -> (L2 block, root) the L1 would start the game from, or None
    choose_side(game, me)                        -> Side | None: the side we are the player of, if any

Games have fixed players (l1.contracts.disputes): we move only in the games where we
are the challenger (we disputed) or the defender (we proposed, or joined the
defence of a correct output under dispute).

The anchor rule mirrors the L1's (l1.contracts.disputes.find_anchor): the newest
finalized proposal before the disputed one, else L2 genesis if the L1 knows
its output root. Without one the L1 refuses the dispute, so we wait for the
earlier output to finalize (it always does before the disputed one's
window closes, being older).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from node.fraud.game import Side
from prover.games import GameView, OutputView
from prover.oracle import TraceOracle

OPEN_STATUSES = frozenset({"pending", "disputed"})
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


def should_dispute(output: OutputView, verdict: Verdict, me: bytes) -> bool:
    """Dispute an unsettled output our chain contradicts, unless we already play in its dispute (a wrong output
    may already be disputed by others, who may be puppets of its proposer: we join, unless one of our configured
    allies covers it, prover.allies)."""
    return output.status in OPEN_STATUSES and not output.plays(me) and verdict is Verdict.WRONG


def should_defend(output: OutputView, verdict: Verdict, me: bytes) -> bool:
    """Join the defence of a correct output that someone disputes, unless we already play in it (its proposer
    may be offline, and nobody else can move for it)."""
    return verdict is Verdict.CORRECT and output.status in OPEN_STATUSES and output.disputed and not output.plays(me)


def find_anchor(
    output: OutputView, outputs: Iterable[OutputView], genesis_root: bytes | None
) -> tuple[int, bytes] | None:
    earlier = [
        o
        for o in outputs
        if o.index < output.index and o.status == FINALIZED_STATUS and o.l2_block_number < output.l2_block_number
    ]
    if earlier:
        newest = max(earlier, key=lambda o: o.index)
        return newest.l2_block_number, newest.output_root
    return (0, genesis_root) if genesis_root is not None else None


def is_window_open(output: OutputView, head: int) -> bool:
    return output.finalizes_at == 0 or head < output.finalizes_at


def choose_side(game: GameView, me: bytes) -> Side | None:
    """The side we are the player of in `game`, if any (nobody else may move for it)."""
    if game.challenger == me:
        return Side.CHALLENGER
    if game.defender == me:
        return Side.DEFENDER
    return None
