"""The snapshot registry (node.devnet.snapshots) and the data-dir copy (node.devnet.datacopy): pure file work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.devnet.datacopy import copy_tree, replace_tree
from node.devnet.errors import UnknownSnapshotError
from node.devnet.snapshots import SnapshotRecord, SnapshotRegistry, parse_snapshot_id, snapshot_id

INSTANCE = "0123abcd"


def take(registry: SnapshotRegistry) -> SnapshotRecord:
    sid = registry.allocate()
    registry.path(sid).mkdir(parents=True)
    record = SnapshotRecord(sid, registry.next_number - 1, 1.0, {"l1": 3})
    registry.add(record)
    return record


def test_ids_count_up_and_carry_the_instance(tmp_path: Path) -> None:
    registry = SnapshotRegistry(tmp_path, INSTANCE)
    first, second = take(registry), take(registry)
    assert (first.id, second.id) == ("s1-0123abcd", "s2-0123abcd")
    again = SnapshotRegistry(tmp_path, INSTANCE)  # reloaded from index.json
    assert again.ids() == [first.id, second.id] and again.find(second.id).heads == {"l1": 3}
    assert parse_snapshot_id(snapshot_id(7, INSTANCE), INSTANCE) == 7


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (None, "is a string"),
        (5, "is a string"),
        ("", "is not a snapshot id"),
        ("0x1", "is not a snapshot id"),
        ("s0-0123abcd", "is not a snapshot id"),
        ("s1-0123ABCD", "is not a snapshot id"),
        ("s1-0123abcd ", "is not a snapshot id"),
        ("s1-ffffffff", "taken before a reset or a load"),
    ],
)
def test_malformed_and_foreign_ids_are_refused(text: object, why: str) -> None:
    with pytest.raises(UnknownSnapshotError, match=why):
        parse_snapshot_id(text, INSTANCE)


def test_a_revert_keeps_its_snapshot_and_drops_later_ones(tmp_path: Path) -> None:
    registry = SnapshotRegistry(tmp_path, INSTANCE)
    one, two, three = take(registry), take(registry), take(registry)
    assert registry.drop_after(one.number) == [two.id, three.id]
    assert registry.find(one.id) == one and not registry.path(two.id).exists()
    with pytest.raises(UnknownSnapshotError, match="a revert to an earlier snapshot invalidated it"):
        registry.find(two.id)
    with pytest.raises(UnknownSnapshotError, match="was never taken"):
        registry.find("s9-0123abcd")
    assert take(registry).id == "s4-0123abcd"  # numbers are never reused


def test_a_new_instance_starts_afresh_and_cleans_stale_files(tmp_path: Path) -> None:
    old = SnapshotRegistry(tmp_path, INSTANCE)
    stale = take(old)
    fresh = SnapshotRegistry(tmp_path, "feedbeef")
    assert fresh.ids() == [] and fresh.allocate() == "s1-feedbeef"
    with pytest.raises(UnknownSnapshotError, match="another chain"):
        fresh.find(stale.id)
    fresh.save()
    fresh.remove_stale()
    assert not old.path(stale.id).exists()


def test_missing_snapshot_files_are_reported(tmp_path: Path) -> None:
    registry = SnapshotRegistry(tmp_path, INSTANCE)
    record = take(registry)
    registry.path(record.id).rmdir()
    with pytest.raises(UnknownSnapshotError, match="files are missing"):
        registry.find(record.id)


def test_copy_links_sst_files_copies_the_rest_and_skips_rocksdb_log_and_lock(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "chain").mkdir(parents=True)
    for name, body in {
        "000010.sst": b"sst",
        "000004.log": b"wal",
        "CURRENT": b"M",
        "LOG": b"info",
        "LOCK": b"",
    }.items():
        (source / "chain" / name).write_bytes(body)
    (source / "chain" / "LOG.old.1").write_bytes(b"old")
    (source / "mempool.journal").write_bytes(b"j" * 10)
    stats = copy_tree(source, tmp_path / "dst")
    copied = sorted(str(p.relative_to(tmp_path / "dst")) for p in (tmp_path / "dst").rglob("*") if p.is_file())
    assert copied == ["chain/000004.log", "chain/000010.sst", "chain/CURRENT", "mempool.journal"]
    assert (stats.files, stats.linked, stats.bytes_copied) == (4, 1, 3 + 1 + 10)
    assert os.stat(tmp_path / "dst/chain/000010.sst").st_ino == os.stat(source / "chain/000010.sst").st_ino
    assert os.stat(tmp_path / "dst/chain/000004.log").st_ino != os.stat(source / "chain/000004.log").st_ino
    (tmp_path / "dst" / "extra").write_text("x")
    replace_tree(source, tmp_path / "dst")
    assert not (tmp_path / "dst" / "extra").exists()
