"""Allied challengers: one bond per wrong output among challengers that trust each other, and no hole (pure).

    [challenger]
    allies = ["0x..", ...]      # L1 addresses of allied challengers (empty: none; we join every dispute)
    backstop_blocks = 5         # L1 blocks of margin: join while an ally's clock or the window has more
    ally_stagger_blocks = 2     # per rank, how long we wait for a better-ranked ally's first dispute

    decide_join(output, games, head, me, policy, first_seen, on_track) -> Join | HoldBack

Asked only for a wrong output we would dispute (prover.verdicts.should_dispute
said yes, its window is open and the L1 has an anchor for it). The rules:

1. No allies configured: join (as every honest challenger does without them).
2. An ally already disputes it and *covers* it: hold back. It covers it when
   it has a game against every defender of the output (the L1 starts one per
   pair, so a defender joining later gets a game with it too) and in each:
   - it has not lost (a lost game means it cannot beat every defender);
   - a running game leaves its clock more than `backstop_blocks` L1 blocks
     (a stalled or missing ally's clock runs down; we join with a full clock
     of our own before its clock is gone);
   - its line of play is ours: the game's agreed claim at `lo` equals our
     trace and its disputed claim at `hi` does not (an "ally" that agrees
     with a wrong root or disputes a right one, by bug or compromised key,
     is caught at its first bad answer, not when it loses);
   - and, while any of its games still runs, the window has more than
     `backstop_blocks` blocks left: the L1 takes no challenger after the
     window, so we join before it closes unless the ally has already beaten
     every defender.
   Any ally in the dispute failing these: join.
3. An ally announced on gossip that it disputes it (prover.notices) and its
   dispute is not on L1 yet: hold back for 2 * `ally_stagger_blocks` L1
   blocks from the notice's arrival (never past the backstop), then rule 4.
4. Only non-allies (or nobody) dispute it: the allies (and we) are ranked per
   output by keccak256(index || root || address); rank 0 joins at once, rank r
   once `r * ally_stagger_blocks` L1 blocks have passed since we first found
   the output disputable, and never later than `backstop_blocks` before the
   window closes. Non-allies never make us wait: a puppet of the proposer
   that disputes and plays to lose changes nothing.

What an attacker gains: nothing beyond what trusting an ally already means.
Only configured allies can make us hold back, and only while the L1 shows them
playing our line in time, with margin before the last moment we could still
join. Residual trust, accepted by configuring allies: an ally that has
already beaten every defender and then stops moving, when a new defender
joins in the last `backstop_blocks` of the window (too late for us to join),
loses that game on time and the output stands. Without allies nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from node.crypto import keccak256, to_checksum_address
from node.fraud.game import Phase, Side, Status
from node.fraud.trace import TraceError
from prover.games import GameView, OutputView
from prover.oracle import TraceOracle

DEFAULT_BACKSTOP_BLOCKS = 5
DEFAULT_STAGGER_BLOCKS = 2


@dataclass(frozen=True, slots=True)
class AllyPolicy:
    allies: frozenset[bytes] = frozenset()
    backstop_blocks: int = DEFAULT_BACKSTOP_BLOCKS
    stagger_blocks: int = DEFAULT_STAGGER_BLOCKS


@dataclass(frozen=True, slots=True)
class Join:
    reason: str


@dataclass(frozen=True, slots=True)
class HoldBack:
    reason: str
    until: int | None = None  # the L1 block from which we join anyway (rule 3), if nothing changes


Decision = Join | HoldBack
OnTrack = Callable[[GameView], bool]


def decide_join(
    output: OutputView,
    games: Iterable[GameView],
    head: int,
    me: bytes,
    policy: AllyPolicy,
    first_seen: int,
    on_track: OnTrack,
    announced: Mapping[bytes, int] | None = None,
) -> Decision:
    """`announced`: allies that gossiped a notice of their dispute of this output, with the L1 head at its
    arrival (prover.notices)."""
    if not policy.allies:
        return Join("no allies configured")
    mine = [g for g in games if g.output_index == output.index]
    in_dispute = [c for c in output.challengers if c in policy.allies and c != me]
    failures: list[str] = []
    for ally in in_dispute:
        covers, why = ally_covers(ally, output, mine, head, policy, on_track)
        if covers:
            return HoldBack(f"ally {short(ally)} {why}")
        failures.append(f"ally {short(ally)} {why}")
    if failures:
        return Join("; ".join(failures))
    notice = announced_hold(output, head, me, policy, announced or {})
    return notice if notice is not None else staggered(output, head, me, policy, first_seen)


def announced_hold(
    output: OutputView, head: int, me: bytes, policy: AllyPolicy, announced: Mapping[bytes, int]
) -> HoldBack | None:
    """An ally's notice holds us back for 2 * stagger L1 blocks from its arrival (its dispute should have landed
    by then), never past the backstop before the window closes."""
    for ally, at in sorted(announced.items(), key=lambda item: item[1]):
        if ally not in policy.allies or ally == me:
            continue
        until = at + 2 * policy.stagger_blocks
        if output.finalizes_at:
            until = min(until, output.finalizes_at - policy.backstop_blocks)
        if head < until:
            return HoldBack(f"ally {short(ally)} announced its dispute on gossip at L1 block {at}", until)
    return None


def ally_covers(
    ally: bytes, output: OutputView, games: Sequence[GameView], head: int, policy: AllyPolicy, on_track: OnTrack
) -> tuple[bool, str]:
    """Whether `ally` plays against every defender of `output`, keeping up; and why (not)."""
    by_defender = {g.defender: g for g in games if g.challenger == ally}
    running = False
    for defender in output.defenders:
        game = by_defender.get(defender)
        if game is None:
            return False, f"has no game against defender {short(defender)}"
        if game.status is Status.DEFENDER_WON:
            return False, f"lost game {game.game_id}"
        if not game.in_progress:
            continue
        running = True
        left = clock_left(game)
        if left <= policy.backstop_blocks:
            return (
                False,
                f"has {left} L1 blocks left on its clock in game {game.game_id} (backstop {policy.backstop_blocks})",
            )
        if not on_track(game):
            return False, f"left our trace in game {game.game_id} (its agreed or disputed claim is not ours)"
    closes = output.finalizes_at - policy.backstop_blocks
    if running and output.finalizes_at and head >= closes:
        return False, f"still plays while the window closes at L1 block {output.finalizes_at}: joining while we may"
    if running:
        return True, "plays every defender and keeps up"
    return True, "has beaten every defender"


def clock_left(game: GameView) -> int:
    """L1 blocks left on the challenger's clock where a transaction sent now would land."""
    return game.remaining.get(Side.CHALLENGER, 0) - (1 if game.turn is Side.CHALLENGER else 0)


