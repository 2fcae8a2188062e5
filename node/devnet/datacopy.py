"""Copy a process's data directory quickly: immutable files are hard-linked, the rest copied.

RocksDB never changes an SST file once written (it only deletes it), and the settler writes each
held block (`<n>.blk`, l1.settler.blockstore) once, to a temporary name renamed into place, so a
snapshot and a restored data dir can share them; the WAL, MANIFEST, CURRENT, OPTIONS and every
other file (journals, JSON state) are copied. RocksDB's info LOG files and its LOCK file are left out:
they hold no data (LOG names absolute paths) and RocksDB recreates them.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

SKIPPED = frozenset({"LOCK", "LOG"})
IMMUTABLE_SUFFIXES = (".sst", ".blk")  # never rewritten in place: safe to share by hard link
OLD_MARK = ".old-"  # a replaced data dir, renamed aside (".<name>.old-<hex>") until it is deleted


@dataclass
class CopyStats:
    files: int = 0
    linked: int = 0
    bytes_copied: int = 0

    def add(self, other: CopyStats) -> None:
        self.files += other.files
        self.linked += other.linked
        self.bytes_copied += other.bytes_copied


def is_skipped(name: str) -> bool:
    return name in SKIPPED or name.startswith("LOG.old")


def is_immutable(name: str) -> bool:
    return name.endswith(IMMUTABLE_SUFFIXES)


def copy_tree(source: Path, target: Path, link: bool = True) -> CopyStats:
    """Copy `source` into `target` (created; must not exist); immutable files hard-linked when `link`."""
    stats = CopyStats()
    target.mkdir(parents=True)
    with os.scandir(source) as entries:
        for entry in entries:
            if is_skipped(entry.name):
                continue
            destination = target / entry.name
            if entry.is_dir(follow_symlinks=False):
                stats.add(copy_tree(Path(entry.path), destination, link))
            elif entry.is_file(follow_symlinks=False):
                stats.files += 1
                if link and is_immutable(entry.name):
                    try:
                        os.link(entry.path, destination)
                        stats.linked += 1
                        continue
                    except OSError:
                        pass  # another file system: copy it
                shutil.copyfile(entry.path, destination)
                stats.bytes_copied += entry.stat().st_size
    return stats


def replace_tree(source: Path, target: Path, link: bool = True) -> CopyStats:
    """Make `target` a copy of `source`, deleting whatever `target` held."""
    if target.exists():
        shutil.rmtree(target)
    return copy_tree(source, target, link)


def copy_trees(pairs: Sequence[tuple[Path, Path]], link: bool = True) -> CopyStats:
    """copy_tree for every (source, target), one thread each (the copies wait on the disk, not the GIL)."""
    stats = CopyStats()
    if not pairs:
        return stats
    with ThreadPoolExecutor(max_workers=len(pairs)) as pool:
        for result in pool.map(lambda pair: copy_tree(pair[0], pair[1], link), pairs):
            stats.add(result)
    return stats


def set_aside(target: Path) -> Path | None:
    """Rename `target` to a hidden sibling (instant; delete it later with remove_trees); None if absent."""
    if not target.exists():
        return None
    aside = target.with_name(f".{target.name}{OLD_MARK}{secrets.token_hex(4)}")
    target.rename(aside)
    return aside


def restore_trees(pairs: Sequence[tuple[Path, Path]], link: bool = True) -> tuple[CopyStats, list[Path]]:
    """Make each target a copy of its source: the old targets are set aside (returned), the copies run in parallel."""
    old = [aside for _, target in pairs if (aside := set_aside(target)) is not None]
    return copy_trees(pairs, link), old


def remove_trees(paths: Sequence[Path], parents: Sequence[Path] = ()) -> None:
    """Delete `paths`, and any data dir set aside earlier in `parents` and left behind (e.g. by a crash)."""
    leftovers = [entry for parent in parents if parent.is_dir() for entry in parent.iterdir() if OLD_MARK in entry.name]
    for path in {*paths, *leftovers}:
        shutil.rmtree(path, ignore_errors=True)
