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
     not hold executed is submitted again through the sequencer's own
     admission, each sender's in nonce order; an admitted one is sealed into
     a new block, whose receipt then replaces the old one. One a derived block
     holds *skipped* (a batch that landed after the blocks before it were
     replaced: its nonce too high there; it is in the block with a failed
     receipt and did nothing) is submitted again too: kept, its sender's later
     nonces would wait behind it forever;
  4. the heal is logged (range replaced, transactions re-queued, kept,
     waiting, dropped) and `on_healed` gets a HealReport.

The rule, for a transaction the sequencer acknowledged and a heal replaced:
it is executed on the healed chain, or reported dropped
(`rollup_getTransactionStatus`: dropped, reason "reorged", the detail saying
why; the receipt lookup: TransactionDropped) for a reason that is true:
- its nonce was taken on the healed chain by another transaction of its
  sender (a derived block holds one, or a new submission that replaced it,
  see the next point, was sealed);
- a new submission of its sender replaced it: while an entry waits in the
  backlog its (sender, nonce) is taken exactly as a pooled transaction's is
  (`reserved`, checked by sequencer.txpool's admission): a new transaction
  with that nonce is refused as underpriced (-32022) unless it pays the
  mempool's replacement bump, and then the entry is dropped, naming the
  newcomer. So the backlog goes before a re-synced wallet's new stream
  (which, like any wallet meeting -32022, moves on to its next nonce), and
  a sender who bumps the fee decides, as it could in the mempool;
- its sender cannot pay for it on the healed chain, or it is not a valid
  transaction, or the block builder refused it, or it was refused for
  room (or by the state: a venue order whose oracle price, re-queued too,
  is pooled but not sealed yet) for longer than `patience_s`;
- its predecessor was dropped for one of these reasons with its nonce left
  unused: "predecessor dropped (0x..: why)". The sender's later backlog
  entries and pooled transactions could not execute until that nonce is
  filled, so they are dropped too rather than left queued behind a gap the
  sequencer opened (a wallet re-signs from the state nonce).

A transaction the mempool refuses for room (its caps are for new
submissions; a long outage can replace more of one sender's transactions
than a sender may pool) stays in the backlog, and so do its sender's later
entries (they are not admitted as queued behind it); the backlog is
submitted again after each sealed block (`run`) until each entry is
admitted, included, or dropped as above.

Crash safety: the backlog is persisted (`Mheal_requeue`) before the rewind
and after every change, so a kill -9 at any point re-queues it on restart
(`resume`, before the first block is sealed; senders and nonces are
recovered from the raw transactions again).

The store's tx index and receipts are rewound with the blocks
(ChainStore.rewind_to), so a receipt from a replaced block is never served;
a transaction sealed again after a derived block held it skipped is indexed
at its new, executed place (the status lookup asks the mempool first).
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
from node.state.schema import get_account
from node.stf import (
    AmountOverflow,
    BadSignature,
    FeeTooLow,
    InsufficientBalance,
    InvalidTransaction,
    MalformedTransaction,
    NonceOverflow,
    NonceTooLow,
    UnknownKind,
    WrongChainId,
    ZeroAmount,
)
from node.stf.execute import recover_transaction
from node.store.chain import Head
from node.tx import RecoveredTx, SignedTx
from sequencer.dropped import DroppedTx, DroppedTxs, executed_at
from sequencer.mempool import MempoolError

log = logging.getLogger("sequencer.healing")

REQUEUE_KEY = b"Mheal_requeue"
DEFAULT_PATIENCE_S = 60.0
RETRY_EVERY_S = 1.0

Resubmit = Callable[[RecoveredTx], Awaitable[object]]  # admit a transaction as if a client sent it; raise if refused
IsPooled = Callable[[bytes], bool]  # is this tx hash waiting in the mempool?
DropPooledAfter = Callable[[bytes, int, str], int]  # drop a sender's pooled txs above a nonce, with a detail
RecoveredOf = Callable[[bytes], RecoveredTx | None]  # a transaction the sequencer sealed, recovered, by hash
Clock = Callable[[], float]
REFUSED_FOR_NOW = (MempoolError, RpcError)  # no room, a conflicting pooled nonce, an unavailable journal: try again
NO_LONGER_VALID = (InvalidTransaction,)  # the healed chain's state refuses it: dropped, unless NOT_YET_VALID
# What the healed chain's state refuses for good: its nonce is used, its sender cannot pay, or it is not a
# valid transaction at all. Any other refusal (a venue order before the oracle price it needs, itself
# re-queued and pooled but not sealed yet) may pass after the next block: it waits, as one refused for room.
FINAL = (
    NonceTooLow,
    InsufficientBalance,
    BadSignature,
    WrongChainId,
    MalformedTransaction,
    FeeTooLow,
    UnknownKind,
    ZeroAmount,
    AmountOverflow,
    NonceOverflow,
)


@dataclass(slots=True)
class Replaced:
    """A user transaction of a replaced block, waiting to be admitted again."""

    raw: bytes
    tx_hash: bytes
    was_in_block: int
    rtx: RecoveredTx | InvalidTransaction  # recovered once, when its block is replaced (or why it does not)
    refused: str | None = None  # the last refusal, while the mempool has no room for it
    refused_since: float | None = None

    @classmethod
    def from_block(cls, raw: bytes, was_in_block: int, known: RecoveredOf = lambda tx_hash: None) -> Replaced:
        """The transaction recovered (its sender, nonce and fee), or the reason it does not recover; `known`
        gives the one the sequencer sealed, if it still has it (no second signature recovery then)."""
        tx_hash = keccak256(raw)
        sealed = known(tx_hash)
        if sealed is not None and sealed.raw == raw:
            return cls(raw, tx_hash, was_in_block, sealed)
        try:
            return cls(raw, tx_hash, was_in_block, recover_transaction(raw))
        except InvalidTransaction as exc:
            return cls(raw, tx_hash, was_in_block, exc)

    @property
    def sender(self) -> bytes:
        """b"" for a transaction that does not recover (or is not a signed user transaction)."""
        return self.rtx.sender if isinstance(self.rtx, RecoveredTx) and isinstance(self.rtx.tx, SignedTx) else b""

    @property
    def nonce(self) -> int:
        return self.rtx.tx.nonce if isinstance(self.rtx, RecoveredTx) and isinstance(self.rtx.tx, SignedTx) else -1

    @property
    def fee(self) -> int:
        return self.rtx.tx.fee if isinstance(self.rtx, RecoveredTx) and isinstance(self.rtx.tx, SignedTx) else 0


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
    return [Replaced.from_block(bytes(tx), int(number)) for number, tx in unpack(raw)]


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
        self._by_nonce = self._index_backlog()
        self._by_hash = {item.tx_hash: item for item in self.backlog}
        self.drop_pooled_after: DropPooledAfter = lambda sender, nonce, detail: 0  # set by TxPool.attach_backlog
        self.recovered_of: RecoveredOf = lambda tx_hash: None  # set by TxPool.attach_backlog
        self.store.before_rewind = self._record_replaced
        self.heals = 0
        self._requeued: dict[bytes, Replaced] = {}  # admitted again, not sealed yet: tx hash -> its entry
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

    def reserved(self, sender: bytes, nonce: int) -> Replaced | None:
        """The backlog entry holding (sender, nonce), if any: to the mempool's admission it is as good as pooled."""
        return self._by_nonce.get((sender, nonce))

    def waiting(self, tx_hash: bytes) -> int | None:
        """The replaced block of a backlog entry not placed again yet (None if `tx_hash` is not one)."""
        item = self._by_hash.get(tx_hash)
        return None if item is None else item.was_in_block

    def release(self, item: Replaced, newcomer: bytes, fee: int) -> None:
        """A new submission of the entry's sender paid the replacement bump for its nonce: the entry is dropped."""
        if item not in self.backlog:
            return
        self.backlog = [other for other in self.backlog if other is not item]
        self._save_backlog()
        head = self.chain.head().number
        reason = f"nonce {item.nonce} was taken by 0x{newcomer.hex()} of the same sender, paying {fee} (>= the bump)"
        self.dropped.record([DroppedTx(item.tx_hash, reason, item.was_in_block, head)])
        log.info("re-queue backlog: transaction 0x%s replaced by its sender's 0x%s", item.tx_hash.hex(), newcomer.hex())

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
        """Re-queued transactions that made it into a block, or that the block builder refused (now dropped,
        and their sender's later ones with them if the refusal left their nonce unused)."""
        if self.backlog:
            self._retry.set()
        if not self._requeued:
            return
        for tx_hash in included:
            self._requeued.pop(tx_hash, None)
        head = self.chain.head().number
        gone = [(self._requeued.pop(h), reason) for h, reason in rejected if h in self._requeued]
        drops = [DroppedTx(item.tx_hash, reason, item.was_in_block, head) for item, reason in gone]
        self.dropped.record(drops)
        for (item, _), drop in zip(gone, drops):
            log.warning(
                "re-queued transaction 0x%s was refused by the block builder and is dropped: %s",
                drop.tx_hash.hex(),
                drop.reason,
            )
            if self._leaves_gap(item.sender, item.nonce):
                self._drop_successors(item, drop)

    # -- healing --

    def _record_replaced(self, target: int, head: int) -> None:
        """The store's before_rewind hook: the blocks above `target` are about to go; persist their user txs first."""
        for number in range(target + 1, head + 1):
            block = self.store.get_block(number)
            if block is None:
                raise ValueError(f"block {number} is missing from the store during a rewind")
            for raw in block.transactions[self.store.get_system_count(number) :]:
                self.backlog.append(Replaced.from_block(raw, number, self.recovered_of))
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
        """One pass over the backlog, each sender's entries in nonce order (module docstring, "the rule")."""
        requeued = kept = 0
        dropped: list[DroppedTx] = []
        done: set[int] = set()
        seen: set[bytes] = set()
        held_back: dict[bytes, tuple[Replaced, DroppedTx] | None] = {}  # None: an earlier nonce waits; else dropped
        self._requeued = {h: item for h, item in self._requeued.items() if self.is_pooled(h)}
        for item in _in_sender_nonce_order(self.backlog):
            duplicate = item.tx_hash in seen  # replaced twice: once is enough
            seen.add(item.tx_hash)
            if duplicate:
                pass
            elif executed_at(self.store, item.tx_hash) is not None:
                kept += 1  # a derived block holds it, executed (one that holds it skipped did nothing: re-queue)
            elif self.is_pooled(item.tx_hash):
                requeued += 1
            elif item.sender in held_back:
                cause = held_back[item.sender]
                if cause is None:
                    continue  # waits behind its sender's earlier nonce: never queued behind a gap we opened
                dropped.append(self._successor_drop(item, cause[1]))
            else:
                verdict = await self._requeue(item)
                if isinstance(verdict, str):
                    held_back[item.sender] = None
                    continue  # refused for room: it waits, and its sender's later entries with it
                if verdict is None:
                    requeued += 1
                else:
                    dropped.append(verdict)
                    if self._leaves_gap(item.sender, item.nonce):
                        held_back[item.sender] = (item, verdict)
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
        for cause in held_back.values():
            if cause is not None:
                self._drop_pooled_successors(*cause)
        return RequeueRound(requeued, kept, len(self.backlog), tuple(dropped))

    # -- a dropped entry whose nonce stays unused: its sender's later transactions cannot execute --

    def _leaves_gap(self, sender: bytes, nonce: int) -> bool:
        """Whether `nonce` is still unused by `sender` on the chain (then its later nonces wait behind it)."""
        return bool(sender) and get_account(self.store.latest_state(), sender).nonce <= nonce

    def _successor_drop(self, item: Replaced, cause: DroppedTx) -> DroppedTx:
        return DroppedTx(item.tx_hash, _predecessor_dropped(cause), item.was_in_block, self.chain.head().number)

    def _drop_successors(self, dropped: Replaced, cause: DroppedTx) -> None:
        """The backlog's and the mempool's transactions of `dropped`'s sender above its nonce go, with the cause."""
        sender, nonce = dropped.sender, dropped.nonce
        later = [item for item in self.backlog if item.sender == sender and item.nonce > nonce]
        if later:
            self.backlog = [item for item in self.backlog if not (item.sender == sender and item.nonce > nonce)]
            self._save_backlog()
            self.dropped.record(self._successor_drop(item, cause) for item in later)
        self._drop_pooled_successors(dropped, cause)

    def _drop_pooled_successors(self, dropped: Replaced, cause: DroppedTx) -> None:
        count = self.drop_pooled_after(dropped.sender, dropped.nonce, _predecessor_dropped(cause))
        if count:
            log.warning(
                "dropped %d mempool transaction(s) queued behind 0x%s (nonce %d, dropped: %s)",
                count,
                cause.tx_hash.hex(),
                dropped.nonce,
                cause.reason,
            )

    async def _requeue(self, item: Replaced) -> DroppedTx | str | None:
        """None: admitted. A DroppedTx: no longer valid (or refused past patience). A str: refused for now."""
        head = self.chain.head().number
        try:
            if isinstance(item.rtx, InvalidTransaction):
                raise item.rtx
            await self.resubmit(item.rtx)
        except NO_LONGER_VALID as exc:
            if isinstance(exc, FINAL) or isinstance(item.rtx, InvalidTransaction):
                return DroppedTx(item.tx_hash, _no_longer_valid(item, exc), item.was_in_block, head)
            return self._refused(item, exc, head)  # not valid yet: a pooled transaction it needs goes first
        except REFUSED_FOR_NOW as exc:
            return self._refused(item, exc, head)
        self._requeued[item.tx_hash] = item
        return None

    def _refused(self, item: Replaced, exc: Exception, head: int) -> DroppedTx | str:
        """Refused for now: the refusal, to try again; or, once refused for `patience_s`, a DroppedTx."""
        now = self.clock()
        item.refused = str(exc)
        if item.refused_since is None:
            item.refused_since = now
        if now - item.refused_since >= self.patience_s:
            reason = f"not admitted again within {self.patience_s:.0f} s: {exc}"
            return DroppedTx(item.tx_hash, reason, item.was_in_block, head)
        return item.refused

    def _index_backlog(self) -> dict[tuple[bytes, int], Replaced]:
        index: dict[tuple[bytes, int], Replaced] = {}
        for item in self.backlog:
            if item.sender:
                index.setdefault((item.sender, item.nonce), item)
        return index

    def _save_backlog(self) -> None:
        self._by_nonce = self._index_backlog()
        self._by_hash = {item.tx_hash: item for item in self.backlog}
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


def _predecessor_dropped(cause: DroppedTx) -> str:
    return f"predecessor dropped (0x{cause.tx_hash.hex()}: {cause.reason})"


def _no_longer_valid(item: Replaced, exc: InvalidTransaction) -> str:
    """Why the healed chain's state refuses `item`, in words that say what happened to it."""
    if isinstance(exc, NonceTooLow):
        return f"its nonce {item.nonce} was taken on the healed chain by another transaction of its sender ({exc})"
    if isinstance(exc, InsufficientBalance):
        return f"its sender cannot pay for it on the healed chain ({exc})"
    return str(exc)


def _in_sender_nonce_order(items: list[Replaced]) -> list[Replaced]:
    """The backlog in block order, except that each sender's entries come in nonce order (a later heal may
    append lower nonces of a sender): senders' transactions may depend on each other's (an oracle price
    before the order that needs it), so the order across senders stays the blocks'."""
    by_sender: dict[bytes, list[Replaced]] = {}
    for item in items:
        by_sender.setdefault(item.sender, []).append(item)
    queues = {sender: iter(sorted(mine, key=lambda entry: entry.nonce)) for sender, mine in by_sender.items()}
    return [next(queues[item.sender]) for item in items]
