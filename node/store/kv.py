"""RocksDB (through rocksdict, raw mode) as a plain ordered byte store.

Raw mode keeps keys byte-exact (ordered prefix scans work) and never
unpickles. Every multi-key change goes through `write`, one atomic WriteBatch:
measured on this machine, a batch killed with SIGKILL is never partly present
and every batch whose write returned survives (shared/notes/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from rocksdict import BlockBasedOptions, Cache, Checkpoint, DBCompressionType, Options, Rdict, WriteBatch, WriteOptions

DEFAULT_BLOCK_CACHE_BYTES = 256 * 1024 * 1024


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
        self._db = Rdict(str(self.path), _options(block_cache_bytes))
        self._write_options = WriteOptions()
        self._write_options.sync = sync

    def get(self, key: bytes) -> bytes | None:
        return self._db.get(key)

    def write(self, puts: Mapping[bytes, bytes], deletes: Iterable[bytes] = ()) -> None:
        batch = WriteBatch(raw_mode=True)
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
        self._db.close()

    def reopen(self) -> None:
        """Open `path` again after close(): whoever holds this object reads the directory's current content
        (a devnet revert swaps the directory in place, node.devnet.inproc)."""
        self._db = Rdict(str(self.path), _options(self._block_cache_bytes))

    def checkpoint(self, target: Path) -> None:
        """A consistent copy of the open store in `target` (must not exist): RocksDB's checkpoint, SSTs hard-linked."""
        Checkpoint(self._db).create_checkpoint(str(target))
