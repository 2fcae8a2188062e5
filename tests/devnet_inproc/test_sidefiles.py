"""node.devnet.inproc.sidefiles: the files of a data dir that are not RocksDB's, put back from a snapshot copy.

A changed file is replaced, a file or directory the copy lacks is removed, a missing one comes back,
a hard-linked file shared with the copy is kept as is, RocksDB's own files in a store's directory
are never touched (but the devnet clock file beside them is restored), and an open store whose
directory the copy lacks is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.devnet.inproc.sidefiles import restore_side_files


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def make(tmp_path: Path) -> tuple[Path, Path]:
    data = tmp_path / "data" / "settler"
    copy = tmp_path / "snapshots" / "s1-0000abcd" / "settler"
    for root in (data, copy):
        (root / "held_blocks").mkdir(parents=True)
        (root / "chain").mkdir()
    (copy / "settler_state.json").write_text('{"inbox": 1}')
    (copy / "held_blocks" / "0000000000000001.blk").write_bytes(b"one")
    (copy / "chain" / "devnet_clock.json").write_text('{"offset_ms": 5}')
    (copy / "chain" / "000001.sst").write_bytes(b"old sst")
    os.link(copy / "held_blocks" / "0000000000000001.blk", data / "held_blocks" / "0000000000000001.blk")
    (data / "settler_state.json").write_text('{"inbox": 9}')
    (data / "held_blocks" / "0000000000000002.blk").write_bytes(b"two")
    (data / "later").mkdir()
    (data / "later" / "x").write_text("made after the snapshot")
    (data / "chain" / "devnet_clock.json").write_text('{"offset_ms": 99}')
    (data / "chain" / "000007.sst").write_bytes(b"live sst")
    (data / "chain" / "LOCK").write_bytes(b"")
    return data, copy


def test_the_side_files_become_the_copys_and_the_store_files_stay(tmp_path: Path) -> None:
    data, copy = make(tmp_path)
    linked = (data / "held_blocks" / "0000000000000001.blk").stat().st_ino
    stats = restore_side_files(copy, data, [data / "chain"])
    assert tree(data) == {
        "chain/000007.sst": b"live sst",  # RocksDB's, left alone (the store is rewound in place)
        "chain/LOCK": b"",
        "chain/devnet_clock.json": b'{"offset_ms": 5}',
        "held_blocks/0000000000000001.blk": b"one",
        "settler_state.json": b'{"inbox": 1}',
    }
    assert (data / "held_blocks" / "0000000000000001.blk").stat().st_ino == linked
    assert stats.kept == 1 and stats.replaced == 2 and stats.removed == 2
    again = restore_side_files(copy, data, [data / "chain"])  # idempotent: a second run changes nothing
    assert again.replaced == 0 and again.removed == 0 and tree(data)["settler_state.json"] == b'{"inbox": 1}'


def test_a_missing_file_comes_back_and_a_leftover_temporary_goes(tmp_path: Path) -> None:
    data, copy = make(tmp_path)
    (data / "held_blocks" / "0000000000000001.blk").unlink()
    (data / "settler_state.json.undo-tmp").write_text("a kill left it")
    restore_side_files(copy, data, [data / "chain"])
    assert (data / "held_blocks" / "0000000000000001.blk").read_bytes() == b"one"
    assert not (data / "settler_state.json.undo-tmp").exists()


def test_an_open_store_the_copy_lacks_is_refused(tmp_path: Path) -> None:
    data, copy = make(tmp_path)
    (data / "replica").mkdir()
    with pytest.raises(FileExistsError, match="open store"):
        restore_side_files(copy, data, [data / "chain", data / "replica"])