def staggered(output: OutputView, head: int, me: bytes, policy: AllyPolicy, first_seen: int) -> Decision:
    members = policy.allies | {me}
    ranked = rank_members(output, members)
    rank = ranked.index(me)
    if rank == 0:
        return Join("no ally disputes it and we are first in its rank")
    due = first_seen + rank * policy.stagger_blocks
    if output.finalizes_at:
        due = min(due, output.finalizes_at - policy.backstop_blocks)
    if head >= due:
        return Join(f"no ally disputed it by L1 block {due} (we are rank {rank} of {len(ranked)})")
    return HoldBack(f"rank {rank} of {len(ranked)}: waiting for ally {short(ranked[0])} to dispute first", due)


def rank_members(output: OutputView, members: Iterable[bytes]) -> list[bytes]:
    """Who disputes a given output first: a per-output order, so no ally always pays the bond."""
    salt = output.index.to_bytes(8, "big") + output.output_root
    return sorted(set(members), key=lambda member: keccak256(salt + member))


def trace_checker(oracle: TraceOracle) -> OnTrack:
    """on_track for decide_join: the game's lo claim is our root there and its hi claim is not."""

    def on_track(game: GameView) -> bool:
        try:
            if game.phase in (Phase.BLOCKS, Phase.OPENING):
                ours_lo, ours_hi = oracle.output_root(game.lo), oracle.output_root(game.hi)
            elif game.phase in (Phase.STEPS, Phase.ONE_STEP) and game.block_number is not None:
                ours_lo = oracle.step_root(game.block_number, game.lo)
                ours_hi = oracle.step_root(game.block_number, game.hi)
            else:
                return False
        except TraceError:
            return False
        return game.lo_claim == ours_lo and game.hi_claim != ours_hi

    return on_track


def short(address: bytes) -> str:
    return to_checksum_address(address)[:10]
