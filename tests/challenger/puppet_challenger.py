"""`python -m tests.challenger.puppet_challenger --config FILE`: a proposer's puppet challenger (test only).

It disputes exactly the outputs an honest challenger would (its own chain
says they are wrong), so it is in the dispute as early as anyone, and then
plays to lose: the contrarian player of l1.faults.challenger (agrees with
every block claim, disagrees with every step claim, never proves). It
defends nothing. An honest challenger must not take its dispute as cover.
"""

from __future__ import annotations

import sys

from l1.faults.challenger import ContrarianPlayer
from node.fraud.game import Side
from node.lifecycle import Role, role_main
from prover.challenger import Challenger
from prover.config import ChallengerConfig, load_challenger_config
from prover.games import OutputView
from prover.oracle import TraceOracle
from prover.players import HonestPlayer, Player
from prover.verdicts import Verdict, should_dispute


class PuppetConduct:
    name = "puppet"
    honest = False

    def __init__(self, oracle: TraceOracle) -> None:
        self.contrarian = ContrarianPlayer()
        self.honest_player = HonestPlayer(oracle)

    def disputes(self, output: OutputView, verdict: Verdict, me: bytes) -> bool:
        return should_dispute(output, verdict, me)

    def defends(self, output: OutputView, verdict: Verdict, me: bytes) -> bool:
        return False

    def player(self, side: Side) -> Player:
        return self.contrarian if side is Side.CHALLENGER else self.honest_player


def make_puppet(config: ChallengerConfig) -> Challenger:
    return Challenger(config, conduct=PuppetConduct)


ROLE = Role(
    "challenger",
    "a puppet challenger that disputes wrong outputs and plays to lose (test only)",
    load_challenger_config,
    make_puppet,
    "tests.challenger.puppet_challenger",
)

if __name__ == "__main__":
    sys.exit(role_main(ROLE))
