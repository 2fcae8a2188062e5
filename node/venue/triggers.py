"""The liquidation index: per market and side, positions ordered by the price at which to re-check them.

Coordinates. With mark p, funding index F and maintenance fraction mmf (bps),
a position's part of an account's health BPS x equity - MMx is

    size x X + constant,   X_long = p x (BPS - mmf) - BPS x F   (size > 0)
                           X_short = p x (BPS + mmf) - BPS x F  (size < 0)

so one number per market and side moves with both the oracle price and
funding, and the account's health is linear in it.

Triggers. When an account is indexed (node.venue.reindex) its reserved
health S >= 0 is split into slacks s_i >= 0 over its positions. A long's
trigger is T = X - floor(s / size): while X_long >= T, that position has lost
less than its slack; a short's is T = X + floor(s / |size|), safe while
X_short <= T. If no position has crossed its trigger, the account's health is
at least S - sum(s_i) >= 0: it is above maintenance. The remaining slack at
coordinate X is size x (X - T) (>= 0 until the trigger is crossed).

Buckets. T is stored exactly in the position's entry, and the entry is
linked (FIFO) into a bucket b of a BitmapTrie: Q is a monotone quantizer
keeping 12 significant bits (buckets ~2.4 bps wide); a long goes to
b = Q(T) + 1 and fires when Q(X_long) < b; a short to b = Q(T) - 1, fires
when Q(X_short) > b. Firing is implied by crossing (X < T gives Q(X) <= Q(T)
< b), and a freshly placed healthy trigger fires only if T is in X's own
bucket. An account under maintenance has S < 0 and gets negative slacks by
the same formula: its triggers are already crossed (they fire at once) and
stay crossed wherever its health stays negative, whichever way the price
goes before the scan. Placing a firing trigger marks the market `pending`,
so the end-of-block scan (node.venue.liquidation) visits it even if the
coordinate has not moved.

So the end-of-block scan reads only the buckets the coordinate moved into,
and its cost grows with the accounts that fire, not with open accounts.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import NamedTuple

from node.crypto import Address
from node.state.view import Overlay, StateReader
from node.stf.errors import StateInvariantViolated
from node.venue.keys import BUCKET_KEY_WIDTH, TAG_TRIE, trigger_scope
from node.venue.markets import BPS, MarketParams
from node.venue.records import (
    Bucket,
    MarketState,
    TriggerEntry,
    get_bucket,
    get_market_state,
    get_trigger_entry,
    set_bucket,
    set_market_state,
    set_trigger_entry,
)
from node.venue.side import Side
from node.venue.trie import BitmapTrie

MANTISSA_BITS = 12
BUCKET_CENTER = 1 << (8 * BUCKET_KEY_WIDTH - 1)
BUCKET_MAX = (1 << (8 * BUCKET_KEY_WIDTH)) - 1


class Coordinates(NamedTuple):
    """A market's liquidation coordinates: X_long and X_short."""

    long: int
    short: int

    def of_side(self, side: Side) -> int:
        """The coordinate of the index side `side` (BUY: the longs, SELL: the shorts)."""
        return self.long if side == Side.BUY else self.short


class TriggerPlacement(NamedTuple):
    """Where a position's entry goes: its exact trigger T and the bucket it is linked into."""

    trigger: int
    bucket: int


# -- arithmetic --


def compute_coordinates(params: MarketParams, state: MarketState) -> Coordinates:
    """The market's coordinates at its current oracle price and funding index."""
    p, mmf = state.oracle_price, params.maintenance_margin_bps
    return Coordinates(p * (BPS - mmf) - BPS * state.funding_index, p * (BPS + mmf) - BPS * state.funding_index)


def compute_side_coordinate(params: MarketParams, state: MarketState, size: int) -> int:
    """compute_coordinates(...).of_side(Side.of_position(size)), computing only that side."""
    mmf = params.maintenance_margin_bps if size > 0 else -params.maintenance_margin_bps
    return state.oracle_price * (BPS - mmf) - BPS * state.funding_index


def compute_bucket(x: int) -> int:
    """Q(x): a monotone (non-decreasing) map of any coordinate into [1, BUCKET_MAX - 1]."""
    q = _quantize_magnitude(abs(x))
    bucket = BUCKET_CENTER + q if x >= 0 else BUCKET_CENTER - q
    if not 1 <= bucket <= BUCKET_MAX - 1:
        raise StateInvariantViolated(f"liquidation coordinate {x} is outside the index range")
    return bucket


def _quantize_magnitude(v: int) -> int:
    if v == 0:
        return 0
    bits = v.bit_length()
    top = v >> (bits - MANTISSA_BITS - 1) if bits > MANTISSA_BITS + 1 else v << (MANTISSA_BITS + 1 - bits)
    return (bits << MANTISSA_BITS) | (top & ((1 << MANTISSA_BITS) - 1))


def compute_trigger(size: int, x: int, slack: int) -> TriggerPlacement:
    """The placement of a position of `size` != 0 holding `slack` at coordinate `x` (rounded to fire early)."""
    if size > 0:
        trigger = x - slack // size
        return TriggerPlacement(trigger, compute_bucket(trigger) + 1)
    trigger = x + slack // -size
    return TriggerPlacement(trigger, compute_bucket(trigger) - 1)


