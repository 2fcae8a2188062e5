"""A devnet's undo log inside a RocksDB store: revert the open store to a snapshot mark without reopening it.

Off until a devnet snapshot marks the store (node.devnet.inproc: only a process in devnet mode can
be asked to); a store without a mark pays one read when it opens and nothing per write. Once a mark
exists, every write batch (node.store.kv.KVStore.write, the one way a store is written) also holds,
in the same atomic batch, an undo record: the value each key it puts or deletes had before (None:
absent), for the keys not already recorded since the newest mark (applying the records newest
first, the oldest value of a key wins, so a later record of it would be redundant). A kill -9 at
any moment leaves the data and its undo record both present or both absent.

Keys (after every key a role uses: the roles' one-letter namespaces and scans end below b"\\xff\\xff"):
    PREFIX "m" name      -> seq(8): a snapshot's mark: the first undo record written after it
    PREFIX "u" seq(8)    -> pack([[key, value before or nil], ...]): one write batch's undo record

rewind(name): one atomic batch puts back every recorded key's oldest value since the mark, deletes
those undo records, the marks taken after it and the revert-in-progress key. The mark stays: the
store can be reverted to it again. The log grows while any mark exists (a devnet's snapshots are
reverted to, or dropped with the devnet).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from node.encoding import pack, unpack

PREFIX = b"\xff\xffdevnet-undo/"
MARK_PREFIX = PREFIX + b"m"
RECORD_PREFIX = PREFIX + b"u"
MAX_NAME_BYTES = 200
MAX_REMEMBERED = 200_000  # keys remembered as recorded since the newest mark: beyond, forgotten (recorded again)


class UndoError(ValueError):
    """The store cannot be reverted to that mark (no such mark, or the name is unusable)."""


def _seq(n: int) -> bytes:
    return n.to_bytes(8, "big")


def mark_key(name: str) -> bytes:
    raw = name.encode()
    if not raw or len(raw) > MAX_NAME_BYTES:
        raise UndoError(f"a mark name must be 1-{MAX_NAME_BYTES} bytes, got {name!r}")
    return MARK_PREFIX + raw


class UndoLog:
    """The undo log of one open store (`db`: a rocksdict Rdict in raw mode)."""

    def __init__(self, db: Any, next_seq: int) -> None:
        self._db = db
        self.next_seq = next_seq
        self._recorded: set[bytes] = set()  # keys recorded since the newest mark (lost on restart: harmless)

    @classmethod
    def load(cls, db: Any) -> UndoLog | None:
        """The store's log, or None when no mark was ever taken (then writes record nothing)."""
        it = db.iter()
        it.seek(MARK_PREFIX)
        if not (it.valid() and it.key().startswith(MARK_PREFIX)):
            return None
        return cls(db, _next_seq(db))

    def record(self, batch: Any, puts: Mapping[bytes, bytes], deletes: Iterable[bytes]) -> None:
        """Add to `batch` the undo record of writing `puts` and deleting `deletes` (before they are applied)."""
        recorded = self._recorded
        keys = [key for key in (*deletes, *puts) if key not in recorded]
        if not keys:
            return
        keys = list(dict.fromkeys(keys))
        priors = self._db.get(keys)
        batch.put(RECORD_PREFIX + _seq(self.next_seq), pack([[key, prior] for key, prior in zip(keys, priors)]))
        self.next_seq += 1
        if len(recorded) > MAX_REMEMBERED:
            recorded.clear()
        recorded.update(keys)

    def mark(self, name: str) -> dict[bytes, bytes]:
        """The puts that mark this point as `name` (the caller writes them); later writes are recorded from here."""
        self._recorded = set()
        return {mark_key(name): _seq(self.next_seq)}

    def rewound(self) -> None:
        """The store was just rewound (rewind_batch written): continue after the records left."""
        self.next_seq = _next_seq(self._db)
        self._recorded = set()


def new_log(db: Any) -> UndoLog:
    return UndoLog(db, _next_seq(db))


def _next_seq(db: Any) -> int:
    """After the newest undo record and at or after every mark (a mark may have no record after it yet)."""
    newest = max(marks(db).values(), default=0)
    it = db.iter()
    it.seek_for_prev(RECORD_PREFIX + b"\xff" * 8)
    if it.valid() and it.key().startswith(RECORD_PREFIX):
        newest = max(newest, int.from_bytes(it.key()[len(RECORD_PREFIX) :], "big") + 1)
    return newest


def marks(db: Any) -> dict[str, int]:
    """Every mark in the store: name -> first undo record after it."""
    found: dict[str, int] = {}
    it = db.iter()
    it.seek(MARK_PREFIX)
    while it.valid() and it.key().startswith(MARK_PREFIX):
        found[it.key()[len(MARK_PREFIX) :].decode()] = int.from_bytes(it.value(), "big")
        it.next()
    return found


def rewind_batch(db: Any, name: str) -> tuple[dict[bytes, bytes], list[bytes], int]:
    """(puts, deletes, records undone) that put the store back to mark `name`; UndoError when there is no such mark."""
    all_marks = marks(db)
    if name not in all_marks:
        raise UndoError(f"this store has no undo mark {name!r}")
    start = all_marks[name]
    oldest: dict[bytes, bytes | None] = {}
    deletes: list[bytes] = []
    it = db.iter()
    it.seek(RECORD_PREFIX + _seq(start))
    records = 0
    while it.valid() and it.key().startswith(RECORD_PREFIX):
        deletes.append(it.key())
        records += 1
        for key, prior in unpack(it.value()):
            if key not in oldest:  # oldest first: the value before the first write since the mark
                oldest[key] = prior
        it.next()
    puts: dict[bytes, bytes] = {}
    for key, prior in oldest.items():
        if prior is None:
            deletes.append(key)
        else:
            puts[key] = prior
    deletes.extend(mark_key(other) for other, seq in all_marks.items() if seq > start)  # later snapshots
    return puts, deletes, records


__all__ = [
    "MARK_PREFIX",
    "PREFIX",
    "RECORD_PREFIX",
    "UndoError",
    "UndoLog",
    "mark_key",
    "marks",
    "new_log",
    "rewind_batch",
]
