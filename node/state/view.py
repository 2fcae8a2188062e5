"""The key/value view of state that the state transition reads and writes.

The state transition never touches a database: it sees a `StateReader`
(anything with `get`) and writes into an `Overlay`. A transaction runs in a
child overlay that is merged into the block's overlay only if it succeeds, so
an invalid transaction leaves state untouched (execution-specs' snapshots).
The block overlay's `writes` is then the batch the tree applies.

Keys are application keys (see node.state.schema); the tree hashes them.
A value of None in `writes` means the key is deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from mypy_extensions import mypyc_attr


class StateReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


@mypyc_attr(allow_interpreted_subclasses=True)
class DictState:
    """A plain in-memory state, for tests and the reference path."""

    def __init__(self, items: Mapping[bytes, bytes] | None = None) -> None:
        self.items: dict[bytes, bytes] = dict(items or {})

    def get(self, key: bytes) -> bytes | None:
        return self.items.get(key)

    def apply(self, writes: Mapping[bytes, bytes | None]) -> None:
        for key, value in writes.items():
            if value is None:
                self.items.pop(key, None)
            else:
                self.items[key] = value


@mypyc_attr(allow_interpreted_subclasses=True)
class Overlay:
    """Buffered writes over a reader. `child()` + `merge_into_parent()` give rollback.

    `decoded_accounts` maps account value bytes to the account they decode to
    (node.state.schema's codec), shared by an overlay and every overlay built
    on it, so a block decodes each account value once however often it is
    read. Keyed by the bytes, not the key, it can never be stale: decoding is
    a function of the bytes alone, and every read still goes through `get`.
    """

    __slots__ = ("base", "decoded_accounts", "writes")

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.writes: dict[bytes, bytes | None] = {}
        self.decoded_accounts: dict[bytes, Any] = base.decoded_accounts if isinstance(base, Overlay) else {}

    def get(self, key: bytes) -> bytes | None:
        writes = self.writes
        if key in writes:
            return writes[key]
        return self.base.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        self.writes[key] = value

    def delete(self, key: bytes) -> None:
        self.writes[key] = None

    def child(self) -> Overlay:
        return Overlay(self)

    def merge_into(self, parent: Overlay) -> None:
        parent.writes.update(self.writes)
