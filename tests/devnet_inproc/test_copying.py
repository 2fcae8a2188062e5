"""node.devnet.inproc.copying: a live data dir copied whole, its open stores by RocksDB checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

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
    assert stats.stores == 1 and stats.files == 1
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
    assert stats.stores == 1 and stats.files == 2 and stats.bytes_copied == 7
    assert (tmp_path / "copy" / "held" / "0000000000000001.blk").read_bytes() == b"block"
    reopened = KVStore(tmp_path / "copy" / "chain")
    try:
        assert reopened.get(b"k") == b"v"
    finally:
        reopened.close()
