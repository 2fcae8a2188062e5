"""The liquidation engine: an end-of-block hook no sequencer can skip.

It runs at the end of every block, in block building, block execution and
the fraud proofs' end-of-block steps alike (node.stf.end_of_block), after
this block's funding step (node.venue.funding).

Per market, it scans only if the market's liquidation coordinates moved
since its last scan (an oracle update or a funding step) or a trigger was
placed firing (`pending`); an idle market costs two reads (its parameters
and state). A scan visits the firing buckets of the longs' and the shorts'
index from the farthest crossed to the current coordinate
(node.venue.triggers) and evaluates each account in them:

- below maintenance: liquidated (node.venue.closeout);
- otherwise: re-indexed with fresh triggers and skipped for the rest of the
  block (unless a later liquidation in the block trades with it).

Its cost grows with the accounts whose triggers fire, never with the number
of open accounts. Accounts pushed under maintenance by a liquidation (its
makers, its deleveraged counterparties) are picked up in the same block.

Chunks. Every account that crossed is liquidated in the block that moved
the price: the scan is not cut short, it is split. One call of the hook is
one end-of-block chunk, one fraud-proof step: it counts the distinct keys it
has read or written (funding included: exactly the step witness's entries)
and stops once KEY_BUDGET is reached, after at least one account (one
account's processing is itself bounded, node.venue.closeout). What the scan
remembers within the block lives in state, in bounded pieces:

- per account, in its venue record: the block it was last evaluated in,
  whether it is done for that block (found healthy, or out of rounds) and how
  many liquidation calls it had (node.venue.records, scan marks; marks of an
  older block mean nothing, so nothing needs cleaning up);
- in SCAN_CURSOR_KEY, only between two chunks: the markets deferred to the
  next block, and where a walk over already evaluated accounts stopped, so
  the next chunk goes on from there instead of walking them again.

A bucket's evaluated accounts sit behind the unevaluated ones (a re-indexed
account goes to the tail), so finding the next one is O(1) until a bucket
holds only evaluated accounts; that last walk is charged to the budget and
resumable. Measured: 40 liquidations taken over by the fund take 4 chunks of
40-91 KB of witness each.

What is still deferred to the next block (its market left `pending`):
- an account still under maintenance after MAX_ROUNDS_PER_ACCOUNT
  liquidation calls in this block (each closes at least one lot);
- everything left when the block reaches its last allowed chunk
  (node.stf.end_of_block.MAX_END_OF_BLOCK_CHUNKS).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from node.crypto import Address
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.end_of_block import Chunk
from node.stf.errors import StateInvariantViolated
from node.venue.closeout import Closeout, process_liquidate_account
from node.venue.funding import process_funding
from node.venue.margin import get_account_snapshot, get_market_view, is_liquidatable
from node.venue.markets import VenueConfig, get_venue_config
from node.venue.records import (
    ScanCursor,
    ScanWalk,
    get_scan_cursor,
    get_trigger_entry,
    get_venue_account,
    set_market_state,
    set_scan_cursor,
    set_venue_account,
)
from node.venue.reindex import process_reindex_account
from node.venue.side import Side
from node.venue.triggers import (
    compute_coordinates,
    get_bucket_head,
    get_first_bucket,
    get_next_bucket,
    is_bucket_firing,
    process_mark_pending,
)

KEY_BUDGET = 96
MAX_PASSES_PER_CHUNK = 16  # a guard: passes re-scan only markets a liquidation made pending again
MAX_ROUNDS_PER_ACCOUNT = 4  # liquidation calls per account per block (each closes at least one lot)
SCAN_SIDES = (Side.BUY, Side.SELL)  # a market's scan: the longs' index, then the shorts'


class KeyRecorder:
    """A reader that records every key read through it (the scan's share of the witness)."""

    __slots__ = ("base", "reads")

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.reads: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        self.reads.add(key)
        return self.base.get(key)


class ScanOutcome(Enum):
    IDLE = "idle"  # the market needed no scan
    DONE = "done"  # scanned to the end
    STOPPED = "stopped"  # the chunk's key budget ran out first: the market is left pending


@dataclass(frozen=True, slots=True)
class BucketSearch:
    """What a walk along a bucket found: the next member to evaluate, or that the budget ran out first."""

    member: Address | None  # None: the bucket holds no member left to evaluate (or the walk stopped)
    stopped: bool = False  # the budget ran out on the way (the position is saved in the run's walk)


@dataclass
class ScanRun:
    """One chunk of a block's scan: the keys it touched, and what it did."""

    recorder: KeyRecorder
    overlay: Overlay
    block: int  # marks of this block count; older ones mean nothing
    budget: int = field(default_factory=lambda: KEY_BUDGET)
    checks: int = 0
    examined: int = 0  # accounts looked at in this chunk (walked past or evaluated)
    deferred: set[int] = field(default_factory=set)  # markets to leave pending for the next block
    walk: ScanWalk | None = None  # resume a walk there
    closeouts: list[Closeout] = field(default_factory=list)
    complete: bool = False  # the block's scan is done (possibly with deferrals)

    @property
    def touched(self) -> int:
        reads = self.recorder.reads
        return len(reads) + sum(1 for key in self.overlay.writes if key not in reads)

    @property
    def exhausted(self) -> bool:
        """The budget is spent, and this chunk made progress (so every chunk examines an account)."""
        return self.examined > 0 and self.touched >= self.budget


def run_end_of_block_chunk(block_overlay: Overlay, config: ChainConfig, ctx: BlockContext, chunk: Chunk) -> bool:
    """The registered hook (node.stf.end_of_block): one chunk; True once this block's scan is done."""
    return process_chunk(block_overlay, config, ctx, chunk).complete


def process_chunk(
    block_overlay: Overlay, config: ChainConfig, ctx: BlockContext, chunk: Chunk, funding: bool = True
) -> ScanRun:
    """Funding (first chunk only), then the scan until it completes or the chunk's key budget runs out."""
    run = new_scan_run(block_overlay, ctx.number)
    if chunk.resume:
        process_restore_cursor(run)
    elif funding:
        process_funding(run.overlay, ctx)
    run.complete = process_scan(run, config)
    if not run.complete and chunk.final:
        run.complete = True  # what is left continues in the next block: the stopped market is pending
    if run.complete:
        process_finish_scan(run, resumed=chunk.resume)
    else:
        set_scan_cursor(run.overlay, ScanCursor(tuple(sorted(run.deferred)), run.walk))
    run.overlay.merge_into(block_overlay)
    return run


def process_end_of_block(block_overlay: Overlay, config: ChainConfig, ctx: BlockContext) -> list[ScanRun]:
    """The venue's whole end-of-block phase (every chunk), without the STF's chunk driver: for tests and tools."""
    return process_all_chunks(block_overlay, config, ctx, funding=True)


def process_liquidations(block_overlay: Overlay, config: ChainConfig, block: int = 1) -> ScanRun:
    """The liquidation scan alone (no funding), as one chunk of block `block`; for tests."""
    return process_chunk(
        block_overlay, config, BlockContext(block, 0, 0), Chunk(resume=False, final=False), funding=False
    )


def process_all_chunks(block_overlay: Overlay, config: ChainConfig, ctx: BlockContext, funding: bool) -> list[ScanRun]:
    runs = [process_chunk(block_overlay, config, ctx, Chunk(resume=False, final=False), funding)]
    while not runs[-1].complete:
        runs.append(process_chunk(block_overlay, config, ctx, Chunk(resume=True, final=False), funding))
    return runs


def new_scan_run(block_overlay: Overlay, block: int) -> ScanRun:
    recorder = KeyRecorder(block_overlay)
    return ScanRun(recorder, Overlay(recorder), block)


def process_restore_cursor(run: ScanRun) -> None:
    cursor = get_scan_cursor(run.overlay)
    if cursor is None:
        raise StateInvariantViolated("an end-of-block chunk resumes the liquidation scan, but no scan cursor is stored")
    run.deferred = set(cursor.deferred)
    run.walk = cursor.walk


def process_finish_scan(run: ScanRun, resumed: bool) -> None:
    for market_id in sorted(run.deferred):
        process_mark_pending(run.overlay, market_id)
    if resumed:
        set_scan_cursor(run.overlay, None)


def process_scan(run: ScanRun, config: ChainConfig) -> bool:
    """Scan every market that needs it, pass after pass; False if the chunk stopped before the end."""
    overlay = run.overlay
    venue = get_venue_config(overlay)
    if venue is None:
        return True
    if run.walk is not None:  # first finish the walk the previous chunk stopped in (its market is pending)
        if process_market_scan(overlay, config, venue, run.walk.market_id, run) is ScanOutcome.STOPPED:
            return False
        run.walk = None
    for _ in range(MAX_PASSES_PER_CHUNK):
        scanned = False
        for market_id in venue.market_ids:
            outcome = process_market_scan(overlay, config, venue, market_id, run)
            if outcome is ScanOutcome.STOPPED:
                return False
            scanned = scanned or outcome is ScanOutcome.DONE
        if not scanned:
            return True
    return False  # the pass guard: the next chunk goes on (markets a liquidation re-marked are still pending)


def process_market_scan(
    overlay: Overlay, config: ChainConfig, venue: VenueConfig, market_id: int, run: ScanRun
) -> ScanOutcome:
    """Scan one market if its coordinates moved or it is pending."""
    view = get_market_view(overlay, market_id)
    if view.mark == 0:
        return ScanOutcome.IDLE
    coordinates = compute_coordinates(view.params, view.state)
    state = view.state
    if coordinates == (state.scanned_long, state.scanned_short) and not state.pending:
        return ScanOutcome.IDLE
    set_market_state(
        overlay,
        market_id,
        replace(state, scanned_long=coordinates.long, scanned_short=coordinates.short, pending=False),
    )
    walk, run.walk = (run.walk if run.walk is not None and run.walk.market_id == market_id else None), None
    for side in get_sides_to_scan(walk):
        resume = walk if walk is not None and walk.side == side else None
        if not process_side_scan(overlay, config, venue, market_id, side, coordinates.of_side(side), run, resume):
            process_mark_pending(overlay, market_id)
            return ScanOutcome.STOPPED
    return ScanOutcome.DONE


def get_sides_to_scan(walk: ScanWalk | None) -> tuple[Side, ...]:
    """Both sides in scan order, or those from the walk's side on (a walk stopped on the shorts: the longs
    were done)."""
    return SCAN_SIDES if walk is None else SCAN_SIDES[SCAN_SIDES.index(walk.side) :]


def process_side_scan(
    overlay: Overlay,
    config: ChainConfig,
    venue: VenueConfig,
    market_id: int,
    side: Side,
    x: int,
    run: ScanRun,
    walk: ScanWalk | None = None,
) -> bool:
    """Evaluate every account in the side's firing buckets (from `walk` if given); False once the budget
    ran out first."""
    bucket = walk.bucket if walk is not None else get_first_bucket(overlay, market_id, side)
    start = walk.member if walk is not None else None
    while bucket is not None and is_bucket_firing(side, bucket, x):
        found = find_unchecked(overlay, market_id, side, bucket, start, run)
        start = None
        if found.stopped:
            return False
        if found.member is None:
            bucket = get_next_bucket(overlay, market_id, side, bucket)
            continue
        if run.exhausted:
            run.walk = ScanWalk(market_id, side, bucket, found.member)  # nothing changed since it was found
            return False
        if not process_check_account(overlay, config, venue, found.member, run):
            return False
    return True


def find_unchecked(
    overlay: Overlay, market_id: int, side: Side, bucket: int, start: Address | None, run: ScanRun
) -> BucketSearch:
    """The first member of the bucket (from `start`, else its head) not done in this block, if any; stopped
    when the budget ran out on the way (the position is saved in `run.walk`)."""
    member = start if start is not None else get_bucket_head(overlay, market_id, side, bucket)
    while member is not None:
        if not is_done(overlay, member, run.block):
            return BucketSearch(member)
        if run.exhausted:
            run.walk = ScanWalk(market_id, side, bucket, member)
            return BucketSearch(None, stopped=True)
        run.examined += 1
        entry = get_trigger_entry(overlay, market_id, member)
        member = None if entry is None else entry.next
    return BucketSearch(None)


def is_done(reader: StateReader, address: Address, block: int) -> bool:
    account = get_venue_account(reader, address)
    return account.scan_block == block and account.scan_done


def get_rounds(reader: StateReader, address: Address, block: int) -> int:
    account = get_venue_account(reader, address)
    return account.scan_rounds if account.scan_block == block else 0


def process_mark(overlay: Overlay, address: Address, block: int, rounds: int, done: bool) -> None:
    account = get_venue_account(overlay, address)
    set_venue_account(overlay, address, replace(account, scan_block=block, scan_rounds=rounds, scan_done=done))


def process_unmark(overlay: Overlay, address: Address, block: int) -> None:
    """A liquidation traded with it: evaluate it again (its rounds stay)."""
    account = get_venue_account(overlay, address)
    if account.scan_block == block and account.scan_done:
        set_venue_account(overlay, address, replace(account, scan_done=False))


def process_check_account(
    overlay: Overlay, config: ChainConfig, venue: VenueConfig, address: Address, run: ScanRun
) -> bool:
    """Evaluate one account whose trigger fired (liquidate or re-index it); False once the budget is spent."""
    run.checks += 1
    run.examined += 1
    if not is_liquidatable(get_account_snapshot(overlay, address)):
        process_reindex_account(overlay, address)
        process_mark(overlay, address, run.block, get_rounds(overlay, address, run.block), True)
        return not run.exhausted
    rounds = get_rounds(overlay, address, run.block) + 1
    closeout = process_liquidate_account(overlay, config, venue, address)
    run.closeouts.append(closeout)
    for other in sorted(closeout.touched):
        if other != address:
            process_unmark(overlay, other, run.block)
    if rounds >= MAX_ROUNDS_PER_ACCOUNT:
        run.deferred.add(get_largest_market(overlay, address))  # continued next block: its triggers still fire
        process_mark(overlay, address, run.block, rounds, True)
    else:
        process_mark(overlay, address, run.block, rounds, not is_liquidatable(get_account_snapshot(overlay, address)))
    return not run.exhausted


def get_largest_market(overlay: Overlay, address: Address) -> int:
    snapshot = get_account_snapshot(overlay, address)
    markets = [m for m, _ in snapshot.open_positions()] or list(snapshot.account.markets) or [0]
    return markets[0]
