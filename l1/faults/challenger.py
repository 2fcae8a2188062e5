"""`python -m l1.faults.challenger --config FILE`: a challenger that disputes every output of others (test only).

A challenger config as for `rollup challenger`; the process runs with the
DisputeAll conduct injected: it disputes every unsettled output it did not
propose, once, defends nothing, and plays its games with the contrarian
player, which agrees with every block claim (so the game narrows to the
disputed output's own block, where the recent transactions are), disagrees
with every step claim and never proves a step. An honest defender ends each
game with a one-step proof, which it wins: the faulty challenger loses its
bond every time.
"""

from __future__ import annotations

import sys

from node.fraud.game import Phase, Side
from node.fraud.trace import TraceError
from node.lifecycle import Role, role_main
from prover.challenger import Challenger
from prover.config import ChallengerConfig, load_challenger_config
from prover.games import GameView, OutputView
from prover.oracle import Opening, TraceOracle
from prover.players import HonestPlayer, Player
from prover.strategy import StepResult
from prover.verdicts import OPEN_STATUSES, Verdict


class ContrarianPlayer:
    """Agrees with block claims, disagrees with step claims; has no trace of its own."""

    def claim(self, game: GameView) -> bytes:
        raise TraceError("the contrarian player never defends")

    def agrees(self, game: GameView) -> bool:
        return game.phase is Phase.BLOCKS

    def opening(self, game: GameView) -> Opening | None:
        return None

    def step_result(self, game: GameView) -> StepResult | None:
        return None


class DisputeAllConduct:
    name = "dispute_all"
    honest = False

    def __init__(self, oracle: TraceOracle) -> None:
        self.contrarian = ContrarianPlayer()
        self.honest_player = HonestPlayer(oracle)

    def disputes(self, output: OutputView, verdict: Verdict, me: bytes) -> bool:
        return output.status in OPEN_STATUSES and output.proposer != me and not output.plays(me)

    def defends(self, output: OutputView, verdict: Verdict, me: bytes) -> bool:
        return False

    def player(self, side: Side) -> Player:
        return self.contrarian if side is Side.CHALLENGER else self.honest_player


def make_dispute_all_challenger(config: ChallengerConfig) -> Challenger:
    return Challenger(config, conduct=DisputeAllConduct)


ROLE = Role(
    "challenger",
    "run a challenger that disputes every output (test only)",
    load_challenger_config,
    make_dispute_all_challenger,
    "l1.faults.challenger",
)

if __name__ == "__main__":
    sys.exit(role_main(ROLE))
