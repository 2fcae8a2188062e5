"""The block loop: every block time, plan the next block, fill it from the mempool, seal it.

One block:
  1. plan origin and timestamp (node.derivation.plan_next_block) from the L1
     blocks the follower holds; no plan means wait (drift exhausted, or the
     origin is not fetched yet);
  2. take candidates from the mempool (by fee, nonce order kept; censored
     senders skipped), leaving room for the epoch's system transactions;
  3. execute and compute the root: a small block (at most `inline_txs`,
     ~2.5 ms of transfers) on the event loop, a larger one in a worker
     thread (RPC keeps serving); then commit on the event loop: the block is
     durable before anything about it is acknowledged;
  4. tidy the mempool (included, rejected and stale transactions go) and
     hand the sealed block to `on_sealed` (receipts, newHeads, metrics).

A block that takes longer than the block time is followed at once by the
next; the schedule never tries to catch up on missed slots.

Soft confirmation: with transactions waiting, the next block starts once
the previous one is committed and `min_block_time` has passed since it
started, so an arrival waits for at most one gap and one sealing. While the
loop waits with a block due (`ready_to_seal`), admission yields it a turn
after each transaction, so the entries of a batch request (admitted one after
another) are sealed in parts as they are admitted rather than all at its end.
`min_block_time` is the trade: every block costs each replica a fixed amount
(execution set-up, root, commit, gossip), so a shorter gap buys latency with
replica CPU at moderate rates (at high rates blocks grow instead).

Next to derivation (sequencer.healing), which may rewind the chain:
- a block is built and committed under the lock derivation heals under, so
  production pauses during a heal and resumes on the healed head;
- catch-up: a block whose origin's sequencing window closes within
  `catch_up_margin` L1 blocks could hardly be posted in time, so it is sealed
  as the default block derivation would make for that epoch (its system
  transactions only, timestamp max(origin, parent + 1)): whether its batch
  lands in time or not, L1 derives exactly it. After a heal onto default
  blocks this advances the origin one epoch per block, without user
  transactions a late batch would lose again;
- no more than `max_unsafe_blocks` blocks above the safe head (the store can
  only rewind that far): sealing waits for batches to reach L1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from node.block import BlockHeader
from node.chain import Chain, ChainError, PreparedBlock, SealedBlock
from node.clock import PROCESS_CLOCK
from node.derivation import BlockPlan, L1BlockData, RollupRules, plan_next_block, system_transactions
from node.service import sleep_or_stop
from node.state.schema import get_account
from node.stf import BlockBuild
from node.tx import RecoveredTx
from sequencer.mempool import Mempool

log = logging.getLogger(__name__)

DEFAULT_INLINE_TXS = 64  # ~2.5 ms of transfers: short enough to run on the event loop


@dataclass(frozen=True, slots=True)
class BlockReport:
    sealed: SealedBlock
    build: BlockBuild
    seconds: float
    catch_up: bool = False  # a default block sealed to catch the origin up (no user transactions)


OnSealed = Callable[[BlockReport], None]


class L1Origins(Protocol):
    """The L1 blocks the sequencer can build on (sequencer.l1follower.L1Follower)."""

    head: int  # the newest L1 block seen

    def get(self, number: int) -> L1BlockData | None: ...


def wall_clock_ms() -> int:
    """Chain time: the wall clock plus the devnet offset (node.clock; the wall clock outside devnet mode)."""
    return PROCESS_CLOCK.now_ms()


class BlockProducer:
    def __init__(
        self,
        chain: Chain,
        rules: RollupRules,
        follower: L1Origins,
        mempool: Mempool,
        block_time_ms: int,
        on_sealed: OnSealed,
        censor: frozenset[bytes] = frozenset(),
        clock_ms: Callable[[], int] = wall_clock_ms,
        min_block_time_ms: int | None = None,
        max_seal_txs: int | None = None,
        lock: asyncio.Lock | None = None,
        safe_number: Callable[[], int] = lambda: 0,
        max_unsafe_blocks: int | None = None,
        inline_txs: int = DEFAULT_INLINE_TXS,
    ) -> None:
        self.chain = chain
        self.rules = rules
        self.follower = follower
        self.mempool = mempool
        self.block_time_s = block_time_ms / 1000
        # Eager sealing: with transactions waiting, the next block comes after this much, not block_time.
        self.min_block_time_s = (min_block_time_ms if min_block_time_ms is not None else block_time_ms) / 1000
        # A sealed block holds at most this many (the chain's own cap still applies): bounds the sealing time.
        self.max_seal_txs = min(max_seal_txs or chain.config.max_block_txs, chain.config.max_block_txs)
        self.arrivals = asyncio.Event()
        self.on_sealed = on_sealed
        self.censor = censor
        self.clock_ms = clock_ms
        self._waiting_reason: str | None = None
        self._inflight: asyncio.Future[PreparedBlock] | None = None
        self.lock = lock or asyncio.Lock()  # shared with derivation: no block is built while the chain heals
        self.safe_number = safe_number
        self.max_unsafe_blocks = max_unsafe_blocks or chain.store.history_window
        self.catch_up_margin = max(1, rules.sequencing_window // 2)
        self.inline_txs = inline_txs  # blocks of at most this many transactions execute on the event loop
        self._idle_until: float | None = None  # loop time the next block may start at, while waiting for it

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            started = loop.time()
            self.arrivals.clear()  # what arrives from now on waits for the next block
            async with self.lock:
                report = await self.produce_one()
            if report is not None and report.catch_up:
                continue  # catching up after a heal: the next default block at once
            if await self.wait_for_next_slot(started, stop):
                return

    def notify_arrival(self) -> None:
        """A transaction entered the mempool: seal early (after min_block_time) instead of at block_time."""
        self.arrivals.set()

    def ready_to_seal(self) -> bool:
        """Whether the loop is waiting with the next block already due: admission then yields it a turn."""
        due = self._idle_until
        return due is not None and asyncio.get_running_loop().time() >= due

    async def wait_for_next_slot(self, started: float, stop: asyncio.Event) -> bool:
        """Sleep until the next block is due; True when `stop` was set meanwhile.

        Due at `block_time` after the last one started, or already at
        `min_block_time` when transactions arrived since: soft confirmation
        then takes about one sealing, not half a block time.
        """
        loop = asyncio.get_running_loop()
        self._idle_until = started + self.min_block_time_s
        try:
            if await sleep_or_stop(max(0.0, started + self.min_block_time_s - loop.time()), stop):
                return True
            remaining = started + self.block_time_s - loop.time()
            if remaining <= 0 or self.arrivals.is_set():
                return stop.is_set()
            waiters = [asyncio.ensure_future(self.arrivals.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            return stop.is_set()
        finally:
            self._idle_until = None

    async def produce_one(self) -> BlockReport | None:
        """Build, execute and commit the next block (hold `lock`); None when no block can be made yet."""
        parent = self.parent_header()
        planned = self.plan(parent)
        if planned is None:
            return None
        plan, catch_up = planned
        started = time.perf_counter()
        candidates = [] if catch_up else self.take_candidates(plan)
        deposits, forced = system_transactions(plan.origin) if plan.first_in_epoch else ((), [])
        origin = (plan.origin.number, plan.origin.hash)
        if len(candidates) + len(deposits) + len(forced) <= self.inline_txs:
            # a small block: executing it here (~1 ms) costs less than a thread hand-off and GIL ping-pong
            prepared = self.chain.prepare_block(candidates, plan.timestamp_ms, origin, deposits, forced)
        else:
            self._inflight = asyncio.ensure_future(
                asyncio.to_thread(self.chain.prepare_block, candidates, plan.timestamp_ms, origin, deposits, forced)
            )
            prepared = await asyncio.shield(self._inflight)
        sealed = self.chain.commit(prepared)
        report = BlockReport(sealed, prepared.build, time.perf_counter() - started, catch_up)
        self.tidy_mempool(prepared.build)
        self.log_block(report, plan)
        self.on_sealed(report)
        return report

    async def drain(self) -> None:
        """Wait for a block being executed in the worker thread (before the store closes)."""
        inflight = self._inflight
        if inflight is not None and not inflight.done():
            with contextlib.suppress(Exception):
                await inflight

    # -- steps --

    def parent_header(self) -> BlockHeader:
        block = self.chain.store.get_block(self.chain.head().number)
        if block is None:
            raise ChainError("the head block is missing from the store")
        return block.header

    def plan(self, parent: BlockHeader) -> tuple[BlockPlan, bool] | None:
        """The next block's origin and timestamp, and whether it is a catch-up (default) block."""
        depth = parent.number - self.safe_number()
        if depth >= self.max_unsafe_blocks:
            self.note_waiting(
                f"{depth} blocks above the safe head, as many as the store can rewind; waiting for batches on L1"
            )
            return None
        current = self.follower.get(parent.l1_origin_number)
        if current is None:
            self.note_waiting(f"L1 block {parent.l1_origin_number} (the current origin) is not fetched yet")
            return None
        following = self.follower.get(parent.l1_origin_number + 1)
        plan = plan_next_block(parent, current, following, self.clock_ms(), self.rules)
        if plan is None:
            self.note_waiting(
                f"sequencer drift exhausted on origin {current.number}; waiting for L1 block {current.number + 1}"
            )
            return None
        if self.window_closing(plan.origin.number):
            if not plan.first_in_epoch:
                self.note_waiting(
                    f"the sequencing window of origin {plan.origin.number} closes; waiting for L1 block "
                    f"{plan.origin.number + 1}"
                )
                return None
            plan = BlockPlan(plan.origin, max(plan.origin.timestamp_ms, parent.timestamp_ms + 1), True)
            self.note_producing()
            return plan, True
        self.note_producing()
        return plan, False

    def window_closing(self, origin: int) -> bool:
        """Whether a batch with a block of epoch `origin` would have to land within `catch_up_margin` L1 blocks."""
        return origin + self.rules.sequencing_window < self.follower.head + 1 + self.catch_up_margin

    def take_candidates(self, plan: BlockPlan) -> list[RecoveredTx]:
        room = len(plan.origin.deposits) + len(plan.origin.forced_txs) if plan.first_in_epoch else 0
        count = max(0, self.max_seal_txs - room)
        exclude = self.censor.__contains__ if self.censor else None
        return self.mempool.take(count, self.state_nonce_reader(), exclude)

    def tidy_mempool(self, build: BlockBuild) -> None:
        self.mempool.remove_included(build.included)
        for rejection in build.rejected:
            log.info("dropping mempool transaction 0x%s: %s", rejection.rtx.hash.hex(), rejection.error)
        self.mempool.remove_included(r.rtx for r in build.rejected)
        touched = {rtx.sender for rtx in _all(build.transactions, (r.rtx for r in build.rejected))}
        self.mempool.drop_stale(self.state_nonce_reader(), touched)

    def state_nonce_reader(self) -> Callable[[bytes], int]:
        reader = self.chain.store.latest_state()
        return lambda sender: get_account(reader, sender).nonce

    # -- operator logs --

    def log_block(self, report: BlockReport, plan: BlockPlan) -> None:
        build = report.build
        level = logging.INFO if build.transactions or build.rejected or report.catch_up else logging.DEBUG
        log.log(
            level,
            "sealed L2 block %d (origin %d%s) with %d txs (%d system, %d rejected, %d deferred) in %.1f ms",
            report.sealed.head.number,
            plan.origin.number,
            ", catch-up default block" if report.catch_up else ", new epoch" if plan.first_in_epoch else "",
            len(build.transactions),
            build.system_count,
            len(build.rejected),
            len(build.deferred),
            report.seconds * 1000,
        )

    def note_waiting(self, reason: str) -> None:
        if reason != self._waiting_reason:
            log.warning("not sealing: %s", reason)
            self._waiting_reason = reason

    def note_producing(self) -> None:
        if self._waiting_reason is not None:
            log.info("sealing again (was waiting: %s)", self._waiting_reason)
            self._waiting_reason = None


def _all(*groups: Iterable[RecoveredTx]) -> Iterable[RecoveredTx]:
    for group in groups:
        yield from group
