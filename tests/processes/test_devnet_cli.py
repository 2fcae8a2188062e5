"""`rollup devnet up|down|status` and the wallet commands against real multi-process devnets.

The fast tests check the generated configs against the real config loaders,
the port check and the /proc helpers. The slow ones run the real CLI as
subprocesses: one detached devnet (sequencer censoring dev5) shared by the
module, and a foreground one for supervision (crash, Ctrl-C, resume).
Every devnet is brought down in a fixture teardown, and leftover pids killed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.crypto import to_checksum_address
from node.devnet.configs import write_configs
from node.devnet.errors import PortInUseError
from node.devnet.layout import DevnetLayout
from node.devnet.params import DevnetSettings, insurance_fund_address
from node.devnet.ports import check_ports_free, port_is_free, random_free_base_port
from node.devnet.procfs import cpu_seconds, is_our_process, is_running
from node.devnet.toml import dumps
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient

UINT256_MAX = 2**256 - 1
ROLLUP = (
    [str(Path(sys.executable).parent / "rollup")]
    if (Path(sys.executable).parent / "rollup").exists()
    else [sys.executable, "-m", "node.cli.main"]
)
CENSORED = "dev5"
SEQUENCING_WINDOW = 20


def cli(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*ROLLUP, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(
            f"rollup {' '.join(args)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def cli_json(*args: str, timeout: float = 120) -> Any:
    return json.loads(cli(*args, "--json", timeout=timeout).stdout)


def free_base_port(executors: int) -> int:
    return random_free_base_port(executors)


def teardown_devnet(directory: Path) -> None:
    """`devnet down`, then SIGKILL whatever recorded process is somehow still ours."""
    state_file = directory / "devnet.json"
    if not state_file.exists():
        return
    subprocess.run([*ROLLUP, "devnet", "down", "--dir", str(directory)], capture_output=True, timeout=120)
    doc = json.loads(state_file.read_text())
    control = doc.get("control")
    for proc in [*doc.get("processes", []), *([control] if isinstance(control, dict) else [])]:
        pid = proc.get("pid")
        if isinstance(pid, int) and is_our_process(pid, proc["config"]):
            os.kill(pid, signal.SIGKILL)


def recorded_pids(directory: Path) -> list[tuple[int, str]]:
    doc = json.loads((directory / "devnet.json").read_text())
    return [(p["pid"], p["config"]) for p in doc["processes"] if isinstance(p.get("pid"), int)]


def wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ================================================================ fast: no processes


def test_generated_configs_load_with_the_real_loaders(tmp_path: Path) -> None:
    from l1.chain.config import load_l1_config
    from l1.settler.config import load_settler_config
    from node.executor.process import load_executor_config
    from sequencer.config import load_sequencer_config

    layout = DevnetLayout.at(tmp_path / "net")
    settings = DevnetSettings(
        base_port=30000, executors=3, block_time_ms=100, censor=(to_checksum_address(dev_account(5).address),)
    )
    specs = layout.processes(settings)
    write_configs(specs, settings)
    by_name = {spec.name: spec for spec in specs}
    assert [spec.name for spec in specs] == [
        "l1",
        "sequencer",
        "settler",
        "executor-0",
        "executor-1",
        "executor-2",
        "challenger",
    ]
    assert [spec.port for spec in specs] == [30000, 31000, 31100, 31200, 31201, 31202, 31150]

    l1 = load_l1_config(by_name["l1"].config)
    assert l1.params.chain_id == 900 and l1.block_time_ms == 1000 and l1.params.challenge_window == 30
    assert l1.params.batcher == dev_account(8).address
    assert dict(l1.genesis) == {dev_account(i).address: 10**22 for i in range(10)}
    assert l1.rpc_port == 30000 and l1.data_dir.is_absolute()

    seq = load_sequencer_config(by_name["sequencer"].config)
    assert seq.rollup.chain_id == 901 and seq.rollup.l1_chain_id == 900
    assert seq.rollup.rules.sequencing_window == 20
    assert seq.rollup.fee_recipient == dev_account(7).address
    assert dict(seq.rollup.genesis_alloc) == {
        **{dev_account(i).address: 10**22 for i in range(7)},
        insurance_fund_address(): 10**21,
    }  # the venue's insurance fund
    assert seq.rollup.venue_genesis  # the [venue] section: markets, oracle, insurance fund
    assert seq.sequencer.block_time_ms == 100
    assert seq.sequencer.censor == frozenset({dev_account(5).address})
    assert seq.sequencer.l1_rpc == "http://127.0.0.1:30000/"

    settler = load_settler_config(by_name["settler"].config)
    assert settler.settler.batcher_key.address == dev_account(8).address
    assert settler.settler.proposer_key.address == dev_account(9).address
    assert settler.settler.output_interval == 10
    assert settler.rollup == seq.rollup

    for i in range(3):
        executor = load_executor_config(by_name[f"executor-{i}"].config)
        assert executor.rollup == seq.rollup
        assert executor.node.rpc_port == 31200 + i
        assert executor.sequencer_rpc == "http://127.0.0.1:31000/"
        assert executor.node.data_dir == layout.root / "data" / f"executor-{i}"


def test_toml_writer_round_trips() -> None:
    doc = {
        "a": {
            "s": 'quote " backslash \\ newline \n tab \t é',
            "n": 2**63 - 1,
            "b": True,
            "l": ["x", "y"],
            "sub": {"0xAbC": "1", "k-1": 3},
        }
    }
    assert tomllib.loads(dumps(doc)) == doc


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="--executors"):
        DevnetSettings(executors=0)
    with pytest.raises(ValueError, match="--base-port"):
        DevnetSettings(base_port=65000)
    with pytest.raises(ValueError, match="--block-time-ms"):
        DevnetSettings(block_time_ms=5)


def test_port_check_names_the_taken_port(tmp_path: Path) -> None:
    base = free_base_port(1)
    specs = DevnetLayout.at(tmp_path).processes(DevnetSettings(base_port=base, executors=1))
    check_ports_free(specs)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: a TIME_WAIT port is free
        sock.bind(("127.0.0.1", base + 1000))
        sock.listen()
        assert not port_is_free(base + 1000)
        with pytest.raises(PortInUseError, match=rf"{base + 1000} \(sequencer\)"):
            check_ports_free(specs)


def test_procfs_liveness_and_ownership(tmp_path: Path) -> None:
    assert is_running(os.getpid())
    marker = str(tmp_path / "marker.toml")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        # right after fork the child's cmdline is still ours until it execs: wait for the exec
        wait_for(lambda: is_our_process(child.pid, marker), 5, "the child to exec")
        assert not is_our_process(child.pid, str(tmp_path / "other.toml"))
    finally:
        child.kill()
    wait_for(lambda: not is_running(child.pid), 5, "the killed child to be a zombie or gone")  # not yet reaped
    child.wait()
    assert not is_our_process(child.pid, marker)


def test_procfs_cpu_seconds_grow_with_work_and_are_zero_for_a_gone_pid() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    assert cpu_seconds(os.getpid()) >= before + 0.05
    assert cpu_seconds(2**22 + 12345) == 0.0  # above pid_max: never a process


def test_up_refuses_a_taken_port_without_starting_anything(tmp_path: Path) -> None:
    base = free_base_port(1)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", base))
        sock.listen()
        result = cli(
            "devnet",
            "up",
            "--dir",
            str(tmp_path / "net"),
            "--detach",
            "--executors",
            "1",
            "--base-port",
            str(base),
            check=False,
            timeout=30,
        )
    assert result.returncode != 0
    assert f"{base} (l1)" in result.stderr and "already in use" in result.stderr
    assert not (tmp_path / "net" / "devnet.json").exists()


def test_reset_refuses_a_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("do not delete")
    result = cli("devnet", "up", "--dir", str(tmp_path), "--reset", "--detach", check=False, timeout=30)
    assert result.returncode != 0 and "refusing to wipe" in result.stderr
    assert (tmp_path / "precious.txt").exists()


def test_down_and_status_without_devnet(tmp_path: Path) -> None:
    for command in ("down", "status"):
        result = cli("devnet", command, "--dir", str(tmp_path / "none"), check=False, timeout=30)
        assert result.returncode == 1
        assert "no devnet at" in result.stderr


# ================================================================ slow: a detached devnet


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("devnet") / "net"
    base = free_base_port(2)
    try:
        started = time.monotonic()
        result = cli(
            "devnet",
            "up",
            "--dir",
            str(directory),
            "--detach",
            "--executors",
            "2",
            "--base-port",
            str(base),
            "--censor",
            CENSORED,
            "--json",
            timeout=90,
        )
        state = json.loads(result.stdout)
        state["_startup_seconds"] = time.monotonic() - started
        state["_dir"] = str(directory)
        yield state
    finally:
        teardown_devnet(directory)


def net(devnet: dict[str, Any]) -> list[str]:
    return ["--dir", devnet["_dir"]]


def balance(url: str, who: str, block: int | str = "latest") -> int:
    return int(SyncRpcClient(url).call("rollup_getBalance", who, block))


@pytest.mark.slow
def test_devnet_json_describes_the_devnet(devnet: dict[str, Any]) -> None:
    doc = json.loads((Path(devnet["_dir"]) / "devnet.json").read_text())
    assert doc["status"] == "running" and doc["dir"] == devnet["_dir"]
    assert doc["chain_id"] == 901 and doc["l1_chain_id"] == 900
    assert doc["l1"]["rpc"].startswith("http://127.0.0.1:")
    assert doc["sequencer"]["rpc"].startswith("http://") and doc["sequencer"]["ws"].endswith("/ws")
    assert doc["settler"]["rpc"].startswith("http://")
    assert len(doc["executors"]) == 2 and all(e["ws"].endswith("/ws") for e in doc["executors"])
    assert [a["name"] for a in doc["accounts"]] == [f"dev{i}" for i in range(10)]
    assert doc["accounts"][0]["address"] == to_checksum_address(dev_account(0).address)
    assert doc["accounts"][0]["private_key"] == "0x" + dev_account(0).secret.hex()
    assert [p["name"] for p in doc["processes"]] == [
        "l1",
        "sequencer",
        "settler",
        "executor-0",
        "executor-1",
        "challenger",
    ]
    for proc in doc["processes"]:
        assert is_our_process(proc["pid"], proc["config"]), proc
        assert Path(proc["log"]).exists()
    assert doc["settings"]["censor"] == [to_checksum_address(dev_account(5).address)]
    assert devnet["_startup_seconds"] < 30, f"start-up took {devnet['_startup_seconds']:.1f} s"


@pytest.mark.slow
def test_status_shows_every_process_alive(devnet: dict[str, Any]) -> None:
    status = cli_json("devnet", "status", *net(devnet))
    assert status["all_alive"] is True
    assert {p["name"] for p in status["processes"]} == {
        "l1",
        "sequencer",
        "settler",
        "executor-0",
        "executor-1",
        "challenger",
    }
    for proc in status["processes"]:
        assert proc["alive"] and proc["health"] == "ok", proc
        if proc["role"] in ("sequencer", "executor"):
            assert proc["safe"] >= 1 and proc["unsafe"] >= proc["safe"]
    human = cli("devnet", "status", *net(devnet)).stdout
    assert "executor-1" in human and "yes" in human


@pytest.mark.slow
def test_up_refuses_while_running(devnet: dict[str, Any]) -> None:
    result = cli("devnet", "up", *net(devnet), "--detach", check=False, timeout=30)
    assert result.returncode != 0 and "still running" in result.stderr


@pytest.mark.slow
def test_send_wait_safe_agrees_everywhere(devnet: dict[str, Any]) -> None:
    recipient = "0x00000000000000000000000000000000000a11ce"
    sent = cli_json("send", "--to", recipient, "--amount", "123456789", "--key", "dev1", "--wait", "safe", *net(devnet))
    assert set(sent["receipts"]) == {"sequencer", "executor-0", "executor-1"}
    assert all(r["status"] == 1 for r in sent["receipts"].values())
    block = sent["receipts"]["sequencer"]["blockNumber"]
    nodes = [devnet["sequencer"]["rpc"]] + [e["rpc"] for e in devnet["executors"]]
    assert {balance(url, recipient, block) for url in nodes} == {123456789}
    assert cli_json("balance", recipient, "--block", str(block), *net(devnet))["balance"] == "123456789"
    sequencer = SyncRpcClient(devnet["sequencer"]["rpc"])
    for executor in devnet["executors"]:
        safe = SyncRpcClient(executor["rpc"]).call("rollup_syncStatus")["safe"]
        assert safe["number"] >= block
        ours = sequencer.call("rollup_getBlockByNumber", safe["number"], False)
        assert ours["stateRoot"] == safe["stateRoot"] and ours["hash"] == safe["hash"]


@pytest.mark.slow
def test_deposit_wait_credits_l2(devnet: dict[str, Any]) -> None:
    recipient = "0x00000000000000000000000000000000000b0b00"
    assert balance(devnet["sequencer"]["rpc"], recipient) == 0
    l1_before = int(cli_json("balance", "dev2", "--l1", *net(devnet))["balance"])
    result = cli_json(
        "deposit", "--amount", "0x1000", "--to", recipient, "--key", "dev2", "--wait", "safe", *net(devnet)
    )
    assert result["amount"] == "4096" and result["l2Balance"] == "4096"
    assert set(result["receipts"]) == {"sequencer", "executor-0", "executor-1"}
    for executor in devnet["executors"]:
        assert balance(executor["rpc"], recipient, "safe") == 4096
    l1_after = int(cli_json("balance", "dev2", "--l1", *net(devnet))["balance"])
    assert l1_after <= l1_before - 4096


@pytest.mark.slow
def test_withdraw_records_a_withdrawal(devnet: dict[str, Any]) -> None:
    before = balance(devnet["sequencer"]["rpc"], to_checksum_address(dev_account(3).address))
    result = cli_json("withdraw", "--amount", "700", "--key", "dev3", "--wait", "safe", *net(devnet))
    assert all(r["status"] == 1 and r["kind"] == "withdrawal" for r in result["receipts"].values())
    block = result["receipts"]["sequencer"]["blockNumber"]
    after = balance(devnet["sequencer"]["rpc"], to_checksum_address(dev_account(3).address), block)
    assert after == before - 700 - int(result["fee"])
    shown = cli_json("tx", result["hash"], *net(devnet))
    assert shown["receipt"]["status"] == 1 and shown["transaction"]["kind"] == "withdrawal"
    assert shown["transaction"]["amount"] == "700"
    human = cli("withdraw", "--amount", "1", "--key", "dev3", *net(devnet)).stdout
    assert "complete-withdrawal" in human and "--wait finalized" in human


@pytest.mark.slow
def test_proof_verifies(devnet: dict[str, Any]) -> None:
    for extra in ([], ["--block", "safe"], ["--rpc", devnet["executors"][1]["rpc"]]):
        result = cli_json("proof", "dev0", *extra, *net(devnet))
        assert result["verified"] is True, result
    absent = cli_json("proof", "0x000000000000000000000000000000000000dead", *net(devnet))
    assert absent["verified"] is True and absent["balance"] == "0"
    assert "verified" in cli("proof", "dev1", *net(devnet)).stdout


@pytest.mark.slow
def test_censored_sender_gets_in_through_l1(devnet: dict[str, Any]) -> None:
    recipient = "0x00000000000000000000000000000000000ce550"
    sequencer = SyncRpcClient(devnet["sequencer"]["rpc"])
    # Through the sequencer, dev5's transaction is never included.
    plain = cli("send", "--to", recipient, "--amount", "1", "--key", CENSORED, "--json", *net(devnet), check=False)
    if plain.returncode == 0:
        tx_hash = json.loads(plain.stdout)["hash"]
        head = sequencer.call("rollup_syncStatus")["unsafe"]["number"]
        wait_for(lambda: sequencer.call("rollup_syncStatus")["unsafe"]["number"] >= head + 10, 30, "10 more L2 blocks")
        assert sequencer.call("rollup_getTransactionReceipt", tx_hash) is None
    # Forced through the L1 portal, it is included on every executor within the sequencing window.
    forced = cli_json(
        "send", "--via-l1", "--to", recipient, "--amount", "2", "--key", CENSORED, "--wait", "safe", *net(devnet)
    )
    assert forced["via"] == "l1" and forced["l1Receipt"]["status"] == 1
    l1_block = forced["l1Receipt"]["blockNumber"]
    assert set(forced["receipts"]) == {"sequencer", "executor-0", "executor-1"}
    for executor in devnet["executors"]:
        client = SyncRpcClient(executor["rpc"])
        receipt = client.call("rollup_getTransactionReceipt", forced["hash"])
        assert receipt is not None and receipt["status"] == 1
        block = client.call("rollup_getBlockByNumber", receipt["blockNumber"], False)
        assert l1_block <= block["l1Origin"]["number"] <= l1_block + SEQUENCING_WINDOW
        assert balance(executor["rpc"], recipient, "safe") == 2


@pytest.mark.slow
def test_bad_input_against_a_live_devnet(devnet: dict[str, Any]) -> None:
    cases = [
        (["send", "--to", "0xf39fd6e51aad88F6F4ce6aB8827279cffFb92266", "--amount", "1"], "invalid EIP-55 checksum"),
        (["send", "--to", "dev1", "--amount", str(UINT256_MAX + 1)], "larger than 2^256-1"),
        (["send", "--to", "dev1", "--amount", "1", "--key", "nosuchkey"], "unknown key 'nosuchkey'"),
        (["deposit", "--amount", "-3"], "must not be negative"),
    ]
    for argv, message in cases:
        result = cli(*argv, *net(devnet), check=False, timeout=30)
        assert result.returncode != 0, argv
        assert message in result.stderr, (argv, result.stderr)
    status = cli_json("status", *net(devnet))
    assert [n["name"] for n in status["nodes"]] == ["sequencer", "executor-0", "executor-1"]
    assert status["l1"]["head"] >= 1


@pytest.mark.slow
def test_down_stops_everything(devnet: dict[str, Any]) -> None:
    directory = Path(devnet["_dir"])
    pids = recorded_pids(directory)
    result = cli_json("devnet", "down", "--dir", str(directory), timeout=120)
    assert {p["result"] for p in result["processes"]} == {"stopped"}, result
    for pid, config in pids:
        assert not is_running(pid) or not is_our_process(pid, config), pid
    assert json.loads((directory / "devnet.json").read_text())["status"] == "stopped"
    again = cli_json("devnet", "down", "--dir", str(directory), timeout=60)
    assert {p["result"] for p in again["processes"]} == {"not running"}


# ================================================================ slow: foreground supervision


@pytest.fixture
def foreground_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "fg"
    try:
        yield directory
    finally:
        teardown_devnet(directory)


def start_foreground(directory: Path, base: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*ROLLUP, "devnet", "up", "--dir", str(directory), "--executors", "1", "--base-port", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def wait_running(directory: Path, proc: subprocess.Popen[str]) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        if proc.poll() is not None:
            raise AssertionError(
                f"devnet up exited early with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}"
            )
        try:
            current: dict[str, Any] = json.loads((directory / "devnet.json").read_text())
        except (OSError, ValueError):
            return None
        return current if current.get("status") == "running" else None

    doc: dict[str, Any] = wait_for(running, 90, "the foreground devnet to be running")
    return doc


@pytest.mark.slow
def test_foreground_supervision_crash_ctrl_c_and_resume(foreground_dir: Path) -> None:
    base = free_base_port(1)
    up = start_foreground(foreground_dir, base)
    try:
        doc = wait_running(foreground_dir, up)
        block1 = cli_json("block", "1", "--dir", str(foreground_dir))["hash"]
        executor = next(p for p in doc["processes"] if p["name"] == "executor-0")
        os.kill(executor["pid"], signal.SIGKILL)  # an unexpected death
        _, err = up.communicate(timeout=60)
        assert up.returncode == 1
        assert "executor-0" in err and "exited unexpectedly" in err
        for pid, config in recorded_pids(foreground_dir):
            assert not is_our_process(pid, config)

        up = start_foreground(foreground_dir, base)  # resumes the saved chain
        wait_running(foreground_dir, up)
        assert cli_json("block", "1", "--dir", str(foreground_dir))["hash"] == block1
        pids = recorded_pids(foreground_dir)
        up.send_signal(signal.SIGINT)  # Ctrl-C
        out, err = up.communicate(timeout=60)
        assert up.returncode == 0, err
        assert "Press Ctrl-C to stop" in out and "devnet stopped" in err
        for pid, config in pids:
            assert not is_our_process(pid, config)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
