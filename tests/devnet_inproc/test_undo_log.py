"""The devnet undo log in a RocksDB store (node.store.undo through node.store.kv.KVStore).

- a store never marked records nothing (its keys are exactly what was written);
- rewind puts every key back as it was at the mark (puts, overwrites, deletes, over many batches),
  drops the later marks, keeps its own (a second rewind to it works), and writing goes on recorded;
- an older mark rewinds across a newer one; an unknown or unusable mark is UndoError, nothing changed;
- the log survives a close and reopen (a restart), also a mark with no write after it;
- a kill -9 (a child process killed mid-writing) leaves a store whose rewind gives the marked state;
- inside keep_open a close keeps the handle and a new KVStore of the path takes it back (no LOCK clash).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.store.kv import KVStore, keep_open
from node.store.undo import PREFIX, UndoError


def items(store: KVStore) -> dict[bytes, bytes]:
    return dict(store.scan(b"", PREFIX))


def test_a_store_never_marked_records_nothing(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "db")
    store.write({b"a": b"1", b"b": b"2"}, [b"c"])
    assert dict(store.scan(b"", b"\xff" * 40)) == {b"a": b"1", b"b": b"2"}
    assert store.undo_marks() == {}
    store.close()


def test_rewind_puts_every_key_back_and_keeps_the_mark(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "db")
    store.write({b"a": b"1", b"b": b"2", b"d": b"4"})
    store.mark("s1")
    before = items(store)
    for n in range(50):
        store.write({b"a": f"a{n}".encode(), b"n%d" % n: b"x"}, [b"b"] if n % 2 else [])
    store.write({b"b": b"again"}, [b"d"])
    store.mark("s2")
    store.write({b"a": b"late"})
    assert items(store) != before
    assert store.rewind("s1") > 0
    assert items(store) == before
    assert set(store.undo_marks()) == {"s1"}  # s2 came after: dropped
    store.write({b"a": b"after"}, [b"b"])
    store.rewind("s1")
    assert items(store) == before
    store.close()


def test_an_older_mark_rewinds_across_a_newer_one(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "db")
    store.mark("s1")
    at_s1 = items(store)
    store.write({b"k": b"1"})
    store.mark("s2")
    at_s2 = items(store)
    store.write({b"k": b"2", b"j": b"3"})
    store.rewind("s2")
    assert items(store) == at_s2
    store.write({b"k": b"4"})
    store.rewind("s1")
    assert items(store) == at_s1 == {}
    store.close()


@pytest.mark.parametrize("name", ["unknown", "", "x" * 300])
def test_an_unknown_or_unusable_mark_is_refused_and_nothing_changes(tmp_path: Path, name: str) -> None:
    store = KVStore(tmp_path / "db")
    store.mark("s1")
    store.write({b"a": b"1"})
    with pytest.raises(UndoError):
        store.rewind(name)
    assert items(store) == {b"a": b"1"}
    with pytest.raises(UndoError):
        store.mark("y" * 300)
    store.close()


def test_the_log_survives_a_restart(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "db")
    store.write({b"a": b"0"})
    store.mark("s1")  # no write after it before the restart
    store.close()
    store = KVStore(tmp_path / "db")
    store.write({b"a": b"1", b"b": b"1"})
    store.close()
    store = KVStore(tmp_path / "db")
    store.write({b"a": b"2"}, [b"b"])
    store.rewind("s1")
    assert items(store) == {b"a": b"0"}
    store.close()


WRITER = """
import sys
from node.store.kv import KVStore
store = KVStore(sys.argv[1])
store.mark("s1")
print("marked", flush=True)
n = 0
while True:
    store.write({b"k%d" % (n % 97): b"v%d" % n, b"n%d" % n: b"x" * 100}, [b"base%d" % (n % 10)])
    n += 1
"""


def test_a_kill_while_writing_leaves_a_store_that_rewinds_to_the_mark(tmp_path: Path) -> None:
    path = tmp_path / "db"
    store = KVStore(path)
    store.write({b"base%d" % n: b"b" for n in range(10)} | {b"k1": b"orig"})
    before = items(store)
    store.close()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == b"marked"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.wait(30)
    store = KVStore(path)
    assert items(store) != before
    store.rewind("s1")
    assert items(store) == before
    store.close()


def test_keep_open_keeps_the_handle_for_the_next_open_of_the_path(tmp_path: Path) -> None:
    store = KVStore(tmp_path / "db")
    store.mark("s1")
    store.write({b"a": b"1"})
    with keep_open():
        store.close()
        store.rewind("s1")  # the kept handle is still open
        again = KVStore(tmp_path / "db")  # RocksDB's lock would refuse a second open in this process
        again.write({b"b": b"2"})
    assert items(again) == {b"b": b"2"}
    again.rewind("s1")
    assert items(again) == {}
    again.close()
    with keep_open():
        KVStore(tmp_path / "other").close()  # kept, never taken back: closed on exit
    KVStore(tmp_path / "other").close()
