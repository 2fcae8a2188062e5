"""Swap a process's data dir for a snapshot's copy, atomically: a kill -9 at any moment leaves one whole dir.

    incoming = stage(snapshot_copy, data_dir)   # DIR/data/.<name>.old-in-<hex>: SSTs hard-linked, the rest copied
    ... the process closes its store ...
    aside = swap_in(incoming, data_dir)         # one renameat2(RENAME_EXCHANGE): data_dir is now the copy
    discard([aside])                            # the replaced dir, deleted in a thread

The exchange is a single system call, so there is no moment without a data dir and no marker to
finish or undo: killed before it, the process restarts on its old data; after it, on the copy. What
a kill leaves beside the data dir (a staged copy, a replaced dir) carries node.devnet.datacopy's
OLD_MARK in its name and is deleted by the next stage() or by the kill-and-restart revert's
cleanup (node.devnet.datacopy.remove_trees). The snapshot copy itself is never changed: it stays
usable for later reverts (RocksDB only ever deletes an SST, so the hard links are safe).
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from node.devnet.datacopy import OLD_MARK, copy_tree

AT_FDCWD = -100
RENAME_EXCHANGE = 2
INCOMING_TAG = "in-"


class SwapError(OSError):
    """The data dir could not be exchanged (renameat2 missing or refused): nothing was changed."""


def _renameat2() -> Any:
    """libc's renameat2, or None where it is missing (glibc < 2.28, other systems)."""
    libc = ctypes.CDLL(None, use_errno=True)
    return getattr(libc, "renameat2", None)


def exchange(first: Path, second: Path) -> None:
    """Swap the names of two existing directories in one step (Linux renameat2 RENAME_EXCHANGE)."""
    call = _renameat2()
    if call is None:
        raise SwapError("renameat2 is not available: an atomic exchange is impossible here")
    if call(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) != 0:
        errno = ctypes.get_errno()
        raise SwapError(errno, f"cannot exchange {first} and {second}: {os.strerror(errno)}")


def leftovers(data_dir: Path) -> list[Path]:
    """Dirs a revert (or a kill during one) left beside `data_dir`: staged copies and replaced data dirs."""
    prefix = f".{data_dir.name}{OLD_MARK}"
    parent = data_dir.parent
    return [entry for entry in parent.iterdir() if entry.name.startswith(prefix)] if parent.is_dir() else []


def stage(source: Path, data_dir: Path) -> Path:
    """Copy `source` (a snapshot copy) beside `data_dir`, ready for swap_in; removes earlier leftovers first."""
    for path in leftovers(data_dir):
        shutil.rmtree(path, ignore_errors=True)
    incoming = data_dir.with_name(f".{data_dir.name}{OLD_MARK}{INCOMING_TAG}{secrets.token_hex(4)}")
    try:
        copy_tree(source, incoming)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    return incoming


def swap_in(incoming: Path, data_dir: Path) -> Path:
    """Make `incoming` the data dir in one step; returns where the replaced dir now is (delete it with discard)."""
    exchange(incoming, data_dir)
    aside = data_dir.with_name(f".{data_dir.name}{OLD_MARK}{secrets.token_hex(4)}")
    incoming.rename(aside)  # holds the replaced dir now; renamed so a staged copy is never mistaken for it
    return aside


def discard(paths: Sequence[Path]) -> threading.Thread:
    """Delete `paths` in a daemon thread (a replaced store can be large); returns the thread."""

    def remove() -> None:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)

    thread = threading.Thread(target=remove, name="revert-discard", daemon=True)
    thread.start()
    return thread


__all__ = ["SwapError", "discard", "exchange", "leftovers", "stage", "swap_in"]
