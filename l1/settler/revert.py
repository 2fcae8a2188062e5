"""The settler's in-process snapshot and revert (node.devnet.inproc.reloadable over l1.settler.process.Settler).

Hold: the settle loop is stopped, so no batch or proposal goes to the L1 while the devnet is held
or reverted (one decided on the abandoned chain must never land on the reverted L1), and gossip is
dropped (a block of the abandoned chain still in flight must not be held). The settler keeps no
RocksDB store of its own: its files (<data_dir>/settler_state.json, written atomically, and the
held blocks, one file each) are copied as they are; the test-only proposal policy's replica chain
(a devnet's settler always runs l1.faults.settler) is checkpointed, closed and opened again.

Reopen does what construction and start-up do, on the same objects (the metrics and the gossip
network's range-sync server are bound to them): the inbox walker, the outputs ledger, the verified
chain, the waits and problem trackers start afresh; the L1 params are read again, the transaction
book is rebuilt from the copy's journal, the held blocks are loaded again from the copy, the inbox
walk resumes from the copy's checkpoint (L1 blocks at or below it are the same on the L1 before and
after its revert, which may run at the same time), the outputs ledger is filled by the first round
after the release, and the proposal policy is made again, as on a restart. A held block whose exact
bytes this settler held at an earlier hold (every snapshot is taken at one) is not validated again:
its signature was checked when it came; any other file is, as at start-up. The libp2p host and the RPC server are kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from l1.settler.blockstore import MAX_HELD, BlockStore
from l1.settler.feed import LatencyWindow
from l1.settler.held import Starvation
from l1.settler.inbox import InboxWalker, open_inbox
from l1.settler.journal import load_record
from l1.settler.outcomes import Outcomes
from l1.settler.outputs import OutputsLedger
from l1.settler.txs import Role, TxBook
from l1.settler.verified import VerifiedChain
from node.block import Block
from node.devnet.inproc.known import KnownMessages
from node.service import ProblemTracker
from node.store.kv import KVStore

if TYPE_CHECKING:
    from l1.settler.process import Settler

log = logging.getLogger("settler")

SETTLE_LOOP = "settle-loop"
KNOWN_MAX = 2 * MAX_HELD


class SettlerReload:
    def __init__(self, settler: Settler) -> None:
        self.settler = settler
        self._held = False
        self._loops = True
        self._was_partitioned = False
        self._known: KnownMessages[Block] = KnownMessages(KNOWN_MAX)  # held blocks seen at a hold (a snapshot's)

    def _remember_held(self) -> None:
        """The blocks held now, validated when they came: a revert to a snapshot taken now reloads them unchecked."""
        feed = self.settler.feed
        if feed is not None:
            store = feed.store
            self._known.remember((data, store.blocks[n]) for n, data in store.raw.items() if n in store.blocks)

    @property
    def data_dir(self) -> Path:
        return Path(self.settler.config.node.data_dir)

    @property
    def held(self) -> bool:
        return self._held

    async def hold(self) -> None:
        if self._held:
            return
        self._remember_held()
        await self.settler.tasks.cancel_named([SETTLE_LOOP])
        feed = self.settler.feed
        if feed is not None:
            self._was_partitioned = feed.network.partitioned
            feed.network.partitioned = True  # gossip is dropped (node.blocknet.BlockNetwork.follow)
            await feed.cancel_fill()  # nor may a range sync in flight bring blocks of the abandoned chain
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        feed = self.settler.feed
        if feed is not None:
            feed.network.partitioned = self._was_partitioned
        if self._loops:
            self.settler.tasks.spawn(SETTLE_LOOP, self.settler.run())

    def stores(self) -> Sequence[KVStore]:
        """The settler keeps no store; a test-only proposal policy keeps a replica chain (l1.faults.replica)."""
        store = getattr(getattr(self.settler.faulty, "replica", None), "store", None)
        return [store.kv] if store is not None else []

    async def stop_loops(self) -> None:
        await self.settler.tasks.cancel_named([SETTLE_LOOP])
        self._loops = False

    def close_stores(self) -> None:
        """The journal is written whole each time and the held blocks one file each: only a proposal policy's
        replica store is open."""
        if self.settler.faulty is not None:
            self.settler.faulty.close()

    async def reopen(self) -> None:
        s = self.settler
        config = s.config
        walker = InboxWalker(config.rollup.rules)
        walker.records_derived = config.p2p is not None
        vars(s.walker).update(vars(walker))
        vars(s.ledger).update(vars(OutputsLedger(s.section.proposer_key.address)))  # a metric reads the first one
        vars(s.verified).update(vars(VerifiedChain()))
        s.outcomes = Outcomes(s.server.metrics)
        s._waits = type(s._waits)()
        s._saved_inbox_at = -1
        for duty in list(s.trackers):
            s.trackers[duty] = ProblemTracker(f"settler {duty}", log, s.section.stuck_after_rounds)
        s._defaults_seen = 0
        s._starvation = Starvation()
        s._output_starvation = Starvation()
        s._verify_fill_at = 0.0
        s._stall_logged = None
        s._origins_ahead = {}
        s.seal_to_post = LatencyWindow()
        record = load_record(s.state_path)
        # the held blocks are checked again in a thread while the L1 answers (start-up does these one by one)
        (min_fee, chain_id), _ = await asyncio.gather(s._load_l1_params(), self._reload_held_blocks())
        keys = {Role.BATCHER: s.section.batcher_key, Role.PROPOSER: s.section.proposer_key}
        s.book = TxBook(s.l1, keys, chain_id, min_fee, s._persist, record.in_flight)
        # L1 blocks up to the copy's checkpoint: the same on any L1; the outputs ledger is filled by the first round,
        # once released (the L1 may not be reverted yet)
        await asyncio.gather(open_inbox(s.l1, s.walker, record.inbox), self._reopen_policy())
        # still held (the loops stay stopped until release): the hold belongs to this object, not the store
        log.info(
            "devnet: settler reopened in place: L2 blocks derivable from L1 up to %d, newest live output at %d",
            s.walker.head_number,
            s.ledger.own_newest_live(),
        )

    async def _reload_held_blocks(self) -> None:
        feed = self.settler.feed
        if feed is None:
            return
        store = feed.store
        known = self._known.snapshot()  # the others are validated, as at start-up
        fresh = await asyncio.to_thread(BlockStore, store.directory, store.rules, store.max_held, known)
        vars(store).update(vars(fresh))  # the network's range-sync server is bound to this store
        await feed.network.node.forget_gossip_history()  # no block of the abandoned chain is served again

    async def _reopen_policy(self) -> None:
        """The test-only proposal policy made and opened again (it was closed with the stores), as on a restart."""
        s = self.settler
        if s.faulty is not None and s.proposal_policy is not None:
            s.faulty = s.proposal_policy(s.config, s.l1, s.sequencer)
            await s.faulty.open()

    def start_loops(self) -> None:
        self._loops = True
        if not self._held:
            self.settler.tasks.spawn(SETTLE_LOOP, self.settler.run())

    def fail(self, exc: BaseException) -> None:
        self.settler.tasks.fail(exc)


__all__ = ["SettlerReload"]
