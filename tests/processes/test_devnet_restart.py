"""`rollup devnet kill|restart ROLE`, `devnet status`'s down roles, and `devnet up` on a partly running devnet.

Real processes through the real CLI, as in tests/processes/test_devnet_cli.py: one detached devnet shared by
the module (brought down in the fixture's teardown, leftover pids killed), and a foreground one
for the supervisor refusal.
"""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.devnet.errors import UnknownRoleError
from node.devnet.procfs import is_our_process
from node.devnet.roles import find_process
from node.rpc.client import SyncRpcClient
from tests.processes.test_devnet_cli import (
    cli,
    cli_json,
    free_base_port,
    recorded_pids,
    start_foreground,
    teardown_devnet,
    wait_running,
)

RECIPIENT = "0x00000000000000000000000000000000000a11ce"


def doc_with(names: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "processes": [
            {
                "name": name,
                "role": role,
                "pid": None,
                "port": 1,
                "config": f"/x/{name}.toml",
                "log": f"/x/{name}.log",
                "data_dir": f"/x/{name}",
            }
            for name, role in names
        ]
    }


def test_find_process_by_name_or_by_a_role_with_one_process() -> None:
    doc = doc_with([("l1", "l1"), ("sequencer", "sequencer"), ("executor-0", "executor"), ("executor-1", "executor")])
    assert find_process(doc, "executor-1")[0].name == "executor-1"
    assert find_process(doc, "sequencer")[0].name == "sequencer"
    with pytest.raises(UnknownRoleError, match=r"there are 2: name one.*l1, sequencer, executor-0, executor-1"):
        find_process(doc, "executor")
    with pytest.raises(UnknownRoleError, match="no devnet process 'settler'"):
        find_process(doc, "settler")
    single = doc_with([("l1", "l1"), ("executor-0", "executor")])
    assert find_process(single, "executor")[0].name == "executor-0"


def test_kill_takes_kill_or_term_only(tmp_path: Path) -> None:
    result = cli("devnet", "kill", "sequencer", "--signal", "HUP", "--dir", str(tmp_path), check=False, timeout=30)
    assert result.returncode == 2 and "invalid choice: 'HUP'" in result.stderr


def test_kill_and_restart_without_a_devnet(tmp_path: Path) -> None:
    for argv in (["kill", "sequencer"], ["restart", "sequencer"]):
        result = cli("devnet", *argv, "--dir", str(tmp_path / "none"), check=False, timeout=30)
        assert result.returncode == 1 and "no devnet at" in result.stderr


# ================================================================ slow: a detached devnet


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("restart") / "net"
    try:
        state = cli_json(
            "devnet",
            "up",
            "--dir",
            str(directory),
            "--detach",
            "--executors",
            "2",
            "--base-port",
            str(free_base_port(2)),
            timeout=90,
        )
        state["_dir"] = str(directory)
        yield state
    finally:
        teardown_devnet(directory)


def net(devnet: dict[str, Any]) -> list[str]:
    return ["--dir", devnet["_dir"]]


def pids(devnet: dict[str, Any]) -> dict[str, int]:
    doc = json.loads((Path(devnet["_dir"]) / "devnet.json").read_text())
    return {p["name"]: p["pid"] for p in doc["processes"]}


def process(devnet: dict[str, Any], name: str) -> dict[str, Any]:
    doc = json.loads((Path(devnet["_dir"]) / "devnet.json").read_text())
    return next(p for p in doc["processes"] if p["name"] == name)


def send_safe(devnet: dict[str, Any], amount: int) -> dict[str, Any]:
    sent: dict[str, Any] = cli_json(
        "send", "--to", RECIPIENT, "--amount", str(amount), "--key", "dev1", "--wait", "safe", *net(devnet), timeout=90
    )
    assert all(r["status"] == 1 for r in sent["receipts"].values())
    return sent


@pytest.mark.slow
def test_kill_shows_down_and_restart_brings_the_sequencer_back_in_place(devnet: dict[str, Any]) -> None:
    block1 = SyncRpcClient(devnet["sequencer"]["rpc"]).call("rollup_getBlockByNumber", 1, False)["hash"]
    before = process(devnet, "sequencer")
    log_before = Path(before["log"]).read_text()

    killed = cli_json("devnet", "kill", "sequencer", *net(devnet))
    assert killed == {"name": "sequencer", "pid": before["pid"], "signal": "SIGKILL", "result": "killed"}
    assert not is_our_process(before["pid"], before["config"])
    status = cli_json("devnet", "status", *net(devnet))
    assert status["down"] == ["sequencer"] and status["all_alive"] is False
    assert "down: sequencer" in cli("devnet", "status", *net(devnet)).stdout
    again = cli_json("devnet", "kill", "sequencer", *net(devnet))
    assert again["result"] == "not running"

    restarted = cli_json("devnet", "restart", "sequencer", *net(devnet), timeout=90)
    assert restarted["previous_pid"] == before["pid"] and restarted["was_running"] is False
    after = process(devnet, "sequencer")
    assert after["pid"] == restarted["pid"] != before["pid"] and after["port"] == before["port"]
    assert is_our_process(after["pid"], after["config"])
    log_after = Path(after["log"]).read_text()
    assert log_after.startswith(log_before) and "rollup devnet restart: starting sequencer" in log_after
    assert cli_json("devnet", "status", *net(devnet))["down"] == []
    # the same chain (its data kept), and it still makes progress to safe on every executor
    assert SyncRpcClient(devnet["sequencer"]["rpc"]).call("rollup_getBlockByNumber", 1, False)["hash"] == block1
    send_safe(devnet, 11)


