"""Players: where a side's answers come from.

- HonestPlayer: our own derived chain (TraceOracle). Used for both sides:
  as challenger of a wrong output and as defender of a correct one.
- Player: what the strategy asks of either (the test suite's contrarian
  player is l1.faults.challenger's).
"""

from __future__ import annotations

from typing import Protocol

from node.fraud.game import Phase
from node.fraud.trace import TraceError
from prover.games import GameView
from prover.oracle import Opening, TraceOracle
from prover.strategy import StepResult


class GameDataMissing(TraceError):
    """The game does not say which L2 block its step phase is about."""


class Player(Protocol):
    def claim(self, game: GameView) -> bytes: ...

    def agrees(self, game: GameView) -> bool: ...

    def opening(self, game: GameView) -> Opening | None: ...

    def step_result(self, game: GameView) -> StepResult | None: ...


class HonestPlayer:
    def __init__(self, oracle: TraceOracle) -> None:
        self.oracle = oracle

    def root_at(self, game: GameView, position: int) -> bytes:
        if game.phase is Phase.BLOCKS:
            return self.oracle.output_root(position)
        return self.oracle.step_root(require_block(game), position)

    def claim(self, game: GameView) -> bytes:
        return self.root_at(game, game.mid)

    def agrees(self, game: GameView) -> bool:
        return game.mid_claim == self.root_at(game, game.mid)

    def opening(self, game: GameView) -> Opening | None:
        return self.oracle.opening(game.lo, game.hi)

    def step_result(self, game: GameView) -> StepResult | None:
        number = require_block(game)
        proof = self.oracle.step_proof(number, game.lo, game.step_count or None)
        return StepResult(number, game.lo, proof.pre_root, proof.post_root, proof.witness.encode())


def require_block(game: GameView) -> int:
    if game.block_number is None:
        raise GameDataMissing(f"game {game.game_id} in phase {game.phase.value} does not name its L2 block")
    return game.block_number
