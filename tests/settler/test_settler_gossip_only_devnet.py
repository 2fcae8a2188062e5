"""A settler with nothing but a bootstrap address and the L1 URL, on a real devnet (issue 14).

`rollup devnet up` (two executors, the honest challenger, L1 blocks of 1 s,
a 10-block challenge window) runs under a steady load of transfers. Its
settler (a gossip peer that still has the sequencer's RPC as fallback) is
replaced by one whose config has no `sequencer_rpc` at all: `[p2p]` with the
sequencer as the only bootstrap address, and `settler.l1_rpc`. A deposit and
a forced transaction go through L1 meanwhile. Then:

- every batch and every output root the settler sent came from gossip
  (settler_batches_total / settler_outputs_total by source: no "rpc");
- each of its output roots on L1 equals the sequencer's and both executors'
  `rollup_outputAtBlock` at that height (heights past the deposit and the
  forced transaction included): the same bytes as the RPC, computed from
  the held signed blocks;
- the challenger disputes none of them and the first ones finalize;
- its verified chain starts at the proposal the devnet's settler left on L1
  (same proposer key and data directory: the held block there gives the
  proposed root);
- executors derive the batches to the same safe block hashes as the
  sequencer.

The devnet is always brought down and our settler killed, pass or fail.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.devnet.ports import random_free_base_port
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient
from tests.processes.test_sequencer_heal_devnet import Devnet, Senders, cli_json, report, safe_number
from tests.processes.test_settler_gossip import metric_sum, settler_config_doc, start_settler, wait_for
from tests.support.processes import Process, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]  # a devnet under load on 2 shared cores

DEPOSIT_TO = "0x00000000000000000000000000000000000d0e05"
FORCED_TO = "0x00000000000000000000000000000000000f0ced"


class OutputsDevnet(Devnet):
    def __init__(self, directory: Path) -> None:
        self.ours: list[Process] = []
        self.directory = directory
        base = random_free_base_port(2)
        self.doc = cli_json(
            "devnet", "up", "--dir", str(directory), "--detach", "--base-port", str(base), "--executors", "2",
            "--l1-block-time-ms", "1000", "--block-time-ms", "100", "--challenge-window", "10",
        )  # fmt: skip
        self.sequencer = SyncRpcClient(self.doc["sequencer"]["rpc"], timeout=10)
        self.executors = [SyncRpcClient(e["rpc"], timeout=10) for e in self.doc["executors"]]
        self.l1 = SyncRpcClient(self.doc["l1"]["rpc"], timeout=10)


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[OutputsDevnet]:
    net = OutputsDevnet(tmp_path / "net")
    try:
        yield net
    finally:
        for process in net.ours:
            process.kill()
        net.down()


def outputs_of(net: OutputsDevnet, proposer: str) -> list[dict[str, Any]]:
    every = net.l1.call("l1_getOutputs", 0, 256)
    return [o for o in every if str(o["proposer"]).lower() == proposer.lower()]


def output_root(client: SyncRpcClient, number: int) -> str:
    return str(client.call("rollup_outputAtBlock", number)["outputRoot"])


def gossip_only_doc(net: OutputsDevnet) -> dict[str, Any]:
    """The devnet settler's config without sequencer_rpc: its only network inputs are L1 and one peer."""
    doc = settler_config_doc(net)
    del doc["settler"]["sequencer_rpc"]
    doc.pop("faults", None)
    assert len(doc["p2p"]["bootstrap"]) == 1 and "/p2p/" in doc["p2p"]["bootstrap"][0]
    return doc


