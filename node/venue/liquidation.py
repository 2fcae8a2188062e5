"""The liquidation engine: an end-of-block hook no sequencer can skip.

It runs at the end of every block, in block building, block execution and
the fraud proofs' one-step end-of-block step alike (node.stf.end_of_block),
after this block's funding step (node.venue.funding).

Per market, it scans only if the market's liquidation coordinates moved
since its last scan (an oracle update or a funding step) or a trigger was
placed firing (`pending`); an idle market costs two reads (its parameters
and state). A scan visits the
firing buckets of the longs' and the shorts' index from the farthest crossed
to the current coordinate (node.venue.triggers) and evaluates each account
in them:

- below maintenance: liquidated (node.venue.closeout);
- otherwise: re-indexed with fresh triggers and skipped for the rest of the
  block (unless a later liquidation in the block trades with it).

Its cost grows with the accounts whose triggers fire, never with the number
of open accounts. A budget bounds one block's end-of-block step, and so its
fraud-proof witness: the hook counts the distinct keys it has read or
written, funding included (exactly the step witness's entries), and starts
no new account once KEY_BUDGET is reached; one account's processing is
itself bounded (node.venue.closeout). Measured over 40,059 keys of state:
ten liquidations taken over by the fund touch ~110 keys, ~210 KB of
witness. When the budget runs out, the market stays `pending`
and the next block continues where this one stopped; accounts pushed under
maintenance by a liquidation (its makers, its deleveraged counterparties)
are picked up in the same block while budget remains.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from node.crypto import Address
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.venue.closeout import Closeout, process_liquidate_account
from node.venue.funding import process_funding
from node.venue.keys import SIDE_ASK, SIDE_BID
from node.venue.margin import get_account_snapshot, get_market_view, is_liquidatable
from node.venue.markets import VenueConfig, get_venue_config
from node.venue.records import get_trigger_entry, set_market_state
from node.venue.reindex import process_reindex_account
from node.venue.triggers import (
    compute_coordinates,
    get_bucket_head,
    get_first_bucket,
    get_next_bucket,
    is_bucket_firing,
    process_mark_pending,
)

KEY_BUDGET = 96
MAX_PASSES = 4
MAX_ROUNDS_PER_ACCOUNT = 4  # liquidation calls per account per block (each closes at least one lot)
# A crowded bucket: an account re-indexed healthy but still firing (its trigger is in the coordinate's
# own bucket) goes to the bucket's tail (node.venue.triggers), so successive blocks rotate through it.


class KeyRecorder:
    """A reader that records every key read through it (the scan's share of the witness)."""

    __slots__ = ("base", "reads")

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.reads: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        self.reads.add(key)
        return self.base.get(key)


@dataclass
class ScanRun:
    """One block's scan: the keys it touched, and what it did."""

    recorder: KeyRecorder
    overlay: Overlay
    budget: int = field(default_factory=lambda: KEY_BUDGET)
    checks: int = 0
    healthy: set[Address] = field(default_factory=set)  # evaluated: skip for the rest of the block
    rounds: dict[Address, int] = field(default_factory=dict)
    closeouts: list[Closeout] = field(default_factory=list)

    @property
    def touched(self) -> int:
        reads = self.recorder.reads
        return len(reads) + sum(1 for key in self.overlay.writes if key not in reads)

    @property
    def exhausted(self) -> bool:
        return self.touched >= self.budget


def process_end_of_block(block_overlay: Overlay, config: ChainConfig, ctx: BlockContext) -> ScanRun:
    """The registered hook: funding, then liquidations, both counted in the step's key budget."""
    run = new_scan_run(block_overlay)
    process_funding(run.overlay, ctx)
    process_scan(run, config)
    run.overlay.merge_into(block_overlay)
    return run


def process_liquidations(block_overlay: Overlay, config: ChainConfig) -> ScanRun:
    """The liquidation scan alone (the hook without funding)."""
    run = new_scan_run(block_overlay)
    process_scan(run, config)
    run.overlay.merge_into(block_overlay)
    return run


def new_scan_run(block_overlay: Overlay) -> ScanRun:
    recorder = KeyRecorder(block_overlay)
    return ScanRun(recorder, Overlay(recorder))


def process_scan(run: ScanRun, config: ChainConfig) -> None:
    overlay = run.overlay
    venue = get_venue_config(overlay)
    if venue is None:
        return
    for _ in range(MAX_PASSES):
        scanned = [process_market_scan(overlay, config, venue, m, run) for m in venue.market_ids]
        if not any(scanned) or run.exhausted:
            break


def process_market_scan(overlay: Overlay, config: ChainConfig, venue: VenueConfig, market_id: int, run: ScanRun) -> bool:
    """Scan one market if its coordinates moved or it is pending; return whether it scanned."""
    view = get_market_view(overlay, market_id)
    if view.mark == 0:
        return False
    x_long, x_short = compute_coordinates(view.params, view.state)
    state = view.state
    if (x_long, x_short) == (state.scanned_long, state.scanned_short) and not state.pending:
        return False
    set_market_state(overlay, market_id, replace(state, scanned_long=x_long, scanned_short=x_short, pending=False))
    complete = process_side_scan(overlay, config, venue, market_id, SIDE_BID, x_long, run)
    complete = process_side_scan(overlay, config, venue, market_id, SIDE_ASK, x_short, run) and complete
    if not complete:
        process_mark_pending(overlay, market_id)
    return True


def process_side_scan(
    overlay: Overlay, config: ChainConfig, venue: VenueConfig, market_id: int, side: int, x: int, run: ScanRun
) -> bool:
    """Evaluate every account in the side's firing buckets; False if a budget ran out first."""
    bucket = get_first_bucket(overlay, market_id, side)
    while bucket is not None and is_bucket_firing(side, bucket, x):
        member = get_first_unchecked(overlay, market_id, side, bucket, run.healthy)
        if member is None:
            bucket = get_next_bucket(overlay, market_id, side, bucket)
            continue
        if run.exhausted or not process_check_account(overlay, config, venue, member, run):
            return False
    return True


def get_first_unchecked(overlay: Overlay, market_id: int, side: int, bucket: int, healthy: set[Address]) -> Address | None:
    member = get_bucket_head(overlay, market_id, side, bucket)
    while member is not None and member in healthy:
        entry = get_trigger_entry(overlay, market_id, member)
        member = None if entry is None else entry.next
    return member


def process_check_account(overlay: Overlay, config: ChainConfig, venue: VenueConfig, address: Address, run: ScanRun) -> bool:
    """Evaluate one account whose trigger fired (liquidate or re-index it); False once the budget is spent."""
    run.checks += 1
    if not is_liquidatable(get_account_snapshot(overlay, address)):
        process_reindex_account(overlay, address)
        run.healthy.add(address)
        return not run.exhausted
    closeout = process_liquidate_account(overlay, config, venue, address)
    run.closeouts.append(closeout)
    run.healthy.difference_update(closeout.touched)
    run.rounds[address] = run.rounds.get(address, 0) + 1
    if run.rounds[address] >= MAX_ROUNDS_PER_ACCOUNT:
        run.healthy.add(address)  # continued next block (its triggers still fire, the market is pending)
        process_mark_pending(overlay, get_largest_market(overlay, address))
    elif not is_liquidatable(get_account_snapshot(overlay, address)):
        run.healthy.add(address)
    return not run.exhausted


def get_largest_market(overlay: Overlay, address: Address) -> int:
    snapshot = get_account_snapshot(overlay, address)
    markets = [m for m, _ in snapshot.open_positions()] or list(snapshot.account.markets) or [0]
    return markets[0]
