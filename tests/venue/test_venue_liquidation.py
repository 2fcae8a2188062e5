"""The liquidation engine: partial and full closes, the insurance fund, its depletion, auto-deleveraging."""

from __future__ import annotations

from node.state.view import Overlay
from node.venue.closeout import Closeout
from node.venue.liquidation import ScanRun, is_done, process_liquidations
from node.venue.margin import compute_equity, get_account_snapshot, is_liquidatable
from node.venue.payloads import OrderType, PlaceOrder
from node.venue.records import get_market_state, get_trigger_entry
from node.venue.side import Side
from node.venue.triggers import compute_coordinates, get_first_bucket
from tests.venue.support import (
    BTC,
    CONFIG,
    FEE,
    FUND,
    KEYS,
    A,
    B,
    C,
    D,
    Venue,
    compute_books,
    compute_open_interest,
    get_book,
    new_venue,
)

RICH = 10_000_000


def long_a(balance_a: int, fund: int, lots: int = 10, shorts: tuple[tuple[int, int], ...] = ((1, 10),)) -> Venue:
    """A long `lots` at 1000 bought from the `shorts` (key index, lots); A pays one fee."""
    venue = new_venue({A: balance_a, B: RICH, C: RICH, D: RICH, FUND: fund}, prices={0: 1000})
    for index, size in shorts:
        venue.send(KEYS[index], PlaceOrder(0, Side.SELL, size, 1000))
    venue.send(KEYS[0], PlaceOrder(0, Side.BUY, lots, 1000, OrderType.IOC))
    assert venue.position(A) == (lots, lots * 1000)
    return venue


def scan(venue: Venue) -> ScanRun:
    overlay = Overlay(venue.state)
    run = process_liquidations(overlay, CONFIG, venue.number)
    venue.state.apply(overlay.writes)
    return run


def only_closeout(run: ScanRun) -> Closeout:
    assert len(run.closeouts) == 1
    return run.closeouts[0]


def assert_consistent(venue: Venue) -> None:
    assert compute_open_interest(venue.state, 0) == 0
    assert compute_books(venue.state)[1] == 0


def test_partial_liquidation_closes_the_smallest_size_that_restores_maintenance() -> None:
    venue = long_a(1200 + FEE, fund=0)
    venue.send(KEYS[2], PlaceOrder(0, Side.BUY, 5, 920))
    venue.set_price(0, 920)  # equity 400 < maintenance 460
    assert is_liquidatable(get_account_snapshot(venue.state, A))
    closeout = only_closeout(scan(venue))
    # health -600_000 (x BPS); each lot closed at the mark gains 920 x (500 - 100): 2 lots
    assert [(c.lots, c.book_lots, c.backstop_lots, c.liquidation_fee) for c in closeout.chunks] == [(2, 2, 0, 19)]
    assert venue.position(A) == (8, 8000) and venue.position(C) == (2, 1840)
    assert compute_equity(get_account_snapshot(venue.state, A)) == 400 - 19  # 381 >= 8 x 920 x 5 % = 368
    assert not is_liquidatable(get_account_snapshot(venue.state, A))
    assert venue.balance(FUND) == 19
    assert get_book(venue.state, 0, Side.BUY) == [(920, [(C, 3)])]
    assert_consistent(venue)


def test_a_close_below_the_mark_that_falls_short_is_followed_by_a_full_close() -> None:
    venue = long_a(1200 + FEE, fund=50_000)
    venue.send(KEYS[2], PlaceOrder(0, Side.BUY, 10, 900))
    venue.set_price(0, 920)
    venue.end_block()  # the hook, as block execution runs it
    assert venue.position(A) == (0, 0) and venue.position(C) == (10, 9000)
    # realized 10 x (900 - 1000) = -1000, liquidation fees 18 + 72 to the fund
    assert venue.balance(A) == 1200 - 1000 - 90 and venue.pnl(A) == 0
    assert venue.balance(FUND) == 50_000 + 90
    assert get_trigger_entry(venue.state, 0, A) is None
    assert_consistent(venue)


def test_the_fund_takes_over_what_the_book_cannot() -> None:
    venue = long_a(1200 + FEE, fund=50_000)
    venue.set_price(0, 920)  # no bids at all
    closeout = only_closeout(scan(venue))
    assert [(c.book_lots, c.backstop_lots, c.by_fund, c.liquidation_fee) for c in closeout.chunks] == [(0, 2, True, 19)]
    assert venue.position(A) == (8, 8000) and venue.position(FUND) == (2, 1840)
    assert get_trigger_entry(venue.state, 0, FUND) is not None  # the fund's position is indexed like any other
    assert_consistent(venue)


