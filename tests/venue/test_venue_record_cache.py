"""The venue's record cache (node.venue.record_cache) changes nothing but the cost.

- RecordOverlay alone: a pending record reads back as its encoded bytes, a raw
  write drops the cached record, a child's merge drops the parent's, and the
  writes it hands its parent are the plain overlay's;
- random venue sequences (the property test's operations) run twice, with
  the handlers' RecordOverlay and with a plain Overlay in its place: the same
  outcome for every transaction, the same keys read from the pre-state by
  every transaction (the fraud proofs' witness), the same state after every
  operation. In the cached run every record written is checked to read back
  from its encoded bytes exactly as cached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import node.venue.oracle
import node.venue.orders
from node.state.view import DictState, Overlay
from node.stf import InvalidTransaction, Receipt
from node.venue.keys import (
    NS_ACCOUNT,
    NS_BOOK,
    NS_MARKET_STATE,
    NS_ORDER,
    NS_POSITION,
    NS_TRIGGER,
    TAG_BUCKET,
    TAG_ENTRY,
    account_record_key,
    market_state_key,
)
from node.venue.record_cache import RecordOverlay, load_record, store_record
from node.venue.records import (
    EMPTY_ACCOUNT,
    EMPTY_MARKET_STATE,
    EMPTY_POSITION,
    MarketState,
    VenueAccount,
    decode_bucket,
    decode_level,
    decode_market_state,
    decode_order,
    decode_position,
    decode_trigger_entry,
    decode_venue_account,
    encode_market_state,
    encode_venue_account,
    get_venue_account,
    set_venue_account,
)
from node.venue.trie import decode_bitmap
from tests.venue.support import FEE, FUND, Venue, new_venue
from tests.venue.test_venue_properties import PRICES, TRADERS, apply_op, balances, ops

A = TRADERS[0].address


# -- RecordOverlay alone --


def test_a_pending_record_reads_back_as_its_encoded_bytes() -> None:
    base = DictState()
    records = RecordOverlay(Overlay(base))
    account = VenueAccount(pnl=-5, floor=0, markets=(), orders=(7,))
    set_venue_account(records, A, account)
    key = account_record_key(A)
    assert key not in records.writes  # deferred
    assert get_venue_account(records, A) == account
    raw = records.get(key)
    assert raw == encode_venue_account(account) and decode_venue_account(raw) == account
    assert records.writes[key] == raw and key not in records.pending


def test_a_raw_write_drops_the_cached_record() -> None:
    base = DictState({account_record_key(A): encode_venue_account(VenueAccount(pnl=3))})
    records = RecordOverlay(base)
    assert get_venue_account(records, A).pnl == 3
    records.set(account_record_key(A), encode_venue_account(VenueAccount(pnl=9)) or b"")
    assert get_venue_account(records, A).pnl == 9
    records.delete(account_record_key(A))
    assert get_venue_account(records, A) == EMPTY_ACCOUNT


def test_a_child_merge_drops_what_the_parent_cached() -> None:
    parent = RecordOverlay(DictState({account_record_key(A): encode_venue_account(VenueAccount(pnl=3))}))
    assert get_venue_account(parent, A).pnl == 3
    child = parent.child()
    set_venue_account(child, A, VenueAccount(pnl=4))
    assert get_venue_account(parent, A).pnl == 3  # not merged yet
    child.merge_into(parent)
    assert get_venue_account(parent, A).pnl == 4


def test_merged_writes_equal_the_plain_overlays() -> None:
    base = DictState({market_state_key(0): encode_market_state(MarketState(oracle_price=5)) or b""})
    plain, cached = Overlay(base), RecordOverlay(base)
    for overlay in (plain, cached):
        set_venue_account(overlay, A, VenueAccount(pnl=1))
        set_venue_account(overlay, A, VenueAccount(pnl=2, markets=(0,), floor=5))
        set_venue_account(overlay, A, VenueAccount(pnl=0))  # empty again: a delete
        store_record(overlay, market_state_key(0), EMPTY_MARKET_STATE, lambda s: None)
    into_plain, into_cached = Overlay(base), Overlay(base)
    plain.merge_into(into_plain)
    cached.merge_into(into_cached)
    assert into_cached.writes == into_plain.writes == {account_record_key(A): None, market_state_key(0): None}


def test_load_record_reads_through_any_reader() -> None:
    base = DictState({account_record_key(A): encode_venue_account(VenueAccount(pnl=3)) or b""})
    assert load_record(base, account_record_key(A), decode_venue_account, EMPTY_ACCOUNT).pnl == 3
    assert load_record(base, account_record_key(TRADERS[1].address), decode_venue_account, EMPTY_ACCOUNT) == (
        EMPTY_ACCOUNT
    )


# -- cached execution equals uncached execution --


def decoder_of(key: bytes) -> tuple[Callable[[bytes], Any], Any]:
    """The decoder and the absent value of a venue record key (node.venue.keys)."""
    ns = key[0]
    if ns == NS_MARKET_STATE:
        return decode_market_state, EMPTY_MARKET_STATE
    if ns == NS_ACCOUNT:
        return decode_venue_account, EMPTY_ACCOUNT
    if ns == NS_POSITION:
        return decode_position, EMPTY_POSITION
    if ns == NS_ORDER:
        return decode_order, None
    if ns == NS_BOOK:
        return (decode_level, None) if key[4] == TAG_BUCKET else (decode_bitmap, 0)
    if ns == NS_TRIGGER:
        if key[3] == TAG_ENTRY:
            return decode_trigger_entry, None
        return (decode_bucket, None) if key[4] == TAG_BUCKET else (decode_bitmap, 0)
    raise AssertionError(f"a record was stored under an unexpected key {key.hex()}")


class CheckedRecordOverlay(RecordOverlay):
    """A RecordOverlay that checks, when it encodes, that every record reads back from its bytes as cached."""

    __slots__ = ()

    def flush(self) -> None:
        for key, encode in self.pending.items():
            self.check(key, encode(self.records[key]))
        super().flush()

    def _encode(self, key: bytes) -> None:
        self.check(key, self.pending[key](self.records[key]))
        super()._encode(key)

    def check(self, key: bytes, raw: bytes | None) -> None:
        decode, empty = decoder_of(key)
        read_back = empty if raw is None else decode(raw)
        cached = self.records[key]
        assert type(read_back) is type(cached) and read_back == cached, (key.hex(), read_back, cached)


class ReadLog(DictState):
    """A DictState that records every key read from it."""

    def __init__(self, items: dict[bytes, bytes]) -> None:
        super().__init__(items)
        self.reads: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        self.reads.add(key)
        return super().get(key)


@dataclass
class TracedVenue(Venue):
    """A Venue that logs, per transaction, its outcome and the keys it read from the pre-state."""

    trace: list[tuple[Any, ...]] = field(default_factory=list)

    def send(self, key: Any, payload: Any, fee: int = FEE) -> Receipt:
        log = self.state
        assert isinstance(log, ReadLog)
        log.reads = set()
        try:
            receipt = super().send(key, payload, fee)
        except InvalidTransaction as exc:
            self.trace.append(("rejected", type(exc).__name__, str(exc), frozenset(log.reads)))
            raise
        self.trace.append(("ok", receipt.kind, receipt.fee, frozenset(log.reads)))
        return receipt


@contextmanager
def handlers_overlay(cls: type[Overlay]) -> Iterator[None]:
    """Run the venue's handlers with `cls` where they build their RecordOverlay."""
    with (
        mock.patch.object(node.venue.orders, "RecordOverlay", cls),
        mock.patch.object(node.venue.oracle, "RecordOverlay", cls),
    ):
        yield


