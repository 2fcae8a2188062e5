"""The fork server (node.devnet.forkserver): a forked process looks like a cold start, is recognised by
its pid record (never a reused pid), its exit status is recorded, and bad requests leave it serving."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.devnet.children import Child, start_child
from node.devnet.forkserver import server
from node.devnet.forkserver.client import (
    fork_child,
    running_fork_server,
    start_fork_server,
    start_process,
    stop_fork_server,
)
from node.devnet.forkserver.protocol import MAX_LINE, read_line
from node.devnet.layout import DevnetLayout, ProcessSpec
from node.devnet.pidfile import PidRecord, read_record, write_record
from node.devnet.procfs import is_our_process, is_running, start_time
from tests.support.processes import wait_for

FORKEE = "tests.devnet.forkee"
SAME_AS_COLD = ("fds", "stdin", "sigterm", "sigint_default", "sigchld", "wakeup_fd", "name", "threads")


@pytest.fixture
def layout(tmp_path: Path) -> Iterator[DevnetLayout]:
    layout = DevnetLayout.at(tmp_path / "net")
    layout.root.mkdir()
    start_fork_server(layout, detach=True, why="test")
    assert running_fork_server(layout) is not None
    yield layout
    stop_fork_server(layout)
    for config in layout.config_dir.glob("*.toml"):
        record = read_record(config)
        if record is not None and is_our_process(record.pid, str(config)):
            os.kill(record.pid, signal.SIGKILL)


def forkee(layout: DevnetLayout, name: str, behaviour: str) -> ProcessSpec:
    spec = layout.spec(name, "test", 0, FORKEE)
    spec.config.parent.mkdir(parents=True, exist_ok=True)
    spec.config.write_text(behaviour + "\n")
    return spec


def report(spec: ProcessSpec) -> dict[str, Any]:
    path = Path(str(spec.config) + ".json")
    wait_for(path.exists, 60, f"{spec.name} to describe itself")
    return dict(json.loads(path.read_text()))


def ask(layout: DevnetLayout, raw: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(30)
        conn.connect(str(layout.forkserver_socket))
        conn.sendall(raw)
        data = read_line(conn, "the fork server's reply")
    return dict(json.loads(data))


def spawn_line(**changes: Any) -> bytes:
    doc = {"op": "spawn", "name": "x", "module": "m", "config": "c", "log": "l", "why": "w", "detach": True}
    return json.dumps({**doc, **changes}).encode() + b"\n"


def kill(child: Child) -> None:
    if is_running(child.pid):
        os.kill(child.pid, signal.SIGKILL)


def test_a_forked_process_is_set_up_like_a_cold_start(layout: DevnetLayout) -> None:
    forked_spec, cold_spec = forkee(layout, "forked", "sleep"), forkee(layout, "cold", "sleep")
    forked = fork_child(forked_spec, detach=True, why="test fork")
    assert forked is not None and forked.popen is None
    cold = start_child(cold_spec, detach=True, why="test cold")
    try:
        seen, expected = report(forked_spec), report(cold_spec)
        assert {key: seen[key] for key in SAME_AS_COLD} == {key: expected[key] for key in SAME_AS_COLD}
        assert seen["argv"] == ["--config", str(forked_spec.config)] and seen["name"] == "__main__"
        assert seen["stdin"] == "/dev/null" and seen["stdout"] == seen["stderr"] == str(forked_spec.log)
        assert seen["sid"] == seen["pgid"] == seen["pid"] == forked.pid  # its own session, as detached
        assert seen["ppid"] == running_fork_server(layout)
        assert seen["random"] != expected["random"]
        log = forked_spec.log.read_text()
        assert "test fork: starting forked ===" in log and f"forkee {forked.pid} on stderr" in log
        # recognised as that config's process by its record, not its command line
        assert str(forked_spec.config) not in Path(f"/proc/{forked.pid}/cmdline").read_text()
        assert forked.alive() and is_our_process(forked.pid, str(forked_spec.config))
        assert not is_our_process(forked.pid, str(cold_spec.config))
    finally:
        kill(forked)
        kill(cold)


def test_two_forks_do_not_share_random_state(layout: DevnetLayout) -> None:
    specs = [forkee(layout, f"twin-{i}", "sleep") for i in range(2)]
    children = [fork_child(spec, detach=True, why="test") for spec in specs]
    try:
        assert report(specs[0])["random"] != report(specs[1])["random"]
    finally:
        for child in children:
            if child is not None:
                kill(child)


def test_exit_status_is_recorded_and_a_dead_fork_is_not_ours(layout: DevnetLayout) -> None:
    exits = fork_child(forkee(layout, "exits", "exit 3"), detach=True, why="test")
    sleeper_spec = forkee(layout, "sleeper", "sleep")
    sleeper = fork_child(sleeper_spec, detach=True, why="test")
    assert exits is not None and sleeper is not None
    wait_for(lambda: exits.exit_code() == 3, 60, "the exit status 3 recorded")
    assert not exits.alive()
    report(sleeper_spec)
    os.kill(sleeper.pid, signal.SIGKILL)
    wait_for(lambda: sleeper.exit_code() == -signal.SIGKILL, 30, "the SIGKILL recorded")
    assert not is_our_process(sleeper.pid, str(sleeper_spec.config))


def test_a_reused_pid_is_not_taken_for_a_fork(tmp_path: Path) -> None:
    config = tmp_path / "config" / "l1.toml"
    me = os.getpid()
    write_record(config, PidRecord(me, (start_time(me) or 0) + 1, "l1.chain"))  # same pid, another start
    assert not is_our_process(me, str(config))
    write_record(config, PidRecord(me, start_time(me) or 0, "l1.chain"))
    assert is_our_process(me, str(config))
    (tmp_path / "run" / "l1.pid").write_text("{not json")
    assert not is_our_process(me, str(config)) and read_record(config) is None


def test_a_foreground_fork_dies_with_its_server(layout: DevnetLayout) -> None:
    spec = forkee(layout, "fg", "sleep")
    child = fork_child(spec, detach=False, why="test")
    assert child is not None
    seen = report(spec)
    assert seen["pgid"] == child.pid and seen["sid"] != child.pid  # its own group, the server's session
    server = running_fork_server(layout)
    assert server is not None
    os.kill(server, signal.SIGKILL)  # as when `devnet up` in the foreground dies: parent-death signal
    wait_for(lambda: not is_running(child.pid), 30, "the foreground fork to get SIGTERM")


@pytest.mark.parametrize(
    "raw, error",
    [
        (b"not json\n", "not JSON"),
        (b"[1, 2]\n", "JSON object"),
        (b'{"op": "exec"}\n', "unknown op"),
        (spawn_line(module="../etc"), "dotted module name"),
        (spawn_line(detach="yes"), "'detach' must be"),
        (spawn_line(name=""), "'name' must be"),
        (spawn_line(config=None), "'config' must be"),
        (b"x" * (MAX_LINE + 10), "longer than"),
    ],
)
def test_malformed_requests_are_refused_and_the_server_keeps_serving(
    layout: DevnetLayout, raw: bytes, error: str
) -> None:
    reply = ask(layout, raw)
    assert reply["ok"] is False and error in reply["error"]
    pong = ask(layout, b'{"op": "ping"}\n')
    assert pong["ok"] is True and pong["pid"] == running_fork_server(layout)


def test_without_a_server_a_process_starts_cold(tmp_path: Path) -> None:
    layout = DevnetLayout.at(tmp_path / "net")
    spec = forkee(layout, "cold", "exit 0")
    assert fork_child(spec, detach=True, why="test") is None
    child = start_process(spec, detach=True, why="test")
    assert child.popen is not None and child.popen.wait(timeout=60) == 0


def test_the_server_stops_on_sigterm_and_when_its_directory_goes(layout: DevnetLayout, tmp_path: Path) -> None:
    assert stop_fork_server(layout) and running_fork_server(layout) is None
    assert not layout.forkserver_socket.exists()
    other = DevnetLayout.at(tmp_path / "other")
    other.root.mkdir()
    start_fork_server(other, detach=True, why="test")
    pid = running_fork_server(other)
    assert pid is not None
    for path in sorted(other.root.rglob("*"), reverse=True):
        path.unlink() if not path.is_dir() else path.rmdir()
    other.root.rmdir()
    deadline = time.monotonic() + 30
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_running(pid)


def test_the_preloader_names_each_module_once_and_drains(monkeypatch: pytest.MonkeyPatch) -> None:
    imported: list[str] = []
    monkeypatch.setattr(server.importlib, "import_module", imported.append)
    preloader = server.Preloader()
    unique = list(dict.fromkeys(name for names in server.PRELOAD.values() for name in names))
    assert preloader.pending == unique  # the p2p runtime, needed by several roles, once
    preloader.load_for("sequencer")  # a spawn before the idle preload got there
    for _ in range(len(unique)):
        preloader.load_next()
    assert preloader.pending == [] and sorted(imported) == sorted(unique) and len(imported) == len(set(imported))


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_idle_server_sleeps_once_everything_is_preloaded(layout: DevnetLayout) -> None:
    # a module left pending made the loop select() with no timeout: a full core, for as long as the devnet ran
    unique = {name for names in server.PRELOAD.values() for name in names}
    pid = running_fork_server(layout)
    assert pid is not None
    wait_for(lambda: unique <= set(ask(layout, b'{"op": "ping"}\n')["loaded"]), 120, "every module preloaded")
    before, began = _cpu_seconds(pid), time.monotonic()
    time.sleep(2.0)
    used = _cpu_seconds(pid) - before
    assert used < 0.25 * (time.monotonic() - began), f"the idle fork server used {used:.2f} CPU-s in 2 s"
