"""Where a client connects: explicit URLs, or a devnet directory's devnet.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.client import AsyncRollupClient, RollupClient, errors
from node.client.config import ws_url
from node.client.sansio import NodeRef


def _write_devnet(directory: Path) -> Path:
    directory.mkdir(parents=True)
    doc = {
        "l1": {"rpc": "http://127.0.0.1:8545/", "ws": "ws://127.0.0.1:8545/ws"},
        "sequencer": {"rpc": "http://127.0.0.1:9545/", "ws": "ws://127.0.0.1:9545/ws"},
        "executors": [
            {"name": "executor-0", "rpc": "http://127.0.0.1:9745/", "ws": "ws://127.0.0.1:9745/ws"},
            {"name": "executor-1", "rpc": "http://127.0.0.1:9746/", "ws": "ws://127.0.0.1:9746/ws"},
        ],
        "challengers": [
            {"mode": "faulty", "rpc": "http://127.0.0.1:9999/"},
            {"mode": "honest", "rpc": "http://127.0.0.1:9695/"},
        ],
        "fees": {"l2_min_fee": 1000, "l1_min_fee": 2000},
    }
    (directory / "devnet.json").write_text(json.dumps(doc))
    return directory


def test_from_devnet_reads_every_endpoint(tmp_path: Path) -> None:
    directory = _write_devnet(tmp_path / "net")
    for client in (RollupClient.from_devnet(directory), AsyncRollupClient.from_devnet(str(directory))):
        ends = client.endpoints
        assert ends.l2 == NodeRef("sequencer", "http://127.0.0.1:9545/")
        assert ends.confirmers == (
            NodeRef("executor-0", "http://127.0.0.1:9745/"),
            NodeRef("executor-1", "http://127.0.0.1:9746/"),
        )
        assert ends.l1 == "http://127.0.0.1:8545/" and ends.proof_rpc == "http://127.0.0.1:9695/"
        assert ends.ws == "ws://127.0.0.1:9545/ws" and ends.l2_min_fee == 1000
    override = RollupClient.from_devnet(directory, rpc="http://127.0.0.1:9746/").endpoints
    assert override.l2 == NodeRef("rpc", "http://127.0.0.1:9746/") and override.confirmers == (override.l2,)
    assert override.ws == "ws://127.0.0.1:9746/ws" and override.l1 == "http://127.0.0.1:8545/"


def test_from_devnet_refuses_a_missing_or_malformed_devnet(tmp_path: Path) -> None:
    with pytest.raises(errors.ClientError, match="no devnet at"):
        RollupClient.from_devnet(tmp_path / "none")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "devnet.json").write_text("[1, 2]")
    with pytest.raises(errors.ClientError, match="is not a devnet state file"):
        RollupClient.from_devnet(tmp_path / "bad")


def test_explicit_urls() -> None:
    client = RollupClient("http://127.0.0.1:9545/", "http://127.0.0.1:8545/")
    assert client.endpoints.confirmers == (client.endpoints.l2,) and client.endpoints.proof_rpc is None
    assert ws_url("http://127.0.0.1:9545/") == "ws://127.0.0.1:9545/ws"
    assert ws_url("https://node.example/rpc") == "wss://node.example/ws"
    with pytest.raises(errors.ClientError, match="no node to get withdrawal proofs from"):
        client.complete_withdrawal("0x" + "11" * 32, "0x" + "22" * 32)
