"""The devnet's control endpoint (node.devnet.controller) on real processes: snapshot/revert, balances,
oracle price, mining, pause/resume, kill/restart, partition, faulty proposer, dump/load, and the CLI.

One detached devnet (one executor) serves the module and is always torn down; the dump/load test
starts a second one from the dump, the supervision test a foreground one.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.crypto import to_checksum_address
from node.devnet.handle import ControlUnavailable, Devnet
from node.devnet.params import L2_MIN_FEE, fee_recipient
from node.devnet.procfs import is_our_process
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient
from node.rpc.errors import ControlRefused, InvalidParams, RpcError, UnknownSnapshot
from node.tx import Transfer, sign_tx
from tests.processes.test_devnet_cli import ROLLUP, cli, free_base_port, teardown_devnet, wait_for

pytestmark = pytest.mark.slow

RECIPIENT = "0x00000000000000000000000000000000000c0de1"


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    directory = tmp_path_factory.mktemp("control") / "net"
    base = free_base_port(1)
    try:
        result = cli("devnet", "up", "--dir", str(directory), "--detach", "--executors", "1", "--base-port", str(base))
        assert "Control RPC:" in result.stdout
        yield Devnet.from_dir(directory)
    finally:
        teardown_devnet(directory)


def l2(devnet: Devnet, node: str = "sequencer") -> SyncRpcClient:
    url = devnet.endpoints["sequencer"] if node == "sequencer" else devnet.endpoints["executors"][0]
    return SyncRpcClient(url, timeout=10)


def balance(devnet: Devnet, who: str, node: str = "sequencer") -> int:
    return int(l2(devnet, node).call("rollup_getBalance", who, "latest"))


def nonce(devnet: Devnet, who: str) -> int:
    return int(l2(devnet).call("rollup_getNonce", who, "latest"))


def transfer(devnet: Devnet, index: int, to: str, amount: int) -> tuple[str, dict[str, Any]]:
    key = dev_account(index)
    client = l2(devnet)
    tx = sign_tx(
        key, 901, nonce(devnet, to_checksum_address(key.address)), L2_MIN_FEE, Transfer(bytes.fromhex(to[2:]), amount)
    )  # type: ignore[arg-type]
    tx_hash = str(client.call("rollup_sendRawTransaction", "0x" + tx.encode().hex()))
    receipt = wait_for(lambda: client.call("rollup_getTransactionReceipt", tx_hash), 60, f"{tx_hash} included")
    return tx_hash, receipt


def raw(devnet: Devnet, method: str, *params: Any) -> Any:
    return SyncRpcClient(devnet.control_url, timeout=120).call(method, *params)


def test_the_control_endpoint_is_recorded_and_reports_the_devnet(devnet: Devnet) -> None:
    doc = json.loads((devnet.directory / "devnet.json").read_text())
    assert doc["control"]["rpc"] == devnet.control_url and doc["control"]["held"] == []
    assert "control" not in [p["name"] for p in doc["processes"]]  # not a chain process: never snapshotted
    status = devnet.status()
    assert status["all_alive"] and status["instance"] == doc["instance"] and status["paused"] == []
    assert [p["name"] for p in status["processes"]] == ["l1", "sequencer", "settler", "executor-0", "challenger"]
    assert devnet.accounts[0]["name"] == "dev0" and devnet.endpoints["l1"] == doc["l1"]["rpc"]
    assert json.loads(cli("devnet", "status", "--dir", str(devnet.directory), "--json").stdout)["control"]["alive"]
    assert (
        f"control endpoint {devnet.control_url} (running)"
        in cli("devnet", "status", "--dir", str(devnet.directory)).stdout
    )


@pytest.mark.parametrize(
    ("method", "params", "error", "why"),
    [
        ("devnet_mine", ["x"], InvalidParams, "must be an integer"),
        ("devnet_mine", [0], InvalidParams, r"in \[1, 10000\]"),
        ("devnet_mine", [], InvalidParams, "takes 1 param"),
        ("devnet_snapshot", [1], InvalidParams, "takes 0 param"),
        ("devnet_revert", ["nope"], UnknownSnapshot, "is not a snapshot id"),
        ("devnet_revert", ["s1-ffffffff"], UnknownSnapshot, "before a reset or a load"),
        ("devnet_kill", ["nobody"], ControlRefused, "no devnet process 'nobody'"),
        ("devnet_kill", ["sequencer", "HUP"], InvalidParams, "'KILL' or 'TERM'"),
        ("devnet_partition", ["sequencer"], ControlRefused, "only an executor"),
        ("devnet_setL2Balance", ["0x12", 1], InvalidParams, "address"),
        ("devnet_setL2Balance", [RECIPIENT, -5], InvalidParams, "2\\^256-1"),
        ("devnet_setL1Balance", [RECIPIENT, "lots"], InvalidParams, "wei"),
        ("devnet_setOraclePrice", ["NOPE-PERP", 5], InvalidParams, "unknown market"),
        ("devnet_setOraclePrice", ["BTC-PERP", 0], InvalidParams, "price must be"),
        ("devnet_setFaultyProposer", ["sometimes"], InvalidParams, "'tx', 'garbage' or null"),
        ("devnet_dump", ["relative.tar.gz"], InvalidParams, "must be absolute"),
        ("devnet_dump", ["/nonexistent-dir/x.tar.gz"], InvalidParams, "does not exist"),
    ],
)
def test_bad_requests_are_refused_and_the_endpoint_keeps_running(
    devnet: Devnet, method: str, params: list[Any], error: type[RpcError], why: str
) -> None:
    with pytest.raises(error, match=why):
        raw(devnet, method, *params)
    assert devnet.status()["all_alive"]


def test_revert_undoes_a_transfer_and_the_chain_goes_on(devnet: Devnet) -> None:
    sender = to_checksum_address(dev_account(3).address)
    before = (balance(devnet, sender), nonce(devnet, sender), balance(devnet, RECIPIENT))
    snap = devnet.snapshot()
    later = devnet.snapshot()
    tx_hash, receipt = transfer(devnet, 3, RECIPIENT, 10**18)
    assert balance(devnet, RECIPIENT) == before[2] + 10**18

    result = devnet.revert(snap)
    assert result["id"] == snap and result["dropped"] == [later]
    assert l2(devnet).call("rollup_getTransactionReceipt", tx_hash) is None
    assert (balance(devnet, sender), nonce(devnet, sender), balance(devnet, RECIPIENT)) == before
    recorded = result["snapshotHeads"]["sequencer"]["unsafe"]  # read just before the processes were stopped
    block = l2(devnet).call("rollup_getBlockByNumber", recorded["number"], False)
    assert (block["hash"], block["stateRoot"]) == (recorded["hash"], recorded["stateRoot"])
    assert receipt["blockNumber"] > recorded["number"] or block["hash"] != receipt["blockHash"]
    assert result["heads"]["l1"] >= result["snapshotHeads"]["l1"]
    with pytest.raises(UnknownSnapshot, match="invalidated it"):
        devnet.revert(later)

    new_hash, new_receipt = transfer(devnet, 3, RECIPIENT, 7)  # the chain goes on: it confirms to safe
    executor = l2(devnet, "executor")
    wait_for(
        lambda: int(executor.call("rollup_syncStatus")["safe"]["number"]) >= new_receipt["blockNumber"],
        90,
        "the new transfer to be safe on the executor",
    )
    assert executor.call("rollup_getTransactionReceipt", new_hash)["blockHash"] == new_receipt["blockHash"]
    assert balance(devnet, RECIPIENT, "executor") == before[2] + 7
    assert devnet.revert(snap)["id"] == snap  # a snapshot can be reverted to again
    assert balance(devnet, RECIPIENT) == before[2]


def test_l2_balance_up_and_down(devnet: Devnet) -> None:
    """One balance override each way, keyless or not (tests/devnet_override has the full journey)."""
    fresh = "0x00000000000000000000000000000000000f00d1"
    devnet.set_l2_balance(fresh, 5 * 10**18)
    assert balance(devnet, fresh) == 5 * 10**18
    assert int(devnet.set_l2_balance(fresh, 1)["balance"]) == 1  # no key needed to lower it
    assert balance(devnet, fresh) == 1
    dev6 = to_checksum_address(dev_account(6).address)
    recipient_before = balance(devnet, to_checksum_address(fee_recipient()))
    devnet.set_l2_balance(dev6, 10**21)
    assert balance(devnet, dev6) == 10**21
    devnet.set_l2_balance(dev6, 10**21 - 5)  # 5 wei below: exact, no transfer and no fee
    assert balance(devnet, dev6) == 10**21 - 5
    assert balance(devnet, to_checksum_address(fee_recipient())) == recipient_before


def test_l1_balance_and_mining(devnet: Devnet) -> None:
    l1 = SyncRpcClient(devnet.endpoints["l1"])
    devnet.set_l1_balance(RECIPIENT, "1.5eth")
    assert int(l1.call("l1_getBalance", RECIPIENT)) == 15 * 10**17
    mined = devnet.mine(5)
    assert mined["to"] - mined["from"] == 4 and int(l1.call("l1_blockNumber")) >= mined["to"]


def test_oracle_price_without_the_oracle_key(devnet: Devnet) -> None:
    markets = {m["symbol"]: m for m in l2(devnet).call("rollup_getMarkets")}
    price = int(markets["ETH-PERP"]["oraclePrice"]) + int(markets["ETH-PERP"]["tickSize"])
    result = devnet.set_oracle_price("eth-perp", price)
    assert result["market"] == "ETH-PERP" and result["price"] == str(price)
    after = {m["symbol"]: m for m in l2(devnet).call("rollup_getMarkets")}
    assert int(after["ETH-PERP"]["oraclePrice"]) == price


def test_pause_and_resume_a_role(devnet: Devnet) -> None:
    executor = l2(devnet, "executor")
    assert devnet.pause("sequencer")["changed"]
    try:
        assert devnet.status()["paused"] == ["sequencer"]
        first = int(executor.call("rollup_syncStatus")["unsafe"]["number"])
        time.sleep(1.0)
        assert int(executor.call("rollup_syncStatus")["unsafe"]["number"]) == first  # no blocks while paused
        devnet.snapshot()  # stops and continues every process, but leaves the paused one paused
        assert "sequencer" not in devnet.call("devnet_snapshotInfo")["heads"]
        time.sleep(0.5)
        assert int(executor.call("rollup_syncStatus")["unsafe"]["number"]) == first
    finally:
        assert devnet.resume("sequencer")["changed"]
    wait_for(lambda: int(executor.call("rollup_syncStatus")["unsafe"]["number"]) > first, 30, "blocks again")


def test_kill_and_restart_a_role(devnet: Devnet) -> None:
    killed = devnet.kill("executor-0")
    assert killed["result"] == "killed"
    with pytest.raises(ControlRefused, match="executor-0 is not running"):
        devnet.snapshot()
    with pytest.raises(ControlRefused, match="not running"):
        devnet.partition("executor-0")
    restarted = devnet.restart("executor-0")
    assert restarted["previous_pid"] == killed["pid"] and restarted["pid"] != killed["pid"]
    assert devnet.status()["all_alive"]
    doc = json.loads((devnet.directory / "devnet.json").read_text())
    assert doc["control"]["held"] == []


def test_partition_heal_and_faulty_proposer_are_forwarded(devnet: Devnet) -> None:
    assert devnet.partition("executor-0")["partitioned"] is True
    assert devnet.heal("executor")["partitioned"] is False
    assert devnet.faulty_proposer("garbage")["mode"] == "garbage"
    assert devnet.faulty_proposer("off")["mode"] is None


def test_cli_commands_call_the_control_endpoint(devnet: Devnet, tmp_path: Path) -> None:
    net = ["--dir", str(devnet.directory)]
    snap = cli("devnet", "snapshot", *net).stdout.strip()
    assert snap.startswith("s") and snap.endswith(devnet.status()["instance"])
    assert json.loads(cli("devnet", "mine", "2", *net, "--json").stdout)["to"] >= 1
    bad = cli("devnet", "revert", "s99-" + devnet.status()["instance"], *net, check=False)
    assert bad.returncode == 1 and "was never taken" in bad.stderr and "-32009" in bad.stderr
    bad = cli("devnet", "set-balance", RECIPIENT, "1.5 parsecs", *net, check=False)
    assert bad.returncode == 2 and "AMOUNT" in bad.stderr
    bad = cli("devnet", "pause", "nobody", *net, check=False)
    assert bad.returncode == 1 and "no devnet process 'nobody'" in bad.stderr and "-32003" in bad.stderr
    assert json.loads(cli("devnet", "set-balance", RECIPIENT, "2gwei", "--l1", *net, "--json").stdout)[
        "balance"
    ] == str(2 * 10**9)
    none = cli("devnet", "snapshot", "--dir", str(tmp_path / "none"), check=False)
    assert none.returncode == 1 and "no devnet at" in none.stderr
    old = tmp_path / "old"
    old.mkdir()
    doc = json.loads((devnet.directory / "devnet.json").read_text())
    doc.pop("control")
    (old / "devnet.json").write_text(json.dumps(doc))
    bad = cli("devnet", "mine", "1", "--dir", str(old), check=False)
    assert bad.returncode == 1 and "has no control endpoint" in bad.stderr


def test_dump_and_load(devnet: Devnet, tmp_path: Path) -> None:
    dump = tmp_path / "devnet.tar.gz"
    result = devnet.dump(dump)
    assert result["bytes"] == dump.stat().st_size > 0
    dumped = result["heads"]["sequencer"]["unsafe"]
    other = tmp_path / "loaded"
    base = free_base_port(1)
    refused = cli("devnet", "up", "--load", str(dump), "--executors", "2", "--dir", str(other), check=False)
    assert refused.returncode == 1 and "--executors cannot be given with it" in refused.stderr
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b not really")
    refused = cli("devnet", "up", "--load", str(garbage), "--dir", str(other), check=False)
    assert refused.returncode == 1 and "is not a devnet dump" in refused.stderr and not other.exists()
    refused = cli("devnet", "up", "--load", str(dump), "--dir", str(devnet.directory), check=False)
    assert refused.returncode == 1 and "still running" in refused.stderr
    try:
        cli("devnet", "up", "--load", str(dump), "--dir", str(other), "--detach", "--base-port", str(base), timeout=120)
        loaded = Devnet.from_dir(other)
        assert loaded.status()["instance"] != devnet.status()["instance"]
        block = SyncRpcClient(loaded.endpoints["sequencer"]).call("rollup_getBlockByNumber", dumped["number"], False)
        assert (block["hash"], block["stateRoot"]) == (dumped["hash"], dumped["stateRoot"])
        assert loaded.snapshot().startswith("s1-")
        with pytest.raises(UnknownSnapshot, match="belongs to another chain"):
            loaded.revert(devnet.snapshot())  # an id of the dumped devnet names nothing on the loaded one
    finally:
        teardown_devnet(other)
    with pytest.raises(ControlUnavailable, match="does not answer"):
        Devnet.from_dir(other).status()


def test_a_foreground_devnet_tolerates_what_the_controller_does(tmp_path: Path) -> None:
    directory = tmp_path / "fg"
    base = free_base_port(1)
    up = subprocess.Popen(
        [*ROLLUP, "devnet", "up", "--dir", str(directory), "--executors", "1", "--base-port", str(base)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: (
                up.poll() is not None
                or (directory / "devnet.json").exists()
                and json.loads((directory / "devnet.json").read_text()).get("status") == "running"
            ),
            120,
            "the foreground devnet",
        )
        assert up.poll() is None
        devnet = Devnet.from_dir(directory)
        snap = devnet.snapshot()
        devnet.kill("executor-0")
        devnet.restart("executor-0")
        devnet.revert(snap)
        time.sleep(1.0)
        assert up.poll() is None and devnet.status()["all_alive"]
        pids = [(p["pid"], p["config"]) for p in json.loads((directory / "devnet.json").read_text())["processes"]]
        up.send_signal(signal.SIGINT)
        _, err = up.communicate(timeout=90)
        assert up.returncode == 0, err
        for pid, config in pids:  # the processes the controller started are stopped too
            assert not is_our_process(pid, config)
    finally:
        if up.poll() is None:
            up.kill()
        teardown_devnet(directory)
