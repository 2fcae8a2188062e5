"""An ordered set of integer keys stored as a 256-ary bitmap trie under the state root.

The state is a key/value map with point reads only (every read must be
provable by a Merkle witness), so order comes from the keys themselves: a
`width`-byte key k is the path of its big-endian bytes d[0..width-1]. The
node at depth i, keyed `scope || depth || d[0..i-1]`, holds a 256-bit bitmap
of the bytes d[i] present below it (minimal big-endian bytes; an empty node
is absent). So:

- insert / remove touch at most `width` nodes, usually one (a node that was
  already non-empty, or stays non-empty, stops the walk);
- the next key at or above / below k, and min / max, read at most 2 x width
  nodes, usually one or two (neighbours mostly share their leaf node).

Book levels use width 6 (price // tick), liquidation buckets width 3.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from node.encoding import DecodeError, decode_uint, encode_uint
from node.state.view import Overlay, StateReader
from node.venue.record_cache import load_record, store_record

_DEPTH_BYTES = tuple(bytes([depth]) for depth in range(256))


@dataclass(frozen=True, slots=True)
class BitmapTrie:
    scope: bytes  # key prefix of every node, e.g. book_scope(market, side) + TAG_TRIE
    width: int  # key bytes

    @property
    def max_key(self) -> int:
        return (1 << (8 * self.width)) - 1

    def node_key(self, digits: bytes, depth: int) -> bytes:
        return self.scope + _DEPTH_BYTES[depth] + digits[:depth]

    def digits(self, key: int) -> bytes:
        if not 0 <= key <= self.max_key:
            raise ValueError(f"trie key {key} is outside [0, 2^{8 * self.width})")
        return key.to_bytes(self.width, "big")

    def get_bitmap(self, reader: StateReader, digits: bytes, depth: int) -> int:
        bitmap: int = load_record(reader, self.node_key(digits, depth), decode_bitmap, 0)
        return bitmap

    def set_bitmap(self, overlay: Overlay, digits: bytes, depth: int, bitmap: int) -> None:
        store_record(overlay, self.node_key(digits, depth), bitmap, encode_bitmap)

    # -- changes --

    def process_insert(self, overlay: Overlay, key: int) -> None:
        digits = self.digits(key)
        for depth in range(self.width - 1, -1, -1):
            bitmap = self.get_bitmap(overlay, digits, depth)
            bit = 1 << digits[depth]
            if bitmap & bit:
                return
            self.set_bitmap(overlay, digits, depth, bitmap | bit)
            if bitmap:
                return

    def process_remove(self, overlay: Overlay, key: int) -> None:
        digits = self.digits(key)
        for depth in range(self.width - 1, -1, -1):
            bitmap = self.get_bitmap(overlay, digits, depth) & ~(1 << digits[depth])
            self.set_bitmap(overlay, digits, depth, bitmap)
            if bitmap:
                return

    # -- ordered reads --

    def get_at_or_above(self, reader: StateReader, key: int) -> int | None:
        """The smallest stored key >= `key`, or None."""
        if key > self.max_key:
            return None
        digits = self.digits(max(key, 0))
        for depth in range(self.width - 1, -1, -1):
            low = digits[depth] + (0 if depth == self.width - 1 else 1)
            if low > 255:
                continue
            bitmap = self.get_bitmap(reader, digits, depth) >> low << low
            if bitmap:
                path = digits[:depth] + bytes([_lowest_bit(bitmap)])
                return self._descend(reader, path, lowest=True)
        return None

    def get_at_or_below(self, reader: StateReader, key: int) -> int | None:
        """The largest stored key <= `key`, or None."""
        if key < 0:
            return None
        digits = self.digits(min(key, self.max_key))
        for depth in range(self.width - 1, -1, -1):
            high = digits[depth] - (0 if depth == self.width - 1 else 1)
            if high < 0:
                continue
            bitmap = self.get_bitmap(reader, digits, depth) & ((1 << (high + 1)) - 1)
            if bitmap:
                path = digits[:depth] + bytes([bitmap.bit_length() - 1])
                return self._descend(reader, path, lowest=False)
        return None

    def get_min(self, reader: StateReader) -> int | None:
        return self.get_at_or_above(reader, 0)

    def get_max(self, reader: StateReader) -> int | None:
        return self.get_at_or_below(reader, self.max_key)

    def _descend(self, reader: StateReader, path: bytes, lowest: bool) -> int:
        while len(path) < self.width:
            bitmap = self.get_bitmap(reader, path + bytes(self.width - len(path)), len(path))
            if bitmap == 0:
                raise DecodeError("a trie node marks a child that has no node (broken ordered index)")
            path += bytes([_lowest_bit(bitmap) if lowest else bitmap.bit_length() - 1])
        return int.from_bytes(path, "big")


@lru_cache(maxsize=1 << 12)
def decode_bitmap(raw: bytes) -> int:
    """A node's bitmap (memoized on the bytes: the nodes near the top of a book are read by every order)."""
    return decode_uint(raw, "trie node")


def encode_bitmap(bitmap: int) -> bytes | None:
    """A node's stored bytes; an empty node is absent (None)."""
    return None if bitmap == 0 else encode_uint(bitmap)


def _lowest_bit(bitmap: int) -> int:
    return (bitmap & -bitmap).bit_length() - 1
