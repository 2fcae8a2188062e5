"""node.devnet.inproc.swap: the data dir is exchanged for a snapshot's copy in one step; a kill at any moment
leaves one whole data dir (the old or the new), and the snapshot copy is never changed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.devnet.inproc.swap import SwapError, discard, exchange, leftovers, stage, swap_in

FILES = ("000007.sst", "000008.sst", "MANIFEST-000005", "CURRENT", "clock.json")


def write_dir(path: Path, tag: str) -> None:
    path.mkdir(parents=True)
    for name in FILES:
        (path / name).write_text(f"{tag}:{name}")


def tag_of(path: Path) -> str:
    """The one tag every file of `path` carries; fails when the dir is partial or mixed."""
    assert sorted(os.listdir(path)) == sorted(FILES), os.listdir(path)
    tags = {(path / name).read_text().split(":")[0] for name in FILES}
    assert len(tags) == 1, tags
    return tags.pop()


def test_swap_in_makes_the_copy_the_data_dir_and_keeps_the_snapshot(tmp_path: Path) -> None:
    data = tmp_path / "data" / "sequencer"
    snapshot = tmp_path / "snapshots" / "s1-00000000" / "sequencer"
    write_dir(data, "live")
    write_dir(snapshot, "snap")
    incoming = stage(snapshot, data)
    assert incoming.parent == data.parent and tag_of(incoming) == "snap"
    assert os.stat(incoming / "000007.sst").st_ino == os.stat(snapshot / "000007.sst").st_ino  # hard-linked
    assert os.stat(incoming / "CURRENT").st_ino != os.stat(snapshot / "CURRENT").st_ino  # copied
    aside = swap_in(incoming, data)
    assert tag_of(data) == "snap" and tag_of(aside) == "live" and not incoming.exists()
    (data / "CURRENT").write_text("snap:changed after the revert")
    (data / "000007.sst").unlink()  # RocksDB deletes SSTs, never rewrites them
    assert tag_of(snapshot) == "snap"  # reusable for the next revert
    discard([aside]).join(10)
    assert not aside.exists() and leftovers(data) == []


def test_stage_removes_what_an_earlier_revert_left(tmp_path: Path) -> None:
    data = tmp_path / "data" / "executor-0"
    write_dir(data, "live")
    write_dir(tmp_path / "snap" / "executor-0", "snap")
    stale = data.with_name(".executor-0.old-in-deadbeef")
    stale.mkdir()
    incoming = stage(tmp_path / "snap" / "executor-0", data)
    assert leftovers(data) == [incoming]


def test_exchange_refuses_a_missing_dir_and_changes_nothing(tmp_path: Path) -> None:
    write_dir(tmp_path / "a", "a")
    with pytest.raises(SwapError, match="cannot exchange"):
        exchange(tmp_path / "a", tmp_path / "missing")
    assert tag_of(tmp_path / "a") == "a"


LOOP = """
import sys
from pathlib import Path
from node.devnet.inproc.swap import discard, stage, swap_in
data, first, second = (Path(arg) for arg in sys.argv[1:4])
print("ready", flush=True)
while True:
    for source in (first, second):
        discard([swap_in(stage(source, data), data)])
"""


def test_a_kill_at_any_moment_leaves_one_whole_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data" / "l1"
    write_dir(data, "start")
    write_dir(tmp_path / "s1" / "l1", "one")
    write_dir(tmp_path / "s2" / "l1", "two")
    seen = set()
    rng = random.Random(7)
    for _ in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", LOOP, str(data), str(tmp_path / "s1" / "l1"), str(tmp_path / "s2" / "l1")],
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0.005, 0.08))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        seen.add(tag_of(data))  # whole, and one of the three
        for path in leftovers(data):  # what a restart's next revert (or the restart path) cleans
            assert path.name.startswith(".l1.old-")
    assert seen <= {"start", "one", "two"} and seen & {"one", "two"}
    assert tag_of(tmp_path / "s1" / "l1") == "one" and tag_of(tmp_path / "s2" / "l1") == "two"
