"""A child overlay that keeps the venue records of one transaction decoded, and encodes each once.

An order reads its account, positions and market state many times and
writes the account half a dozen times (fees, PnL, settlement, resting
orders, the reserve floor). Through a plain Overlay each read walks the
overlay chain and looks the bytes up in a decoder cache, and each write
packs the whole record again. A `RecordOverlay` wrapped around a
transaction's overlay (node.venue.orders, node.venue.oracle) instead keeps,
per key:

- `records`: the record as decoding its stored bytes would give it (the
  empty record, or None, for an absent key), filled by the first read;
- `pending`: keys written as records whose bytes are not encoded yet, with
  their encoder; the bytes are made once, when the key is read raw, when a
  child overlay reads through it, or when the overlay is merged.

So it is indistinguishable from the plain overlay it replaces: `get` of a
pending key encodes it first, `merge_into` hands the parent exactly the
writes the plain overlay would hold (every key written, with its last
value; None = delete), and every read of the base goes through `get`, so a
recording reader below it (the fraud proofs' witness) sees the same keys.
It lives for one transaction: a rejected transaction discards it with its
overlay, as before. Records are frozen values, so sharing them is safe.
Its writes must reach it through its own methods: `child()` gives a
RecordOverlay, whose merge keeps the parent's cache right; a plain Overlay
built over it must not be merged into it (its merge would bypass the cache).
tests/venue/test_venue_record_cache.py checks that execution through it
equals execution without it, and that every record written reads back as
stored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mypy_extensions import mypyc_attr

from node.state.view import Overlay, StateReader

Encoder = Callable[[Any], "bytes | None"]


@mypyc_attr(allow_interpreted_subclasses=True)
class RecordOverlay(Overlay):
    """An Overlay that also caches decoded records and defers their encoding (see the module doc)."""

    __slots__ = ("pending", "records")

    def __init__(self, base: StateReader) -> None:
        super().__init__(base)
        self.records: dict[bytes, Any] = {}  # key -> the record its stored bytes decode to
        self.pending: dict[bytes, Encoder] = {}  # keys whose `records` entry is newer than `writes`

    # -- raw access (the plain Overlay's interface) --

    def get(self, key: bytes) -> bytes | None:
        if key in self.pending:
            self._encode(key)
        writes = self.writes
        if key in writes:
            return writes[key]
        return self.base.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.pending.pop(key, None)
        self.records.pop(key, None)
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.pending.pop(key, None)
        self.records.pop(key, None)
        self.writes[key] = None

    def child(self) -> RecordOverlay:
        return RecordOverlay(self)

    def merge_into(self, parent: Overlay) -> None:
        """Hand the parent every write; a RecordOverlay parent forgets what it cached of those keys."""
        self.flush()
        parent.writes.update(self.writes)
        if isinstance(parent, RecordOverlay):
            for key in self.writes:
                parent.records.pop(key, None)
                parent.pending.pop(key, None)

    def flush(self) -> None:
        """Encode every pending record into `writes`."""
        records, writes = self.records, self.writes
        for key, encode in self.pending.items():
            writes[key] = encode(records[key])
        self.pending.clear()

    def _encode(self, key: bytes) -> None:
        self.writes[key] = self.pending.pop(key)(self.records[key])

    # -- records --

    def get_record(self, key: bytes, decode: Callable[[bytes], Any], empty: Any) -> Any:
        """The record at `key`: decoded on the first read, `empty` when the key is absent."""
        records = self.records
        if key in records:
            return records[key]
        raw = self.get(key)
        record = empty if raw is None else decode(raw)
        records[key] = record
        return record

    def set_record(self, key: bytes, record: Any, encode: Encoder) -> None:
        """Store `record` (as reading it back must return it); `encode(record)` gives its bytes, None = delete."""
        self.records[key] = record
        self.pending[key] = encode


def load_record(reader: StateReader, key: bytes, decode: Callable[[bytes], Any], empty: Any) -> Any:
    """Read a record through any reader: from a RecordOverlay's cache, else decoded from the bytes."""
    if isinstance(reader, RecordOverlay):
        records = reader.records
        if key in records:
            return records[key]
        return reader.get_record(key, decode, empty)
    raw = reader.get(key)
    return empty if raw is None else decode(raw)


def store_record(overlay: Overlay, key: bytes, record: Any, encode: Encoder) -> None:
    """Write a record: deferred in a RecordOverlay, encoded now in any other overlay."""
    if isinstance(overlay, RecordOverlay):
        overlay.records[key] = record  # RecordOverlay.set_record, inlined on the hot path
        overlay.pending[key] = encode
        return
    raw = encode(record)
    if raw is None:
        overlay.delete(key)
    else:
        overlay.set(key, raw)
