"""Order book vectors: pre-book, order, post-book and fills; the order types, flags and cancels."""

from __future__ import annotations

import pytest

from node.stf import InvalidTransaction
from node.venue.errors import PostOnlyWouldCross, ReduceOnlyRejected, TooManyOpenOrders
from node.venue.keys import compute_order_id
from node.venue.matching import MAX_MATCH_STEPS
from node.venue.orders import MAX_OPEN_ORDERS, process_place_order
from node.venue.payloads import CancelAll, CancelOrder, OrderType, PlaceOrder
from node.venue.records import get_venue_account
from node.venue.side import Side
from tests.venue.support import (
    CONFIG,
    FEE,
    FEE_RECIPIENT,
    KEYS,
    A,
    B,
    C,
    D,
    E,
    Venue,
    compute_books,
    compute_open_interest,
    get_book,
    key_of,
    new_venue,
)

RICH = 10_000_000
Book = list[tuple[int, list[tuple[bytes, int]]]]


def venue_with_book(asks: Book, bids: Book, market_id: int = 0) -> Venue:
    """A venue whose book holds `asks` and `bids`, placed level by level in FIFO order."""
    venue = new_venue({a: RICH for a in (A, B, C, D, E)}, prices={0: 1000, 1: 2000})
    for side, levels in ((Side.SELL, asks), (Side.BUY, bids)):
        for price, orders in levels:
            for owner, lots in orders:
                venue.send(key_of(owner), PlaceOrder(market_id, side, lots, price, OrderType.POST_ONLY))
    assert get_book(venue.state, market_id, Side.SELL) == asks and get_book(venue.state, market_id, Side.BUY) == bids
    return venue


def place(venue: Venue, owner: bytes, order: PlaceOrder):  # type: ignore[no-untyped-def]
    """Run an order through process_place_order (to see its outcome) after the core's nonce and fee steps."""
    from node.stf.execute import process_fee_and_nonce

    def run(overlay):  # type: ignore[no-untyped-def]
        process_fee_and_nonce(overlay, CONFIG, owner, FEE)
        return process_place_order(overlay, CONFIG, owner, order)

    outcome = venue.run(run)
    venue.nonces[owner] = venue.nonces.get(owner, 0) + 1
    return outcome


def fills_of(outcome) -> list[tuple[bytes, int, int]]:  # type: ignore[no-untyped-def]
    return [(f.maker, f.price, f.lots) for f in outcome.match.fills]


PRE_ASKS: Book = [(1010, [(A, 5), (B, 3)]), (1020, [(C, 4)]), (1030, [(A, 2)])]
PRE_BIDS: Book = [(990, [(D, 6)])]

# (name, order, expected fills (maker, price, lots), rested lots, post asks, post bids)
VECTORS = [
    (
        "sweep two levels, partial fill of the last maker",
        PlaceOrder(0, Side.BUY, 10, 1020, OrderType.GTC),
        [(A, 1010, 5), (B, 1010, 3), (C, 1020, 2)],
        0,
        [(1020, [(C, 2)]), (1030, [(A, 2)])],
        PRE_BIDS,
    ),
    (
        "GTC remainder rests at its limit",
        PlaceOrder(0, Side.BUY, 14, 1020, OrderType.GTC),
        [(A, 1010, 5), (B, 1010, 3), (C, 1020, 4)],
        2,
        [(1030, [(A, 2)])],
        [(1020, [(E, 2)]), (990, [(D, 6)])],
    ),
    (
        "IOC remainder is cancelled",
        PlaceOrder(0, Side.BUY, 14, 1020, OrderType.IOC),
        [(A, 1010, 5), (B, 1010, 3), (C, 1020, 4)],
        0,
        [(1030, [(A, 2)])],
        PRE_BIDS,
    ),
    (
        "a limit below the best ask rests without trading",
        PlaceOrder(0, Side.BUY, 3, 1000, OrderType.GTC),
        [],
        3,
        PRE_ASKS,
        [(1000, [(E, 3)]), (990, [(D, 6)])],
    ),
    (
        "a sell sweeps the bids at the makers' prices",
        PlaceOrder(0, Side.SELL, 4, 900, OrderType.IOC),
        [(D, 990, 4)],
        0,
        PRE_ASKS,
        [(990, [(D, 2)])],
    ),
    (
        "a sell joins the tail of an existing level (time priority)",
        PlaceOrder(0, Side.SELL, 7, 1010, OrderType.GTC),
        [],
        7,
        [(1010, [(A, 5), (B, 3), (E, 7)]), (1020, [(C, 4)]), (1030, [(A, 2)])],
        PRE_BIDS,
    ),
]


