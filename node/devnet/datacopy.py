"""Copy a process's data directory quickly: RocksDB's immutable SST files are hard-linked, the rest copied.

RocksDB never changes an SST file once written (it only deletes it), so a snapshot and a
restored data dir can share them; the WAL, MANIFEST, CURRENT, OPTIONS and every non-RocksDB file
(journals, JSON state) are copied. RocksDB's info LOG files and its LOCK file are left out:
they hold no data (LOG names absolute paths) and RocksDB recreates them.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

SKIPPED = frozenset({"LOCK", "LOG"})


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


def copy_tree(source: Path, target: Path, link: bool = True) -> CopyStats:
    """Copy `source` into `target` (created; must not exist); SST files hard-linked when `link`."""
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
                if link and entry.name.endswith(".sst"):
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
