"""Output attestations on a real two-executor devnet (`rollup devnet up`).

Both executors sign their derived output root at every output height and
gossip it; each one's `rollup_getAttestations` shows both signers, agreeing.
A faulty proposer then puts a wrong root on L1: `rollup outputs --json`
flags that proposal as contradicted by both attesters while the honest ones
are attested by both. An executor killed with SIGKILL and restarted gets its
pool back from its journal. Malformed `rollup_getAttestations` params answer
-32602 and the executor keeps serving. The devnet is always brought down.
"""

from __future__ import annotations

import functools
import hashlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from node.crypto import PrivateKey
from node.devnet.configs import p2p_multiaddr
from node.devnet.toml import dumps
from node.rpc.client import SyncRpcClient
from node.rpc.errors import RpcError
from tests.processes.test_fraud_devnet import L1_BLOCK_MS, Devnet, TransferLoad, cli, cli_json, games, outputs
from tests.support.p2p_peer import free_port
from tests.support.processes import wait_for

INVALID_PARAMS = -32602


def attester(name: str) -> str:
    secret = hashlib.sha256(f"rollup-devnet attester {name}".encode()).digest()
    return "0x" + PrivateKey(secret).address.hex()


def attested_signers(rpc: str, number: int) -> dict[str, bool | None]:
    report = SyncRpcClient(rpc).call("rollup_getAttestations", number)
    return {item["signer"].lower(): item["agrees"] for item in report["attestations"]}


def both(rpc: str, signers: set[str]) -> dict[str, bool | None] | None:
    seen = attested_signers(rpc, 20)
    return seen if signers <= set(seen) else None  # the devnet's challenger attests too


@pytest.mark.slow
def test_executors_exchange_attestations_and_a_wrong_proposal_is_contradicted(tmp_path: Path) -> None:
    net = Devnet(tmp_path / "net", "--executors", "2", "--faulty-proposer", "60", "--fault-mode", "tx")
    doc = net.doc
    try:
        signers = {attester("executor-0"), attester("executor-1")}
        executors = [e["rpc"] for e in doc["executors"]]
        with TransferLoad(doc["sequencer"]["rpc"]):
            for rpc in executors:
                seen = wait_for(
                    functools.partial(both, rpc, signers),
                    180,
                    f"both executors' attestations for block 20 at {rpc}",
                )
                assert all(seen.values()), seen  # both agree with this executor's own root
            wrong = wait_for(
                lambda: next((o for o in outputs(doc) if o["l2BlockNumber"] >= 60), None),
                240,
                "the faulty proposer's output",
            )
            ours = SyncRpcClient(executors[0]).call("rollup_outputAtBlock", wrong["l2BlockNumber"])
            assert ours["outputRoot"] != wrong["outputRoot"]

            def entry() -> dict[str, Any] | None:
                for record in cli_json("outputs", "--dir", str(net.directory)):
                    view = record.get("attestations")
                    if record["index"] == wrong["index"] and view and signers <= {o["signer"] for o in view["other"]}:
                        return dict(record)
                return None

            flagged = wait_for(entry, 180, "the wrong proposal flagged as contradicted by both attesters")
            game = wait_for(
                lambda: next((g for g in games(doc) if g["outputIndex"] == wrong["index"]), None),
                120,
                "the challenger's dispute of the wrong output",
            )
        view = flagged["attestations"]
        assert view["contradicted"] and view["same"] == []
        assert signers <= {o["signer"] for o in view["other"]}
        assert {o["outputRoot"] for o in view["other"]} == {ours["outputRoot"]}
        honest = next(r for r in cli_json("outputs", "--dir", str(net.directory)) if r["index"] == 0)
        assert signers <= set(honest["attestations"]["same"]) and not honest["attestations"]["contradicted"]
        delay_blocks = game["createdAt"] - wrong["proposedAt"]
        print(
            f"wrong proposal (L1 block {wrong['proposedAt']}) -> dispute opened (L1 block {game['createdAt']}): "
            f"{delay_blocks} L1 blocks = {delay_blocks * L1_BLOCK_MS} ms without attestations",
            file=sys.stderr,
        )
        # bad input: precise errors, and the executor keeps serving
        client = SyncRpcClient(executors[1])
        # kill -9 and restart: the executor's journal (<data_dir>/attestations.journal) gives its pool back
        cli("devnet", "kill", "executor-1", "--dir", str(net.directory))
        cli("devnet", "restart", "executor-1", "--dir", str(net.directory))
        restored = re.findall(r"attestation journal: (\d+) attestations restored", net.logs("executor-1", 400))
        assert restored and int(restored[-1]) >= 2, net.logs("executor-1")
        for params in ([], ["ten"], [-1], [True], [10, 20], [{"n": 1}], [2**70]):
            with pytest.raises(RpcError) as info:
                client.call("rollup_getAttestations", *params)
            assert info.value.code == INVALID_PARAMS, params
        assert client.call("rollup_getAttestations", 15)["attestations"] == []
        assert signers <= set(attested_signers(executors[1], 20))
    finally:
        net.down()


