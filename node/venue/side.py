"""Side: which way an order trades, and so which half of the book and of the liquidation index it belongs to.

One type for the three places a side appears, with one name per side:

| Side | orders        | book  | positions, liquidation index | code |
|------|---------------|-------|------------------------------|------|
| BUY  | buy orders    | bids  | longs (size > 0)             | 0    |
| SELL | sell orders   | asks  | shorts (size < 0)            | 1    |

A position's side is the side of the orders that open it: buying makes a
long. The code is what the wire and the state hold (place_order's `side`
field, order records, book and trigger keys, the scan cursor), so a Side
encodes exactly as the integer it replaces.
"""

from __future__ import annotations

from enum import IntEnum


class Side(IntEnum):
    BUY = 0
    SELL = 1

    @property
    def opposite(self) -> Side:
        """The side this one trades against (a buy order meets the asks)."""
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: the sign of the position change a fill on this side makes."""
        return 1 if self is Side.BUY else -1

    @property
    def label(self) -> str:
        """ "buy" or "sell", as the CLI takes it and the JSON-RPC shows it."""
        return "buy" if self is Side.BUY else "sell"

    def signed(self, lots: int) -> int:
        """`lots` as a position change: + for a buy, - for a sell."""
        return lots if self is Side.BUY else -lots

    @classmethod
    def of_position(cls, size: int) -> Side:
        """The side of a position of signed `size` (!= 0): BUY for a long, SELL for a short."""
        return cls.BUY if size > 0 else cls.SELL

    @classmethod
    def from_label(cls, label: str) -> Side:
        """ "buy" or "sell" to its Side; ValueError for anything else."""
        for side in cls:
            if side.label == label:
                return side
        raise ValueError(f"a side is 'buy' or 'sell', got {label!r}")
