"""The early fork server of `devnet up` (node.devnet.forkserver.early): which command lines it acts on,
that its paths are the layout's, that it dies with the CLI that started it unless adopted for a
detached devnet, and that `adopt` takes it over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from node.devnet.forkserver import early
from node.devnet.forkserver.client import adopt_fork_server, running_fork_server, stop_fork_server
from node.devnet.forkserver.protocol import AdoptRequest, ProtocolError, parse_request
from node.devnet.layout import FORKSERVER_MODULE, DevnetLayout
from node.devnet.procfs import is_running
from tests.support.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "directory", "detach"),
    [
        (["devnet", "up"], early.DEFAULT_DIR, False),
        (["devnet", "up", "--dir", "x/net", "--detach"], "x/net", True),
        (["devnet", "up", "--dir=x/net", "--executors", "3"], "x/net", False),
        (["devnet", "up", "--detach", "--dir", "a", "--dir", "b"], "b", True),
        (["devnet", "up", "--json", "--base-port", "20000", "--dir", "~/n"], "~/n", False),
    ],
)
def test_read_up_args_takes_the_plain_case(argv: list[str], directory: str, detach: bool) -> None:
    args = early.read_up_args(argv)
    assert args == early.UpArgs(Path(directory).expanduser().resolve(), detach)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["devnet"],
        ["devnet", "down"],
        ["wallet", "up"],
        ["--x", "devnet", "up"],
        ["devnet", "up", "--reset"],
        ["devnet", "up", "--load", "dump.json"],
        ["devnet", "up", "--load=dump.json"],
        ["devnet", "up", "-h"],
        ["devnet", "up", "--help"],
        ["devnet", "up", "--re"],  # argparse would expand these abbreviations: left to `devnet up`
        ["devnet", "up", "--lo", "f"],
        ["devnet", "up", "--di", "x"],
        ["devnet", "up", "--de"],
        ["devnet", "up", "--dir"],  # no value
        ["devnet", "up", "--dir="],
        ["devnet", "up", "--detach=1"],
        ["devnet", "up", "--", "--dir", "x"],
    ],
)
def test_read_up_args_stands_aside(argv: list[str]) -> None:
    assert early.read_up_args(argv) is None


def test_only_a_fresh_directory(tmp_path: Path) -> None:
    assert early.is_fresh(tmp_path / "absent")
    assert early.is_fresh(tmp_path)
    (tmp_path / "devnet.json").write_text("{}")
    assert not early.is_fresh(tmp_path)
    assert not early.is_fresh(tmp_path / "devnet.json")
    assert early.prestart(["devnet", "up", "--dir", str(tmp_path)]) is None  # a resumed chain is left alone
    assert not (tmp_path / "run").exists()


def test_no_prestart_with_the_fork_server_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(early.NO_FORK_ENV, "1")
    assert early.prestart(["devnet", "up", "--dir", str(tmp_path / "net")]) is None
    assert not (tmp_path / "net").exists()


def test_paths_are_the_layouts(tmp_path: Path) -> None:
    layout = DevnetLayout.at(tmp_path / "net")
    spec = layout.forkserver_spec()
    assert early.FORKSERVER_MODULE == FORKSERVER_MODULE == spec.entry_module
    assert spec.config == layout.root / "config" / "forkserver.toml"
    assert spec.log == layout.root / "logs" / "forkserver.log"
    assert layout.run_dir == layout.root / "run"
    assert layout.forkserver_socket.parent == layout.run_dir


def test_adopt_requests_are_checked() -> None:
    assert parse_request(b'{"op": "adopt", "detach": true}\n') == AdoptRequest(True)
    assert parse_request(json.dumps(AdoptRequest(False).to_json()).encode()) == AdoptRequest(False)
    for bad in (b'{"op": "adopt"}', b'{"op": "adopt", "detach": "yes"}', b'{"op": "adopt", "detach": 1}'):
        with pytest.raises(ProtocolError, match="adopt: 'detach'"):
            parse_request(bad)


def _cleanup(layout: DevnetLayout, pid: int | None) -> None:
    stop_fork_server(layout)
    if pid is not None and is_running(pid):
        os.kill(pid, signal.SIGKILL)
    if pid is not None:
        try:
            os.waitpid(pid, 0)  # our child when this process prestarted it
        except ChildProcessError:
            pass


def test_prestart_then_adopt(tmp_path: Path) -> None:
    layout = DevnetLayout.at(tmp_path / "net")
    pid = early.prestart(["devnet", "up", "--dir", str(layout.root), "--detach"])
    try:
        assert pid is not None
        assert early.prestarted_pid(layout.root) == pid
        child = adopt_fork_server(layout, detach=True)
        assert child is not None and child.pid == pid and child.alive()
        assert running_fork_server(layout) == pid
        assert early.prestarted_pid(layout.root) is None  # adopted once
        assert adopt_fork_server(layout, detach=True) is None
        log = layout.forkserver_spec().log
        wait_for(lambda: "adopted by `devnet up` (detached)" in log.read_text(), 30, "the server to log its adoption")
        assert layout.is_ours_to_wipe()  # what `devnet up` checks of a directory that is not a devnet yet
    finally:
        _cleanup(layout, pid)


def test_an_unadopted_server_leaves_an_empty_directory_empty(tmp_path: Path) -> None:
    pid = early.prestart(["devnet", "up", "--dir", str(tmp_path)])
    assert pid is not None and (tmp_path / "run" / early.PRESTART_FILE).exists()
    try:
        wait_for(lambda: running_fork_server(DevnetLayout.at(tmp_path)) == pid, 30, "the fork server to listen")
        os.kill(pid, signal.SIGTERM)  # what the CLI's death sends it
        wait_for(lambda: not any(tmp_path.iterdir()), 30, "the directory to be empty again")
        assert tmp_path.is_dir()  # it was there before
    finally:
        _cleanup(DevnetLayout.at(tmp_path), pid)


def test_adopt_needs_the_prestarting_process(tmp_path: Path) -> None:
    layout = DevnetLayout.at(tmp_path / "net")
    (layout.run_dir).mkdir(parents=True)
    record = layout.run_dir / early.PRESTART_FILE
    record.write_text(json.dumps({"pid": os.getpid(), "parent": os.getppid()}))
    assert adopt_fork_server(layout, detach=False) is None
    record.write_text("not json")
    assert adopt_fork_server(layout, detach=False) is None


# A CLI stand-in: prestart, adopt for a detached devnet or not at all, print the server's pid, exit.
CLI = """
import sys
from pathlib import Path
from node.devnet.forkserver import early
from node.devnet.forkserver.client import adopt_fork_server
from node.devnet.layout import DevnetLayout

directory, how = sys.argv[1], sys.argv[2]
pid = early.prestart(["devnet", "up", "--dir", directory])
if how == "detach":
    assert adopt_fork_server(DevnetLayout.at(directory), detach=True) is not None
print(pid, flush=True)
"""


@pytest.mark.parametrize("how", ["none", "detach"])
def test_the_server_dies_with_its_cli_unless_adopted_detached(tmp_path: Path, how: str) -> None:
    layout = DevnetLayout.at(tmp_path / "net")
    run = subprocess.run(
        [sys.executable, "-c", CLI, str(layout.root), how], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert run.returncode == 0, run.stderr
    pid = int(run.stdout.strip())
    try:
        if how == "none":
            wait_for(lambda: not is_running(pid), 30, "the unadopted fork server to exit with its CLI")
            wait_for(lambda: not layout.root.exists(), 10, "the unadopted server to remove what prestart wrote")
        else:
            wait_for(lambda: running_fork_server(layout) == pid, 30, "the adopted fork server to listen")
            assert is_running(pid)
    finally:
        _cleanup(layout, pid)
