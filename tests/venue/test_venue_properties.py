"""Properties of the venue over random sequences of venue transactions and blocks.

Random orders (every type and flag, prices around the mark), maker/taker
pairs that trade, cancels, cancel alls, oracle moves up to the band, withdrawals checked with
validate_withdrawable (as the core will), and block ends (funding, the
liquidation engine). After every step:

- conservation: the sum of native balances never changes (the venue only
  moves value), and the pool holds exactly the claims on it: collateral +
  PnL + fees + insurance fund is constant (node.venue.ledger);
- open interest is zero in every market;
- the book and the liquidation index are well formed (FIFO links, counts,
  resting lots, one trigger per open position, of its size);
- soundness of the index: every account below maintenance has a trigger
  that fires at the current coordinates, so the next scan finds it;
- after a block end, no account is left below maintenance unless a market
  is still pending (its budget ran out).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.stf import InvalidTransaction
from node.tx import Transfer
from node.venue.errors import WithdrawalBreaksMargin
from node.venue.keys import NS_POSITION, NS_TRIGGER, TAG_ENTRY, compute_order_id
from node.venue.margin import get_account_snapshot, get_market_view, is_liquidatable, validate_withdrawable
from node.venue.payloads import CancelAll, CancelOrder, OrderType, PlaceOrder
from node.venue.records import get_bucket, get_market_state, get_position, get_trigger_entry, get_venue_account
from node.venue.side import Side
from node.venue.triggers import compute_side_coordinate, get_first_bucket, get_next_bucket, is_firing
from tests.venue.support import (
    FEE,
    FUND,
    KEYS,
    MARKETS,
    Venue,
    compute_books,
    compute_open_interest,
    get_book,
    new_venue,
)

TRADERS = KEYS[:5]
PRICES = {0: 1000, 1: 2000}

place_op = st.tuples(
    st.just("place"),
    st.integers(0, 4),
    st.integers(0, 1),
    st.sampled_from(Side),
    st.integers(1, 12),
    st.integers(-15, 15),
    st.sampled_from(OrderType),
    st.sampled_from([False] * 5 + [True]),
)
trade_op = st.tuples(
    st.just("trade"),
    st.integers(0, 4),
    st.integers(0, 4),
    st.integers(0, 1),
    st.sampled_from(Side),
    st.integers(1, 12),
    st.integers(-15, 15),
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 4), st.integers(0, 1), st.integers(1, 30))
cancel_all_op = st.tuples(st.just("cancel_all"), st.integers(0, 4), st.integers(0, 1))
oracle_op = st.tuples(st.just("oracle"), st.integers(0, 1), st.integers(-2000, 2000))
withdraw_op = st.tuples(st.just("withdraw"), st.integers(0, 4), st.integers(1, 3000))
block_op = st.tuples(st.just("block"), st.sampled_from([1_000, 60_000]))
ops = st.lists(
    st.one_of(
        place_op,
        place_op,
        trade_op,
        trade_op,
        trade_op,
        cancel_op,
        cancel_all_op,
        oracle_op,
        oracle_op,
        withdraw_op,
        block_op,
    ),
    min_size=30,
    max_size=80,
)
balances = st.lists(st.integers(300, 6_000), min_size=5, max_size=5)


def apply_op(venue: Venue, op: tuple) -> None:  # type: ignore[type-arg]
    kind = op[0]
    try:
        if kind == "place":
            _, who, market, side, size, offset, order_type, reduce_only = op
            tick = MARKETS[market].tick_size
            price = max(tick, (venue.oracle(market) + offset * tick) // tick * tick)
            venue.send(
                TRADERS[who],
                PlaceOrder(market, side, size, price, OrderType.IOC if reduce_only else order_type, reduce_only),
            )
        elif kind == "trade":  # a maker rests, a taker crosses it at once
            _, maker, taker, market, side, size, offset = op
            tick = MARKETS[market].tick_size
            price = max(tick, (venue.oracle(market) + offset * tick) // tick * tick)
            try:
                venue.send(TRADERS[maker], PlaceOrder(market, side, size, price))
            finally:
                venue.send(TRADERS[taker], PlaceOrder(market, side.opposite, size, price, OrderType.IOC))
        elif kind == "cancel":
            _, who, market, seq = op
            venue.send(TRADERS[who], CancelOrder(compute_order_id(market, seq)))
        elif kind == "cancel_all":
            venue.send(TRADERS[op[1]], CancelAll(op[2]))
        elif kind == "oracle":
            _, market, bps = op
            venue.set_price(market, max(1, venue.oracle(market) * (10_000 + bps) // 10_000))
        elif kind == "withdraw":
            _, who, amount = op
            key = TRADERS[who]
            validate_withdrawable(venue.state, key.address, amount + FEE)  # the core's check, once wired
            venue.send(key, Transfer(FUND, amount))
        else:
            venue.timestamp_ms += op[1]
            venue.end_block()
            check_block_end(venue)
    except (InvalidTransaction, WithdrawalBreaksMargin):
        pass


def holders(venue: Venue) -> list[bytes]:
    return [k.address for k in TRADERS] + [FUND]


def check_index(venue: Venue) -> None:
    """One trigger entry per open position, of its size, each linked once into its bucket."""
    state = venue.state
    entries = {k for k in state.items if k[0] == NS_TRIGGER and k[3] == TAG_ENTRY}
    positions = {k: v for k, v in state.items.items() if k[0] == NS_POSITION}
    linked: set[bytes] = set()
    for market_id in PRICES:
        for side in (Side.BUY, Side.SELL):
            bucket = get_first_bucket(state, market_id, side)
            while bucket is not None:
                value = get_bucket(state, market_id, side, bucket)
                assert value is not None
                member, prev = value.head, None
                while member is not None:
                    entry = get_trigger_entry(state, market_id, member)
                    assert entry is not None and entry.bucket == bucket and entry.side == side and entry.prev == prev
                    assert get_position(state, member, market_id).size == entry.size
                    linked.add(bytes([NS_TRIGGER]) + market_id.to_bytes(2, "big") + bytes([TAG_ENTRY]) + member)
                    prev, member = member, entry.next
                assert prev == value.tail
                bucket = get_next_bucket(state, market_id, side, bucket)
    assert linked == entries
    open_positions = sum(1 for k in positions if get_position(state, k[1:21], int.from_bytes(k[21:], "big")).size)
    assert open_positions == len(entries)


def check_book(venue: Venue) -> None:
    for market_id in PRICES:
        resting: dict[tuple[bytes, int], int] = {}
        for side in (Side.BUY, Side.SELL):
            for _, orders in get_book(venue.state, market_id, side):
                for owner, lots in orders:
                    resting[(owner, side)] = resting.get((owner, side), 0) + lots
        for address in holders(venue):
            position = get_position(venue.state, address, market_id)
            assert (position.bid_lots, position.ask_lots) == (
                resting.get((address, Side.BUY), 0),
                resting.get((address, Side.SELL), 0),
            )


def check_soundness(venue: Venue) -> None:
    """An account below maintenance always has a trigger that fires now."""
    for address in holders(venue):
        snapshot = get_account_snapshot(venue.state, address)
        if not is_liquidatable(snapshot):
            continue
        firing = False
        for market_id, _position in snapshot.open_positions():
            entry = get_trigger_entry(venue.state, market_id, address)
            assert entry is not None
            view = get_market_view(venue.state, market_id)
            firing |= is_firing(entry.size, entry.bucket, compute_side_coordinate(view.params, view.state, entry.size))
        assert firing, "an account below maintenance has no firing trigger"


def check_block_end(venue: Venue) -> None:
    pending = any(get_market_state(venue.state, m).pending for m in PRICES)
    for address in holders(venue):
        if is_liquidatable(get_account_snapshot(venue.state, address)):
            assert pending, "an account is left below maintenance after the block"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(balances=balances, fund=st.integers(0, 5_000), ops=ops)
def test_random_venue_sequences_conserve_value_and_keep_the_index_sound(
    balances: list[int], fund: int, ops: list
) -> None:  # type: ignore[type-arg]
    venue = new_venue({**{k.address: b for k, b in zip(TRADERS, balances)}, FUND: fund}, prices=PRICES)
    total, books = compute_books(venue.state)
    assert books == 0
    for op in ops:
        apply_op(venue, op)
        assert compute_books(venue.state) == (total, 0)
        for market_id in PRICES:
            assert compute_open_interest(venue.state, market_id) == 0
        check_index(venue)
        check_book(venue)
        check_soundness(venue)
    venue.end_block()
    check_block_end(venue)
    for address in holders(venue):
        account = get_venue_account(venue.state, address)
        assert all(o >> 48 in PRICES for o in account.orders)
