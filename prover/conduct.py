"""How a challenger behaves: which outputs it disputes and defends, and who answers for it in a game.

    HonestConduct(oracle, defend)   disputes what our chain contradicts, defends what it confirms

A Referee plays with one Conduct. Production runs only the honest one; the
test suite's faulty challenger (l1.faults.challenger) injects another one,
so no fault mode lives in this package.
"""

from __future__ import annotations

from typing import Protocol

from node.fraud.game import Side
from prover.games import OutputView
from prover.oracle import TraceOracle
from prover.players import HonestPlayer, Player
from prover.verdicts import Verdict, should_defend, should_dispute


class Conduct(Protocol):
    name: str  # shown in status and health ("honest", ...)
    honest: bool  # whether it refuses to play from an agreed root it knows is wrong

    def disputes(self, output: OutputView, verdict: Verdict, me: bytes) -> bool: ...

    def defends(self, output: OutputView, verdict: Verdict, me: bytes) -> bool: ...

    def player(self, side: Side) -> Player: ...


class HonestConduct:
    name = "honest"
    honest = True

    def __init__(self, oracle: TraceOracle, defend: bool = True) -> None:
        self.defend = defend
        self._player = HonestPlayer(oracle)

    def disputes(self, output: OutputView, verdict: Verdict, me: bytes) -> bool:
        return should_dispute(output, verdict, me)

    def defends(self, output: OutputView, verdict: Verdict, me: bytes) -> bool:
        return self.defend and should_defend(output, verdict, me)

    def player(self, side: Side) -> Player:
        return self._player


__all__ = ["Conduct", "HonestConduct"]
