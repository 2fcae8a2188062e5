"""Allied challengers on a real devnet: one bond per wrong output, and no way to exploit the hold-back.

Each test starts `rollup devnet up` (one executor, 250 ms L1 blocks, a
150-block challenge window and a 60-block game clock, so an honest game ends
well inside the window), stops the devnet's own challenger, and runs its own
challenger processes (`python -m prover`, the devnet challenger's config with
another key and data directory). The faulty proposer is switched on at run
time until one wrong output is on L1.

(a) Two honest challengers, allies of each other and gossip peers: exactly
    one posts a bond on the wrong output (the other holds back,
    challenger_status says so); the disputer's notice reached the other;
    the output is defeated.
(b) The ally that disputed first is frozen (SIGSTOP) right after its
    dispute: the other joins while the window is open, before the frozen
    one's clock runs out, and the output is still defeated.
(c) A non-ally puppet (tests.challenger.puppet_challenger: disputes what
    is wrong at once, then plays to lose) is already in the dispute when our
    challenger (whose only ally is offline) comes up: it never takes the
    puppet's games as cover (at most it waits out its rank's stagger for its
    ally), joins, wins, and the output is defeated.

Every devnet is brought down and every extra process killed, pass or fail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.devnet.configs import p2p_multiaddr
from node.devnet.handle import Devnet as DevnetHandle
from node.devnet.params import p2p_seed_label
from node.devnet.toml import dumps
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient
from tests.processes.test_fraud_devnet import Devnet, TransferLoad, cli, games, outputs
from tests.support.p2p_peer import free_port
from tests.support.processes import wait_for

WINDOW, CLOCK, BACKSTOP = 150, 60, 5
KEYS = {"a": 7, "b": 4}  # funded L1 dev accounts no devnet role uses
PUPPET_MODULE = "tests.challenger.puppet_challenger"


def address(name: str) -> str:
    return "0x" + dev_account(KEYS[name]).address.hex()


class Challengers:
    """Challenger processes of our own next to a devnet whose own challenger is stopped."""

    def __init__(self, net: Devnet, tmp: Path) -> None:
        self.net, self.tmp = net, tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.urls: dict[str, str] = {}
        self.p2p_ports: dict[str, int] = {}
        cli("devnet", "kill", "challenger", "--dir", str(net.directory))

    def start(
        self,
        name: str,
        key: str,
        allies: list[str],
        module: str = "prover",
        stagger: int = 2,
        gossip_to: list[str] | None = None,
    ) -> str:
        """`gossip_to`: with [p2p] + [attestation], bootstrapping to these challengers of ours (dispute notices)."""
        template = tomllib.loads(Path(self.net.process("challenger")["config"]).read_text())
        port = free_port()
        doc = {k: v for k, v in template.items() if k not in ("p2p", "attestation")}
        doc["node"] = {**doc["node"], "data_dir": str(self.tmp / name), "rpc_port": port}
        doc["challenger"] = {**doc["challenger"], "key": key, "allies": allies, "backstop_blocks": BACKSTOP}
        doc["challenger"]["ally_stagger_blocks"] = stagger
        if gossip_to is not None:
            self.p2p_ports[name] = free_port()
            bootstrap = [p2p_multiaddr(f"ours {other}", self.p2p_ports[other]) for other in gossip_to]
            doc["p2p"] = {
                "listen_port": self.p2p_ports[name],
                "seed": p2p_seed_label(f"ours {name}"),
                "bootstrap": bootstrap,
            }
            doc["attestation"] = {"output_interval": template["attestation"]["output_interval"]}
        config = self.tmp / f"{name}.toml"
        config.write_text(dumps(doc))
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        self.procs[name] = proc
        self.net.extra.append(proc)
        url = f"http://127.0.0.1:{port}/"
        self.urls[name] = url
        wait_for(lambda: SyncRpcClient(url).call("challenger_status"), 120, f"challenger {name} to start")
        return url

    def status(self, name: str) -> dict[str, Any]:
        return dict(SyncRpcClient(self.urls[name]).call("challenger_status"))

    def metric(self, name: str, line: str) -> float:
        text = urllib.request.urlopen(self.urls[name] + "metrics", timeout=10).read().decode()
        values = [float(row.rsplit(" ", 1)[1]) for row in text.splitlines() if row.startswith(line)]
        return sum(values)

    def log(self, name: str) -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")[-4000:]


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    net = Devnet(tmp_path / "net", "--challenge-window", str(WINDOW), "--game-clock", str(CLOCK))
    try:
        yield net
    finally:
        net.down()


def one_wrong_output(net: Devnet) -> dict[str, Any]:
    """Switch the faulty proposer on until one wrong output is on L1 (later ones are honest again)."""
    doc = net.doc
    executor = SyncRpcClient(doc["executors"][0]["rpc"])
    before = max((o["index"] for o in outputs(doc)), default=-1)

    def wrong() -> dict[str, Any] | None:
        for output in outputs(doc):
            if output["index"] > before:
                ours = executor.call("rollup_outputAtBlock", output["l2BlockNumber"])
                if ours["outputRoot"] != output["outputRoot"]:
                    return output
        return None

    control = DevnetHandle.from_dir(net.directory)  # the control RPC: faster than a CLI process under load
    control.faulty_proposer("tx")
    try:
        return wait_for(wrong, 240, "a wrong output from the faulty proposer")
    finally:
        control.faulty_proposer(None)


def games_of(net: Devnet, index: int) -> list[dict[str, Any]]:
    return [g for g in games(net.doc) if g["outputIndex"] == index]


def output_status(net: Devnet, index: int) -> str:
    return str(next(o for o in outputs(net.doc) if o["index"] == index)["status"])


def defeated(net: Devnet, index: int) -> bool:
    return output_status(net, index) == "defeated"


@pytest.mark.slow
@pytest.mark.timeout(900)  # a devnet, two or three challengers and a whole dispute, on a shared machine
def test_two_allied_challengers_post_one_bond(devnet: Devnet, tmp_path: Path) -> None:
    ours = Challengers(devnet, tmp_path)
    ours.start("a", "dev7", [address("b")], gossip_to=[])
    ours.start("b", "dev4", [address("a")], gossip_to=["a"])  # dispute notices between them
    with TransferLoad(devnet.doc["sequencer"]["rpc"]):
        wrong = one_wrong_output(devnet)
        index = wrong["index"]
        wait_for(lambda: defeated(devnet, index), WINDOW * 0.25 + 120, f"output {index} defeated")
    played = {str(g["challenger"]).lower() for g in games_of(devnet, index)}
    assert len(played) == 1, played  # one bond between the two allies
    disputer = "a" if played == {address("a")} else "b"
    other = "b" if disputer == "a" else "a"
    assert played == {address(disputer)}
    assert all(g["status"] == "challenger_won" for g in games_of(devnet, index))
    assert index in ours.status(other)["allies"]["heldBack"], ours.log(other)
    assert ours.status(disputer)["stats"]["won"] >= 1
    # the disputer announced it on gossip and the other kept the notice
    assert ours.metric(disputer, "dispute_notices_published_total") >= 1
    assert ours.metric(other, 'dispute_notices_received_total{outcome="ally"}') >= 1


@pytest.mark.slow
@pytest.mark.timeout(900)  # a devnet, two or three challengers and a whole dispute, on a shared machine
def test_an_ally_that_stalls_is_backed_up_in_time(devnet: Devnet, tmp_path: Path) -> None:
    ours = Challengers(devnet, tmp_path)
    ours.start("a", "dev7", [address("b")])
    ours.start("b", "dev4", [address("a")])
    with TransferLoad(devnet.doc["sequencer"]["rpc"]):
        wrong = one_wrong_output(devnet)
        index = wrong["index"]
        first = wait_for(lambda: games_of(devnet, index), 120, f"the first dispute of output {index}")
        disputer = "a" if str(first[0]["challenger"]).lower() == address("a") else "b"
        other = "b" if disputer == "a" else "a"
        os.kill(ours.procs[disputer].pid, signal.SIGSTOP)  # it disputed, and now it never moves again
        joined = wait_for(
            lambda: [g for g in games_of(devnet, index) if str(g["challenger"]).lower() == address(other)],
            WINDOW * 0.25 + 60,
            f"{other} to join the dispute of output {index}",
        )
        wait_for(lambda: defeated(devnet, index), WINDOW * 0.25 + 180, f"output {index} defeated")
    assert joined[0]["createdAt"] < wrong["finalizesAt"]
    by_challenger = {str(g["challenger"]).lower(): g for g in games_of(devnet, index)}
    assert by_challenger[address(other)]["status"] == "challenger_won"
    assert by_challenger[address(disputer)]["status"] == "defender_won"  # the frozen ally lost on time
    print(
        f"output {index} proposed at L1 {wrong['proposedAt']}: stalled ally disputed at {first[0]['createdAt']}, "
        f"backup joined at {joined[0]['createdAt']} (window closes at {wrong['finalizesAt']})",
        file=sys.stderr,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)  # a devnet, two or three challengers and a whole dispute, on a shared machine
def test_a_non_ally_puppet_does_not_hold_us_back(devnet: Devnet, tmp_path: Path) -> None:
    ours = Challengers(devnet, tmp_path)
    puppet = "0x" + dev_account(5).address.hex()
    ours.start("puppet", "dev5", [], module=PUPPET_MODULE)  # disputes wrong outputs at once, plays to lose
    with TransferLoad(devnet.doc["sequencer"]["rpc"]):
        wrong = one_wrong_output(devnet)
        index = wrong["index"]
        wait_for(lambda: games_of(devnet, index), 120, f"the puppet's dispute of output {index}")
        ours.start("a", "dev7", [address("b")])  # comes up with the puppet in the dispute; its only ally is offline
        wait_for(
            lambda: address("a") in {str(g["challenger"]).lower() for g in games_of(devnet, index)},
            120,
            f"our challenger in output {index}'s dispute",
        )
        wait_for(lambda: defeated(devnet, index), WINDOW * 0.25 + 180, f"output {index} defeated")
    by_challenger = {str(g["challenger"]).lower(): g for g in games_of(devnet, index)}
    assert by_challenger[address("a")]["status"] == "challenger_won", ours.log("a")
    assert by_challenger[puppet]["createdAt"] < by_challenger[address("a")]["createdAt"] < wrong["finalizesAt"]
    # it may wait out its rank's stagger for its (offline) ally, but never takes the puppet's games as cover
    log = (tmp_path / "a.log").read_text(errors="replace")
    assert f"output {index} is wrong; holding back our bond: ally" not in log
    # the puppet's own result depends on the proposer's defence: a slow one can lose on time even to a puppet
    print(f"puppet's game: {by_challenger[puppet]['status']}", file=sys.stderr)