def test_a_settler_with_only_a_bootstrap_address_and_the_l1_url(devnet: OutputsDevnet) -> None:
    net = devnet
    devnet_settler = net.doc["settler"]["rpc"].rstrip("/")
    wait_for(lambda: metric_sum(devnet_settler, "settler_outputs_total", source="gossip") >= 2, 120, "devnet outputs")
    report(f"devnet settler (gossip with RPC fallback): outputs by source gossip "
           f"{metric_sum(devnet_settler, 'settler_outputs_total', source='gossip'):.0f}, "
           f"rpc {metric_sum(devnet_settler, 'settler_outputs_total', source='rpc'):.0f}")  # fmt: skip
    doc = gossip_only_doc(net)
    os.kill(net.pid("settler"), signal.SIGKILL)
    with Senders(net.doc["sequencer"]["rpc"]) as senders:
        settler = start_settler(net, "settler-gossip-only", doc, free_port())
        proposer = proposer_of(doc)
        started = len(outputs_of(net, proposer))
        deposit = cli_json("deposit", "--amount", "4096", "--to", DEPOSIT_TO, "--key", "dev4", "--wait", "safe",
                           "--dir", str(net.directory))  # fmt: skip
        forced = cli_json("send", "--via-l1", "--to", FORCED_TO, "--amount", "3", "--key", "dev5", "--wait", "safe",
                          "--dir", str(net.directory))  # fmt: skip
        after = max(
            int(deposit["receipts"]["sequencer"]["blockNumber"]), int(forced["receipts"]["sequencer"]["blockNumber"])
        )
        report(f"deposit and forced transaction in L2 blocks up to {after}")
        wait_for(
            lambda: max((int(o["l2BlockNumber"]) for o in outputs_of(net, proposer)), default=0) >= after + 20,
            180,
            f"outputs of ours past L2 block {after + 20}",
        )
        senders.stop.set()
    ours = outputs_of(net, proposer)[started:]
    assert len(ours) >= 3, ours
    assert metric_sum(settler.url, "settler_outputs_total", source="rpc") == 0
    assert metric_sum(settler.url, "settler_batches_total", source="rpc") == 0
    assert metric_sum(settler.url, "settler_outputs_total", source="gossip") >= len(ours)
    # at least one: under heavy load the sequencing window may close first, and L1 derives default blocks
    assert metric_sum(settler.url, "settler_batches_total", source="gossip") >= 1
    heights = [int(o["l2BlockNumber"]) for o in ours]
    assert any(h >= after for h in heights)
    target = max(heights)
    for executor in net.executors:
        wait_for(lambda e=executor: safe_number(e) >= target, 120, f"executor safe past {target}")
    for output in ours:
        k = int(output["l2BlockNumber"])
        roots = {output_root(client, k) for client in (net.sequencer, *net.executors)}
        assert roots == {output["outputRoot"]}, f"L2 block {k}: L1 has {output['outputRoot']}, nodes {roots}"
    for k in range(target - 5, target + 1):
        hashes = {c.call("rollup_getBlockByNumber", k)["hash"] for c in (net.sequencer, *net.executors)}
        assert len(hashes) == 1, f"L2 block {k}: {hashes}"
    # the challenger agrees: nothing disputed, and the first ones finalize
    wait_for(
        lambda: any(o["status"] == "finalized" for o in outputs_of(net, proposer)[started:]),
        120,
        "one of our outputs finalized",
    )
    final = outputs_of(net, proposer)[started:]
    assert [o for o in final if o["status"] in ("disputed", "defeated") or o.get("dispute")] == []
    status = settler.call("settler_status")
    report(f"gossip-only settler: {len(ours)} outputs at {heights}, verified {status['verified']}, "
           f"health {status['health']['status']}, seal->post {status['sealToPost']}")  # fmt: skip
    assert status["verified"]["tip"] >= target and status["health"]["status"] == "ok"
    log = settler.log.read_text()
    assert "no sequencer_rpc to fall back to" in log
    assert "verified chain anchored at our live proposal" in log  # the devnet settler's, read from L1
    assert settler.alive()


def proposer_of(doc: dict[str, Any]) -> str:
    key = str(doc["settler"]["proposer_key"])
    assert key.startswith("dev"), key
    return "0x" + dev_account(int(key[3:])).address.hex()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-x", "-q", "-s"]))