def start_attesting_challenger(net: Devnet, tmp: Path) -> tuple[str, str]:
    """A second honest challenger (dev7) with [p2p] + [attestation], bootstrapped to both executors;
    returns (its RPC URL, its L1 address)."""
    honest = net.process("challenger")
    doc = tomllib.loads(Path(honest["config"]).read_text())
    rpc_port, p2p_port = free_port(), free_port()
    doc["node"] = {**doc["node"], "data_dir": str(tmp / "data"), "rpc_port": rpc_port}
    doc["challenger"] = {**doc["challenger"], "key": "dev7"}
    bootstrap = []
    for name in ("executor-0", "executor-1"):
        executor_doc = tomllib.loads(Path(net.process(name)["config"]).read_text())
        bootstrap.append(p2p_multiaddr(name, int(executor_doc["p2p"]["listen_port"])))
    doc["p2p"] = {"listen_port": p2p_port, "seed": "rollup-devnet challenger-attesting", "bootstrap": bootstrap}
    doc["attestation"] = {"key": "0x" + hashlib.sha256(b"challenger-attesting").hexdigest(), "output_interval": 10}
    config = tmp / "challenger.toml"
    config.write_text(dumps(doc))
    log = (tmp / "challenger.log").open("wb")
    net.extra.append(
        subprocess.Popen(
            [sys.executable, "-m", "prover", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    )
    url = f"http://127.0.0.1:{rpc_port}/"
    status = wait_for(lambda: SyncRpcClient(url).call("challenger_status"), 120, "the attesting challenger to start")
    return url, str(status["address"]).lower()


@pytest.mark.slow
def test_a_challenger_with_attestations_flags_and_disputes_the_wrong_proposal(tmp_path: Path) -> None:
    """Both honest challengers (the devnet's and an extra one, both with attestations since the devnet's
    challenger gossips) dispute the wrong output; the time from the proposal to each dispute is printed."""
    net = Devnet(tmp_path / "net", "--executors", "2")
    doc = net.doc
    try:
        extra = tmp_path / "extra"
        extra.mkdir()
        url, address = start_attesting_challenger(net, extra)
        plain = next(c for c in doc["challengers"] if c["mode"] == "honest")["address"].lower()
        executor = doc["executors"][0]["rpc"]
        with TransferLoad(doc["sequencer"]["rpc"]):
            # the executors hear the challenger's own attestations (and it theirs, checked below)
            safe = int(SyncRpcClient(executor).call("rollup_syncStatus")["safe"]["number"])
            height = (safe // 10 + 2) * 10
            wait_for(lambda: len(attested_signers(executor, height)) >= 4, 240, f"four attesters at {height}")
            before = max((o["index"] for o in outputs(doc)), default=-1)
            cli("devnet", "faulty-proposer", "tx", "--dir", str(net.directory))
            try:
                wrong = wait_for(
                    lambda: next((o for o in outputs(doc) if o["index"] > before and is_wrong(executor, o)), None),
                    300,
                    "a wrong output from the faulty proposer",
                )
            finally:
                cli("devnet", "faulty-proposer", "off", "--dir", str(net.directory))
            flagged = wait_for(
                lambda: [
                    c
                    for c in SyncRpcClient(url).call("challenger_status")["attestations"]["contradicted"]
                    if c["index"] == wrong["index"] and c["other"] >= 2  # both executors (and itself)
                ],
                60,
                "the attesting challenger to flag the wrong output",
            )
            created = wait_for(
                lambda: both_disputes(doc, wrong["index"], {plain, address}), 120, "both challengers' disputes"
            )
        assert flagged[0]["same"] == 0
        for who, name in ((plain, "of the devnet"), (address, "started by the test")):
            blocks = created[who] - wrong["proposedAt"]
            print(
                f"wrong proposal at L1 block {wrong['proposedAt']} -> dispute by the challenger {name} at "
                f"{created[who]}: {blocks} L1 blocks ({blocks * L1_BLOCK_MS} ms)",
                file=sys.stderr,
            )
    finally:
        net.down()


def is_wrong(executor: str, output: dict[str, Any]) -> bool:
    ours = SyncRpcClient(executor).call("rollup_outputAtBlock", output["l2BlockNumber"])
    return bool(ours["outputRoot"] != output["outputRoot"])


def both_disputes(doc: dict[str, Any], index: int, challengers: set[str]) -> dict[str, int] | None:
    created: dict[str, int] = {}
    for game in games(doc):
        who = str(game["challenger"]).lower()
        if game["outputIndex"] == index and who in challengers:
            created[who] = min(created.get(who, 1 << 62), int(game["createdAt"]))
    return created if set(created) == challengers else None