@pytest.mark.parametrize("name,order,fills,rested,post_asks,post_bids", VECTORS, ids=[v[0] for v in VECTORS])
def test_matching_vectors(
    name: str, order: PlaceOrder, fills: list, rested: int, post_asks: Book, post_bids: Book
) -> None:  # type: ignore[type-arg]
    venue = venue_with_book(PRE_ASKS, PRE_BIDS)
    outcome = place(venue, E, order)
    assert fills_of(outcome) == fills
    assert outcome.rested == rested
    assert get_book(venue.state, 0, Side.SELL) == post_asks
    assert get_book(venue.state, 0, Side.BUY) == post_bids
    signed = sum(lots for _, _, lots in fills) * (1 if order.side == Side.BUY else -1)
    assert venue.position(E)[0] == signed
    assert venue.position(E)[1] == sum(price * lots for _, price, lots in fills) * (1 if signed >= 0 else -1)
    assert compute_open_interest(venue.state, 0) == 0
    assert compute_books(venue.state)[1] == 0


def test_self_trade_prevention_cancels_the_resting_order() -> None:
    venue = venue_with_book([(1005, [(E, 3)]), (1010, [(A, 5)])], [])
    outcome = place(venue, E, PlaceOrder(0, Side.BUY, 4, 1010, OrderType.GTC))
    assert outcome.match.self_trade_cancels == (compute_order_id(0, 1),)
    assert fills_of(outcome) == [(A, 1010, 4)]
    assert get_book(venue.state, 0, Side.SELL) == [(1010, [(A, 1)])]
    assert venue.position(E) == (4, 4040)
    assert get_venue_account(venue.state, E).orders == ()


def test_post_only_is_rejected_when_it_would_cross_and_rests_otherwise() -> None:
    venue = venue_with_book([(1010, [(A, 5)])], [(990, [(B, 1)])])
    for price in (1010, 1015):
        with pytest.raises(PostOnlyWouldCross) as info:
            venue.send(KEYS[4], PlaceOrder(0, Side.BUY, 1, price, OrderType.POST_ONLY))
        assert info.value.rpc_code == -31078 and info.value.best == 1010
    with pytest.raises(PostOnlyWouldCross):
        venue.send(KEYS[4], PlaceOrder(0, Side.SELL, 1, 990, OrderType.POST_ONLY))
    venue.send(KEYS[4], PlaceOrder(0, Side.BUY, 1, 1005, OrderType.POST_ONLY))
    assert get_book(venue.state, 0, Side.BUY) == [(1005, [(E, 1)]), (990, [(B, 1)])]


def test_reduce_only_can_only_reduce() -> None:
    venue = venue_with_book([(1010, [(A, 5)])], [(990, [(B, 20)])])
    with pytest.raises(ReduceOnlyRejected):  # nothing to reduce
        venue.send(KEYS[4], PlaceOrder(0, Side.SELL, 1, 990, OrderType.IOC, reduce_only=True))
    with pytest.raises(ReduceOnlyRejected) as info:  # reduce-only must be IOC
        venue.send(KEYS[4], PlaceOrder(0, Side.SELL, 1, 990, OrderType.GTC, reduce_only=True))
    assert info.value.rpc_code == -31077
    venue.send(KEYS[4], PlaceOrder(0, Side.BUY, 3, 1010, OrderType.IOC))
    assert venue.position(E) == (3, 3030)
    with pytest.raises(ReduceOnlyRejected):  # a buy would grow the long
        venue.send(KEYS[4], PlaceOrder(0, Side.BUY, 1, 1010, OrderType.IOC, reduce_only=True))
    outcome = place(venue, E, PlaceOrder(0, Side.SELL, 8, 990, OrderType.IOC, reduce_only=True))
    assert outcome.lots == 3 and fills_of(outcome) == [(B, 990, 3)]  # clipped: it does not flip to short
    assert venue.position(E) == (0, 0)
    assert get_book(venue.state, 0, Side.BUY) == [(990, [(B, 17)])]


def test_match_step_budget_cancels_a_remainder_that_still_crosses() -> None:
    asks = [(1001 + i, [((A, B, C, D)[i % 4], 1)]) for i in range(MAX_MATCH_STEPS + 2)]
    venue = venue_with_book(asks, [])
    outcome = place(venue, E, PlaceOrder(0, Side.BUY, MAX_MATCH_STEPS + 2, 1100, OrderType.GTC))
    assert len(outcome.match.fills) == MAX_MATCH_STEPS and outcome.match.stopped and outcome.rested == 0
    assert get_book(venue.state, 0, Side.SELL) == asks[MAX_MATCH_STEPS:]
    assert get_book(venue.state, 0, Side.BUY) == []


