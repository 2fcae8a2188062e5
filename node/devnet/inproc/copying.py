"""A consistent copy of a live process's data dir, taken while the process is held (no write of its own).

Each open RocksDB store is copied as node.devnet.datacopy copies a stopped process's: SSTs
hard-linked, the WAL, MANIFEST, CURRENT and OPTIONS copied. The process being held, only RocksDB's
background work (a flush or a compaction still running after the last write) could change the
store under the copy: its files are listed before and after, and a copy during which any changed
is thrown away and taken again; after STABLE_TRIES such copies, RocksDB's own checkpoint (which
flushes the memtable: slower) is used. The copy is a crash image of the store, which RocksDB
opens as it opens a store after a kill -9. RocksDB's files that hold no data (LOCK, LOG) are left
out; every other file in a store's directory (the devnet clock file lives in the L1's) and every
file outside the stores is copied, the immutable ones hard-linked (node.devnet.datacopy).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from node.devnet.datacopy import is_immutable, is_skipped
from node.store.kv import KVStore

ROCKSDB_FILE = re.compile(
    r"^([0-9]+\.(sst|log|blob)|MANIFEST-[0-9]+|OPTIONS-[0-9]+(\.dbtmp)?|CURRENT|IDENTITY|LOCK|LOG(\.old\..*)?"
    r"|rocksdict-config\.json)$"
)
STABLE_TRIES = 4

Listing = dict[str, tuple[int, int]]


@dataclass
class CheckpointStats:
    stores: int = 0
    checkpoints: int = 0  # stores that needed RocksDB's checkpoint (their files kept changing)
    files: int = 0
    linked: int = 0
    bytes_copied: int = 0


def checkpoint_tree(data_dir: Path, target: Path, stores: Sequence[KVStore]) -> CheckpointStats:
    """Copy `data_dir` into `target` (created; must not exist), the open `stores` under it consistently."""
    by_dir = {Path(os.path.abspath(store.path)): store for store in stores}
    stats = CheckpointStats()
    _copy(Path(os.path.abspath(data_dir)), target, by_dir, stats)
    return stats


def _copy(source: Path, target: Path, stores: dict[Path, KVStore], stats: CheckpointStats) -> None:
    store = stores.get(source)
    if store is not None:
        _copy_store(source, target, store, stats)
    else:
        target.mkdir()
    with os.scandir(source) as entries:
        for entry in entries:
            destination = target / entry.name
            if entry.is_dir(follow_symlinks=False):
                _copy(Path(entry.path), destination, stores, stats)
            elif entry.is_file(follow_symlinks=False):
                if is_skipped(entry.name) or (store is not None and ROCKSDB_FILE.match(entry.name)):
                    continue
                _copy_file(entry.path, destination, stats)


def _copy_file(source: str, destination: Path, stats: CheckpointStats) -> None:
    stats.files += 1
    if is_immutable(destination.name):
        try:
            os.link(source, destination)
            stats.linked += 1
            return
        except OSError:
            pass  # another file system: copy it
    shutil.copyfile(source, destination)
    stats.bytes_copied += destination.stat().st_size


def _listing(store_dir: Path) -> Listing:
    """RocksDB's data files in `store_dir` with their size and modification time."""
    listing: Listing = {}
    with os.scandir(store_dir) as entries:
        for entry in entries:
            if ROCKSDB_FILE.match(entry.name) and not is_skipped(entry.name) and entry.is_file(follow_symlinks=False):
                stat = entry.stat()
                listing[entry.name] = (stat.st_size, stat.st_mtime_ns)
    return listing


def _copy_store(source: Path, target: Path, store: KVStore, stats: CheckpointStats) -> None:
    for _ in range(STABLE_TRIES):
        before = _listing(source)
        target.mkdir()
        copied = CheckpointStats()
        try:
            for name in before:
                _copy_file(str(source / name), target / name, copied)
        except FileNotFoundError:
            stable = False  # a compaction deleted a file meanwhile
        else:
            stable = _listing(source) == before
        if stable:
            stats.stores += 1
            stats.files += copied.files
            stats.linked += copied.linked
            stats.bytes_copied += copied.bytes_copied
            return
        shutil.rmtree(target)
    store.checkpoint(target)
    stats.stores += 1
    stats.checkpoints += 1


__all__ = ["CheckpointStats", "checkpoint_tree"]
