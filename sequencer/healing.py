"""The sequencer on its own L1-derived chain: the real safe head, and healing when L1 decides otherwise.

The sequencer runs the executors' derivation (node.derivation.Deriver, over
node.safe_chain.SafeChain) on its own chain store, fed the L1 blocks its
L1Follower fetches:

- a derived block equal to the sequencer's block at that height promotes it
  to safe (the common case: the settler posted it in time);
- a different one (the settler was down longer than the sequencing window, a
  batch landed late, anything) makes SafeChain rewind the chain to the safe
  head and commit the derived block in its place: the sequencer *heals*.
  Block production waits meanwhile (the producer and derivation share one
  lock) and resumes on top of the healed head.

A heal, step by step:
  1. before the rewind writes anything, the store's `before_rewind` hook adds
     the user transactions of the blocks about to go to the re-queue backlog,
     persisted in the store (key `Mheal_requeue`), so a crash at any point
     still re-queues them on restart;
  2. derivation commits the derived block(s) of that L1 block;
  3. still under the lock, every backlog transaction the healed chain does
     not hold (its tx index) is submitted again through the sequencer's own
     admission, in the original order; an admitted one is sealed into a new
     block, whose receipt then replaces the old one;
  4. the heal is logged (range replaced, transactions re-queued, kept,
     waiting, dropped) and `on_healed` gets a HealReport.

A transaction the mempool refuses for room (its caps are for new
submissions; a long outage can replace more of one sender's transactions
than a sender may pool) stays in the backlog and is submitted again after
each sealed block (`run`), until it is admitted, included, or no longer
valid. One that is no longer valid on the healed chain (its nonce was used,
its sender cannot pay), or still refused after `patience_s`, is recorded as
dropped (sequencer.dropped), which the receipt lookup reports.

The store's tx index and receipts are rewound with the blocks
(ChainStore.rewind_to), so a receipt from a replaced block is never served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from node.chain import Chain
from node.crypto import keccak256
from node.derivation import DerivationResult, Deriver, L1BlockData, RollupRules
from node.encoding import pack, unpack
from node.follower import CURSOR_KEY
from node.rpc.errors import RpcError
from node.safe_chain import SAFE_KEY
from node.stf import InvalidTransaction
from node.store.chain import Head
from sequencer.dropped import DroppedTx, DroppedTxs
from sequencer.mempool import MempoolError

log = logging.getLogger("sequencer.healing")

REQUEUE_KEY = b"Mheal_requeue"
DEFAULT_PATIENCE_S = 60.0
RETRY_EVERY_S = 1.0

Resubmit = Callable[[bytes], Awaitable[object]]  # admit a raw transaction as if a client sent it; raise if refused
IsPooled = Callable[[bytes], bool]  # is this tx hash waiting in the mempool?
Clock = Callable[[], float]
REFUSED_FOR_NOW = (MempoolError, RpcError)  # no room, a conflicting pooled nonce, an unavailable journal: try again
NO_LONGER_VALID = (InvalidTransaction,)  # the healed chain's state refuses it: dropped


@dataclass(slots=True)
class Replaced:
    """A user transaction of a replaced block, waiting to be admitted again."""

    raw: bytes
    tx_hash: bytes
    was_in_block: int
    refused: str | None = None  # the last refusal, while the mempool has no room for it
    refused_since: float | None = None


@dataclass(frozen=True, slots=True)
class RequeueRound:
    requeued: int = 0  # admitted to the mempool (or already waiting there)
    kept: int = 0  # in the chain already (a derived block holds it): its receipt is served from there
    waiting: int = 0  # refused for room: stays in the backlog
    dropped: tuple[DroppedTx, ...] = ()


@dataclass(frozen=True, slots=True)
class HealReport:
    first_replaced: int  # lowest height whose block was replaced
    discarded_head: int  # the sequencer's head before the heal
    head: Head  # the head after it (the newest derived block)
    requeued: int
    kept: int
    waiting: int
    dropped: tuple[DroppedTx, ...]
    seconds: float  # production was paused this long


OnHealed = Callable[[HealReport], None]
OnRound = Callable[[RequeueRound], None]


def encode_backlog(items: list[Replaced]) -> bytes:
    return pack([[item.was_in_block, item.raw] for item in items])


def decode_backlog(raw: bytes) -> list[Replaced]:
    return [Replaced(bytes(tx), keccak256(bytes(tx)), int(number)) for number, tx in unpack(raw)]


def ensure_safe_record(chain: Chain) -> None:
    """Give a store without a safe-head record genesis as its safe head.

    SafeChain takes a store without the record as derived throughout (right
    for an executor's old store, wrong for the sequencer's own blocks). The
    record is SafeChain's: pack([number, block hash, state root]).
    """
    if chain.store.kv.get(SAFE_KEY) is not None:
        return
    genesis = chain.store.get_block(0)
    if genesis is None:
        raise ValueError("the chain has no genesis block yet")
    chain.store.kv.write({SAFE_KEY: pack([0, genesis.hash(), genesis.header.state_root])})


class ChainHealer:
    def __init__(
        self,
        chain: Chain,
        rules: RollupRules,
        lock: asyncio.Lock,
        resubmit: Resubmit,
        is_pooled: IsPooled,
        on_healed: OnHealed = lambda report: None,
        on_round: OnRound = lambda outcome: None,
        patience_s: float = DEFAULT_PATIENCE_S,
        clock: Clock = time.monotonic,
    ) -> None:
        self.chain = chain
        self.store = chain.store
        self.lock = lock
        self.resubmit = resubmit
        self.is_pooled = is_pooled
        self.on_healed = on_healed
        self.on_round = on_round  # after every re-queue round (a heal's and each retry): for counters
        self.patience_s = patience_s
        self.clock = clock
        self.dropped = DroppedTxs(self.store.kv)
        ensure_safe_record(chain)
        self.deriver = Deriver(chain, rules)
        raw = self.store.kv.get(CURSOR_KEY)
        self.cursor = int.from_bytes(raw, "big") if raw else 0  # the last L1 block derivation processed
        raw = self.store.kv.get(REQUEUE_KEY)
        self.backlog: list[Replaced] = [] if raw is None else decode_backlog(raw)
        self.store.before_rewind = self._record_replaced
        self.heals = 0
        self._requeued: dict[bytes, int] = {}  # admitted again, not sealed yet: tx hash -> the replaced block
        self._retry = asyncio.Event()
        self._round = asyncio.Lock()  # one re-queue round at a time (a heal's, or the retry loop's)
        self._rewound: tuple[int, int] | None = None  # (first replaced, discarded head) of the heal under way

    # -- reads --

    def safe_head(self) -> Head:
        return self.deriver.safe.safe_head()

    def needed_from(self) -> int:
        """The lowest L1 block still needed: the safe head's origin (a heal never goes below the safe head)."""
        return self.deriver.needed_origins()

    def first_l1_block(self) -> int:
        """Where the L1 follower starts: origins from the safe head's on, derivation after the cursor."""
        return min(self.needed_from(), self.cursor + 1)

    def dropped_transaction(self, tx_hash: bytes) -> DroppedTx | None:
        """The dropped record of a transaction the chain does not hold and the mempool does not wait on."""
        if self.is_pooled(tx_hash):
            return None
        return self.dropped.get(tx_hash)

    # -- derivation --

    async def take_l1_block(self, data: L1BlockData) -> HealReport | None:
        """Derive from the next L1 block (L1 blocks in order); heal if L1 replaced any of our blocks."""
        if data.number <= self.cursor:
            self.deriver.add_l1_block(data)  # already processed: only needed as an origin
            return None
        async with self.lock:
            started = self.clock()
            result = self.deriver.process_l1_block(data)
            self.store.kv.write({CURSOR_KEY: data.number.to_bytes(8, "big")})
            self.cursor = data.number
            report = await self._finish_heal(started) if self._rewound is not None else None
        self._log_derivation(data.number, result)
        if report is not None:
            self.on_healed(report)
        return report

    async def resume(self) -> RequeueRound | None:
        """Re-queue a backlog left by an earlier run (a crash mid-heal, or room that never came); before sealing."""
        if not self.backlog:
            return None
        async with self.lock:
            outcome = await self._requeue_round()
        log.warning(
            "re-queue backlog from before the restart: %d txs re-queued, %d already in the chain, %d waiting, "
            "%d dropped",
            outcome.requeued,
            outcome.kept,
            outcome.waiting,
            len(outcome.dropped),
        )
        return outcome

    async def run(self, stop: asyncio.Event) -> None:
        """Submit the backlog again after each sealed block (or every RETRY_EVERY_S) while it is not empty."""
        while not stop.is_set():
            self._retry.clear()
            if self.backlog:
                await self._requeue_round()
            waiters = [asyncio.ensure_future(self._retry.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waiters, timeout=RETRY_EVERY_S, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()

    # -- after each sealed block --

    def note_sealed(self, included: list[bytes], rejected: list[tuple[bytes, str]]) -> None:
        """Re-queued transactions that made it into a block, or that the block builder refused (now dropped)."""
        if self.backlog:
            self._retry.set()
        if not self._requeued:
            return
        for tx_hash in included:
            self._requeued.pop(tx_hash, None)
        head = self.chain.head().number
        gone = [(h, reason) for h, reason in rejected if h in self._requeued]
        self.dropped.record(DroppedTx(h, reason, self._requeued.pop(h), head) for h, reason in gone)
        for tx_hash, reason in gone:
            log.warning(
                "re-queued transaction 0x%s was refused by the block builder and is dropped: %s", tx_hash.hex(), reason
            )

    # -- healing --

    def _record_replaced(self, target: int, head: int) -> None:
        """The store's before_rewind hook: the blocks above `target` are about to go; persist their user txs first."""
        for number in range(target + 1, head + 1):
            block = self.store.get_block(number)
            if block is None:
                raise ValueError(f"block {number} is missing from the store during a rewind")
            for raw in block.transactions[self.store.get_system_count(number) :]:
                self.backlog.append(Replaced(raw, keccak256(raw), number))
        self._save_backlog()
        first, last = (
            (target + 1, head)
            if self._rewound is None
            else (min(self._rewound[0], target + 1), max(self._rewound[1], head))
        )
        self._rewound = (first, last)

    async def _finish_heal(self, started: float) -> HealReport:
        first, discarded = self._rewound or (self.chain.head().number, self.chain.head().number)
        self._rewound = None
        outcome = await self._requeue_round()
        self.heals += 1
        report = HealReport(
            first_replaced=first,
            discarded_head=discarded,
            head=self.chain.head(),
            requeued=outcome.requeued,
            kept=outcome.kept,
            waiting=outcome.waiting,
            dropped=outcome.dropped,
            seconds=self.clock() - started,
        )
        self._log_heal(report)
        return report

    async def _requeue_round(self) -> RequeueRound:
        """Submit every backlog transaction again, in order; keep those refused for room."""
        async with self._round:
            outcome = await self._requeue_backlog()
        self.on_round(outcome)
        return outcome

    async def _requeue_backlog(self) -> RequeueRound:
        requeued = kept = 0
        dropped: list[DroppedTx] = []
        done: set[int] = set()
        seen: set[bytes] = set()
        self._requeued = {h: n for h, n in self._requeued.items() if self.is_pooled(h)}
        for item in list(self.backlog):
            duplicate = item.tx_hash in seen  # replaced twice: once is enough
            seen.add(item.tx_hash)
            if duplicate:
                pass
            elif self.store.get_tx_location(item.tx_hash) is not None:
                kept += 1
            elif self.is_pooled(item.tx_hash):
                requeued += 1
            else:
                verdict = await self._requeue(item)
                if isinstance(verdict, str):
                    continue  # refused for room: it waits
                if verdict is None:
                    requeued += 1
                else:
                    dropped.append(verdict)
            done.add(id(item))
        self.backlog = [item for item in self.backlog if id(item) not in done]  # a heal may have added more meanwhile
        self._save_backlog()
        self.dropped.record(dropped)
        for drop in dropped:
            log.info(
                "dropped transaction 0x%s (was in replaced block %d): %s",
                drop.tx_hash.hex(),
                drop.was_in_block,
                drop.reason,
            )
        return RequeueRound(requeued, kept, len(self.backlog), tuple(dropped))

    async def _requeue(self, item: Replaced) -> DroppedTx | str | None:
        """None: admitted. A DroppedTx: no longer valid (or refused past patience). A str: refused for now."""
        head = self.chain.head().number
        try:
            await self.resubmit(item.raw)
        except NO_LONGER_VALID as exc:
            return DroppedTx(item.tx_hash, str(exc), item.was_in_block, head)
        except REFUSED_FOR_NOW as exc:
            now = self.clock()
            item.refused = str(exc)
            if item.refused_since is None:
                item.refused_since = now
            if now - item.refused_since >= self.patience_s:
                reason = f"not admitted again within {self.patience_s:.0f} s: {exc}"
                return DroppedTx(item.tx_hash, reason, item.was_in_block, head)
            return item.refused
        self._requeued[item.tx_hash] = item.was_in_block
        return None

    def _save_backlog(self) -> None:
        if self.backlog:
            self.store.kv.write({REQUEUE_KEY: encode_backlog(self.backlog)})
        else:
            self.store.kv.write({}, [REQUEUE_KEY])

    # -- operator logs --

    def _log_heal(self, report: HealReport) -> None:
        log.warning(
            "healed onto the L1-derived chain: L2 blocks %d..%d replaced, head now %d (0x%s); %d txs re-queued, "
            "%d already in the derived blocks, %d waiting for mempool room, %d dropped; sealing paused %.0f ms",
            report.first_replaced,
            report.discarded_head,
            report.head.number,
            report.head.hash.hex()[:16],
            report.requeued,
            report.kept,
            report.waiting,
            len(report.dropped),
            report.seconds * 1000,
        )

    def _log_derivation(self, l1_number: int, result: DerivationResult) -> None:
        for reason in result.dropped:
            log.warning("derivation dropped data: %s", reason)
        replaced = len(result.derived) - result.promoted
        if replaced:
            log.info(
                "derived L2 blocks %d..%d from L1 block %d (%d of ours promoted to safe, %d replaced or new)",
                result.derived[0].head.number,
                result.derived[-1].head.number,
                l1_number,
                result.promoted,
                replaced,
            )
        elif result.derived:
            log.debug(
                "L1 block %d made L2 blocks %d..%d safe",
                l1_number,
                result.derived[0].head.number,
                result.derived[-1].head.number,
            )
