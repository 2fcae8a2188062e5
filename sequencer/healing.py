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
  1. before the rewind writes anything, the store's `before_rewind` hook
     records the user transactions of the blocks about to go (key
     `Mheal_dropped`, merged with an unfinished record), so a crash at any
     point still re-queues them on restart (`resume`);
  2. derivation commits the derived block(s) of that L1 block;
  3. every recorded transaction the healed chain does not hold (its tx
     index) is submitted again through the sequencer's own admission, in the
     original order: a still-valid one is re-queued and sealed into a new
     block, whose receipt then replaces the old one; the others are recorded
     as dropped (sequencer.dropped), which the receipt lookup reports;
  4. the record is deleted, the heal is logged (range replaced, transactions
     re-queued/kept/dropped) and `on_healed` gets a HealReport.

The store's tx index and receipts are rewound with the blocks
(ChainStore.rewind_to), so a receipt from a dropped block is never served.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from node.chain import Chain
from node.crypto import keccak256
from node.derivation import DerivationResult, Deriver, L1BlockData, RollupRules
from node.encoding import pack, unpack
from node.follower import CURSOR_KEY
from node.rpc.errors import RpcError
from node.safe_chain import SAFE_KEY
from node.stf import InvalidTransaction
from node.store.chain import ChainStore, Head
from sequencer.dropped import DroppedTx, DroppedTxs
from sequencer.mempool import MempoolError

log = logging.getLogger("sequencer.healing")

HEAL_RECORD_KEY = b"Mheal_dropped"

Resubmit = Callable[[bytes], Awaitable[object]]  # admit a raw transaction as if a client sent it; raise if refused
IsPooled = Callable[[bytes], bool]  # is this tx hash waiting in the mempool?
ADMISSION_ERRORS = (InvalidTransaction, MempoolError, RpcError)


@dataclass(frozen=True, slots=True)
class DroppedBlock:
    """A block a rewind removed: what is needed to re-queue its user transactions."""

    number: int
    block_hash: bytes
    user_txs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class HealReport:
    first_replaced: int  # lowest height whose block was replaced
    discarded_head: int  # the sequencer's head before the heal
    head: Head  # the head after it (the newest derived block)
    requeued: int  # submitted again and admitted
    kept: int  # already in the derived blocks (their receipts are served from there)
    dropped: tuple[DroppedTx, ...]  # no longer valid: reported by the receipt lookup
    seconds: float  # production was paused this long


OnHealed = Callable[[HealReport], None]


def encode_dropped_blocks(blocks: list[DroppedBlock]) -> bytes:
    return pack([[b.number, b.block_hash, list(b.user_txs)] for b in blocks])


def decode_dropped_blocks(raw: bytes) -> list[DroppedBlock]:
    return [DroppedBlock(int(n), bytes(h), tuple(bytes(t) for t in txs)) for n, h, txs in unpack(raw)]