def run_sequence(balances: list[int], fund: int, sequence: list[Any]) -> tuple[list[Any], list[dict[bytes, bytes]]]:
    start = new_venue({**{k.address: b for k, b in zip(TRADERS, balances)}, FUND: fund}, prices=PRICES)
    venue = TracedVenue(ReadLog(start.state.items), nonces=dict(start.nonces), oracle_ms=start.oracle_ms)
    states = []
    for op in sequence:
        apply_op(venue, op)
        states.append(dict(venue.state.items))
    return venue.trace, states


# mock.patch.object swaps the module attribute; compiled code (mypyc, setup.py) calls the class directly,
# so the swap would go unseen and both runs would use RecordOverlay. The interpreted install runs it;
# tests/static/test_compiled_core.py checks that both installs compute the same states.
@pytest.mark.skipif(
    node.venue.orders.__file__ is None or not node.venue.orders.__file__.endswith(".py"),
    reason="node.venue.orders is compiled: its handlers cannot be patched",
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(balances=balances, fund=st.integers(0, 5_000), sequence=ops)
def test_cached_execution_equals_uncached_execution(balances: list[int], fund: int, sequence: list[Any]) -> None:
    with handlers_overlay(Overlay):
        plain_trace, plain_states = run_sequence(balances, fund, sequence)
    with handlers_overlay(CheckedRecordOverlay):
        cached_trace, cached_states = run_sequence(balances, fund, sequence)
    assert cached_trace == plain_trace
    assert cached_states == plain_states
    assert any(entry[0] == "ok" for entry in cached_trace)
