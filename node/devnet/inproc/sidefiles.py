"""Put back the files of a data dir that are not RocksDB's, from a snapshot copy, while the stores stay open.

A revert by undo log (node.devnet.inproc.control, node.store.undo) rewinds each open store in
place; everything else in the data dir (journals, the settler's state file and held blocks, the
devnet clock file inside the L1's store directory) is made what the snapshot copy holds: a file
that differs is replaced (written beside it, then renamed over it: a reader never sees half a
file), one the copy lacks is deleted, a directory the copy lacks is removed. RocksDB's own files
in the stores' directories are left alone. Hard-linked immutable files (node.devnet.datacopy)
that are already the same file are skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from node.devnet.datacopy import is_immutable, is_skipped
from node.devnet.inproc.copying import ROCKSDB_FILE

TMP_SUFFIX = ".undo-tmp"
COMPARE_MAX_BYTES = 1 << 20


@dataclass
class SideStats:
    kept: int = 0
    replaced: int = 0
    removed: int = 0


def restore_side_files(copy: Path, data_dir: Path, store_dirs: Collection[Path]) -> SideStats:
    """Make every file under `data_dir` outside the stores' RocksDB files what it is under `copy`."""
    stores = {Path(os.path.abspath(path)) for path in store_dirs}
    stats = SideStats()
    _restore(copy, Path(os.path.abspath(data_dir)), stores, stats)
    return stats


def _is_store_file(directory: Path, name: str, stores: set[Path]) -> bool:
    return directory in stores and (ROCKSDB_FILE.match(name) is not None or is_skipped(name))


def _restore(source: Path, target: Path, stores: set[Path], stats: SideStats) -> None:
    target.mkdir(exist_ok=True)
    with os.scandir(target) as entries:
        present = {entry.name: entry for entry in entries}
    wanted: set[str] = set()
    with os.scandir(source) as entries:
        for entry in entries:
            if _is_store_file(target, entry.name, stores) or is_skipped(entry.name):
                continue
            wanted.add(entry.name)
            destination = target / entry.name
            if entry.is_dir(follow_symlinks=False):
                if destination.exists() and not destination.is_dir():
                    destination.unlink()
                _restore(Path(entry.path), destination, stores, stats)
            elif entry.is_file(follow_symlinks=False):
                there = present.get(entry.name)
                if there is not None and there.inode() == entry.inode() and there.is_file(follow_symlinks=False):
                    stats.kept += 1  # the same file: hard-linked both ways (the copy and the data dir share a device)
                    continue
                _restore_file(Path(entry.path), destination, stats)
    extra = [entry for name, entry in present.items() if name not in wanted]
    for entry in extra:
        if _is_store_file(target, entry.name, stores):
            continue
        path = Path(entry.path)
        if path in stores:
            raise FileExistsError(f"{path} is an open store the snapshot copy does not have")
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path)
        elif path.exists():  # (a leftover temporary may have been reused and renamed meanwhile)
            path.unlink()
        else:
            continue
        stats.removed += 1


def _same(source: Path, destination: Path) -> bool:
    try:
        a, b = source.stat(), destination.stat()
    except FileNotFoundError:
        return False
    if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
        return True
    if a.st_size != b.st_size or a.st_size > COMPARE_MAX_BYTES:
        return False
    return source.read_bytes() == destination.read_bytes()


def _restore_file(source: Path, destination: Path, stats: SideStats) -> None:
    if _same(source, destination):
        stats.kept += 1
        return
    if destination.is_dir():
        shutil.rmtree(destination)
    tmp = destination.with_name(destination.name + TMP_SUFFIX)
    tmp.unlink(missing_ok=True)
    linked = False
    if is_immutable(destination.name):
        try:
            os.link(source, tmp)
            linked = True
        except OSError:
            pass
    if not linked:
        shutil.copyfile(source, tmp)
    os.replace(tmp, destination)
    stats.replaced += 1


__all__ = ["SideStats", "restore_side_files"]