def is_firing(size: int, bucket: int, x: int) -> bool:
    return compute_bucket(x) < bucket if size > 0 else compute_bucket(x) > bucket


def compute_remaining_slack(entry: TriggerEntry, x: int) -> int:
    return entry.size * (x - entry.trigger)


@lru_cache(maxsize=1024)
def get_trie(market_id: int, side: Side) -> BitmapTrie:
    """The side's bucket trie (a frozen value, memoized)."""
    return BitmapTrie(trigger_scope(market_id, side) + bytes([TAG_TRIE]), BUCKET_KEY_WIDTH)


# -- the linked buckets --


def process_unlink(overlay: Overlay, market_id: int, address: bytes) -> TriggerEntry | None:
    """Take the position's entry out of its bucket (and delete it); return what it was."""
    entry = get_trigger_entry(overlay, market_id, address)
    if entry is None:
        return None
    side = entry.side
    if entry.prev is not None:
        prev = get_trigger_entry(overlay, market_id, entry.prev)
        set_trigger_entry(overlay, market_id, entry.prev, _required(prev).with_next(entry.next))
    if entry.next is not None:
        nxt = get_trigger_entry(overlay, market_id, entry.next)
        set_trigger_entry(overlay, market_id, entry.next, _required(nxt).with_prev(entry.prev))
    if entry.prev is None or entry.next is None:
        bucket = get_bucket(overlay, market_id, side, entry.bucket)
        if bucket is None:
            raise StateInvariantViolated(f"trigger entry of market {market_id} points to a missing bucket")
        head = entry.next if entry.prev is None else bucket.head
        tail = entry.prev if entry.next is None else bucket.tail
        if head is None or tail is None:
            set_bucket(overlay, market_id, side, entry.bucket, None)
            get_trie(market_id, side).process_remove(overlay, entry.bucket)
        else:
            set_bucket(overlay, market_id, side, entry.bucket, Bucket(head, tail))
    set_trigger_entry(overlay, market_id, address, None)
    return entry


def process_link(overlay: Overlay, market_id: int, address: bytes, size: int, trigger: int, bucket: int) -> None:
    """Append the position's entry at the tail of `bucket` on its side."""
    side = Side.of_position(size)
    current = get_bucket(overlay, market_id, side, bucket)
    if current is None:
        get_trie(market_id, side).process_insert(overlay, bucket)
        set_bucket(overlay, market_id, side, bucket, Bucket(Address(address), Address(address)))
        set_trigger_entry(overlay, market_id, address, TriggerEntry(size, trigger, bucket))
        return
    tail = _required(get_trigger_entry(overlay, market_id, current.tail))
    set_trigger_entry(overlay, market_id, current.tail, tail.with_next(Address(address)))
    set_bucket(overlay, market_id, side, bucket, Bucket(current.head, Address(address)))
    set_trigger_entry(overlay, market_id, address, TriggerEntry(size, trigger, bucket, prev=current.tail))


def process_place_trigger(overlay: Overlay, market_id: int, address: bytes, size: int, x: int, slack: int) -> bool:
    """(Re)place the trigger of a position of `size` (0 clears it); return whether it fires now."""
    if size == 0:
        process_unlink(overlay, market_id, address)
        return False
    placement = compute_trigger(size, x, slack)
    firing = is_firing(size, placement.bucket, x)
    entry = get_trigger_entry(overlay, market_id, address)
    if entry is not None and entry.bucket == placement.bucket and entry.side == Side.of_position(size) and not firing:
        set_trigger_entry(overlay, market_id, address, entry.with_trigger(size, placement.trigger))
    else:  # a firing entry goes to the tail, so the scan's FIFO order rotates through a crowded bucket
        process_unlink(overlay, market_id, address)
        process_link(overlay, market_id, address, size, placement.trigger, placement.bucket)
    if firing:
        process_mark_pending(overlay, market_id)
    return firing


def process_mark_pending(overlay: Overlay, market_id: int) -> None:
    state = get_market_state(overlay, market_id)
    if not state.pending:
        set_market_state(overlay, market_id, replace(state, pending=True))


# -- reading the index in order (the scan and auto-deleveraging) --


def get_first_bucket(reader: StateReader, market_id: int, side: Side) -> int | None:
    """The bucket nearest to firing on `side`: the highest for longs, the lowest for shorts."""
    trie = get_trie(market_id, side)
    return trie.get_max(reader) if side == Side.BUY else trie.get_min(reader)


def get_next_bucket(reader: StateReader, market_id: int, side: Side, bucket: int) -> int | None:
    trie = get_trie(market_id, side)
    return trie.get_at_or_below(reader, bucket - 1) if side == Side.BUY else trie.get_at_or_above(reader, bucket + 1)


def is_bucket_firing(side: Side, bucket: int, x: int) -> bool:
    return is_firing(side.sign, bucket, x)


def get_bucket_head(reader: StateReader, market_id: int, side: Side, bucket: int) -> Address | None:
    value = get_bucket(reader, market_id, side, bucket)
    return None if value is None else value.head


def _required(entry: TriggerEntry | None) -> TriggerEntry:
    if entry is None:
        raise StateInvariantViolated("a trigger bucket links to a missing entry")
    return entry