class RewindJournal:
    """The store's before_rewind hook: persists the user transactions of the blocks a rewind is about to drop."""

    def __init__(self, store: ChainStore) -> None:
        self.store = store

    def install(self) -> None:
        self.store.before_rewind = self.record

    def record(self, target: int, head: int) -> None:
        blocks = self.pending()
        for number in range(target + 1, head + 1):
            block = self.store.get_block(number)
            if block is None:
                raise ValueError(f"block {number} is missing from the store during a rewind")
            user = block.transactions[self.store.get_system_count(number) :]
            blocks.append(DroppedBlock(number, block.hash(), tuple(user)))
        self.store.kv.write({HEAL_RECORD_KEY: encode_dropped_blocks(blocks)})

    def pending(self) -> list[DroppedBlock]:
        raw = self.store.kv.get(HEAL_RECORD_KEY)
        return [] if raw is None else decode_dropped_blocks(raw)

    def has_pending(self) -> bool:
        return self.store.kv.get(HEAL_RECORD_KEY) is not None

    def clear(self) -> None:
        self.store.kv.write({}, [HEAL_RECORD_KEY])


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
    ) -> None:
        self.chain = chain
        self.store = chain.store
        self.lock = lock
        self.resubmit = resubmit
        self.is_pooled = is_pooled
        self.on_healed = on_healed
        self.dropped = DroppedTxs(self.store.kv)
        self.journal = RewindJournal(self.store)
        ensure_safe_record(chain)
        self.deriver = Deriver(chain, rules)
        self.journal.install()
        raw = self.store.kv.get(CURSOR_KEY)
        self.cursor = int.from_bytes(raw, "big") if raw else 0  # the last L1 block derivation processed
        self.heals = 0
        self._requeued: dict[bytes, int] = {}  # re-queued tx hash -> the replaced block that held it

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
            started = time.perf_counter()
            result = self.deriver.process_l1_block(data)
            self.store.kv.write({CURSOR_KEY: data.number.to_bytes(8, "big")})
            self.cursor = data.number
            report = await self._finish_heal(started) if self.journal.has_pending() else None
        self._log_derivation(data.number, result)
        if report is not None:
            self.on_healed(report)
        return report

    async def resume(self) -> HealReport | None:
        """Finish a heal that a crash interrupted (its record is still in the store); call before sealing."""
        if not self.journal.has_pending():
            return None
        async with self.lock:
            report = await self._finish_heal(time.perf_counter())
        self.on_healed(report)
        return report

    # -- after each sealed block --

    def note_sealed(self, included: list[bytes], rejected: list[tuple[bytes, str]]) -> None:
        """Re-queued transactions that made it into a block, or that the block builder refused (now dropped)."""
        if not self._requeued:
            return
        for tx_hash in included:
            self._requeued.pop(tx_hash, None)
        head = self.chain.head().number
        gone = [(h, reason) for h, reason in rejected if h in self._requeued]
        self.dropped.record(DroppedTx(h, reason, self._requeued.pop(h), head) for h, reason in gone)
        for tx_hash, reason in gone:
            log.warning("re-queued transaction 0x%s was refused by the block builder and is dropped: %s", tx_hash.hex(), reason)

    # -- healing --

    async def _finish_heal(self, started: float) -> HealReport:
        blocks = self.journal.pending()
        head = self.chain.head()
        requeued = kept = 0
        dropped: list[DroppedTx] = []
        seen: set[bytes] = set()
        self._requeued = {h: n for h, n in self._requeued.items() if self.is_pooled(h)}
        for block in sorted(blocks, key=lambda b: b.number):
            for raw in block.user_txs:
                tx_hash = keccak256(raw)
                if tx_hash in seen:
                    continue
                seen.add(tx_hash)
                if self.store.get_tx_location(tx_hash) is not None:
                    kept += 1
                elif self.is_pooled(tx_hash):
                    requeued += 1
                else:
                    outcome = await self._requeue(raw, tx_hash, block.number, head.number)
                    if outcome is None:
                        requeued += 1
                    else:
                        dropped.append(outcome)
        self.dropped.record(dropped)
        self.journal.clear()
        self.heals += 1
        report = HealReport(
            first_replaced=min((b.number for b in blocks), default=head.number),
            discarded_head=max((b.number for b in blocks), default=head.number),
            head=head,
            requeued=requeued,
            kept=kept,
            dropped=tuple(dropped),
            seconds=time.perf_counter() - started,
        )
        self._log_heal(report)
        return report

    async def _requeue(self, raw: bytes, tx_hash: bytes, was_in: int, head: int) -> DroppedTx | None:
        try:
            await self.resubmit(raw)
        except ADMISSION_ERRORS as exc:
            return DroppedTx(tx_hash, str(exc), was_in, head)
        self._requeued[tx_hash] = was_in
        return None

    # -- operator logs --

    def _log_heal(self, report: HealReport) -> None:
        log.warning(
            "healed onto the L1-derived chain: L2 blocks %d..%d replaced, head now %d (0x%s); "
            "%d txs re-queued, %d already in the derived blocks, %d dropped; sealing paused %.0f ms",
            report.first_replaced, report.discarded_head, report.head.number, report.head.hash.hex()[:16],
            report.requeued, report.kept, len(report.dropped), report.seconds * 1000,
        )
        for item in report.dropped:
            log.info("dropped transaction 0x%s (was in replaced block %d): %s", item.tx_hash.hex(), item.was_in_block, item.reason)

    def _log_derivation(self, l1_number: int, result: DerivationResult) -> None:
        for reason in result.dropped:
            log.warning("derivation dropped data: %s", reason)
        replaced = len(result.derived) - result.promoted
        if replaced:
            log.info(
                "derived L2 blocks %d..%d from L1 block %d (%d of ours promoted to safe, %d replaced or new)",
                result.derived[0].head.number, result.derived[-1].head.number, l1_number, result.promoted, replaced,
            )
        elif result.derived:
            log.debug("L1 block %d made L2 blocks %d..%d safe", l1_number, result.derived[0].head.number, result.derived[-1].head.number)
