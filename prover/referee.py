"""One round of the challenger's watch: judge new outputs, dispute, and act in every game we play.

A round reads everything from L1 (outputs, games, the head) and our chain,
decides with the pure modules (verdicts, allies, strategy) and sends the L1
transactions, all of them before waiting for any receipt so several games
progress in the same L1 block. A game with a transaction in flight is left
alone until its receipt arrives. Nothing here is persisted: after a restart
the next round rebuilds the same picture from L1 and the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from l1.chain.events import STATUS_SUCCESS
from l1.chain.reports import L1TxReceipt
from node.crypto import to_checksum_address
from node.fraud.game import Side, Status
from node.fraud.trace import TraceError
from prover.allies import AllyPolicy, HoldBack, decide_join, trace_checker
from prover.conduct import Conduct
from prover.games import GameView, OutputView
from prover.oracle import TraceOracle
from prover.strategy import Action, PostClaim, PostOpening, PostResponse, ProveOneStep, Resolve, Wait, decide
from prover.verdicts import Verdict, choose_side, find_anchor, is_window_open, judge_output

log = logging.getLogger("challenger")

INFLIGHT_TIMEOUT_S = 20.0
DISPUTE_RETRY_S = 2.0  # after the L1 refused a dispute, before trying that output again


class DisputeContracts(Protocol):
    """The L1 side: reads and the dispute transactions (prover.l1_disputes implements it)."""

    genesis_root: bytes | None

    async def head(self) -> int: ...

    async def outputs(self) -> list[OutputView]: ...

    async def games(self) -> list[GameView]: ...

    async def dispute(self, output: OutputView) -> bytes: ...

    async def defend(self, output: OutputView) -> bytes: ...

    async def send_action(self, game: GameView, side: Side, action: Action) -> bytes: ...

    async def receipt(self, tx_hash: bytes) -> L1TxReceipt | None: ...

    def forget_games_before(self, game_id: int) -> None: ...


class NoticeHooks(Protocol):
    """Dispute notices on gossip (prover.notice_net.NoticeBoard implements it)."""

    async def announce(self, output_index: int, output_root: bytes, tx_hash: bytes) -> None: ...

    def announced(self, output_index: int, output_root: bytes) -> Mapping[bytes, int]: ...


@dataclass
class Inflight:
    tx_hash: bytes
    what: str
    sent: float


@dataclass
class RefereeStats:
    disputes: int = 0
    defences: int = 0
    moves: int = 0
    proofs: int = 0
    resolves: int = 0
    won: int = 0
    lost: int = 0
    witness_bytes: list[int] = field(default_factory=list)
    game_blocks: dict[int, int] = field(default_factory=dict)  # game id -> L1 blocks from dispute to resolution
    game_moves: dict[int, int] = field(default_factory=dict)  # game id -> moves the L1 recorded

    def to_json(self) -> dict[str, Any]:
        return {
            "disputes": self.disputes,
            "defences": self.defences,
            "moves": self.moves,
            "proofs": self.proofs,
            "resolves": self.resolves,
            "won": self.won,
            "lost": self.lost,
            "witnessBytes": self.witness_bytes,
            "gameBlocks": {str(k): v for k, v in self.game_blocks.items()},
            "gameMoves": {str(k): v for k, v in self.game_moves.items()},
        }


class Referee:
    def __init__(
        self,
        contracts: DisputeContracts,
        oracle: TraceOracle,
        me: bytes,
        conduct: Conduct,
        allies: AllyPolicy | None = None,
        notices: NoticeHooks | None = None,
    ) -> None:
        self.contracts = contracts
        self.allies = allies if allies is not None else AllyPolicy()
        self.notices = notices
        self._on_track = trace_checker(oracle)
        self.game_book: dict[int, GameView] = {}  # game id -> its newest view, while its output is open
        self.held_back: set[int] = set()  # outputs we left (for a while at least) to an ally
        self.holding: dict[int, str] = {}  # output index -> why we hold back now
        self._first_seen: dict[int, int] = {}  # output index -> L1 head when we first found it disputable
        self.oracle = oracle
        self.me = me
        self.conduct = conduct
        self.inflight: dict[str, Inflight] = {}  # "output:<i>" / "game:<id>" -> the transaction we wait for
        self.finished: set[int] = set()
        self.stats = RefereeStats()
        self.verdicts: dict[int, Verdict] = {}
        self._waits: dict[int, str] = {}
        self._noted: set[str] = set()
        self._retry_at: dict[str, float] = {}

    async def play_round(self) -> None:
        await self._collect_receipts()
        head = await self.contracts.head()
        outputs = {o.index: o for o in await self.contracts.outputs()}
        games = await self.contracts.games()  # read after the outputs: every party they name has its games here
        self._book_games(games, outputs)
        await self._join_disputes(list(outputs.values()), head)
        for game in games:
            await self._play(game, outputs.get(game.output_index))
        open_ids = [g.game_id for g in games if g.game_id not in self.finished]
        if games:
            self.contracts.forget_games_before(min(open_ids) if open_ids else games[-1].game_id + 1)

    # -- outputs --

    async def _join_disputes(self, outputs: list[OutputView], head: int) -> None:
        """Dispute every unsettled output our chain contradicts; defend every correct one under dispute."""
        for output in outputs:
            key = f"output:{output.index}"
            if (
                output.status not in ("pending", "disputed")
                or key in self.inflight
                or self._retry_at.get(key, 0.0) > time.monotonic()
            ):
                continue
            verdict = self.verdict(output)
            if self.conduct.disputes(output, verdict, self.me):
                if is_window_open(output, head) and self._can_anchor(output, outputs) and self._joins(output, head):
                    await self._dispute(output, verdict)
            elif self.conduct.defends(output, verdict, self.me):
                if is_window_open(output, head) or output.open_games > 0:
                    await self._defend(output)

    async def _dispute(self, output: OutputView, verdict: Verdict) -> None:
        log.warning(
            "disputing output %d (L2 block %d, root 0x%s, proposer %s): %s",
            output.index,
            output.l2_block_number,
            output.output_root.hex()[:16],
            to_checksum_address(output.proposer),
            "it differs from our chain"
            if verdict is Verdict.WRONG
            else f"conduct {self.conduct.name} (our verdict: {verdict.value})",
        )
        tx_hash = await self.contracts.dispute(output)
        self.inflight[f"output:{output.index}"] = Inflight(
            tx_hash, f"dispute of output {output.index}", time.monotonic()
        )
        self.stats.disputes += 1
        if self.notices is not None and self.conduct.honest:
            await self.notices.announce(output.index, output.output_root, tx_hash)

    async def _defend(self, output: OutputView) -> None:
        log.warning(
            "defending output %d (L2 block %d, root 0x%s, proposer %s): it matches our chain and %d challenger(s) "
            "dispute it",
            output.index,
            output.l2_block_number,
            output.output_root.hex()[:16],
            to_checksum_address(output.proposer),
            len(output.challengers),
        )
        tx_hash = await self.contracts.defend(output)
        self.inflight[f"output:{output.index}"] = Inflight(
            tx_hash, f"defence of output {output.index}", time.monotonic()
        )
        self.stats.defences += 1

    def _joins(self, output: OutputView, head: int) -> bool:
        """Whether we post our bond now, or leave this output to an ally that covers it (prover.allies)."""
        if not self.conduct.honest or not self.allies.allies:
            return True
        first_seen = self._first_seen.setdefault(output.index, head)
        games = [g for g in self.game_book.values() if g.output_index == output.index]
        announced = self.notices.announced(output.index, output.output_root) if self.notices is not None else {}
        decision = decide_join(output, games, head, self.me, self.allies, first_seen, self._on_track, announced)
        key = f"allies:{output.index}"
        if isinstance(decision, HoldBack):
            if self.holding.get(output.index) != decision.reason:
                self.holding[output.index] = decision.reason
                log.info("output %d is wrong; holding back our bond: %s", output.index, decision.reason)
            self.held_back.add(output.index)
            return False
        if output.index in self.holding:
            log.warning("output %d: joining its dispute after holding back: %s", output.index, decision.reason)
        else:
            self._note_once(key, logging.INFO, f"output {output.index}: disputing: {decision.reason}")
        self.holding.pop(output.index, None)
        return True

    def _book_games(self, games: list[GameView], outputs: dict[int, OutputView]) -> None:
        """Every game read, finished ones included (the L1 client stops re-reading those), while its output is open."""
        for game in games:
            self.game_book[game.game_id] = game
        for game_id in [i for i, g in self.game_book.items() if self._settled(outputs.get(g.output_index))]:
            del self.game_book[game_id]
        for index in [i for i in self.holding if self._settled(outputs.get(i))]:
            del self.holding[index]
            self._first_seen.pop(index, None)

    @staticmethod
    def _settled(output: OutputView | None) -> bool:
        return output is None or output.status not in ("pending", "disputed")

    def verdict(self, output: OutputView) -> Verdict:
        """Our verdict on an output (cached once decided: an output's block and root never change)."""
        cached = self.verdicts.get(output.index)
        if cached is not None and cached is not Verdict.UNKNOWN:
            return cached
        verdict = judge_output(output, self.oracle)
        self.verdicts[output.index] = verdict
        if verdict is Verdict.WRONG:
            log.warning(
                "output %d for L2 block %d (status %s) differs from our chain",
                output.index,
                output.l2_block_number,
                output.status,
            )
        elif verdict is Verdict.CORRECT:
            log.info(
                "output %d for L2 block %d matches our chain (status %s)",
                output.index,
                output.l2_block_number,
                output.status,
            )
        return verdict

    def _can_anchor(self, output: OutputView, outputs: list[OutputView]) -> bool:
        """Whether the L1 has an agreed output to start the game from (and, honest, whether it is ours)."""
        anchor = find_anchor(output, outputs, self.contracts.genesis_root)
        if anchor is None:
            self._note_once(
                f"anchor:{output.index}",
                logging.INFO,
                f"output {output.index} is wrong but no finalized output precedes it yet: "
                "disputing once the previous one finalizes",
            )
            return False
        block, root = anchor
        if self.conduct.honest and self.oracle.has_block(block) and self.oracle.output_root(block) != root:
            self._note_once(
                f"bad-anchor:{output.index}",
                logging.CRITICAL,
                f"the finalized output at L2 block {block} differs from our chain: a game over output "
                f"{output.index} would start from a wrong agreed root; not disputing",
            )
            return False
        return True

    def _note_once(self, key: str, level: int, message: str) -> None:
        if key not in self._noted:
            self._noted.add(key)
            log.log(level, "%s", message)

    # -- games --

    async def _play(self, game: GameView, output: OutputView | None) -> None:
        if game.game_id in self.finished:
            return
        side = choose_side(game, self.me)
        if not game.in_progress:
            self._record_end(game, side)
            return
        if side is None or f"game:{game.game_id}" in self.inflight:
            return
        player = self.conduct.player(side)
        try:
            action = decide(game, side, player)
        except TraceError as exc:
            self._note_wait(game, f"cannot compute our move yet: {exc}", logging.WARNING)
            return
        if isinstance(action, Wait):
            self._note_wait(game, action.reason)
            return
        self._waits.pop(game.game_id, None)
        log.info(
            "game %d (%s, phase %s, lo %d hi %d): %s",
            game.game_id,
            side.value,
            game.phase.value,
            game.lo,
            game.hi,
            describe(action),
        )
        tx_hash = await self.contracts.send_action(game, side, action)
        self.inflight[f"game:{game.game_id}"] = Inflight(
            tx_hash, f"{describe(action)} in game {game.game_id}", time.monotonic()
        )
        self._count(action)

    def _note_wait(self, game: GameView, reason: str, level: int = logging.DEBUG) -> None:
        if self._waits.get(game.game_id) != reason:
            self._waits[game.game_id] = reason
            log.log(level, "game %d: waiting: %s", game.game_id, reason)

    def _count(self, action: Action) -> None:
        if isinstance(action, ProveOneStep):
            self.stats.proofs += 1
            self.stats.witness_bytes.append(len(action.result.witness))
        elif isinstance(action, Resolve):
            self.stats.resolves += 1
        else:
            self.stats.moves += 1

    def _record_end(self, game: GameView, side: Side | None) -> None:
        self.finished.add(game.game_id)
        if side is None:
            return
        won = (game.status is Status.CHALLENGER_WON) == (side is Side.CHALLENGER)
        if won:
            self.stats.won += 1
        else:
            self.stats.lost += 1
        blocks = (game.resolved_at - game.created_at) if game.resolved_at is not None else None
        if blocks is not None:
            self.stats.game_blocks[game.game_id] = blocks
        self.stats.game_moves[game.game_id] = game.moves
        log.log(
            logging.INFO if won else logging.WARNING,
            "game %d over: %s; we played the %s and %s (%d moves, %s L1 blocks from dispute to resolution)",
            game.game_id,
            game.status.value,
            side.value,
            "WON" if won else "LOST",
            game.moves,
            blocks if blocks is not None else "?",
        )

    # -- receipts --

    async def _collect_receipts(self) -> None:
        if not self.inflight:
            return
        keys = list(self.inflight)
        receipts = await asyncio.gather(*(self.contracts.receipt(self.inflight[k].tx_hash) for k in keys))
        for key, receipt in zip(keys, receipts):
            entry = self.inflight[key]
            if receipt is None:
                if time.monotonic() - entry.sent > INFLIGHT_TIMEOUT_S:
                    log.warning("no receipt for the %s after %.0f s: deciding again", entry.what, INFLIGHT_TIMEOUT_S)
                    del self.inflight[key]
                continue
            del self.inflight[key]
            if receipt.status != STATUS_SUCCESS:
                log.warning("the L1 rejected the %s: %s", entry.what, receipt.error)
                self._retry_at[key] = time.monotonic() + DISPUTE_RETRY_S


def describe(action: Action) -> str:
    if isinstance(action, PostClaim):
        return f"claim 0x{action.root.hex()[:16]}"
    if isinstance(action, PostResponse):
        return "agree" if action.agree else "disagree"
    if isinstance(action, PostOpening):
        return f"open block {action.opening.hi_header.number} ({action.opening.step_count} steps)"
    if isinstance(action, ProveOneStep):
        r = action.result
        return f"one-step proof of step {r.index} of block {r.block_number} ({len(r.witness)} witness bytes)"
    if isinstance(action, Resolve):
        return f"resolve: the {action.loser.value}'s clock ran out"
    return type(action).__name__
