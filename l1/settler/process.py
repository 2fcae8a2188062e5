"""The settler: posts the sequencer's L2 blocks to L1 as batches, and proposes output roots.

    python -m l1.settler.main --config FILE

It decides from what the L1 holds, never from local guesses. Each round:
  1. follow its transactions in flight (l1.settler.txs): the landed ones
     are taken in (a refused one holds its block back with a backoff), a
     stale one is replaced with the same nonce, a lost one is forgotten;
  2. read L1: walk the inbox to the newest L2 block derivable from L1
     batches (l1.settler.inbox), and re-read the output proposals still
     open plus the new ones (l1.settler.outputs);
  3. batches: when no batch is in flight, post the sequencer's blocks from
     the one after the derivable head (the longest prefix within
     max_batch_bytes);
  4. outputs: propose the next multiples of output_interval above its own
     newest non-defeated proposal, up to the derivable head (and the
     sequencer's safe head, so the root is of the L1-derived chain; and the
     L1's own L2 head where the L1 tracks one, l1_getL2Head), at most
     MAX_PROPOSALS_IN_FLIGHT at once.
The decisions are l1.settler.plan's pure functions.

Where a batch's blocks come from (issue 14): with a `[p2p]` section the
settler is a gossip peer (l1.settler.feed, the executors' BlockNetwork and
validation) and builds each batch from the sequencer's signed blocks it
holds (l1.settler.blockstore, crash-safe; l1.settler.held turns them into
the same batch blocks `rollup_getBatchBlocks` returns), range-syncing a
missing first block from its peers. The sequencer's JSON-RPC is the
fallback: when gossip has brought nothing new for `gossip_fallback_ms`, or
without `[p2p]`. Each batch's source is logged and counted
(settler_batches_total{source}).

Output roots come from the same held blocks (l1.settler.verified): the
root of block k is computed from the signed header (state root, block
hash), for blocks on a chain checked against what L1 derived, block by
block; outputs are proposed up to that chain's tip. The RPC
(`rollup_outputAtBlock`, up to the sequencer's safe head) is the fallback
under the same rule as for batches: the next output's block not verified
for `gossip_fallback_ms`. Counted in settler_outputs_total{source}. Without
`sequencer_rpc` (allowed with `[p2p]`) there is no fallback: the settler
waits for gossip and range sync, and says so in its health once it has
waited `gossip_fallback_ms`.

Every transaction is recorded in `<data_dir>/settler_state.json` before it
is sent (l1.settler.journal), so a settler killed with its batch or proposal
in the L1 mempool waits for it after a restart instead of sending it again.

Each duty (batches, outputs) has a ProblemTracker: a refusal held back, a
transaction replaced and still pending, an L1 or sequencer that does not
answer are problems; once one has lasted `stuck_after_rounds` rounds,
/health and settler_status say "stuck" (HTTP 503) with the reason, and the
metric settler_stuck{duty} is 1.

A test-only proposal policy may be injected (l1.faults.settler runs the
faulty proposer of l1.faults.proposer this way; production never imports
it): the first output due at
or after that block gets a wrong root, later ones wait, the settler defends
the wrong output in its dispute game, and after a defeat proposes the
correct root for that block again (its own newest non-defeated proposal is
then the one before). Correct outputs under dispute are defended by the
challenger process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from l1.contracts.client import L1Client, L1ResponseError, OutputReport
from l1.contracts.payloads import PostBatch, ProposeOutput
from l1.settler.blockstore import BlockStore
from l1.settler.config import SettlerConfig
from l1.settler.control import parse_fault_mode
from l1.settler.feed import GossipFeed, LatencyWindow
from l1.settler.held import Source, Starvation, choose_source, held_run, should_range_sync, to_batch_blocks
from l1.settler.inbox import InboxError, InboxWalker, compute_origin_info, open_inbox, sync_inbox
from l1.settler.journal import STATE_FILE, SettlerRecord, in_flight_to_json, load_record, save_record
from l1.settler.outcomes import BATCHES, OUTPUTS, Outcomes
from l1.settler.outputs import DEFEATED, OUTPUTS_PAGE, OutputsLedger, sync_outputs
from l1.settler.pack import SequencerDataError, SettlerError, pack_batch, parse_batch_block, validate_contiguous
from l1.settler.plan import (
    BatchIntent,
    Hold,
    InFlight,
    Intent,
    OutputFacts,
    OutputIntent,
    Propose,
    Role,
    TxFate,
    compute_next_output,
    plan_batch,
    plan_outputs,
)
from l1.settler.policy import ProposalPolicy, ProposalPolicyFactory, SwitchablePolicy
from l1.settler.revert import SettlerReload
from l1.settler.txs import Outgoing, TxBook, TxRefused
from l1.settler.verified import VerifiedChain, first_replaced_held
from node.batch import BatchBlock
from node.crypto import Hash32, parse_hex, to_checksum_address
from node.devnet.inproc.control import inproc_handlers
from node.gossip import GossipRules
from node.rpc.client import RpcClient, RpcTransportError
from node.rpc.control import register_control
from node.rpc.errors import ControlRefused, RpcError
from node.rpc.params import positional
from node.rpc.server import RpcServer
from node.service import BackgroundTasks, ProblemTracker, register_problem_metrics, sleep_or_stop
from node.shape import OriginInfo

log = logging.getLogger("settler")

FETCH_BLOCKS = 256
RETRY_S = 1.0
MAX_PROPOSALS_IN_FLIGHT = 16
STALE_AFTER_L1_BLOCKS = 5  # a transaction pending this many L1 block times is replaced
MIN_STALE_S = 5.0
HELD_FOR_PEERS = 64  # held blocks kept at and below the derivable head, to serve peers' range requests
HELD_FOR_ANCHOR = 4096  # held blocks kept back to our newest live output (a restart's verified-chain anchor)
HELD_DIR = "held_blocks"
MAX_ORIGINS_AHEAD = 4  # L1 blocks read per batch for held blocks whose origin the inbox walk has not reached
SEAL_TO_POST_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

ROUND_ERRORS = (RpcTransportError, RpcError, L1ResponseError, InboxError, SequencerDataError, TxRefused)


@dataclass(frozen=True, slots=True)
class DutyOutcome:
    progressed: bool = False
    problem: str | None = None


class Waits:
    """How long each duty has been in the same normal wait (a Hold's wait_key)."""

    def __init__(self) -> None:
        self._since: dict[str, tuple[str, float]] = {}

    def observe(self, duty: str, key: str | None, now: float) -> float:
        """Seconds the duty has waited on `key` (0 for a new wait or none)."""
        if key is None:
            self._since.pop(duty, None)
            return 0.0
        current = self._since.get(duty)
        if current is None or current[0] != key:
            self._since[duty] = (key, now)
            return 0.0
        return now - current[1]


def describe_failure(exc: BaseException) -> str:
    if isinstance(exc, RpcError):
        return f"{exc.message} (code {exc.code})"
    return str(exc) or type(exc).__name__


class Settler:
    def __init__(self, config: SettlerConfig, proposal_policy: ProposalPolicyFactory | None = None) -> None:
        self.config = config
        self.section = config.settler
        self.stop = asyncio.Event()
        self.tasks = BackgroundTasks()
        self.server = RpcServer("settler", health=self._health)
        self.l1 = L1Client(self.section.l1_rpc)
        rpc_url = self.section.sequencer_rpc
        self.sequencer: RpcClient | None = None if rpc_url is None else RpcClient(rpc_url)
        self.state_path = config.node.data_dir / STATE_FILE
        self.walker = InboxWalker(config.rollup.rules)
        self.walker.records_derived = config.p2p is not None  # for output roots from held blocks
        self.ledger = OutputsLedger(self.section.proposer_key.address)
        self.book: TxBook | None = None
        self.max_batch_bytes = self.section.max_batch_bytes
        self.bond = 0
        self.stale_after_s = MIN_STALE_S
        self.outcomes = Outcomes(self.server.metrics)
        self._waits = Waits()
        self.l1_tracks_l2 = False  # the L1 derives L2 blocks from its inbox itself (l1_getL2Head) and refuses others
        self._saved_inbox_at = -1
        self.trackers = {
            duty: ProblemTracker(f"settler {duty}", log, self.section.stuck_after_rounds) for duty in (BATCHES, OUTPUTS)
        }
        if proposal_policy is not None and self.sequencer is None:
            raise SettlerError("a proposal policy (l1.faults.settler) needs settler.sequencer_rpc")
        self.proposal_policy = proposal_policy  # made again by an in-process devnet revert (l1.settler.revert)
        self.faulty: ProposalPolicy | None = (
            None if proposal_policy is None else proposal_policy(config, self.l1, self.sequencer)
        )
        self._outputs_lock = asyncio.Lock()  # one round of the output duty, or one devnet fault switch
        self.feed: GossipFeed | None = None
        self._defaults_seen = 0
        self._starvation = Starvation()  # how long the next batch block has been missing from the held ones
        self.verified = VerifiedChain()  # output roots of held blocks checked against what L1 derived
        self._output_starvation = Starvation()  # how long the next output's block has been unverified
        self._verify_fill_at = 0.0
        self._stall_logged: str | None = None
        self._origins_ahead: dict[int, OriginInfo] = {}  # L1 origins of held blocks the inbox walk has not reached
        self.seal_to_post = LatencyWindow()
        self._init_metrics()

    def _init_metrics(self) -> None:
        m = self.server.metrics
        m.gauge_fn(
            "settler_posted_upto", "Newest L2 block derivable from the batches on L1", lambda: self.walker.head_number
        )
        m.gauge_fn(
            "settler_proposed_upto",
            "Newest L2 block with a non-defeated output proposal of ours on L1",
            self.ledger.own_newest_live,
        )
        m.gauge_fn(
            "settler_in_flight",
            "Our L1 transactions sent and not yet in a block",
            lambda: [({"role": r.value}, len(self.book.of(r)) if self.book else 0) for r in Role],
        )
        register_problem_metrics(m, "settler", self.trackers)
        self.m_batches = m.counter("settler_batches_total", "batches sent to L1, by where their blocks came from")
        self.m_outputs = m.counter(
            "settler_outputs_total", "output proposals sent to L1, by where their root came from"
        )
        self.m_seal_to_post = m.histogram(
            "settler_seal_to_post_seconds", "an L2 block's timestamp to its batch sent to L1", SEAL_TO_POST_BUCKETS
        )

    # -- lifecycle --

    async def __aenter__(self) -> Settler:
        try:
            await self._start()
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._shutdown()

    async def _start(self) -> None:
        self.config.node.data_dir.mkdir(parents=True, exist_ok=True)
        control = {"devnet_setFaultyProposer": self.devnet_set_faulty_proposer}
        control.update(inproc_handlers("settler", SettlerReload(self)))
        register_control(  # first: the held blocks' checks read the devnet clock this loads (node.clock)
            self.server,
            "settler",
            enabled=self.config.node.devnet,
            handlers=control,
            data_dir=self.config.node.data_dir,
        )
        record = load_record(self.state_path)
        min_fee, chain_id = await self._load_l1_params()
        keys = {Role.BATCHER: self.section.batcher_key, Role.PROPOSER: self.section.proposer_key}
        self.book = TxBook(self.l1, keys, chain_id, min_fee, self._persist, record.in_flight)
        await asyncio.gather(self._open_l1_view(record), self._start_feed())  # the p2p start takes seconds
        if self.faulty is not None:
            await self.faulty.open()
        self.tasks.spawn("settle-loop", self.run())
        self.server.register("settler_status", self.status)
        await self.server.start(self.config.node.rpc_host, self.config.node.rpc_port)
        self._log_start(record)

    async def _start_feed(self) -> None:
        section = self.config.p2p
        if section is None or section.sequencer is None:
            return
        rules = GossipRules(self.config.rollup.chain_id, section.sequencer)
        store = BlockStore(self.config.node.data_dir / HELD_DIR, rules)
        if store.load_report.loaded or store.load_report.deleted:
            log.info(
                "held blocks from before the restart: %d kept, %d deleted",
                store.load_report.loaded,
                store.load_report.deleted,
            )
        self.feed = GossipFeed(section, self.config.rollup.chain_id, store, self.server.metrics)
        await self.feed.start()

    async def _load_l1_params(self) -> tuple[int, int]:
        while True:
            try:
                info = await self.l1.config()
                raw = await self.l1.rpc.call("l1_config")
                break
            except (RpcTransportError, RpcError, L1ResponseError) as exc:
                self._note_all(f"waiting for the L1 at {self.section.l1_rpc}: {describe_failure(exc)}")
                await asyncio.sleep(RETRY_S)
        if info.batcher != self.section.batcher_key.address:
            log.warning(
                "batcher key %s is not the L1's batcher %s: batches will be refused",
                to_checksum_address(self.section.batcher_key.address),
                to_checksum_address(info.batcher),
            )
        self._check_l1_proposer(raw)
        rollup = raw.get("rollup") if isinstance(raw, dict) else None
        self.l1_tracks_l2 = isinstance(rollup, dict) and rollup.get("sequencingWindow") is not None
        self.max_batch_bytes = min(self.section.max_batch_bytes, info.max_batch_bytes)
        self.bond = info.proposer_bond if self.section.bond is None else self.section.bond
        self.stale_after_s = max(MIN_STALE_S, STALE_AFTER_L1_BLOCKS * info.block_time_ms / 1000)
        return info.min_fee, info.chain_id

    def _check_l1_proposer(self, raw: Any) -> None:
        """L1s since issue 10 may name the only proposer (until their fallback opens): warn if it is not us."""
        proposer = raw.get("proposer") if isinstance(raw, dict) else None
        ours = to_checksum_address(self.section.proposer_key.address)
        if isinstance(proposer, str) and proposer.lower() != ours.lower():
            log.warning(
                "proposer key %s is not the L1's proposer %s: proposals will be refused until the L1's "
                "permissionless fallback opens",
                ours,
                proposer,
            )

    async def _open_l1_view(self, record: SettlerRecord) -> None:
        while True:
            try:
                await open_inbox(self.l1, self.walker, record.inbox)
                await sync_outputs(self.l1, self.ledger)
                return
            except (RpcTransportError, RpcError, L1ResponseError, InboxError) as exc:
                self._note_all(f"reading the L1 at {self.section.l1_rpc}: {describe_failure(exc)}")
                await asyncio.sleep(RETRY_S)

    def _log_start(self, record: SettlerRecord) -> None:
        for entry in record.in_flight:
            log.info("in flight before the restart: %s; waiting for it before deciding again", entry.describe())
        log.info(
            "settler up: L2 blocks derivable from L1 up to %d, our newest live output at L2 block %d (%s), "
            "batcher %s, proposer %s, max batch %d bytes, output every %d blocks, bond %d, RPC %s, "
            "blocks from %s",
            self.walker.head_number,
            self.ledger.own_newest_live(),
            ", ".join(f"{n} {status}" for status, n in sorted(self.ledger.own_counts().items())) or "none",
            to_checksum_address(self.section.batcher_key.address),
            to_checksum_address(self.section.proposer_key.address),
            self.max_batch_bytes,
            self.section.output_interval,
            self.bond,
            self.server.url,
            self._describe_sources(),
        )

    def _describe_sources(self) -> str:
        if self.feed is None:
            return f"the sequencer's RPC {self.section.sequencer_rpc}"
        if self.sequencer is None:
            return "gossip and range sync only (no sequencer_rpc to fall back to)"
        return f"gossip and range sync, falling back to {self.section.sequencer_rpc}"

    async def _shutdown(self) -> None:
        self.stop.set()
        await self.server.stop()
        await self.tasks.cancel_all()
        if self.feed is not None:
            with contextlib.suppress(Exception):
                await self.feed.stop()
        if self.sequencer is not None:
            await self.sequencer.close()
        await self.l1.close()
        if self.faulty is not None:
            self.faulty.close()
        log.info(
            "settler stopped: L2 blocks derivable from L1 up to %d, our newest live output at L2 block %d",
            self.walker.head_number,
            self.ledger.own_newest_live(),
        )

    def _require_book(self) -> TxBook:
        if self.book is None:
            raise SettlerError("the settler has not started")
        return self.book

    def _persist(self) -> None:
        book = self._require_book()
        save_record(self.state_path, SettlerRecord(tuple(book.entries), self.walker.checkpoint()))
        self._saved_inbox_at = self.walker.last_l1

    # -- the loop --

    async def run(self) -> None:
        while not self.stop.is_set():
            progressed = await self.run_round()
            if not progressed and await sleep_or_stop(self.section.poll_ms / 1000, self.stop):
                return

    async def run_round(self) -> bool:
        """One round: follow our transactions, read L1, then each duty. Returns whether anything moved."""
        now = time.time()
        try:
            resolutions = await self._require_book().reconcile(now, self.stale_after_s, self.rebuild)
        except ROUND_ERRORS as exc:
            self._note_all(f"cannot follow our L1 transactions: {describe_failure(exc)}")
            return False
        self.outcomes.take(resolutions, now)
        try:
            await self.read_l1(now)
        except ROUND_ERRORS as exc:
            self._note_all(f"cannot read the L1 at {self.section.l1_rpc}: {describe_failure(exc)}")
            return False
        landed = any(r.fate is TxFate.LANDED for r in resolutions)
        batches = await self._run_duty(BATCHES, self.post_next_batch)
        async with self._outputs_lock:
            outputs = await self._run_duty(OUTPUTS, self.propose_due_outputs)
        return landed or batches or outputs

    async def _run_duty(self, duty: str, step: Callable[[], Awaitable[DutyOutcome]]) -> bool:
        """Run one duty's step; its outcome (or failure) is one round of its ProblemTracker."""
        tracker = self.trackers[duty]
        try:
            outcome = await step()
        except ROUND_ERRORS as exc:
            tracker.note(describe_failure(exc))
            return False
        if outcome.problem is not None:
            tracker.note(outcome.problem)
        else:
            tracker.clear()
        return outcome.progressed

    def _note_all(self, problem: str) -> None:
        for tracker in self.trackers.values():
            tracker.note(problem)

    async def read_l1(self, now: float) -> None:
        """The L1 facts of this round: the inbox walked to the head, the open and new output proposals."""
        head = await self.l1.block_number()
        await sync_inbox(self.l1, self.walker, head)
        await sync_outputs(self.l1, self.ledger)
        self.outcomes.check_batches_derived(self.walker, now)
        if self.walker.last_l1 != self._saved_inbox_at:
            self._persist()
        if self.feed is not None:
            await self._verify_held()
            self._prune_held()

    def _prune_held(self) -> None:
        """Forget held blocks L1 has derived. Once L1 derived default blocks, also every held block from the
        first height where L1 derived another block than the one held (the sequencer re-seals from there,
        and its new blocks arrive by gossip or range sync); default blocks the sequencer sealed itself
        (catch-up blocks) are the blocks held, and nothing above them is dropped."""
        store = self._require_feed().store
        if self.walker.default_blocks != self._defaults_seen:
            self._defaults_seen = self.walker.default_blocks
            stale = first_replaced_held(store.blocks, self.walker.derived, self.walker.head_number)
            if stale is not None:
                dropped = store.drop_from(stale)
                log.warning(
                    "L1 derived default blocks, another block than held at L2 block %d: dropped %d held block(s) "
                    "from there (the sequencer re-seals them)",
                    stale,
                    dropped,
                )
        head = self.walker.head_number
        anchor = max(self.ledger.own_newest_live(), head - HELD_FOR_ANCHOR)
        floor = min(head - HELD_FOR_PEERS, anchor - 1, head if self.verified.tip is None else self.verified.tip.number)
        store.prune_upto(floor)
        for walked in [n for n in self._origins_ahead if n <= self.walker.last_l1]:
            del self._origins_ahead[walked]

    async def _verify_held(self) -> None:
        """Move the verified chain (output roots) over the held blocks L1 has derived; range-sync a missing one."""
        feed, chain = self._require_feed(), self.verified
        own = self.ledger.own_newest_live()
        if chain.tip is None:
            await self._anchor_verified(own)
        chain.advance(feed.store.blocks, self.walker.derived, self.walker.head_number)
        tip = chain.tip_number
        if tip is not None and tip < self.walker.head_number and tip + 1 not in feed.store.blocks:
            now = time.monotonic()
            if now - self._verify_fill_at >= RETRY_S and should_range_sync(
                tip + 1, feed.store.newest(), feed.silent_s()
            ):
                self._verify_fill_at = now
                feed.fill_soon(tip + 1, min(FETCH_BLOCKS, self.walker.head_number - tip))  # next round's
        if chain.stalled != self._stall_logged:
            self._stall_logged = chain.stalled
            if chain.stalled is not None:
                log.warning("verified chain stops at L2 block %s: %s", chain.tip_number, chain.stalled)
        floor = min(own, chain.tip_number if chain.tip_number is not None else own)
        chain.prune_below(floor)
        self.walker.forget_derived_below(floor + 1)

    async def _anchor_verified(self, own: int) -> None:
        """Start the verified chain at our newest live proposal (its held block must give its root), or genesis."""
        chain = self.verified
        if own == 0:
            chain.anchor_genesis()
            return
        proposal = max(
            (o for o in self.ledger.own.values() if o.l2_block_number == own and o.status != DEFEATED),
            key=lambda o: o.index,
        )
        store = self._require_feed().store
        now = time.monotonic()
        if own not in store.blocks and now - self._verify_fill_at >= RETRY_S:
            self._verify_fill_at = now
            await self._require_feed().fill(own, 1)
        block = store.blocks.get(own)
        if block is None:
            chain.stalled = f"block {own} of our newest live proposal is not held (range sync found none)"
            return
        if chain.anchor(block, proposal.output_root):
            log.info("verified chain anchored at our live proposal for L2 block %d", own)

    def _require_feed(self) -> GossipFeed:
        if self.feed is None:
            raise SettlerError("the settler has no [p2p] section")
        return self.feed

    async def rebuild(self, intent: Intent) -> Outgoing:
        """The payload of an intent, again (to replace a stale transaction with the same nonce)."""
        if isinstance(intent, OutputIntent):
            return Outgoing(intent, ProposeOutput(intent.block, intent.root), self.bond)
        blocks, _ = await self.next_blocks(intent.first, intent.last - intent.first + 1)
        if not blocks:
            raise SequencerDataError(f"the sequencer no longer serves L2 block {intent.first}")
        return self.batch_outgoing(blocks)

    # -- batches --

    async def post_next_batch(self) -> DutyOutcome:
        book = self._require_book()
        refusal = self.outcomes.prune(BATCHES, self.walker.head_number + 1)
        plan = plan_batch(self.walker.head_number, book.of(Role.BATCHER), refusal, time.time())
        if isinstance(plan, Hold):
            return DutyOutcome(problem=self._hold_problem(BATCHES, plan, book.of(Role.BATCHER)))
        blocks, source = await self.next_blocks(plan, FETCH_BLOCKS)
        if not blocks or source is None:
            return DutyOutcome(problem=self._gossip_only_wait(f"L2 block {plan}", self._starvation))
        (entry,) = await book.send([self.batch_outgoing(blocks)])
        self._count_batch(entry, blocks, source)
        return DutyOutcome(progressed=True, problem=self.outcomes.retry_problem(BATCHES, plan))

    async def next_blocks(self, first: int, count: int) -> tuple[list[BatchBlock], Source | None]:
        """Blocks first.. for a batch and where they came from (None: wait, gossip should bring them)."""
        feed = self.feed
        held: list[BatchBlock] = []
        if feed is not None:
            held = await self.held_batch(first, count)
            if not held and should_range_sync(first, feed.store.newest(), feed.silent_s()):
                feed.fill_soon(first, count)  # in the background: what it takes is posted by a later round
        starved_s = self._starvation.observe(first, bool(held), time.monotonic())
        source = choose_source(
            has_network=feed is not None,
            holds_next=bool(held),
            silent_s=max(feed.silent_s(), starved_s) if feed is not None else 0.0,
            fallback_after_s=self.section.gossip_fallback_ms / 1000,
        )
        if source is Source.GOSSIP:
            return held, source
        if source is Source.RPC and self.sequencer is not None:
            return await self.fetch_blocks(first, count), source
        return [], None

    async def held_batch(self, first: int, count: int) -> list[BatchBlock]:
        """The batch blocks from `first` the settler holds (first must follow the derivable head).

        A block on an L1 origin the inbox walk has not reached yet (the sequencer adopts a new L1 block
        before the walk) needs that block's system transaction count: it is read from the L1 here."""
        head = self.walker.head
        if self.feed is None or head is None or first != self.walker.head_number + 1:
            return []
        run = held_run(self.feed.store.blocks, first, count)
        batch = to_batch_blocks(run, head, self._origin_of)
        for _ in range(MAX_ORIGINS_AHEAD):
            if len(batch) == len(run):
                break
            origin = run[len(batch)].header.l1_origin_number
            if origin <= self.walker.last_l1 or not await self._fetch_origin(origin):
                break
            batch = to_batch_blocks(run, head, self._origin_of)
        return batch

    def _origin_of(self, number: int) -> OriginInfo | None:
        return self.walker.origins.get(number) or self._origins_ahead.get(number)

    async def _fetch_origin(self, number: int) -> bool:
        blocks = await self.l1.get_derivation_data(number, 1)
        if not blocks or blocks[0].number != number:
            return False
        self._origins_ahead[number] = compute_origin_info(blocks[0])
        return True

    def _count_batch(self, entry: InFlight, blocks: list[BatchBlock], source: Source) -> None:
        last = entry.intent.last if isinstance(entry.intent, BatchIntent) else blocks[-1].number
        self.m_batches.inc(source=source.value)
        now = time.time()
        for block in blocks:
            if block.number > last:
                break
            seconds = max(0.0, now - block.timestamp_ms / 1000)
            self.m_seal_to_post.observe(seconds)
            self.seal_to_post.add(seconds)
        log.info("sent %s, blocks from %s", entry.describe(), source.value)

    def _gossip_only_wait(self, what: str, starvation: Starvation) -> str | None:
        """Without an RPC fallback, a wait longer than gossip_fallback_ms is a problem (none otherwise)."""
        if self.feed is None or self.sequencer is not None or starvation.block is None:
            return None
        waited_s = time.monotonic() - starvation.since
        if waited_s * 1000 < self.section.gossip_fallback_ms:
            return None
        return f"{what} not held and verified for {waited_s:.0f} s, and no sequencer_rpc to fall back to"

    def _require_sequencer(self) -> RpcClient:
        if self.sequencer is None:
            raise SequencerDataError("no settler.sequencer_rpc is configured")
        return self.sequencer

    async def fetch_blocks(self, first: int, count: int) -> list[BatchBlock]:
        items = await self._require_sequencer().call("rollup_getBatchBlocks", first, count)
        blocks = [parse_batch_block(item) for item in items]
        validate_contiguous(blocks, first)
        return blocks

    def batch_outgoing(self, blocks: list[BatchBlock]) -> Outgoing:
        data, count = pack_batch(blocks, self.config.rollup.chain_id, self.max_batch_bytes)
        posted = blocks[:count]
        intent = BatchIntent(posted[0].number, posted[-1].number, len(data), sum(len(b.transactions) for b in posted))
        return Outgoing(intent, PostBatch(data), 0)

    def _hold_problem(self, duty: str, hold: Hold, in_flight: list[InFlight]) -> str | None:
        """A hold is a problem if the plan says so, if the same wait has lasted longer than a transaction may
        stay pending, or while a transaction we had to replace is still pending."""
        if hold.problem:
            return hold.reason
        waited_s = self._waits.observe(duty, hold.wait_key, time.time())
        if waited_s > self.stale_after_s:
            return f"{hold.reason} (for {waited_s:.0f} s)"
        replaced = [e for e in in_flight if len(e.hashes) > 1]
        if replaced:
            first = replaced[0]
            return f"{first.describe()} is still pending in the L1 mempool after {len(first.hashes) - 1} replacement(s)"
        return None

    # -- outputs --

    async def propose_due_outputs(self) -> DutyOutcome:
        book = self._require_book()
        if self.faulty is not None and self.faulty.needs_attention:
            await self.play_faulty()
            # the policy read L1 after this round's read: a defeat it just saw must be in the ledger too, or the
            # plan would go on above the defeated output and never propose its block again
            await sync_outputs(self.l1, self.ledger)
        in_flight = book.of(Role.PROPOSER)
        facts = await self.output_facts(in_flight)
        refusal = self.outcomes.prune(OUTPUTS, compute_next_output(facts, self.section.output_interval, []))  # L1 facts
        plan = plan_outputs(
            facts, self.section.output_interval, in_flight, refusal, time.time(), MAX_PROPOSALS_IN_FLIGHT
        )
        if isinstance(plan, Hold):
            waiting = self._gossip_only_wait(f"the block of the output due ({plan.reason})", self._output_starvation)
            return DutyOutcome(problem=self._hold_problem(OUTPUTS, plan, in_flight) or waiting)
        blocks = self._limit_faulty(plan)
        if not blocks:
            return DutyOutcome()
        made = [await self.output_outgoing(k, facts.own_newest_live) for k in blocks]
        for entry in await book.send([outgoing for outgoing, _ in made]):
            log.debug("sent %s", entry.describe())
        for outgoing, root_source in made:
            self.m_outputs.inc(source=root_source)
            log.info("proposed %s, root from %s", outgoing.intent.describe(), root_source)
        return DutyOutcome(progressed=True, problem=self.outcomes.retry_problem(OUTPUTS, blocks[0]))

    async def output_facts(self, in_flight: list[InFlight]) -> OutputFacts:
        proposable = await self._proposable_head(in_flight)
        if self.l1_tracks_l2:
            proposable = min(proposable, await self.l1.get_l2_head())
        floor = self.ledger.newest_live() if self.outcomes.l1_orders_proposals else None
        facts = OutputFacts(
            own_newest_live=self.ledger.own_newest_live(),
            proposable_head=proposable,
            derivable_head=self.walker.head_number,
            ordering_floor=None if floor is None else floor.l2_block_number,
            floor_holder=None if floor is None else to_checksum_address(floor.proposer),
        )
        return facts

    async def _proposable_head(self, in_flight: list[InFlight]) -> int:
        """How far outputs may go, and where their roots come from: the verified held blocks (up to the
        verified tip) or, once the next output's block has been unverified for gossip_fallback_ms, the RPC
        (up to the sequencer's safe head)."""
        head = self.walker.head_number
        if self.feed is None:
            return min(head, await self._sequencer_safe())
        tip = self.verified.tip_number
        verified = -1 if tip is None else min(head, tip)
        due = self.next_output_block(in_flight)
        holds = due > head or due <= verified
        starved_s = self._output_starvation.observe(due, holds, time.monotonic())
        source = choose_source(
            has_network=True,
            holds_next=holds,
            silent_s=starved_s,
            fallback_after_s=self.section.gossip_fallback_ms / 1000,
        )
        if source is Source.RPC and self.sequencer is not None:
            return min(head, await self._sequencer_safe())
        return max(verified, 0)

    async def _sequencer_safe(self) -> int:
        status = await self._require_sequencer().call("rollup_syncStatus")
        try:
            return int(status["safe"]["number"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SequencerDataError(f"malformed rollup_syncStatus: {exc}") from None

    def _limit_faulty(self, plan: Propose) -> list[int]:
        return self.faulty.limit_due(list(plan.blocks)) if self.faulty is not None else list(plan.blocks)

    async def output_outgoing(self, k: int, own_newest_live: int) -> tuple[Outgoing, str]:
        """The proposal of block k's output root, and where the root came from (gossip, rpc, test policy)."""
        verified = self.verified.root(k) if self.feed is not None else None
        if self.faulty is not None and self.faulty.wants_fault(k):
            root, source = await self.faulty.wrong_root(k, own_newest_live), "policy"
        elif verified is not None:
            root, source = verified, Source.GOSSIP.value
        else:
            root, source = await self.fetch_output_root(k), Source.RPC.value
        intent = OutputIntent(k, root)
        return Outgoing(intent, ProposeOutput(k, root), self.bond), source

    async def fetch_output_root(self, k: int) -> Hash32:
        output = await self._require_sequencer().call("rollup_outputAtBlock", k)
        try:
            return Hash32(parse_hex(output["outputRoot"], 32, "outputRoot"))
        except (KeyError, TypeError, ValueError) as exc:
            raise SequencerDataError(f"malformed rollup_outputAtBlock({k}): {exc}") from None

    async def play_faulty(self) -> None:
        """Test mode: defend the wrong output (a defeat makes the plan propose that block again, honestly)."""
        if self.faulty is None:
            return
        outputs: list[OutputReport] = []
        while True:
            page = await self.l1.get_outputs(len(outputs), OUTPUTS_PAGE)
            outputs.extend(page)
            if len(page) < OUTPUTS_PAGE:
                break
        await self.faulty.play(self.section.proposer_key, outputs)

    # -- devnet control --

    async def devnet_set_faulty_proposer(self, params: list[Any]) -> dict[str, Any]:
        """devnet_setFaultyProposer(mode): wrong output roots from the next proposal on (l1.settler.control)."""
        (value,) = positional(params, 1, 0, "devnet_setFaultyProposer")
        mode = parse_fault_mode(value)
        faulty = self.faulty
        if not isinstance(faulty, SwitchablePolicy):
            raise ControlRefused(
                "this settler runs without fault modes (python -m l1.settler); "
                "run it as python -m l1.faults.settler to switch a faulty proposer on"
            )
        async with self._outputs_lock:
            # re-read L1 first: a proposal that landed after the last round's read has already left the in-flight
            # book, and without it the next output would be planned at its block again
            await sync_outputs(self.l1, self.ledger)
            next_output = self.next_output_block()
            start = faulty.set_fault_mode(mode, next_output)
        return {"mode": mode, "fromBlock": start}

    def next_output_block(self, in_flight: list[InFlight] | None = None) -> int:
        """The L2 block of our next output proposal, from what the last round read of L1 and what is in flight."""
        floor = self.ledger.newest_live() if self.outcomes.l1_orders_proposals else None
        facts = OutputFacts(
            own_newest_live=self.ledger.own_newest_live(),
            proposable_head=self.walker.head_number,
            ordering_floor=None if floor is None else floor.l2_block_number,
        )
        proposing = self._require_book().of(Role.PROPOSER) if in_flight is None else in_flight
        return compute_next_output(facts, self.section.output_interval, proposing)

    # -- reports --

    def status(self, params: list[Any]) -> dict[str, Any]:
        book = self.book
        switch = getattr(self.faulty, "switch", None)
        return {
            "faultyProposer": {"mode": switch, "fromBlock": getattr(self.faulty, "from_block", None)}
            if isinstance(self.faulty, SwitchablePolicy)
            else None,
            "postedUpto": self.walker.head_number,
            "proposedUpto": self.ledger.own_newest_live(),
            "l1Walked": self.walker.last_l1,
            "ownOutputs": self.ledger.own_counts(),
            "inFlight": [{"role": e.role.value, **in_flight_to_json(e)} for e in (book.entries if book else [])],
            **self.outcomes.report(),
            "l1TracksL2": self.l1_tracks_l2,
            "gossip": self.feed.report() if self.feed is not None else None,
            "verified": self.verified.report() if self.feed is not None else None,
            "sealToPost": self.seal_to_post.report(),
            "health": self._health(),
        }

    def _health(self) -> dict[str, Any]:
        duties = {duty: tracker.report() for duty, tracker in self.trackers.items()}
        stuck = [duty for duty, tracker in self.trackers.items() if tracker.stuck]
        report: dict[str, Any] = {
            "status": "stuck" if stuck else "ok",
            "postedUpto": self.walker.head_number,
            "proposedUpto": self.ledger.own_newest_live(),
            "duties": duties,
        }
        shown = stuck or [duty for duty, tracker in self.trackers.items() if tracker.problem is not None]
        if shown:
            report["problem"] = f"{shown[0]}: {self.trackers[shown[0]].problem}"
        return report
