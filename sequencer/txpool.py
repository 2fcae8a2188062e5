"""The mempool as the sequencer runs it: admission on the head state, the journal, drop history, upkeep.

    await admit(rtx)      validate on the head state, add to the pool, journal the add and whatever it
                          pushed out, return once that is durable: only then may the hash be returned
    on_block(report)      after each sealed block: rejected transactions are recorded as dropped, the
                          senders whose accounts the block changed lose stale and unpayable transactions,
                          queued caps are enforced
    await run(stop)       every second: expire queued transactions, rotate the journal when due
    await restore(recs)   at start: replay the journal into the pool (included and now-invalid ones are
                          not re-added: the latter are recorded as dropped), then rotate it
    status_of(hash)       included (block number) / pending / queued / dropped (reason) / unknown; one
                          waiting in the heal's re-queue backlog is queued, reason "reorged"; a
                          transaction of a block L1 replaced that could not be re-queued (sequencer.healing,
                          sequencer.dropped) is dropped with reason "reorged"
    attach_backlog(b)     the heal's re-queue backlog: its entries' (sender, nonce) are taken as pooled
                          ones' are (a newcomer needs the replacement bump); it drops, through
                          `drop_successors`, a sender's pooled transactions behind a nonce it dropped

Nothing accepted disappears silently: a transaction leaves the pool by
inclusion (the chain store records it) or as a drop with its reason, kept in
memory (the newest `dropped_history`) and in the journal, so the status
survives a restart too.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from node.chain import Chain
from node.clock import PROCESS_CLOCK
from node.crypto import Hash32, keccak256
from node.encoding import DecodeError
from node.mempool_errors import MempoolError, ReplacementUnderpriced
from node.service import sleep_or_stop
from node.state.schema import (
    EMPTY_ACCOUNT,
    Account,
    address_of_account_key,
    decode_account,
    get_account,
    is_account_key,
)
from node.stf import StfError
from node.tx import RecoveredTx, SignedTx, decode_signed_tx
from sequencer.dropped import DroppedTxs, executed_at
from sequencer.intake import validate_submission
from sequencer.journal import (
    DEFAULT_DROPPED_HISTORY,
    Frame,
    Journal,
    JournalAdd,
    JournalDrop,
    JournalError,
    JournalRecord,
    encode_record,
)
from sequencer.mempool import DropReason, Mempool
from sequencer.producer import BlockReport

log = logging.getLogger(__name__)

TICK_S = 1.0
SEALED_MEMORY_PER_POOL_SLOT = 2  # sealed transactions remembered for a heal: twice the pool's capacity
ROTATE_MIN_BYTES = 16 * 1024 * 1024  # and 4x the last snapshot: rotate early when the file grows past both


def wall_clock_ms() -> int:
    """Chain time: the wall clock plus the devnet offset (node.clock; the wall clock outside devnet mode)."""
    return PROCESS_CLOCK.now_ms()


@dataclass(frozen=True, slots=True)
class DroppedTx:
    reason: str
    detail: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class TxStatus:
    status: str  # "included" | "pending" | "queued" | "dropped" | "unknown"
    block_number: int | None = None
    reason: str | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.block_number is not None:
            out["blockNumber"] = self.block_number
        if self.reason is not None:
            out["reason"] = self.reason
            out["detail"] = self.detail
        return out


@dataclass(frozen=True, slots=True)
class RestoreReport:
    restored: int
    included: int
    invalid: int
    dropped_known: int


class DropHistory:
    """The newest `capacity` dropped transactions and why, by hash, each with its journal frame
    (so rewriting the journal does not encode them again)."""

    def __init__(self, capacity: int = DEFAULT_DROPPED_HISTORY) -> None:
        self.capacity = capacity
        self._items: collections.OrderedDict[bytes, tuple[DroppedTx, Frame]] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def record(self, tx_hash: bytes, dropped: DroppedTx) -> Frame:
        frame = encode_record(JournalDrop(tx_hash, dropped.reason, dropped.detail, dropped.at_ms))
        self._items.pop(tx_hash, None)
        self._items[tx_hash] = (dropped, frame)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return frame

    def forget(self, tx_hash: bytes) -> None:
        self._items.pop(tx_hash, None)

    def get(self, tx_hash: bytes) -> DroppedTx | None:
        item = self._items.get(tx_hash)
        return None if item is None else item[0]

    def frames(self) -> list[Frame]:
        return [frame for _, frame in self._items.values()]


def accounts_written(writes: Mapping[bytes, bytes | None]) -> dict[bytes, Account]:
    """The accounts a block changed, from its state writes (a deleted account is the empty one)."""
    return {
        address_of_account_key(key): EMPTY_ACCOUNT if value is None else decode_account(value)
        for key, value in writes.items()
        if is_account_key(key)
    }


OnDrop = Callable[[bytes, DroppedTx], None]


class BacklogEntry(Protocol):
    @property
    def tx_hash(self) -> bytes: ...

    @property
    def fee(self) -> int: ...


class Backlog(Protocol):
    """The heal's re-queue backlog (sequencer.healing.ChainHealer): transactions of replaced blocks not yet
    placed again. Their (sender, nonce) are taken: a new submission replaces one only as it would replace a
    pooled transaction, with the fee bump."""

    drop_pooled_after: Callable[[bytes, int, str], int]
    recovered_of: Callable[[bytes], RecoveredTx | None]

    def reserved(self, sender: bytes, nonce: int) -> BacklogEntry | None: ...

    def waiting(self, tx_hash: bytes) -> int | None: ...

    def release(self, item: Any, newcomer: bytes, fee: int) -> None: ...


class TxPool:
    def __init__(
        self,
        chain: Chain,
        mempool: Mempool,
        journal: Journal | None = None,
        *,
        rotate_ms: int = 60_000,
        dropped_history: int = DEFAULT_DROPPED_HISTORY,
        clock_ms: Callable[[], int] = wall_clock_ms,
        on_drop: OnDrop = lambda tx_hash, dropped: None,
    ) -> None:
        self.chain = chain
        self.mempool = mempool
        self.journal = journal
        self.history = DropHistory(dropped_history)
        self.rotate_ms = rotate_ms
        self.clock_ms = clock_ms
        self.on_drop = on_drop
        self.backlog: Backlog | None = None  # attach_backlog
        # the user transactions of the newest sealed blocks, recovered: a heal that replaces their blocks
        # takes their senders from here instead of recovering every signature again while sealing waits
        self._sealed: collections.OrderedDict[bytes, RecoveredTx] = collections.OrderedDict()
        self._sealed_cap = SEALED_MEMORY_PER_POOL_SLOT * mempool.limits.max_txs
        self._last_head: bytes | None = None  # hash of the newest block on_block saw
        self._last_rotation_ms = clock_ms()
        self._snapshot_bytes = 0

    def attach_backlog(self, backlog: Backlog) -> None:
        """Admission respects the heal's backlog; the backlog drops pooled successors of an entry it drops."""
        self.backlog = backlog
        backlog.drop_pooled_after = self.drop_successors
        backlog.recovered_of = self._sealed.get

    # -- admission --

    async def admit(self, rtx: RecoveredTx) -> None:
        """Admit `rtx` or raise why not; return once its admission is durable (journaled)."""
        account = validate_submission(self.chain.store.latest_state(), self.chain.config, rtx)
        held = self._held_by_backlog(rtx)
        now = self.clock_ms()
        self.mempool.add(rtx, account, now)
        self.history.forget(rtx.hash)  # a resubmission of a dropped transaction
        drops = self._record_drops(now)
        if self.journal is not None:
            try:
                await self.journal.append([JournalAdd(rtx.raw, rtx.sender, now), *drops])
            except JournalError:
                self.mempool.remove_hashes([rtx.hash])  # not durable, so not accepted
                raise
        if held is not None and self.backlog is not None:
            self.backlog.release(held, rtx.hash, signed_fee(rtx))

    def _held_by_backlog(self, rtx: RecoveredTx) -> BacklogEntry | None:
        """The backlog entry `rtx` replaces (it pays the bump); raise ReplacementUnderpriced if it does not."""
        if self.backlog is None or not isinstance(rtx.tx, SignedTx):
            return None
        held = self.backlog.reserved(rtx.sender, rtx.tx.nonce)
        if held is None or held.tx_hash == rtx.hash:
            return None  # none, or the entry itself (re-queued by the healer, or sent again by its sender)
        limits = self.mempool.limits
        need = limits.compute_replacement_fee(held.fee)
        if rtx.tx.fee < need:
            raise ReplacementUnderpriced(rtx.tx.nonce, held.fee, need, rtx.tx.fee, limits.price_bump_percent)
        return held

    # -- upkeep --

    def on_block(self, report: BlockReport) -> None:
        """Call right after a block is sealed (the producer has removed its included and rejected transactions)."""
        now = self.clock_ms()
        self._remember_sealed(report.build.included)
        drops: list[JournalRecord | Frame] = []
        for rejection in report.build.rejected:
            drops.append(self._record(rejection.rtx.hash, DroppedTx(DropReason.REJECTED, str(rejection.error), now)))
        if report.sealed.block.header.parent_hash == self._last_head:
            self.mempool.sync_accounts(accounts_written(report.build.execution.writes))
        else:
            self.resync_all()  # not on the last block we saw (a heal replaced it, or the first block): re-read all
        self._last_head = report.sealed.head.hash
        self.mempool.enforce_caps()
        drops.extend(self._record_drops(now))
        if self.journal is not None and drops:
            self.journal.append_nowait(drops)

    def _remember_sealed(self, included: Iterable[RecoveredTx]) -> None:
        for rtx in included:
            self._sealed[rtx.hash] = rtx
        while len(self._sealed) > self._sealed_cap:
            self._sealed.popitem(last=False)

    def drop_successors(self, sender: bytes, nonce: int, detail: str) -> int:
        """Drop `sender`'s pooled transactions above `nonce` (that nonce will not be used): reason reorged."""
        count = self.mempool.drop_from(sender, nonce + 1, DropReason.REORGED, detail)
        drops = self._record_drops(self.clock_ms())
        if self.journal is not None and drops:
            self.journal.append_nowait(drops)
        return count

    def resync_all(self) -> None:
        """Re-read every pooled sender's account at the head (after a reorg or a restart)."""
        reader = self.chain.store.latest_state()
        self.mempool.sync_accounts({sender: get_account(reader, sender) for sender in self.mempool.senders()})

    def tick(self) -> None:
        now = self.clock_ms()
        self.mempool.expire(now)
        drops = self._record_drops(now)
        if self.journal is not None and drops:
            self.journal.append_nowait(drops)

    def rotation_due(self) -> bool:
        if self.journal is None:
            return False
        if self.clock_ms() - self._last_rotation_ms >= self.rotate_ms:
            return True
        return self.journal.size > max(ROTATE_MIN_BYTES, 4 * self._snapshot_bytes)

    async def rotate(self) -> None:
        if self.journal is None:
            return
        self._last_rotation_ms = self.clock_ms()
        try:
            self._snapshot_bytes = await self.journal.rotate(self.snapshot)
        except JournalError as exc:
            log.warning("%s", exc)

    def snapshot(self) -> list[JournalRecord | Frame]:
        """The journal's content as of now: what was dropped (still remembered), then the pool in arrival order."""
        records: list[JournalRecord | Frame] = list(self.history.frames())
        records.extend(JournalAdd(e.rtx.raw, e.rtx.sender, e.added_ms) for e in self.mempool.entries())
        return records

    async def run(self, stop: asyncio.Event) -> None:
        while not await sleep_or_stop(TICK_S, stop):
            self.tick()
            if self.rotation_due():
                await self.rotate()

    async def close(self) -> None:
        if self.journal is not None:
            await self.journal.close()

    # -- restart --

    async def restore(self, records: Iterable[JournalRecord]) -> RestoreReport:
        """Replay journal records into the (empty) pool, then rotate the journal to its content."""
        live: dict[bytes, JournalAdd] = {}
        for record in records:
            if isinstance(record, JournalAdd):
                tx_hash = keccak256(record.raw)
                live.pop(tx_hash, None)
                live[tx_hash] = record
                self.history.forget(tx_hash)
            else:
                live.pop(record.tx_hash, None)
                self.history.record(record.tx_hash, DroppedTx(record.reason, record.detail, record.at_ms))
        report = self._replay(live)
        self.tick()  # what expired while the sequencer was down
        await self.rotate()
        return report

    def _replay(self, live: Mapping[bytes, JournalAdd]) -> RestoreReport:
        store, reader = self.chain.store, self.chain.store.latest_state()
        restored = included = invalid = 0
        for tx_hash, add in live.items():
            if executed_at(store, tx_hash) is not None:
                included += 1
                continue
            try:
                rtx = RecoveredTx(decode_signed_tx(add.raw), Hash32(tx_hash), add.sender, add.raw)  # type: ignore[arg-type]
                self.mempool.add(rtx, validate_submission(reader, self.chain.config, rtx), add.added_ms)
                restored += 1
            except (StfError, MempoolError, DecodeError) as exc:
                self._record(
                    tx_hash, DroppedTx(DropReason.INVALID, f"no longer valid after a restart: {exc}", self.clock_ms())
                )
                invalid += 1
        self._record_drops(self.clock_ms())
        return RestoreReport(restored, included, invalid, len(self.history))

    # -- status --

    def status_of(self, tx_hash: bytes) -> TxStatus:
        pending = self.mempool.is_pending(tx_hash)  # first: a derived block may hold it skipped (healing)
        if pending is not None:
            return TxStatus("pending" if pending else "queued")
        replaced = self.backlog.waiting(tx_hash) if self.backlog is not None else None
        if replaced is not None:
            detail = (
                f"block {replaced} that held it was replaced by the L1-derived chain: it waits in the re-queue "
                "backlog for mempool room"
            )
            return TxStatus("queued", reason=DropReason.REORGED, detail=detail)
        location = self.chain.store.get_tx_location(tx_hash)
        if location is not None:
            return TxStatus("included", block_number=location[0])
        healed_away = DroppedTxs(self.chain.store.kv).get(tx_hash)
        if healed_away is not None:
            detail = (
                f"block {healed_away.was_in_block} that held it was replaced by the L1-derived chain: "
                f"{healed_away.reason}"
            )
            return TxStatus("dropped", reason=DropReason.REORGED, detail=detail)
        dropped = self.history.get(tx_hash)
        if dropped is not None:
            return TxStatus("dropped", reason=dropped.reason, detail=dropped.detail)
        return TxStatus("unknown")

    # -- drops --

    def _record_drops(self, now: int) -> list[JournalRecord | Frame]:
        records: list[JournalRecord | Frame] = []
        for drop in self.mempool.take_drops():
            if drop.reason is DropReason.STALE and executed_at(self.chain.store, drop.rtx.hash) is not None:
                continue  # the same transaction came in another way (forced through L1): included, not dropped
            records.append(self._record(drop.rtx.hash, DroppedTx(drop.reason, drop.detail, now)))
        return records

    def _record(self, tx_hash: bytes, dropped: DroppedTx) -> Frame:
        frame = self.history.record(tx_hash, dropped)
        self.on_drop(tx_hash, dropped)
        return frame


def signed_fee(rtx: RecoveredTx) -> int:
    return rtx.tx.fee if isinstance(rtx.tx, SignedTx) else 0


__all__ = [
    "Backlog",
    "DropHistory",
    "DroppedTx",
    "RestoreReport",
    "TxPool",
    "TxStatus",
    "accounts_written",
    "wall_clock_ms",
]