def test_the_fund_covers_a_deficit_made_by_the_book() -> None:
    venue = long_a(1200 + FEE, fund=5_000)
    venue.send(KEYS[3], PlaceOrder(0, Side.BUY, 10, 790))
    venue.set_price(0, 800)  # equity 1200 - 2000 = -800: bankrupt at the mark
    closeout = only_closeout(scan(venue))
    # the limit widens the bankruptcy price 880 by the fund's 5000 / 10 lots: the bids at 790 fill
    assert [(c.lots, c.book_lots, c.liquidation_fee) for c in closeout.chunks] == [(10, 10, 0)]
    assert (closeout.fund_cover, closeout.bad_debt) == (900, 0)  # 1200 - 2100 = -900
    assert venue.position(A) == (0, 0) and venue.balance(A) == 0 and venue.pnl(A) == 0
    assert venue.balance(FUND) == 5_000 - 900 and venue.pnl(FUND) == 0
    assert_consistent(venue)


def test_a_depleted_fund_leads_to_auto_deleveraging_at_the_bankruptcy_price() -> None:
    venue = long_a(1200 + FEE, fund=300)
    venue.send(KEYS[3], PlaceOrder(0, Side.BUY, 10, 790))
    venue.set_price(0, 800)
    closeout = only_closeout(scan(venue))
    # the fund could cover 300 / 10 = 30 per lot below 880: the bids at 790 are out of reach
    assert [(c.lots, c.book_lots, c.backstop_lots, c.by_fund) for c in closeout.chunks] == [(10, 0, 10, False)]
    assert closeout.touched >= {B}
    # B's short closes at A's bankruptcy price 800 + 800 / 10 = 880, not the mark
    assert venue.position(B) == (0, 0) and venue.position(A) == (0, 0)
    assert venue.balance(A) + venue.pnl(A) == 0
    assert venue.balance(B) + venue.pnl(B) == RICH + 10 * (1000 - 880) - FEE
    assert venue.balance(FUND) == 300
    assert get_book(venue.state, 0, Side.BUY) == [(790, [(D, 10)])]
    assert_consistent(venue)


def test_auto_deleveraging_ranks_the_nearest_trigger_first() -> None:
    venue = new_venue({A: 1200 + FEE, B: 2_000, C: RICH, D: RICH, FUND: 0}, prices={0: 1000})
    venue.send(KEYS[1], PlaceOrder(0, Side.SELL, 5, 1000))  # B: a leveraged short
    venue.send(KEYS[2], PlaceOrder(0, Side.SELL, 10, 1000))  # C: a well-funded short
    venue.send(KEYS[0], PlaceOrder(0, Side.BUY, 10, 1000, OrderType.IOC))  # A long 10: 5 from B, 5 from C
    venue.send(KEYS[3], PlaceOrder(0, Side.BUY, 5, 1000, OrderType.IOC))  # D long 5 from C
    t_b, t_c = (get_trigger_entry(venue.state, 0, x).trigger for x in (B, C))  # type: ignore[union-attr]
    assert t_b < t_c  # shorts fire when the coordinate rises: B's trigger is nearer
    venue.set_price(0, 800)
    closeout = only_closeout(scan(venue))
    assert closeout.chunks[0].backstop_lots == 10 and not closeout.chunks[0].by_fund
    assert venue.position(B) == (0, 0) and venue.position(C) == (-5, -5_000)  # B went first, then 5 of C's 10
    assert_consistent(venue)


def test_a_healthy_account_whose_trigger_fired_is_only_re_indexed() -> None:
    venue = long_a(5000 + FEE, fund=0)
    entry = get_trigger_entry(venue.state, 0, A)
    assert entry is not None
    # move the price just past the trigger: x_long = p x 9500 < trigger
    price = entry.trigger // (10_000 - BTC.maintenance_margin_bps) - 1
    assert 700 < price < 800  # about halfway to its liquidation price (~526): it is still healthy
    venue.set_price(0, 850)
    venue.set_price(0, price)
    run = scan(venue)
    assert run.closeouts == [] and is_done(venue.state, A, venue.number) and venue.position(A) == (10, 10_000)
    moved = get_trigger_entry(venue.state, 0, A)
    assert moved is not None and moved.trigger < entry.trigger
    state = get_market_state(venue.state, 0)
    assert (state.scanned_long, state.scanned_short) == compute_coordinates(BTC, state) and not state.pending
    again = scan(venue)  # nothing moved since: the next block reads only the markets
    assert again.checks == 0 and again.touched == 1 + 2 * 2  # the venue config, each market's params and state


def test_an_account_pushed_under_by_its_own_maker_fill_is_liquidated_at_block_end() -> None:
    venue = new_venue({A: 1000 + 2 * FEE, B: RICH, C: RICH, FUND: 50_000}, prices={0: 1000})
    venue.send(KEYS[0], PlaceOrder(0, Side.BUY, 10, 1000))  # A's bid rests at 1000 (initial margin exactly)
    venue.set_price(0, 820)
    venue.send(KEYS[1], PlaceOrder(0, Side.SELL, 10, 1000, OrderType.IOC))  # B hits it: A is long 10 at 1000, mark 820
    assert is_liquidatable(get_account_snapshot(venue.state, A))
    assert get_market_state(venue.state, 0).pending
    venue.end_block()
    assert venue.position(A)[0] < 10 and not get_market_state(venue.state, 0).pending
    assert get_first_bucket(venue.state, 0, Side.BUY) is not None
    assert_consistent(venue)
