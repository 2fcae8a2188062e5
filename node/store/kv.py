"""RocksDB (through rocksdict, raw mode) as a plain ordered byte store.

Raw mode keeps keys byte-exact (ordered prefix scans work) and never
unpickles. Every multi-key change goes through `write`, one atomic WriteBatch:
measured on this machine, a batch killed with SIGKILL is never partly present
and every batch whose write returned survives (shared/notes/performance.md).

Devnet reverts without reopening: a store marked by a devnet snapshot keeps an undo log in the
same batches (node.store.undo; off, at no cost per write, in a store never marked), and `rewind`
puts the open store back to a mark. While a role is reverted in place its code closes and opens
its stores as on a restart: inside `keep_open()` a close keeps the RocksDB handle and the next
KVStore of the same path takes it again (process-wide, as RocksDB's own lock on the directory is).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rocksdict import BlockBasedOptions, Cache, Checkpoint, DBCompressionType, Options, Rdict, WriteBatch, WriteOptions

from node.store.undo import UndoLog, marks, new_log, rewind_batch

DEFAULT_BLOCK_CACHE_BYTES = 256 * 1024 * 1024


class KeptHandles:
    """Open RocksDB handles set aside by close() inside keep_open(), taken again by the next open of the same path."""

    def __init__(self) -> None:
        self.active = False
        self._kept: dict[str, tuple[Any, UndoLog | None]] = {}

    def put(self, path: Path, db: Any, undo: UndoLog | None) -> None:
        self._kept[os.path.abspath(path)] = (db, undo)

    def take(self, path: Path) -> tuple[Any, UndoLog | None] | None:
        return self._kept.pop(os.path.abspath(path), None)

    def close_rest(self) -> int:
        """Close every handle nobody took again; returns how many."""
        rest, self._kept = list(self._kept.values()), {}
        for db, _ in rest:
            db.close()
        return len(rest)


KEPT = KeptHandles()  # one per process: RocksDB allows one open handle per directory and process


@contextmanager
def keep_open() -> Iterator[KeptHandles]:
    """Inside: KVStore.close() keeps the handle open and KVStore(path) / reopen() takes it back (no RocksDB
    close or open). On exit, the handles not taken back are closed."""
    KEPT.active = True
    try:
        yield KEPT
    finally:
        KEPT.active = False
        KEPT.close_rest()


def _options(block_cache_bytes: int) -> Options:
    """Point lookups dominate (tree nodes, leaves): a block cache and bloom filters pay."""
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.increase_parallelism(2)
    options.set_compression_type(DBCompressionType.lz4())
    options.set_write_buffer_size(64 * 1024 * 1024)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(block_cache_bytes))
    table.set_bloom_filter(10, False)
    table.set_cache_index_and_filter_blocks(True)
    table.set_pin_l0_filter_and_index_blocks_in_cache(True)
    options.set_block_based_table_factory(table)
    return options


class KVStore:
    def __init__(
        self, path: Path | str, sync: bool = False, block_cache_bytes: int = DEFAULT_BLOCK_CACHE_BYTES
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._block_cache_bytes = block_cache_bytes
        self._db, self._undo = self._open()
        self._write_options = WriteOptions()
        self._write_options.sync = sync

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def _open(self) -> tuple[Any, UndoLog | None]:
        kept = KEPT.take(self.path)
        if kept is not None:
            return kept
        db = Rdict(str(self.path), _options(self._block_cache_bytes))
        return db, UndoLog.load(db)

    def write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        batch = WriteBatch(raw_mode=True)
        if self._undo is not None:
            deletes = list(deletes)
            self._undo.record(batch, puts, deletes)
        for key in deletes:
            batch.delete(key)
        for key, value in puts.items():
            batch.put(key, value)
        self._db.write(batch, self._write_options)

    def scan(self, start: bytes, stop: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Items with start <= key < stop, in key order."""
        it = self._db.iter()
        it.seek(start)
        while it.valid():
            key = it.key()
            if key >= stop:
                return
            yield key, it.value()
            it.next()

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.path.iterdir() if f.is_file())

    def close(self) -> None:
        if KEPT.active:
            KEPT.put(self.path, self._db, self._undo)
            return
        self._db.close()

    def reopen(self) -> None:
        """Open `path` again after close(): whoever holds this object reads the directory's current content
        (a devnet revert swaps the directory in place, or rewinds the kept handle: node.devnet.inproc)."""
        self._db, self._undo = self._open()

    # -- the devnet's undo log (node.store.undo) --

    def undo_marks(self) -> dict[str, int]:
        """The snapshot marks this store can be rewound to (name -> first undo record after it)."""
        return marks(self._db) if self._undo is not None else {}

    def mark(self, name: str) -> None:
        """Mark this point as `name` (a devnet snapshot): from now on every write is undoable back to here."""
        if self._undo is None:
            self._undo = new_log(self._db)
        self._raw_write(self._undo.mark(name), ())

    def rewind(self, name: str) -> int:
        """Put the store back to mark `name` in one atomic batch (the mark stays); returns the records undone.

        node.store.undo.UndoError when there is no such mark."""
        puts, deletes, records = rewind_batch(self._db, name)
        self._raw_write(puts, deletes)
        if self._undo is None:
            self._undo = new_log(self._db)
        else:
            self._undo.rewound()  # the same object a kept handle carries (keep_open)
        return records

    def _raw_write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes]) -> None:
        batch = WriteBatch(raw_mode=True)
        for key in deletes:
            batch.delete(key)
        for key, value in puts.items():
            batch.put(key, value)
        self._db.write(batch, self._write_options)

    def checkpoint(self, target: Path) -> None:
        """A consistent copy of the open store in `target` (must not exist): RocksDB's checkpoint, SSTs hard-linked."""
        Checkpoint(self._db).create_checkpoint(str(target))