@pytest.mark.slow
def test_restart_of_a_running_role_stops_it_first(devnet: dict[str, Any]) -> None:
    before = process(devnet, "executor-1")
    restarted = cli_json("devnet", "restart", "executor-1", *net(devnet), timeout=90)
    assert restarted["was_running"] is True and restarted["previous_pid"] == before["pid"]
    assert not is_our_process(before["pid"], before["config"])
    assert is_our_process(restarted["pid"], before["config"])


@pytest.mark.slow
def test_up_on_a_partly_running_devnet_restarts_only_the_dead(devnet: dict[str, Any]) -> None:
    cli_json("devnet", "kill", "settler", "--signal", "TERM", *net(devnet))
    cli_json("devnet", "kill", "executor-0", *net(devnet))
    running = {name: pid for name, pid in pids(devnet).items() if name not in ("settler", "executor-0")}

    flags = cli("devnet", "up", *net(devnet), "--executors", "3", check=False, timeout=30)
    assert flags.returncode == 1 and "settings cannot change while it runs" in flags.stderr
    assert "down: settler, executor-0" in flags.stderr
    reset = cli("devnet", "up", *net(devnet), "--reset", check=False, timeout=30)
    assert reset.returncode == 1 and "to --reset it" in reset.stderr and "devnet down" in reset.stderr

    up = cli("devnet", "up", *net(devnet), timeout=120)  # no --detach: it still returns
    assert "restarting only settler, executor-0" in up.stderr
    assert "Endpoints" in up.stdout
    now = pids(devnet)
    assert {name: now[name] for name in running} == running  # the live ones untouched
    assert cli_json("devnet", "status", *net(devnet))["down"] == []
    send_safe(devnet, 12)

    whole = cli("devnet", "up", *net(devnet), "--detach", check=False, timeout=30)
    assert whole.returncode == 1 and "still running" in whole.stderr


@pytest.mark.slow
def test_restart_failures_are_clear_and_leave_the_role_down(devnet: dict[str, Any]) -> None:
    challenger = process(devnet, "challenger")
    cli_json("devnet", "kill", "challenger", *net(devnet))
    # its port taken by a stranger: refused before anything starts
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", challenger["port"]))
        sock.listen()
        taken = cli("devnet", "restart", "challenger", *net(devnet), check=False, timeout=30)
    assert taken.returncode == 1 and f"{challenger['port']} (challenger)" in taken.stderr
    assert process(devnet, "challenger")["pid"] == challenger["pid"]
    # a config the process refuses: it exits, the error says so with its log tail
    config = Path(challenger["config"])
    good = config.read_text()
    try:
        config.write_text(good.replace("[node]", '[node]\nrpc_port = "not a port"', 1))
        broken = cli("devnet", "restart", "challenger", *net(devnet), "--timeout", "30", check=False, timeout=60)
    finally:
        config.write_text(good)
    assert broken.returncode == 1
    assert (
        "challenger did not become healthy after its restart" in broken.stderr and "exited with code" in broken.stderr
    )
    assert "--- last 40 lines of" in broken.stderr
    assert cli_json("devnet", "status", *net(devnet))["down"] == ["challenger"]
    cli_json("devnet", "restart", "challenger", *net(devnet), timeout=90)
    assert cli_json("devnet", "status", *net(devnet))["down"] == []


# ================================================================ slow: a foreground devnet


@pytest.mark.slow
def test_kill_and_restart_refuse_a_foreground_devnet(tmp_path: Path) -> None:
    directory = tmp_path / "fg"
    up = start_foreground(directory, free_base_port(1))
    try:
        wait_running(directory, up)
        for argv in (["kill", "executor-0"], ["restart", "executor-0"]):
            result = cli("devnet", *argv, "--dir", str(directory), check=False, timeout=30)
            assert result.returncode == 1 and "foreground `rollup devnet up`" in result.stderr
            assert "--detach" in result.stderr
        assert all(is_our_process(pid, config) for pid, config in recorded_pids(directory))
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=60)
        assert up.returncode == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        teardown_devnet(directory)