def test_cancel_and_cancel_all_keep_fifo_links() -> None:
    venue = venue_with_book([(1010, [(A, 1), (B, 2), (A, 3)]), (1020, [(A, 4)])], [(990, [(A, 5)])])
    venue.send(KEYS[0], CancelOrder(compute_order_id(0, 1)))  # the head of the 1010 level
    assert get_book(venue.state, 0, Side.SELL) == [(1010, [(B, 2), (A, 3)]), (1020, [(A, 4)])]
    venue.send(KEYS[0], CancelAll(0))
    assert get_book(venue.state, 0, Side.SELL) == [(1010, [(B, 2)])]
    assert get_book(venue.state, 0, Side.BUY) == []
    assert get_venue_account(venue.state, A) == get_venue_account(venue.state, A).__class__()
    venue.send(KEYS[0], CancelAll(1))  # nothing to cancel: a valid no-op
    # the emptied levels left no trie nodes behind: only B's level remains in the book namespace
    book_keys = [k for k in venue.state.items if k[0] == 0x13]
    assert len(book_keys) == 1 + 6  # the level and its six trie nodes


def test_open_order_limit() -> None:
    venue = new_venue({E: RICH}, prices={0: 1000})
    for i in range(MAX_OPEN_ORDERS):
        venue.send(KEYS[4], PlaceOrder(0, Side.BUY, 1, 900 - i))
    with pytest.raises(TooManyOpenOrders) as info:
        venue.send(KEYS[4], PlaceOrder(0, Side.BUY, 1, 800))
    assert info.value.rpc_code == -31082
    venue.send(KEYS[4], PlaceOrder(0, Side.SELL, 1, 2000, OrderType.IOC))  # nothing rests: allowed


def test_fees_settle_into_the_fee_recipient_in_the_same_transaction() -> None:
    venue = new_venue({A: RICH, E: RICH}, prices={0: 1000, 1: 2000})
    venue.send(KEYS[0], PlaceOrder(1, Side.SELL, 10, 2000))
    before = {a: venue.balance(a) for a in (A, E, FEE_RECIPIENT)}
    venue.send(KEYS[4], PlaceOrder(1, Side.BUY, 10, 2000, OrderType.IOC))
    # notional 20_000: maker 10 bps = 20, taker 20 bps = 40, both rounded up
    assert venue.balance(A) == before[A] - 20
    assert venue.balance(E) == before[E] - 40 - FEE
    assert venue.balance(FEE_RECIPIENT) == before[FEE_RECIPIENT] + 60 + FEE
    assert venue.position(A, 1) == (-10, -20_000) and venue.position(E, 1) == (10, 20_000)
    assert venue.pnl(A) == venue.pnl(E) == venue.pnl(FEE_RECIPIENT) == 0
    assert compute_books(venue.state)[1] == 0


def test_realized_pnl_reaches_the_balance_once_the_loser_has_paid() -> None:
    venue = new_venue({A: RICH, B: RICH, C: RICH}, prices={0: 1000})
    venue.send(KEYS[0], PlaceOrder(0, Side.SELL, 10, 1000))
    venue.send(KEYS[1], PlaceOrder(0, Side.BUY, 10, 1000, OrderType.IOC))  # B long 10 @1000, A short
    venue.set_price(0, 1100)
    venue.send(KEYS[2], PlaceOrder(0, Side.BUY, 10, 1100))
    balance_b = venue.balance(B)
    venue.send(KEYS[1], PlaceOrder(0, Side.SELL, 10, 1100, OrderType.IOC))  # B closes: +1000 realized
    assert venue.position(B) == (0, 0)
    assert venue.pnl(B) == 1000 and venue.balance(B) == balance_b - FEE  # the pool is empty: a claim
    balance_a = venue.balance(A)
    venue.send(KEYS[2], PlaceOrder(0, Side.SELL, 10, 1100))  # C rests an ask
    venue.send(KEYS[0], PlaceOrder(0, Side.BUY, 10, 1100, OrderType.IOC))  # A closes at a 1000 loss
    assert venue.pnl(A) == 0 and venue.balance(A) == balance_a - 1000 - FEE
    venue.send(KEYS[1], CancelAll(0))  # any venue transaction settles B's claim
    assert venue.pnl(B) == 0 and venue.balance(B) == balance_b - 2 * FEE + 1000
    assert compute_books(venue.state)[1] == 0


def test_invalid_order_leaves_state_untouched() -> None:
    venue = venue_with_book(PRE_ASKS, PRE_BIDS)
    snapshot = dict(venue.state.items)
    with pytest.raises(InvalidTransaction):
        venue.send(KEYS[4], PlaceOrder(0, Side.BUY, 10**9, 1030))  # fills, then fails its margin check
    assert venue.state.items == snapshot
