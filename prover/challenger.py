"""The challenger process: re-derives the L2 chain from L1 data only, and plays the dispute games.

Parts, started in dependency order and stopped in reverse:
  chain follower (its own store, derived from L1) -> L1 dispute contracts
  -> derivation loop -> referee loop -> JSON-RPC.

- Derivation: node's Deriver fed by the L1 client (node.follower over
  l1.contracts.client.L1Client, the one the dispute contracts are read and
  written through); nothing comes from the sequencer, the settler or the
  executors.
- Referee (prover.referee), every poll_ms: every output proposal is judged
  against our own output root at its block; a wrong one is disputed with
  the counter-bond; a correct one under dispute is defended with our own
  bond (prover.conduct; the test suite's faulty challenger injects another
  conduct, l1.faults.challenger). In every game we play, our next
  move is decided from the game as the L1 shows it (prover.strategy) and
  answered from our chain (prover.oracle: output roots, intermediate
  roots, one-step witnesses), and a game whose side on turn ran out of
  clock is resolved. Correct outputs under dispute are defended by us
  (defender moves may come from anyone).
- Restart-safe: games live on L1 and our chain on disk; a round rebuilds
  everything it needs from both.
- JSON-RPC: the L2 read methods over our derived chain (safe = newest
  derived, finalized = newest block under a finalized output root equal
  to ours), `challenger_status`, and `rollup_getWithdrawalProof`.

Run: `rollup challenger --config FILE` (or `python -m prover --config FILE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from l1.contracts.client import L1Client, L1ResponseError
from node.attestation_net import ATTESTATION_JOURNAL
from node.crypto import to_checksum_address
from node.devnet.inproc.control import inproc_handlers
from node.follower import ChainFollower
from node.l2rpc import Heads, register_read_methods
from node.output import compute_output_root
from node.rpc.client import RpcTransportError
from node.rpc.control import register_control
from node.rpc.errors import RpcError
from node.rpc.server import RpcServer
from node.service import BackgroundTasks, ProblemTracker
from node.store.chain import Head
from prover.attestations import AttestationWatch
from prover.conduct import Conduct, HonestConduct
from prover.config import ChallengerConfig
from prover.l1_disputes import L1Disputes
from prover.notice_net import NoticeBoard
from prover.oracle import TraceOracle
from prover.referee import NoticeHooks, Referee
from prover.revert import ChallengerReload
from prover.verdicts import Verdict
from prover.withdrawal_proof import make_rpc_method

log = logging.getLogger("challenger")

RETRY_S = 1.0


class Challenger:
    def __init__(self, config: ChallengerConfig, conduct: Callable[[TraceOracle], Conduct] | None = None) -> None:
        """`conduct`: how to behave (default: honest); the test suite's faulty challenger injects its own."""
        self.make_conduct = conduct
        self.conduct: Conduct | None = None
        self.config = config
        self.section = config.challenger
        self.me = self.section.key.address
        self.tasks = BackgroundTasks()
        self.l1 = L1Client(self.section.l1_rpc)
        self.follower = ChainFollower(config.node.data_dir, config.rollup, self.l1, self.section.history_window)
        self.disputes = L1Disputes(self.l1, self.section.key, self.section.bond)
        self.server = RpcServer("challenger", health=self._health)
        self.referee: Referee | None = None
        self._finalized: Head | None = None
        self.derivation_problems = ProblemTracker("challenger derivation", log)
        self.referee_problems = ProblemTracker("challenger referee", log)
        self.watch: AttestationWatch | None = None  # prover.attestations, with [p2p] and [attestation]
        self.notices: NoticeBoard | None = None  # prover.notice_net, with the watch and allies

    @property
    def conduct_name(self) -> str:
        return self.conduct.name if self.conduct is not None else "starting"

    @property
    def chain(self) -> Any:  # for node.l2rpc's read methods
        return self.follower.chain

    # -- lifecycle --

    async def __aenter__(self) -> Challenger:
        try:
            await self._start()
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._shutdown()

    async def _start(self) -> None:
        await self.follower.open()
        await self.disputes.load_params()
        oracle = TraceOracle(self.follower.require_store(), self.config.rollup.chain_config())
        conduct = (
            self.make_conduct(oracle) if self.make_conduct is not None else HonestConduct(oracle, self.section.defend)
        )
        self.conduct = conduct
        referee = Referee(self.disputes, oracle, self.me, conduct, self.section.allies, self._notice_hooks())
        self.referee = referee
        self._init_metrics(referee)
        self.tasks.spawn("derivation", self._derivation_loop())
        self.tasks.spawn("referee", self._referee_loop(referee))
        await self._start_watch()  # after the loops: a p2p host takes seconds to start on a loaded machine, and
        # a restarted challenger's game clock runs meanwhile (the referee needs no gossip)
        register_read_methods(self.server, self)
        self.server.register("challenger_status", self.status)
        register_control(
            self.server,
            "challenger",
            enabled=self.config.node.devnet,
            handlers=inproc_handlers("challenger", ChallengerReload(self)),
            data_dir=self.config.node.data_dir,
        )  # devnet_info, the clock, and in-process snapshot and revert (prover.revert)
        self.server.register("rollup_getWithdrawalProof", make_rpc_method(self.follower.require_store))
        await self.server.start(self.config.node.rpc_host, self.config.node.rpc_port)
        log.info(
            "challenger up: mode %s, key %s, bond %d, game clock %d L1 blocks, safe head %d, L1 cursor %d, RPC %s",
            self.conduct_name,
            to_checksum_address(self.me),
            self.disputes.bond,
            self.disputes.clock_blocks,
            self.follower.safe_head().number,
            self.follower.cursor(),
            self.server.url,
        )

    async def _start_watch(self) -> None:
        if self.config.p2p is None or self.config.attestation is None:
            return
        self.watch = AttestationWatch(
            self.config.p2p,
            self.config.attestation,
            self.config.rollup.chain_id,
            lambda: self.follower.safe_head().number,
            self.server.metrics,
            lambda: self.disputes.last_outputs,
            self.config.attestation.journal or Path(self.config.node.data_dir) / ATTESTATION_JOURNAL,
        )
        await self.watch.start()
        if self.section.allies.allies:
            self.notices = NoticeBoard(
                self.watch.node,
                self.config.rollup.chain_id,
                self.section.key,
                self.section.allies.allies,
                lambda: self.follower.l1_head,
                self.server.metrics,
            )
            await self.notices.start()

    def _notice_hooks(self) -> NoticeHooks | None:
        """Dispute notices need the gossip side ([p2p] + [attestation]) and allies to tell."""
        if self.config.p2p is None or self.config.attestation is None or not self.section.allies.allies:
            return None
        return LazyNotices(self)

    async def _attest(self, results: list[Any]) -> None:
        """Sign and gossip our output root at each output height just derived (prover.attestations)."""
        if self.watch is None:
            return
        for result in results:
            for sealed in result.derived:
                head = sealed.head
                if self.watch.network.is_output_height(head.number):
                    await self.watch.network.attest(
                        head.number, compute_output_root(head.number, head.state_root, head.hash)
                    )

    async def _shutdown(self) -> None:
        await self.server.stop()
        await self.tasks.cancel_all()
        if self.watch is not None:
            await self.watch.close()
        await self.l1.close()
        self.follower.close()

    # -- loops --

    async def _derivation_loop(self) -> None:
        while True:
            try:
                results = await self.follower.sync_step()
                progressed = bool(results)
                await self._attest(results)
                self.derivation_problems.clear()
            except RpcTransportError as exc:
                self.derivation_problems.note(f"L1 unreachable for derivation: {exc}")
                progressed = False
            if not progressed:
                await asyncio.sleep(self.section.poll_ms / 1000)

    async def _referee_loop(self, referee: Referee) -> None:
        while True:
            try:
                await referee.play_round()
                self._update_finalized(referee)
                self.referee_problems.clear()
            except (RpcTransportError, RpcError, L1ResponseError) as exc:
                self.referee_problems.note(f"referee round failed: {exc}")
                await asyncio.sleep(RETRY_S)
            await self._sleep_or_wake(self.section.poll_ms / 1000)

    async def _sleep_or_wake(self, seconds: float) -> None:
        """Sleep until the next poll, or less when attestations contradict a live proposal."""
        if self.watch is None:
            await asyncio.sleep(seconds)
            return
        self.watch.check(self.disputes.last_outputs)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.watch.wake.wait(), seconds)
        self.watch.wake.clear()

    def _update_finalized(self, referee: Referee) -> None:
        """Finalized head: the newest block under a finalized output whose root is ours."""
        for output in self.disputes.last_outputs:
            if (
                output.status != "finalized"
                or self._finalized is not None
                and output.l2_block_number <= self._finalized.number
            ):
                continue
            if referee.verdict(output) is not Verdict.CORRECT:
                if referee.verdict(output) is Verdict.WRONG:
                    log.critical(
                        "output %d for L2 block %d FINALIZED with a root that differs from our chain",
                        output.index,
                        output.l2_block_number,
                    )
                continue
            block = self.follower.require_store().get_block(output.l2_block_number)
            if block is not None:
                self._finalized = Head(block.number, block.hash(), block.header.state_root)

    # -- what the read RPC needs --

    def heads(self) -> Heads:
        safe = self.follower.safe_head()
        return Heads(unsafe=safe, safe=safe, finalized=self._finalized or self._genesis_head())

    def _genesis_head(self) -> Head:
        block = self.follower.require_store().get_block(0)
        if block is None:
            raise RuntimeError("genesis block missing from the store")
        return Head(0, block.hash(), block.header.state_root)

    def l1_head(self) -> int:
        return self.follower.l1_head

    def status(self, params: list[Any]) -> dict[str, Any]:
        referee = self.referee
        return {
            "mode": self.conduct_name,
            "address": to_checksum_address(self.me),
            "safeHead": self.follower.safe_head().number,
            "l1Cursor": self.follower.cursor(),
            "l1Head": self.follower.l1_head,
            "bond": str(self.disputes.bond),
            "gameClockBlocks": self.disputes.clock_blocks,
            "stats": referee.stats.to_json() if referee is not None else {},
            "inflight": [entry.what for entry in referee.inflight.values()] if referee is not None else [],
            "allies": self._allies_status(referee),
            "attestations": self.watch.status(self.disputes.last_outputs) if self.watch is not None else None,
        }

    def _allies_status(self, referee: Referee | None) -> dict[str, Any]:
        """The configured allies, the wrong outputs we left to one of them, and why we hold back now."""
        policy = self.section.allies
        return {
            "allies": sorted(to_checksum_address(a) for a in policy.allies),
            "backstopBlocks": policy.backstop_blocks,
            "staggerBlocks": policy.stagger_blocks,
            "heldBack": sorted(referee.held_back) if referee is not None else [],
            "holding": {str(k): v for k, v in referee.holding.items()} if referee is not None else {},
        }

    def _health(self) -> dict[str, Any]:
        """ "ok", or "stuck" (HTTP 503) once derivation or the referee has failed for stuck_after_rounds rounds."""
        duties = {"derivation": self.derivation_problems.report(), "referee": self.referee_problems.report()}
        stuck = any(d["status"] != "ok" for d in duties.values())
        return {
            "status": "stuck" if stuck else "ok",
            "mode": self.conduct_name,
            "safeHead": self.follower.safe_head().number,
            "duties": duties,
        }

    def _init_metrics(self, referee: Referee) -> None:
        m = self.server.metrics
        m.gauge_fn(
            "l2_safe_head",
            "newest L2 block derived from L1 by the challenger",
            lambda: self.follower.safe_head().number,
        )
        m.gauge_fn("derivation_l1_cursor", "last L1 block processed by derivation", self.follower.cursor)
        m.gauge_fn("challenger_disputes", "outputs disputed by this challenger", lambda: referee.stats.disputes)
        m.gauge_fn("challenger_moves", "game moves sent", lambda: referee.stats.moves)
        m.gauge_fn("challenger_proofs", "one-step proofs sent", lambda: referee.stats.proofs)
        m.gauge_fn("challenger_games_won", "games won", lambda: referee.stats.won)
        m.gauge_fn("challenger_games_lost", "games lost", lambda: referee.stats.lost)


class LazyNotices:
    """The referee's NoticeHooks before the gossip side is up (the referee is built first): no-ops until then."""

    def __init__(self, challenger: Challenger) -> None:
        self.challenger = challenger

    async def announce(self, output_index: int, output_root: bytes, tx_hash: bytes) -> None:
        if self.challenger.notices is not None:
            await self.challenger.notices.announce(output_index, output_root, tx_hash)

    def announced(self, output_index: int, output_root: bytes) -> dict[bytes, int]:
        board = self.challenger.notices
        return dict(board.announced(output_index, output_root)) if board is not None else {}
