"""A real devnet's processes come from its fork server: a kill -9 and a restart, a revert, the fork
server itself killed (cold starts take over), `devnet down` stopping it, and a foreground devnet's
crash report with the exit status the fork server recorded."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.devnet.forkserver.client import running_fork_server
from node.devnet.layout import DevnetLayout
from node.devnet.pidfile import read_record
from node.devnet.procfs import cmdline, is_our_process, is_running
from tests.processes.test_devnet_cli import (
    cli,
    cli_json,
    free_base_port,
    start_foreground,
    teardown_devnet,
    wait_for,
    wait_running,
)


def processes(directory: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads((directory / "devnet.json").read_text())
    return {proc["name"]: proc for proc in doc["processes"]}


def is_fork(proc: dict[str, Any], server: int) -> bool:
    record = read_record(proc["config"])
    return (
        record is not None
        and record.pid == proc["pid"]
        and is_our_process(proc["pid"], proc["config"])
        and proc["config"] not in " ".join(cmdline(proc["pid"]))
        and int(Path(f"/proc/{proc['pid']}/stat").read_text().rpartition(")")[2].split()[1]) == server
    )


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("forked") / "net"
    try:
        cli("devnet", "up", "--detach", "--executors", "1", "--dir", str(directory), "--base-port",
            str(free_base_port(1)), timeout=180)  # fmt: skip
        yield directory
    finally:
        teardown_devnet(directory)
        server = running_fork_server(DevnetLayout.at(directory))
        if server is not None:
            os.kill(server, signal.SIGKILL)


@pytest.mark.slow
def test_every_process_is_forked_and_survives_kill_restart_and_revert(devnet: Path) -> None:
    net = ("--dir", str(devnet))
    server = running_fork_server(DevnetLayout.at(devnet))
    assert server is not None
    assert all(is_fork(proc, server) for proc in processes(devnet).values()), processes(devnet)
    snapshot = cli("devnet", "snapshot", *net).stdout.strip()
    before = processes(devnet)["executor-0"]
    assert cli_json("devnet", "kill", "executor-0", *net)["result"] == "killed"
    wait_for(lambda: read_record(before["config"]) is not None and read_record(before["config"]).exit == -9, 30,
             "the fork server to record the SIGKILL")  # fmt: skip
    assert not is_our_process(before["pid"], before["config"])
    cli_json("devnet", "restart", "executor-0", *net, timeout=120)
    after = processes(devnet)["executor-0"]
    assert after["pid"] != before["pid"] and is_fork(after, server)
    assert "rollup devnet restart: starting executor-0" in Path(after["log"]).read_text()
    cli_json("devnet", "revert", snapshot, *net, timeout=180)
    assert all(is_fork(proc, server) for proc in processes(devnet).values())
    assert cli_json("devnet", "status", *net)["down"] == []


@pytest.mark.slow
def test_without_its_fork_server_a_devnet_restarts_roles_cold_and_down_stops_all(devnet: Path) -> None:
    net = ("--dir", str(devnet))
    layout = DevnetLayout.at(devnet)
    server = running_fork_server(layout)
    assert server is not None
    os.kill(server, signal.SIGKILL)
    wait_for(lambda: not is_running(server), 30, "the fork server to die")
    assert cli_json("devnet", "status", *net)["down"] == []  # its children live on
    cli("devnet", "kill", "challenger", *net)
    cli_json("devnet", "restart", "challenger", *net, timeout=120)
    challenger = processes(devnet)["challenger"]
    assert challenger["config"] in " ".join(cmdline(challenger["pid"]))  # a cold `python -m` start
    assert cli_json("devnet", "status", *net)["down"] == []
    pids = [(proc["pid"], proc["config"]) for proc in processes(devnet).values()]
    cli("devnet", "down", *net)
    assert not any(is_our_process(pid, config) for pid, config in pids)
    assert running_fork_server(layout) is None


@pytest.mark.slow
def test_a_foreground_crash_reports_the_exit_status_of_the_forked_process(tmp_path: Path) -> None:
    directory = tmp_path / "fg"
    up = start_foreground(directory, free_base_port(1))
    try:
        doc = wait_running(directory, up)
        server = running_fork_server(DevnetLayout.at(directory))
        assert server is not None
        executor = next(p for p in doc["processes"] if p["name"] == "executor-0")
        os.kill(executor["pid"], signal.SIGKILL)
        _, err = up.communicate(timeout=120)
        assert up.returncode == 1
        assert f"executor-0 (pid {executor['pid']}) exited unexpectedly with code -9" in err
        wait_for(lambda: not is_running(server), 30, "the fork server to stop with the devnet")
        assert not any(is_our_process(p["pid"], p["config"]) for p in doc["processes"])
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        teardown_devnet(directory)
