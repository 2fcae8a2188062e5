"""The liquidation hook's cost follows the accounts that cross, not the accounts that are open.

10,000 accounts hold a 1-lot long each; 10 of them carry only the initial
margin. A 6 % drop takes those 10 under maintenance and leaves the others
far from it. The end-of-block hook, run over a reader that counts reads,
must touch O(10) positions, and the same keys whether 1,000 or 10,000
accounts are open.
"""

from __future__ import annotations

from collections import Counter

import pytest

from node.crypto import Address
from node.state.view import DictState, Overlay
from node.venue.keys import NS_POSITION
from node.venue.liquidation import process_end_of_block
from node.venue.positions import process_trade
from node.venue.records import get_market_state
from node.venue.reindex import process_reindex_account
from tests.venue.support import CONFIG, FUND, Venue, new_venue

RISKY = 10


class CountingReader:
    def __init__(self, base: DictState) -> None:
        self.base = base
        self.keys: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        self.keys.add(key)
        return self.base.get(key)


def build(n_accounts: int) -> tuple[Venue, list[Address]]:
    """n 1-lot longs at 1000 against 10 short whales; the first RISKY hold only the initial margin (100)."""
    accounts = [Address(i.to_bytes(4, "big") + b"\x77" * 16) for i in range(n_accounts)]
    whales = [Address(i.to_bytes(4, "big") + b"\x55" * 16) for i in range(10)]
    balances = {a: 100 if i < RISKY else 1_000 for i, a in enumerate(accounts)}
    balances.update({w: 10**9 for w in whales})
    balances[FUND] = 10**9
    venue = new_venue(balances, prices={0: 1000, 1: 2000})
    overlay = Overlay(venue.state)
    state = get_market_state(overlay, 0)
    for i, account in enumerate(accounts):
        process_trade(overlay, account, 0, state, 1, 1000)
        process_trade(overlay, whales[i % 10], 0, state, -1, 1000)
    for account in accounts + whales:
        process_reindex_account(overlay, account)
    venue.state.apply(overlay.writes)
    return venue, accounts


def run_hook(venue: Venue) -> set[bytes]:
    reader = CountingReader(venue.state)
    overlay = Overlay(reader)
    process_end_of_block(overlay, CONFIG, venue.ctx)
    venue.state.apply(overlay.writes)
    return reader.keys


@pytest.fixture(scope="module")
def read_keys() -> dict[int, set[bytes]]:
    result = {}
    for n in (1_000, 10_000):
        venue, accounts = build(n)
        run_hook(venue)  # the first block: funding epoch and scan marks
        venue.set_price(0, 940)  # risky: equity 40 < maintenance 47; the others keep 940 of 1000
        keys = run_hook(venue)
        assert all(venue.position(a)[0] == 0 for a in accounts[:RISKY])
        assert all(venue.position(a)[0] == 1 for a in accounts[RISKY:])
        assert not get_market_state(venue.state, 0).pending
        result[n] = keys
    return result


def test_the_hook_reads_o_of_the_crossing_accounts(read_keys: dict[int, set[bytes]]) -> None:
    keys = read_keys[10_000]
    positions = [k for k in keys if k[0] == NS_POSITION]
    assert len(positions) <= RISKY + 1  # the ten crossing accounts and the insurance fund taking them over
    assert len(keys) <= 15 * RISKY
    print(
        f"\nhook over 10,000 open accounts, 10 crossing: {len(keys)} keys read, {len(positions)} positions, "
        f"by namespace {dict(sorted(Counter(k[0] for k in keys).items()))}"
    )


def test_the_hook_reads_the_same_keys_for_1000_and_10000_open_accounts(read_keys: dict[int, set[bytes]]) -> None:
    assert len(read_keys[1_000]) == len(read_keys[10_000])
    assert Counter(k[0] for k in read_keys[1_000]) == Counter(k[0] for k in read_keys[10_000])
