"""Per-process devnet control (`devnet_*`, node.rpc.control) on real processes.

One devnet (`rollup devnet up --detach`: L1, sequencer, the settler run as
l1.faults.settler with faults off, two executors, a challenger; every
config written with `[node] devnet = true`) serves the
module's devnet tests and is always brought down. Two more processes
started without the flag (an L1 and an executor) show ControlDisabled.

- every process answers devnet_info with its role and pid;
- an executor cut off by devnet_partition stops taking gossip (its unsafe
  head is its L1-derived safe head, which keeps advancing) while the other
  one keeps up with the sequencer; after devnet_heal it catches up by range
  sync and both agree on the same block;
- devnet_setFaultyProposer("garbage") makes the settler's next output wrong
  (the challenger disputes it) and null makes the following ones right;
- devnet_mine and devnet_setBalance on the live L1;
- malformed params get precise -32602 errors and every process keeps serving.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from node.crypto import to_checksum_address
from node.devnet.ports import random_free_base_port
from node.devnet.procfs import is_our_process
from node.keys.hd import dev_account
from node.rollup_config import load_node_section
from node.rpc.errors import CONTROL_DISABLED, CONTROL_REFUSED, INVALID_PARAMS
from node.service import ConfigError
from tests.processes.test_executor_process import executor_config, l1_config
from tests.support.processes import Process, RpcFailure, free_port, rpc, wait_for, write_toml

pytestmark = pytest.mark.slow

ROLLUP = [sys.executable, "-m", "node.cli.main"]
CLOCK = ["devnet_getTimeOffset", "devnet_setTimeOffset"]  # every process (node.rpc.control)
INPROC = [
    "devnet_quiesce",
    "devnet_quiesceSnapshot",
    "devnet_resume",
    "devnet_revertTo",
]  # every role (node.devnet.inproc)
L1_BLOCK_MS = 500
L2_BLOCK_MS = 100


def cli_json(*args: str, timeout: float = 180) -> Any:
    result = subprocess.run(
        [*ROLLUP, *args, "--json"], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise AssertionError(f"rollup {' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout)


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "health", timeout=5) as response:
        return dict(json.loads(response.read()))


def rpc_error(url: str, method: str, *params: Any) -> tuple[int, str]:
    with pytest.raises(RpcFailure) as failure:
        rpc(url, method, *params)
    message = str(failure.value).split(": ", 1)[1]
    return failure.value.code, message


class Devnet:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        base = random_free_base_port(2)
        self.doc: dict[str, Any] = cli_json(
            "devnet",
            "up",
            "--dir",
            str(directory),
            "--detach",
            "--base-port",
            str(base),
            "--executors",
            "2",
            "--l1-block-time-ms",
            str(L1_BLOCK_MS),
            "--block-time-ms",
            str(L2_BLOCK_MS),
            "--challenge-window",
            "20",
        )
        self.l1 = self.doc["l1"]["rpc"]
        self.sequencer = self.doc["sequencer"]["rpc"]
        self.settler = self.doc["settler"]["rpc"]
        self.executors = [e["rpc"] for e in self.doc["executors"]]
        self.challenger = self.doc["challengers"][0]["rpc"]

    def processes(self) -> list[dict[str, Any]]:
        return list(json.loads((self.directory / "devnet.json").read_text())["processes"])

    def down(self) -> None:
        state_file = self.directory / "devnet.json"
        if not state_file.exists():
            return
        subprocess.run([*ROLLUP, "devnet", "down", "--dir", str(self.directory)], capture_output=True, timeout=120)
        for proc in json.loads(state_file.read_text()).get("processes", []):
            pid = proc.get("pid")
            if isinstance(pid, int) and is_our_process(pid, proc["config"]):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    directory = tmp_path_factory.mktemp("control") / "net"
    net: Devnet | None = None
    try:
        net = Devnet(directory)
        yield net
    finally:
        if net is not None:
            net.down()
        else:  # `up` failed part-way: stop whatever it started
            subprocess.run([*ROLLUP, "devnet", "down", "--dir", str(directory)], capture_output=True, timeout=120)


def heads(url: str) -> tuple[int, int]:
    status = rpc(url, "rollup_syncStatus")
    return int(status["unsafe"]["number"]), int(status["safe"]["number"])


def block_at(url: str, number: int) -> tuple[str, str] | None:
    block = rpc(url, "rollup_getBlockByNumber", number)
    return None if block is None else (block["hash"], block["stateRoot"])


# -- config (pure) --


def test_node_devnet_flag_is_a_strict_bool() -> None:
    assert load_node_section({"node": {"data_dir": "d"}}).devnet is False
    assert load_node_section({"node": {"data_dir": "d", "devnet": True}}).devnet is True
    for bad in ("true", 1, 0, "yes"):
        with pytest.raises(ConfigError, match=r"node.devnet must be true or false"):
            load_node_section({"node": {"data_dir": "d", "devnet": bad}})


# -- the devnet --


def test_every_process_answers_devnet_info(devnet: Devnet) -> None:
    expected = {
        "l1": ("l1", [*CLOCK, *INPROC, "devnet_info", "devnet_mine", "devnet_setBalance"]),
        "sequencer": ("sequencer", [*CLOCK, *INPROC, "devnet_info"]),
        "settler": ("settler", [*CLOCK, *INPROC, "devnet_info", "devnet_setFaultyProposer"]),
        "executor-0": ("executor", [*CLOCK, *INPROC, "devnet_heal", "devnet_info", "devnet_partition"]),
        "executor-1": ("executor", [*CLOCK, *INPROC, "devnet_heal", "devnet_info", "devnet_partition"]),
        "challenger": ("challenger", [*CLOCK, *INPROC, "devnet_info"]),
    }
    by_name = {p["name"]: p for p in devnet.processes()}
    assert set(expected) <= set(by_name)
    for name, (role, methods) in expected.items():
        url = f"http://127.0.0.1:{by_name[name]['port']}/"
        info = rpc(url, "devnet_info")
        assert info == {"role": role, "devnet": True, "pid": by_name[name]["pid"], "methods": sorted(methods)}, name


def test_partitioned_executor_follows_only_l1_then_heals_and_agrees(devnet: Devnet) -> None:
    cut, other = devnet.executors
    assert rpc(cut, "devnet_partition") == {"partitioned": True, "peers": 0}
    assert rpc(cut, "devnet_partition") == {"partitioned": True, "peers": 0}  # idempotent
    assert health(cut)["partitioned"] is True and metric(cut, "p2p_partitioned") == 1
    gossip_before = metric(cut, "gossip_blocks_applied_total")
    unsafe_at_cut, safe_at_cut = heads(cut)
    seq_at_cut, _ = heads(devnet.sequencer)
    ahead_of_safe = 0
    deadline = time.monotonic() + 60
    while heads(devnet.sequencer)[0] < seq_at_cut + 40:  # 4 s of L2 blocks
        assert time.monotonic() < deadline, "the sequencer stopped producing"
        unsafe, safe = heads(cut)
        assert unsafe <= max(unsafe_at_cut, safe), f"partitioned executor took gossip ({unsafe}, safe {safe})"
        other_unsafe, other_safe = heads(other)
        ahead_of_safe += other_unsafe > other_safe
        time.sleep(0.1)
    assert metric(cut, "gossip_blocks_applied_total") == gossip_before  # no gossip in
    assert rpc(cut, "rollup_syncStatus")["p2p"]["peers"] == []
    assert ahead_of_safe > 0  # the connected executor follows gossip ahead of L1
    wait_for(lambda: heads(cut)[1] > unsafe_at_cut, 60, "the partitioned executor to advance from L1 alone")
    seq_head, _ = heads(devnet.sequencer)
    assert heads(other)[0] >= seq_head - 10  # kept up with the sequencer

    healed = rpc(cut, "devnet_heal")
    assert healed["partitioned"] is False and healed["peers"] >= 1  # waits (up to 3 s) for the first peer
    assert rpc(cut, "devnet_heal")["partitioned"] is False  # idempotent
    assert health(cut)["partitioned"] is False and metric(cut, "p2p_partitioned") == 0
    wait_for(lambda: rpc(cut, "rollup_syncStatus")["p2p"]["peers"], 30, "the healed executor to reconnect")
    target = heads(devnet.sequencer)[0]
    wait_for(lambda: heads(cut)[0] >= target and heads(cut)[0] > heads(cut)[1], 60, "catch-up past the safe head")
    assert metric(cut, "gossip_blocks_applied_total") > gossip_before
    wait_for(lambda: block_at(other, target) is not None, 30, "the other executor at the same block")
    assert block_at(cut, target) == block_at(other, target) == block_at(devnet.sequencer, target)


def own_outputs(devnet: Devnet) -> list[dict[str, Any]]:
    proposer = devnet.doc["roles"]["proposer"].lower()
    return [o for o in rpc(devnet.l1, "l1_getOutputs", 0, 256) if o["proposer"].lower() == proposer]


def output_for(devnet: Devnet, block: int) -> dict[str, Any] | None:
    found = [o for o in own_outputs(devnet) if o["l2BlockNumber"] == block]
    return found[0] if found else None


def test_faulty_proposer_from_the_next_output_and_back(devnet: Devnet) -> None:
    assert rpc(devnet.settler, "settler_status")["faultyProposer"]["mode"] is None
    on = rpc(devnet.settler, "devnet_setFaultyProposer", "garbage")
    assert on["mode"] == "garbage"
    wrong_block = on["fromBlock"]
    newest_before = max([o["l2BlockNumber"] for o in own_outputs(devnet)], default=0)
    assert wrong_block > newest_before  # from the next proposal on, none already made
    wrong = wait_for(lambda: output_for(devnet, wrong_block), 90, f"the output for L2 block {wrong_block}")
    right = rpc(devnet.sequencer, "rollup_outputAtBlock", wrong_block)["outputRoot"]
    assert wrong["outputRoot"] != right
    wait_for(
        lambda: (output_for(devnet, wrong_block) or {}).get("status") in ("disputed", "defeated"),
        60,
        "the challenger to dispute the wrong output",
    )

    off = rpc(devnet.settler, "devnet_setFaultyProposer", None)
    assert off == {"mode": None, "fromBlock": wrong_block + 1}  # the wrong one is still being played
    assert rpc(devnet.settler, "settler_status")["faultyProposer"]["mode"] is None


def corrected(devnet: Devnet, block: int, right: str) -> bool:
    outputs = own_outputs(devnet)
    return any(o["l2BlockNumber"] == block and o["outputRoot"] == right and o["status"] != "defeated" for o in outputs)


def test_tx_faults_rearm_after_each_defeat_until_switched_off(devnet: Devnet) -> None:
    """Mode "tx": each wrong output is disputed and defeated, its block proposed again correctly, and the next
    output after it is wrong again; null stops it."""
    on = rpc(devnet.settler, "devnet_setFaultyProposer", "tx")
    first = on["fromBlock"]

    def defeated_wrong() -> list[int]:
        outputs = own_outputs(devnet)
        return sorted(
            {o["l2BlockNumber"] for o in outputs if o["status"] == "defeated" and o["l2BlockNumber"] >= first}
        )

    wait_for(lambda: len(defeated_wrong()) >= 2, 240, "two wrong outputs defeated in turn", interval=1.0)
    one, two = defeated_wrong()[:2]
    between = [o for o in own_outputs(devnet) if one < o["l2BlockNumber"] < two]
    assert between == []  # the output right after a defeated one (re-proposed correctly) is the next wrong one
    for block in (one, two):  # each defeated block gets its correct root proposed again
        right = rpc(devnet.sequencer, "rollup_outputAtBlock", block)["outputRoot"]
        wait_for(partial(corrected, devnet, block, right), 60, f"the correct output for L2 block {block} again")
    off = rpc(devnet.settler, "devnet_setFaultyProposer", None)
    assert off["mode"] is None and off["fromBlock"] > two


def test_mine_and_set_balance_on_the_live_l1(devnet: Devnet) -> None:
    head = rpc(devnet.l1, "l1_blockNumber")
    mined = rpc(devnet.l1, "devnet_mine", 5)
    assert mined["to"] - mined["from"] == 4 and mined["from"] > head
    assert rpc(devnet.l1, "l1_blockNumber") >= mined["to"]
    fresh = to_checksum_address(dev_account(42).address)
    answer = rpc(devnet.l1, "devnet_setBalance", fresh, "1000000000000000000000")
    assert answer["balance"] == "1000000000000000000000"
    assert rpc(devnet.l1, "l1_getBalance", fresh) == "1000000000000000000000"
    block = rpc(devnet.l1, "l1_getBlockByNumber", answer["block"])
    assert block is not None and block["number"] == answer["block"]
    pending = wait_for(
        lambda: [o for o in own_outputs(devnet) if o["status"] == "pending" and not o.get("dispute")],
        60,
        "an undisputed pending output",
    )
    output = pending[-1]
    head = rpc(devnet.l1, "l1_blockNumber")
    assert output["finalizesAt"] > head  # its challenge window is still open
    rpc(devnet.l1, "devnet_mine", output["finalizesAt"] - head)  # the window passes in one call
    after = next(o for o in rpc(devnet.l1, "l1_getOutputs", output["index"], 1))
    assert after["status"] == "finalized", after
    safe_now = heads(devnet.executors[1])[1]  # the rollup goes on after mining
    wait_for(lambda: heads(devnet.executors[1])[1] > safe_now, 60, "the safe head to advance after mining")


def test_malformed_control_params_are_rejected_and_processes_keep_running(devnet: Devnet) -> None:
    who = to_checksum_address(dev_account(1).address)
    cases: list[tuple[str, str, list[Any], str]] = [
        (devnet.l1, "devnet_mine", [0], "count must be in [1, 10000], got 0"),
        (devnet.l1, "devnet_mine", [10_001], "count must be in [1, 10000], got 10001"),
        (devnet.l1, "devnet_mine", ["3"], "count must be an integer in [1, 10000]"),
        (devnet.l1, "devnet_setBalance", [who, -5], "wei must be non-negative, got -5"),
        (devnet.l1, "devnet_setBalance", [who, str(2**256)], "wei exceeds 2^256-1"),
        (devnet.l1, "devnet_setBalance", ["0xabc", 1], "address has an odd number of hex digits (3)"),
        (devnet.settler, "devnet_setFaultyProposer", ["bogus"], 'mode must be "tx", "garbage" or null, got \'bogus\''),
        (devnet.settler, "devnet_setFaultyProposer", [1], 'mode must be "tx", "garbage" or null, got int'),
        (devnet.settler, "devnet_setFaultyProposer", [], "method devnet_setFaultyProposer expects 1 param, got 0"),
        (devnet.executors[0], "devnet_partition", [True], "method devnet_partition expects no params, got 1"),
        (devnet.executors[0], "devnet_heal", ["now"], "method devnet_heal expects no params, got 1"),
        (devnet.sequencer, "devnet_info", [1], "method devnet_info expects no params, got 1"),
    ]
    for url, method, params, message in cases:
        assert rpc_error(url, method, *params) == (INVALID_PARAMS, message), method
    assert rpc(devnet.executors[0], "devnet_info")["devnet"] is True
    for url in (devnet.l1, devnet.sequencer, devnet.settler, *devnet.executors, devnet.challenger):
        assert rpc(url, "devnet_info")["devnet"] is True  # all still serving


# -- processes started without devnet = true --


def test_processes_without_devnet_refuse_control(tmp_path: Path) -> None:
    l1_port, ex_port, settler_port = free_port(), free_port(), free_port()
    l1 = Process(
        "l1",
        ["-m", "l1.chain", "--config", str(l1_config(tmp_path, l1_port))],
        tmp_path / "l1.log",
        f"http://127.0.0.1:{l1_port}",
    )
    executor = Process(
        "executor",
        ["-m", "node.executor", "--config", str(executor_config(tmp_path, ex_port, l1.url))],
        tmp_path / "executor.log",
        f"http://127.0.0.1:{ex_port}",
    )
    try:
        l1.start().wait_healthy()
        executor.start().wait_healthy()
        head = l1.call("l1_blockNumber")
        assert l1.call("devnet_info")["devnet"] is False
        assert executor.call("devnet_info") == {
            "role": "executor",
            "devnet": False,
            "pid": executor.popen.pid if executor.popen else None,
            "methods": [
                "devnet_getTimeOffset",
                "devnet_heal",
                "devnet_info",
                "devnet_partition",
                "devnet_quiesce",
                "devnet_quiesceSnapshot",
                "devnet_resume",
                "devnet_revertTo",
                "devnet_setTimeOffset",
            ],
        }
        for process, method, params in (
            (l1, "devnet_mine", [10]),
            (l1, "devnet_setBalance", [to_checksum_address(dev_account(3).address), 1]),
            (l1, "devnet_mine", ["junk"]),
            (executor, "devnet_partition", []),
            (executor, "devnet_heal", []),
            (executor, "devnet_setTimeOffset", [3_600_000]),
            (executor, "devnet_getTimeOffset", []),
            (l1, "devnet_setTimeOffset", [-1]),  # gated before params are read
            (l1, "devnet_revertTo", [str(tmp_path)]),  # in-process revert (node.devnet.inproc): devnet only
            (executor, "devnet_quiesceSnapshot", [str(tmp_path / "copy")]),
            (executor, "devnet_quiesce", []),
        ):
            code, message = rpc_error(process.url, method, *params)
            assert code == CONTROL_DISABLED and "not started as part of a devnet" in message, (method, message)
        assert l1.call("l1_blockNumber") < head + 10  # nothing was mined
        assert l1.alive() and executor.alive()

        # a devnet executor without [p2p] has nothing to partition: refused, not disabled
        (tmp_path / "dev").mkdir()
        devnet_cfg = executor_config(tmp_path / "dev", settler_port, l1.url)
        doc = devnet_cfg.read_text().replace("[node]\n", "[node]\ndevnet = true\n", 1)
        devnet_cfg.write_text(doc)
        follower = Process(
            "executor-devnet",
            ["-m", "node.executor", "--config", str(devnet_cfg)],
            tmp_path / "executor-devnet.log",
            f"http://127.0.0.1:{settler_port}",
        )
        try:
            follower.start().wait_healthy()
            code, message = rpc_error(follower.url, "devnet_partition")
            assert code == CONTROL_REFUSED and "no [p2p] section" in message
            assert follower.call("devnet_info")["devnet"] is True
        finally:
            follower.stop()
    finally:
        executor.stop()
        l1.stop()


def test_a_bad_devnet_flag_stops_the_process_with_a_config_error(tmp_path: Path) -> None:
    config = write_toml(
        tmp_path / "l1.toml",
        {"node": {"data_dir": str(tmp_path / "data"), "rpc_port": free_port(), "devnet": "yes"}, "l1": {}},
    )
    result = subprocess.run(
        [sys.executable, "-m", "l1.chain", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "[node] devnet must be true or false" in result.stderr + result.stdout


def test_a_set_balance_survives_sigkill(tmp_path: Path) -> None:
    port = free_port()
    config = l1_config(tmp_path, port)
    config.write_text(config.read_text().replace("[node]\n", "[node]\ndevnet = true\n", 1))
    l1 = Process("l1", ["-m", "l1.chain", "--config", str(config)], tmp_path / "l1.log", f"http://127.0.0.1:{port}")
    who = to_checksum_address(dev_account(9).address)
    try:
        l1.start().wait_healthy()
        answer = l1.call("devnet_setBalance", who, "777000000000000000000")
        block = l1.call("l1_getBlockByNumber", answer["block"])
        l1.kill()  # SIGKILL right after the answer
        l1.start().wait_healthy()
        assert l1.call("l1_getBalance", who) == "777000000000000000000"
        assert l1.call("l1_getBlockByNumber", answer["block"]) == block
        assert l1.call("l1_blockNumber") >= answer["block"]
    finally:
        l1.stop()
