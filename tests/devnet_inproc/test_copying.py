"""node.devnet.inproc.copying: a live data dir copied whole, its open stores by RocksDB checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.devnet.inproc import copying
from node.devnet.inproc.copying import checkpoint_tree
from node.store.kv import KVStore


def test_a_store_that_is_the_data_dir_itself_and_its_side_files(tmp_path: Path) -> None:
    """The L1's layout: the data dir is the RocksDB dir, with the devnet clock file inside it."""
    data_dir = tmp_path / "l1"
    kv = KVStore(data_dir)
    try:
        kv.write({b"head": b"7"})
        (data_dir / "devnet_clock.json").write_text('{"offsetMs": 5000}')
        stats = checkpoint_tree(data_dir, tmp_path / "copy", [kv])
        kv.write({b"head": b"8"})  # after the copy: not in it
    finally:
        kv.close()
    assert stats.stores == 1 and stats.checkpoints == 0 and stats.files >= 4  # CURRENT, MANIFEST, WAL, clock
    copy = tmp_path / "copy"
    assert (copy / "devnet_clock.json").read_text() == '{"offsetMs": 5000}'
    assert not (copy / "LOCK").exists() and not any(name.startswith("LOG") for name in os.listdir(copy))
    reopened = KVStore(copy)
    try:
        assert reopened.get(b"head") == b"7"
    finally:
        reopened.close()


def test_stores_below_the_data_dir_and_files_beside_them(tmp_path: Path) -> None:
    """The sequencer's and executors' layout: DIR/chain is the store, journals and the clock beside it."""
    data_dir = tmp_path / "sequencer"
    kv = KVStore(data_dir / "chain")
    try:
        kv.write({b"k": b"v"})
        (data_dir / "mempool.journal").write_bytes(b"\x00\x01")
        (data_dir / "held").mkdir()
        (data_dir / "held" / "0000000000000001.blk").write_bytes(b"block")
        stats = checkpoint_tree(data_dir, tmp_path / "copy", [kv])
    finally:
        kv.close()
    assert stats.stores == 1 and stats.checkpoints == 0
    assert (
        os.stat(tmp_path / "copy" / "held" / "0000000000000001.blk").st_ino
        == os.stat(data_dir / "held" / "0000000000000001.blk").st_ino
    )  # an immutable held block: hard-linked
    assert (tmp_path / "copy" / "held" / "0000000000000001.blk").read_bytes() == b"block"
    reopened = KVStore(tmp_path / "copy" / "chain")
    try:
        assert reopened.get(b"k") == b"v"
    finally:
        reopened.close()


def test_a_store_whose_files_keep_changing_is_copied_by_rocksdb_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flush or compaction running under every copy: after STABLE_TRIES the store's own checkpoint is taken."""
    data_dir = tmp_path / "executor-0"
    kv = KVStore(data_dir / "chain")
    listings = iter(range(1000))
    monkeypatch.setattr(copying, "_listing", lambda store_dir: {"MANIFEST-000001": (next(listings), 0)})
    try:
        kv.write({b"k": b"v"})
        stats = checkpoint_tree(data_dir, tmp_path / "copy", [kv])
    finally:
        kv.close()
    assert stats.stores == 1 and stats.checkpoints == 1
    reopened = KVStore(tmp_path / "copy" / "chain")
    try:
        assert reopened.get(b"k") == b"v"
    finally:
        reopened.close()


def test_the_copy_of_a_store_with_flushed_tables_hard_links_them(tmp_path: Path) -> None:
    data_dir = tmp_path / "sequencer"
    kv = KVStore(data_dir / "chain")
    try:
        for index in range(3):
            kv.write({bytes([index]) * 32: b"x" * 100})
        kv.close()
        kv.reopen()  # the memtable is flushed to an SST on close
        kv.write({b"late": b"in the WAL"})
        stats = checkpoint_tree(data_dir, tmp_path / "copy", [kv])
    finally:
        kv.close()
    assert stats.linked >= 1 and stats.checkpoints == 0
    reopened = KVStore(tmp_path / "copy" / "chain")
    try:
        assert reopened.get(b"late") == b"in the WAL" and reopened.get(bytes([2]) * 32) == b"x" * 100
    finally:
        reopened.close()
