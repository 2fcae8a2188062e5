"""The faulty proposer's (dishonest) defence of its wrong output: moves consistent with its wrong history.

    decide_defense(game, trace) -> Claim | OpenOutputs | RESOLVE | None

Pure, over the game as l1_getGame shows it (l1.contracts.reports.GameInfo, with node.fraud.game enums). The
defender claims roots from the FaultyTrace (honest before the fault, wrong
after it), opens the disputed block with its wrong header when the block
range is one block, and never submits a one-step proof (the objective
result would go against it). A garbage root cannot be opened: the defender
then lets its clock run out. If the challenger's clock runs out first, it
resolves. Clocks look one L1 block ahead: a transaction sent now lands in
the next block at the earliest.
"""

from __future__ import annotations

from l1.contracts.client import GameInfo
from l1.faults.trace import FaultyTrace
from node.fraud.game import Claim, OpenOutputs, Side

RESOLVE = "resolve"
DEFENDER = Side.DEFENDER.value

Defense = Claim | OpenOutputs | str | None


def decide_defense(game: GameInfo, trace: FaultyTrace) -> Defense:
    if not game.in_progress:
        return None
    if game.clocks_now.get(game.turn, 0) - 1 < 0:
        return RESOLVE if game.turn != DEFENDER else None
    if game.turn != DEFENDER:
        return None
    mid = (game.lo + game.hi) // 2
    if game.phase == "blocks" and game.mid_claim is None:
        return Claim(Side.DEFENDER, trace.output_root(mid))
    if game.phase == "steps" and game.mid_claim is None and game.block_number is not None:
        return Claim(Side.DEFENDER, trace.step_root(game.block_number, mid))
    if game.phase == "opening" and trace.can_open(game.hi):
        lo = trace.header(game.lo)
        return OpenOutputs(Side.DEFENDER, lo.state_root, lo.hash(), trace.header(game.hi), trace.step_count(game.hi))
    return None
