"""node.devnet.inproc.paths: a control call may only name this process's own copy inside the devnet's snapshots dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.devnet.inproc.paths import resolve_snapshot_dir
from node.rpc.errors import ControlRefused, InvalidParams


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "net"
    (root / "data" / "sequencer").mkdir(parents=True)
    (root / "snapshots" / "s1-0000abcd" / "sequencer").mkdir(parents=True)
    return root / "data" / "sequencer"


def test_the_own_copy_inside_the_snapshots_dir_is_accepted(data_dir: Path) -> None:
    copy = data_dir.parent.parent / "snapshots" / "s1-0000abcd" / "sequencer"
    assert resolve_snapshot_dir(str(copy), data_dir, must_exist=True) == copy
    fresh = copy.parent.parent / ".s2-0000abcd.tmp" / "sequencer"
    fresh.parent.mkdir()
    assert resolve_snapshot_dir(str(fresh), data_dir, must_exist=False) == fresh


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "non-empty path string"),
        (5, "non-empty path string"),
        ("", "non-empty path string"),
        ("snapshots/s1-0000abcd/sequencer", "absolute"),
        ("{root}/snapshots/s1-0000abcd/../../data/sequencer", r"'\.\.'"),
        ("{root}/snapshots/s1-0000abcd/../s1-0000abcd/sequencer", r"'\.\.'"),
        ("/etc/sequencer", "inside this devnet's snapshots directory"),
        ("{root}/data/sequencer", "inside this devnet's snapshots directory"),
        ("{root}/snapshots/sequencer", "inside this devnet's snapshots directory"),
        ("{root}/snapshots/s1-0000abcd/executor-0", "own copy"),
        ("{root}/snapshots/s1-0000abcd/sequencer\x00", "NUL"),
        ("{root}/snapshots/s9-0000abcd/sequencer", "no such directory"),
    ],
)
def test_anything_else_is_invalid_params(data_dir: Path, value: object, why: str) -> None:
    root = data_dir.parent.parent
    if isinstance(value, str):
        value = value.replace("{root}", str(root))
    with pytest.raises(InvalidParams, match=why):
        resolve_snapshot_dir(value, data_dir, must_exist=True)


def test_a_symbolic_link_anywhere_below_the_snapshots_dir_is_refused(data_dir: Path, tmp_path: Path) -> None:
    root = data_dir.parent.parent
    outside = tmp_path / "elsewhere" / "sequencer"
    outside.mkdir(parents=True)
    os.symlink(outside.parent, root / "snapshots" / "s7-0000abcd")
    with pytest.raises(InvalidParams, match="symbolic link"):
        resolve_snapshot_dir(str(root / "snapshots" / "s7-0000abcd" / "sequencer"), data_dir, must_exist=True)
    os.symlink(outside, root / "snapshots" / "s1-0000abcd" / "linked")
    (root / "snapshots" / "s8-0000abcd").mkdir()
    os.symlink(outside, root / "snapshots" / "s8-0000abcd" / "sequencer")
    with pytest.raises(InvalidParams, match="symbolic link"):
        resolve_snapshot_dir(str(root / "snapshots" / "s8-0000abcd" / "sequencer"), data_dir, must_exist=True)


def test_a_snapshot_target_must_be_new_with_an_existing_parent(data_dir: Path) -> None:
    area = data_dir.parent.parent / "snapshots"
    with pytest.raises(InvalidParams, match="already exists"):
        resolve_snapshot_dir(str(area / "s1-0000abcd" / "sequencer"), data_dir, must_exist=False)
    with pytest.raises(InvalidParams, match="parent directory does not exist"):
        resolve_snapshot_dir(str(area / "s5-0000abcd" / "sequencer"), data_dir, must_exist=False)


def test_a_process_outside_a_devnet_layout_refuses(tmp_path: Path) -> None:
    with pytest.raises(ControlRefused, match="not a devnet data dir"):
        resolve_snapshot_dir(str(tmp_path / "snapshots" / "x" / "db"), tmp_path / "db", must_exist=True)
