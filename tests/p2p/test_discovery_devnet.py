"""Discovery on by default: a devnet whose peers bootstrap to the sequencer only (issue 14).

`rollup devnet up` (two executors) writes `[p2p] discovery = true` and the
sequencer's address as the only bootstrap peer of every executor and of the
settler (node.devnet.configs). On that devnet:

1. the executors find each other through peer exchange (and the settler
   finds an executor); the time from `devnet up` returning to a full mesh is
   reported;
2. an executor that leaves (SIGKILL) and comes back (`rollup devnet
   restart`, same seed and port) is reconnected to by the other and catches
   up; time to reconnect reported;
3. a late joiner (a third executor, not in the devnet, given only the
   sequencer's address) started while the settler is stopped (so L1 brings
   nothing new) finds both executors and reaches the sequencer's head by
   range sync (range_sync_blocks_total).

The devnet is always brought down and the late joiner killed, pass or fail.
"""

from __future__ import annotations

import json
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.devnet import params as p
from node.devnet.ports import random_free_base_port
from node.devnet.toml import dumps
from node.p2p.identity import derive_seed, peer_id_from_seed
from node.rpc.client import SyncRpcClient
from tests.processes.test_sequencer_heal_devnet import Devnet, cli_json, report
from tests.processes.test_settler_gossip import metric_sum, wait_for
from tests.support.processes import Process, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a devnet under load on 2 shared cores


def peer_id(name: str) -> str:
    return str(peer_id_from_seed(derive_seed(p.p2p_seed_label(name))))


class DiscoveryDevnet(Devnet):
    def __init__(self, directory: Path) -> None:
        self.ours: list[Process] = []
        self.directory = directory
        base = random_free_base_port(3)
        self.doc = cli_json(
            "devnet", "up", "--dir", str(directory), "--detach", "--base-port", str(base), "--executors", "2",
            "--l1-block-time-ms", "1000", "--block-time-ms", "100",
        )  # fmt: skip
        self.up_at = time.monotonic()
        self.sequencer = SyncRpcClient(self.doc["sequencer"]["rpc"], timeout=10)
        self.executors = [SyncRpcClient(e["rpc"], timeout=10) for e in self.doc["executors"]]
        self.l1 = SyncRpcClient(self.doc["l1"]["rpc"], timeout=10)

    def config_of(self, name: str) -> dict[str, Any]:
        state = json.loads((self.directory / "devnet.json").read_text())
        path = next(proc["config"] for proc in state["processes"] if proc["name"] == name)
        return tomllib.loads(Path(path).read_text())


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[DiscoveryDevnet]:
    net = DiscoveryDevnet(tmp_path / "net")
    try:
        yield net
    finally:
        for process in net.ours:
            process.kill()
        net.down()


def peers_of(client: SyncRpcClient) -> set[str]:
    return set(client.call("rollup_syncStatus")["p2p"]["peers"])


def unsafe(client: SyncRpcClient) -> int:
    return int(client.call("rollup_syncStatus")["unsafe"]["number"])


def test_peers_bootstrap_to_the_sequencer_only_and_find_each_other(devnet: DiscoveryDevnet) -> None:
    net = devnet
    e0, e1 = net.executors
    names = ("executor-0", "executor-1", "settler")
    for name in names:
        section = net.config_of(name)["p2p"]
        assert section["discovery"] is True and section["bootstrap"] == [section["bootstrap"][0]]
        assert section["bootstrap"][0].endswith(peer_id("sequencer"))

    # 1. the executors find each other through the sequencer
    wait_for(lambda: peer_id("executor-1") in peers_of(e0) and peer_id("executor-0") in peers_of(e1), 60, "mesh")
    meshed_s = time.monotonic() - net.up_at
    settler = SyncRpcClient(net.doc["settler"]["rpc"], timeout=10)
    executors = {peer_id("executor-0"), peer_id("executor-1")}
    wait_for(lambda: executors & set(settler.call("settler_status")["gossip"]["peers"]), 60, "settler finds one")
    report(f"discovery: executors peered {meshed_s:.1f} s after devnet up returned")

    # 2. executor-1 leaves and comes back: executor-0 is connected to it again, and it catches up
    cli_json("devnet", "kill", "executor-1", "--dir", str(net.directory))
    wait_for(lambda: peer_id("executor-1") not in peers_of(e0), 60, "executor-1 gone from executor-0's peers")
    time.sleep(2.0)
    cli_json("devnet", "restart", "executor-1", "--dir", str(net.directory), timeout=180)
    back = time.monotonic()
    wait_for(lambda: peer_id("executor-1") in peers_of(e0), 60, "executor-0 reconnected to executor-1")
    reconnected_s = time.monotonic() - back
    target = unsafe(net.sequencer)
    wait_for(lambda: unsafe(e1) >= target, 60, "the returning executor catching up")
    report(f"discovery: a returning executor reconnected {reconnected_s:.1f} s after its restart returned")

    # 3. a late joiner with only the sequencer's address, while L1 brings nothing new: range sync
    cli_json("devnet", "kill", "settler", "--dir", str(net.directory))
    time.sleep(3.0)  # blocks L1 will not bring
    late = start_late_executor(net)
    started = time.monotonic()
    wait_for(lambda: executors <= peers_of(late), 60, "the late joiner finding both executors")
    found_s = time.monotonic() - started
    target = unsafe(net.sequencer)
    wait_for(lambda: unsafe(late) >= target, 90, f"the late joiner at the sequencer's head {target}")
    late_url = net.ours[-1].url
    assert metric_sum(late_url, "range_sync_blocks_total") >= 1
    report(f"discovery: a late joiner found both executors {found_s:.1f} s after it answered, "
           f"{metric_sum(late_url, 'range_sync_blocks_total'):.0f} blocks by range sync")  # fmt: skip
    assert peer_id_from_seed(derive_seed("late executor")) in peers_of(e0) | peers_of(e1)


def start_late_executor(net: DiscoveryDevnet) -> SyncRpcClient:
    doc = net.config_of("executor-0")
    port = free_port()
    doc["node"]["rpc_port"] = port
    doc["node"]["data_dir"] = str(net.directory / "late-executor-data")
    doc["p2p"]["listen_port"] = free_port()
    doc["p2p"]["seed"] = "late executor"
    doc["attestation"]["key"] = "0x" + "5a" * 32
    path = net.directory / "late-executor.toml"
    path.write_text(dumps(doc))
    process = Process("late-executor", ["-m", "node.executor", "--config", str(path)], net.directory / "late.log", "")
    process.url = f"http://127.0.0.1:{port}"
    net.ours.append(process.start())
    process.wait_healthy(90)
    return SyncRpcClient(process.url, timeout=10)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-x", "-q", "-s"]))
