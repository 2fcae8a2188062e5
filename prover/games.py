"""The challenger's views of dispute games and output proposals, built from the L1 client's records.

    game_view(GameInfo)         -> GameView    (clocks left by Side at the L1 head, one block ahead)
    output_view(OutputReport)   -> OutputView  (the parties as addresses)

GameInfo and OutputReport (l1.contracts.reports) are what the L1 renders,
parsed through the same schemas; a reply that does not parse never gets here
(l1.contracts.client.L1ResponseError).

A GameView carries the clocks as L1 blocks left to each side at L1 block
`now` (the L1 head when it answered, the running turn charged). A move is
included at the earliest in block now + 1, where the side on turn has one
block less: `can_still_move` and `has_run_out` look one block ahead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from l1.contracts.reports import GameInfo, OutputReport
from node.fraud.game import Phase, Side, Status


@dataclass(frozen=True, slots=True)
class GameView:
    game_id: int
    output_index: int
    challenger: bytes
    defender: bytes  # the only address that may make the defender's moves
    status: Status
    phase: Phase
    lo: int
    hi: int
    lo_claim: bytes
    hi_claim: bytes
    mid_claim: bytes | None
    turn: Side
    remaining: Mapping[Side, int]  # L1 blocks left on each clock at L1 block `now` (< 0: run out)
    now: int
    block_number: int | None  # the opened (disputed) L2 block, in the step phases
    step_count: int
    start_block: int  # the agreed output's L2 block
    end_block: int  # the disputed output's L2 block
    moves: int
    created_at: int
    resolved_at: int | None
    bonds: Mapping[str, int]
    raw: Mapping[str, Any]

    @property
    def in_progress(self) -> bool:
        return self.status is Status.IN_PROGRESS

    @property
    def mid(self) -> int:
        return (self.lo + self.hi) // 2

    def has_run_out(self, side: Side) -> bool:
        """`side`'s clock will be negative in the next L1 block (where a transaction sent now lands)."""
        return self.remaining.get(side, 0) - (1 if side is self.turn else 0) < 0


@dataclass(frozen=True, slots=True)
class OutputView:
    index: int
    l2_block_number: int
    output_root: bytes
    proposer: bytes
    bond: int
    proposed_at: int
    finalizes_at: int
    status: str  # pending / disputed / finalized / defeated
    challengers: tuple[bytes, ...] = ()  # the parties of its dispute, by slot
    defenders: tuple[bytes, ...] = ()  # defender 0 is the proposer
    open_games: int = 0

    @property
    def disputed(self) -> bool:
        return bool(self.challengers)

    def plays(self, address: bytes) -> bool:
        return address in self.challengers or address in self.defenders


# -- from the L1 client's typed replies --


def game_view(info: GameInfo) -> GameView:
    """A game from the L1 client (l1_getGame): clocks as the L1 computed them at its head (`clocksAt`)."""
    return GameView(
        game_id=info.game_id,
        output_index=info.output_index,
        challenger=bytes(info.challenger),
        defender=bytes(info.defender),
        status=info.status,
        phase=info.phase,
        lo=info.lo,
        hi=info.hi,
        lo_claim=bytes(info.lo_claim),
        hi_claim=bytes(info.hi_claim),
        mid_claim=None if info.mid_claim is None else bytes(info.mid_claim),
        turn=info.turn,
        remaining=dict(info.clocks_now),
        now=info.clocks_at,
        block_number=info.block_number,
        step_count=info.step_count,
        start_block=info.start_block,
        end_block=info.end_block,
        moves=info.moves,
        created_at=info.created_at,
        resolved_at=info.resolved_at,
        bonds={side.value: bond for side, bond in info.bonds.items()},
        raw=info.raw,
    )


def output_view(report: OutputReport) -> OutputView:
    return OutputView(
        index=report.index,
        l2_block_number=report.l2_block_number,
        output_root=bytes(report.output_root),
        proposer=bytes(report.proposer),
        bond=report.bond,
        proposed_at=report.proposed_at,
        finalizes_at=report.finalizes_at,
        status=report.status,
        challengers=tuple(bytes(p.address) for p in report.challengers),
        defenders=tuple(bytes(p.address) for p in report.defenders),
        open_games=report.open_games,
    )
