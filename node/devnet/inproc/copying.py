"""A consistent copy of a live process's data dir: each open RocksDB store by checkpoint, every side file copied.

The process holds its loops at a block boundary while this runs (node.devnet.inproc.control), so
its journals, cursors and clock file do not change under the copy; a RocksDB checkpoint is a
point-in-time image of the store whatever its background threads do (SSTs hard-linked). RocksDB's
own files in a store's directory (that the checkpoint wrote or deliberately left out: LOCK, LOG)
are not copied again; every other file there (the devnet clock file lives in the L1's store dir)
and every file outside the stores is copied.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from node.devnet.datacopy import is_skipped
from node.store.kv import KVStore

ROCKSDB_FILE = re.compile(
    r"^([0-9]+\.(sst|log|blob)|MANIFEST-[0-9]+|OPTIONS-[0-9]+(\.dbtmp)?|CURRENT|IDENTITY|LOCK|LOG(\.old\..*)?"
    r"|rocksdict-config\.json)$"
)


@dataclass
class CheckpointStats:
    stores: int = 0
    files: int = 0
    bytes_copied: int = 0


def checkpoint_tree(data_dir: Path, target: Path, stores: Sequence[KVStore]) -> CheckpointStats:
    """Copy `data_dir` into `target` (created; must not exist), the open `stores` under it by checkpoint."""
    by_dir = {Path(os.path.abspath(store.path)): store for store in stores}
    stats = CheckpointStats()
    _copy(Path(os.path.abspath(data_dir)), target, by_dir, stats)
    return stats


def _copy(source: Path, target: Path, stores: dict[Path, KVStore], stats: CheckpointStats) -> None:
    store = stores.get(source)
    if store is not None:
        store.checkpoint(target)
        stats.stores += 1
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
                shutil.copyfile(entry.path, destination)
                stats.files += 1
                stats.bytes_copied += entry.stat().st_size


__all__ = ["CheckpointStats", "checkpoint_tree"]
