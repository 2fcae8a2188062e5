"""The devnet's honest challenger is a gossip peer collecting output attestations (node.devnet.configs).

Unit: `rollup devnet up`'s config for the honest challenger has `[p2p]`
(listening at base+1298, bootstrapping to the sequencer and every executor)
and `[attestation]` (its own dev key); the port is among the planned ones
(p2p_ports, find_free_base_port's range); the faulty challenger stays off
gossip. Real devnet (slow): the challenger's `challenger_status` shows peers
and the executors' attestations, and the executors' `rollup_getAttestations`
show the challenger's own signature next to theirs.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import pytest

from node.crypto import PrivateKey
from node.devnet import params as p
from node.devnet.configs import p2p_multiaddr, p2p_ports, write_configs
from node.devnet.layout import DevnetLayout
from node.devnet.params import DevnetSettings
from node.devnet.ports import find_free_base_port, port_is_free
from node.rpc.client import SyncRpcClient
from prover.config import load_challenger_config
from tests.processes.test_fraud_devnet import Devnet, TransferLoad
from tests.support.processes import wait_for

BASE = 30000


def dev_attester(name: str) -> bytes:
    return PrivateKey(hashlib.sha256(f"rollup-devnet attester {name}".encode()).digest()).address


def test_devnet_challenger_config_has_p2p_and_attestation(tmp_path: Path) -> None:
    settings = DevnetSettings(base_port=BASE, executors=2, faulty_challenger=True)
    specs = DevnetLayout.at(tmp_path / "net").processes(settings)
    write_configs(specs, settings)
    honest = next(spec for spec in specs if spec.name == "challenger")
    config = load_challenger_config(honest.config)
    assert config.p2p is not None and config.attestation is not None
    assert config.p2p.listen_port == BASE + p.CHALLENGER_P2P_PORT_OFFSET
    base = BASE + p.P2P_PORT_OFFSET
    assert config.p2p.bootstrap == (
        p2p_multiaddr("sequencer", base),
        p2p_multiaddr("executor-0", base + 1),
        p2p_multiaddr("executor-1", base + 2),
    )
    assert config.attestation.key is not None
    assert config.attestation.key.address == dev_attester("challenger")
    assert config.attestation.output_interval == p.OUTPUT_INTERVAL
    planned = dict(p2p_ports(specs, settings))
    assert planned[BASE + p.CHALLENGER_P2P_PORT_OFFSET] == "challenger p2p"
    assert len(planned) == len(p2p_ports(specs, settings))  # no two listeners share a port
    faulty = load_challenger_config(next(spec for spec in specs if spec.name == "dispute-all").config)
    assert faulty.p2p is None and faulty.attestation is None


def test_free_base_port_covers_the_challenger_p2p_port() -> None:
    base = find_free_base_port(2, start=21000)
    assert port_is_free(base + p.CHALLENGER_P2P_PORT_OFFSET)


def attesters_at(rpc: str, number: int) -> set[bytes]:
    report = SyncRpcClient(rpc).call("rollup_getAttestations", number)
    return {bytes.fromhex(item["signer"][2:]) for item in report["attestations"] if item["agrees"]}


def holds_all(rpc: str, wanted: set[bytes]) -> bool:
    return wanted <= attesters_at(rpc, 20)


def sees_both(url: str) -> dict[str, object] | None:
    status = SyncRpcClient(url).call("challenger_status")["attestations"]
    return dict(status) if status and status["peers"] >= 1 and status["heights"] >= 2 else None


@pytest.mark.slow
def test_devnet_challenger_hears_and_gossips_attestations(tmp_path: Path) -> None:
    net = Devnet(tmp_path / "net", "--executors", "2")
    try:
        doc = net.doc
        url = next(c for c in doc["challengers"] if c["mode"] == "honest")["rpc"]
        executors = [e["rpc"] for e in doc["executors"]]
        with TransferLoad(doc["sequencer"]["rpc"]):
            status = wait_for(functools.partial(sees_both, url), 240, "the devnet challenger to pool attestations")
            assert status["rejected"] == {}
            wanted = {dev_attester("executor-0"), dev_attester("executor-1"), dev_attester("challenger")}
            for rpc in executors:
                wait_for(functools.partial(holds_all, rpc, wanted), 240, f"three attesters at 20 on {rpc}")
    finally:
        net.down()
