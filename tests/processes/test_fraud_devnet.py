"""Fraud proofs on real multi-process devnets started with `rollup devnet up`.

- A faulty proposer (one transaction's post-state wrong): the honest
  challenger disputes, plays the bisection down to a one-step proof on that
  transaction and wins before the challenge window ends, taking the bond;
  the wrong root is defeated, the correct root for that block is proposed
  again and finalizes, and a withdrawal from the honest chain is paid on L1.
- A faulty challenger (disputes everything) against the honest proposer:
  the honest challenger defends, the faulty one loses its bond, the output
  finalizes.
- The honest challenger killed (SIGKILL) mid-game and restarted still wins.

Fast L1 blocks (250 ms), short windows and clocks; every devnet is brought
down in a fixture teardown (leftover pids are SIGKILLed), pass or fail.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from node.crypto import to_checksum_address
from node.devnet.ports import random_free_base_port
from node.devnet.procfs import is_our_process
from node.keys.hd import dev_account
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from node.tx import Transfer, sign_tx
from tests.support.processes import wait_for

ROLLUP = [sys.executable, "-m", "node.cli.main"]
L1_BLOCK_MS = 250
GENESIS = 10**22
BOND = 10**18
FAST = ["--executors", "1", "--l1-block-time-ms", str(L1_BLOCK_MS), "--block-time-ms", "100"]


# ---------------------------------------------------------------- helpers


def cli(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*ROLLUP, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise AssertionError(
            f"rollup {' '.join(args)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def cli_json(*args: str, timeout: float = 120) -> Any:
    return json.loads(cli(*args, "--json", timeout=timeout).stdout)


def l1_balance(doc: dict[str, Any], address: str) -> int:
    return int(SyncRpcClient(doc["l1"]["rpc"]).call("l1_getBalance", address))


def games(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(SyncRpcClient(doc["l1"]["rpc"]).call("l1_getGames", 0, 256))


def outputs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(SyncRpcClient(doc["l1"]["rpc"]).call("l1_getOutputs", 0, 256))


def challenger(doc: dict[str, Any], mode: str) -> dict[str, Any]:
    return next(c for c in doc["challengers"] if c["mode"] == mode)


class Devnet:
    """A detached devnet in `directory`; `down()` always stops it and kills whatever is left."""

    def __init__(self, directory: Path, *flags: str) -> None:
        self.directory = directory
        self.extra: list[subprocess.Popen[bytes]] = []
        base = random_free_base_port(1)
        self.doc: dict[str, Any] = cli_json(
            "devnet", "up", "--dir", str(directory), "--detach", "--base-port", str(base), *FAST, *flags, timeout=120
        )

    def process(self, name: str) -> dict[str, Any]:
        state = json.loads((self.directory / "devnet.json").read_text())
        return next(p for p in state["processes"] if p["name"] == name)

    def down(self) -> None:
        for proc in self.extra:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        state_file = self.directory / "devnet.json"
        if not state_file.exists():
            return
        subprocess.run([*ROLLUP, "devnet", "down", "--dir", str(self.directory)], capture_output=True, timeout=120)
        for proc in json.loads(state_file.read_text()).get("processes", []):
            pid = proc.get("pid")
            if isinstance(pid, int) and is_our_process(pid, proc["config"]):
                os.kill(pid, signal.SIGKILL)

    def logs(self, name: str, lines: int = 60) -> str:
        path = self.directory / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


class TransferLoad:
    """Background L2 transfers (dev2 -> dev3 every 100 ms) so every block range holds transactions."""

    def __init__(self, sequencer_rpc: str, sender: int = 2, to: int = 3) -> None:
        self.client = SyncRpcClient(sequencer_rpc)
        self.key = dev_account(sender)
        self.to = dev_account(to).address
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TransferLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)

    def _run(self) -> None:
        nonce: int | None = None
        while not self.stop.wait(0.1):
            try:
                if nonce is None:
                    chain_id = int(self.client.call("rollup_chainId"))
                    nonce = int(self.client.call("rollup_getNonce", "0x" + self.key.address.hex(), "latest"))
                tx = sign_tx(self.key, chain_id, nonce, 10**9, Transfer(self.to, 7))
                self.client.call("rollup_sendRawTransaction", "0x" + tx.encode().hex())
                nonce += 1
            except (RpcError, RpcTransportError):
                nonce = None  # re-read the nonce


@pytest.fixture
def make_devnet(tmp_path: Path) -> Iterator[Callable[..., Devnet]]:
    started: list[Devnet] = []

    def make(*flags: str) -> Devnet:
        net = Devnet(tmp_path / f"net{len(started)}", *flags)
        started.append(net)
        return net

    try:
        yield make
    finally:
        for net in started:
            net.down()


def deposit_and_withdraw(net: Devnet, key: str, deposit: int, amount: int) -> str:
    cli("deposit", "--dir", str(net.directory), "--key", key, "--amount", str(deposit), "--wait", "safe")
    sent = cli_json("withdraw", "--dir", str(net.directory), "--key", key, "--amount", str(amount))
    return str(sent["withdrawalId"])


def report(line: str) -> None:
    print(line, file=sys.stderr)


# ---------------------------------------------------------------- the tests


@pytest.mark.slow
def test_faulty_proposer_is_defeated_by_a_one_step_proof(make_devnet: Callable[..., Devnet]) -> None:
    net = make_devnet(
        "--faulty-proposer", "100", "--fault-mode", "tx", "--challenge-window", "40", "--game-clock", "20"
    )
    doc = net.doc
    honest = challenger(doc, "honest")
    before = l1_balance(doc, honest["address"])
    try:
        with TransferLoad(doc["sequencer"]["rpc"]):
            withdrawal_id = deposit_and_withdraw(net, "dev1", 10**18, 3 * 10**17)
            defeated = wait_for(
                lambda: next((o for o in outputs(doc) if o["status"] == "defeated"), None),
                60,
                "the wrong output to be defeated",
            )
        game = next(g for g in games(doc) if g["outputIndex"] == defeated["index"])
        # The challenger won with a one-step proof on a transaction step, before the window closed.
        assert game["status"] == "challenger_won" and game["winner"] == honest["address"]
        assert game["phase"] == "over" and game["blockNumber"] is not None
        assert game["lo"] < game["stepCount"] - 1, "the proof should be on a transaction, not the end-of-block step"
        assert game["resolvedAt"] < defeated["finalizesAt"]
        assert defeated["l2BlockNumber"] >= 100 and defeated["dispute"]["games"] == [game["gameId"]]
        # Its bond is the challenger's (minus a few L1 fees).
        assert l1_balance(doc, honest["address"]) > before + BOND - 10**16
        stats = wait_for(
            lambda: (s := SyncRpcClient(honest["rpc"]).call("challenger_status")["stats"])["won"] and s,
            10,
            "the challenger to record its win",
        )
        assert stats["won"] == 1 and stats["proofs"] == 1 and stats["lost"] == 0
        # The correct root for that block is proposed again and finalizes.
        again = wait_for(
            lambda: next(
                (
                    o
                    for o in outputs(doc)
                    if o["l2BlockNumber"] == defeated["l2BlockNumber"] and o["status"] == "finalized"
                ),
                None,
            ),
            120,
            "a correct output for the defeated block to finalize",
        )
        assert again["outputRoot"] != defeated["outputRoot"]
        # A withdrawal from the honest chain is paid on L1.
        recipient = to_checksum_address(dev_account(1).address)
        l1_before = l1_balance(doc, recipient)
        journey = cli_json(
            "complete-withdrawal", withdrawal_id, "--dir", str(net.directory), "--key", "dev1", timeout=120
        )
        assert journey["paid"] is True and journey["amount"] == str(3 * 10**17)
        assert l1_balance(doc, recipient) > l1_before + 3 * 10**17 - 10**15
        paid = cli_json("withdrawals", "--dir", str(net.directory))
        assert [w["status"] for w in paid if w["withdrawalId"] == withdrawal_id] == ["finalized"]
        report(
            f"faulty proposer game: {game['moves']} moves + 1 dispute = {game['moves'] + 1} L1 txs, "
            f"{game['resolvedAt'] - game['createdAt']} L1 blocks from dispute to resolution, "
            f"witness {stats['witnessBytes']} bytes, one-step proof on step {game['lo']} of {game['stepCount']} "
            f"of L2 block {game['blockNumber']}"
        )
    except BaseException:
        report(net.logs("challenger"))
        report(net.logs("settler"))
        raise


@pytest.mark.slow
def test_faulty_challenger_loses_its_bond(make_devnet: Callable[..., Devnet]) -> None:
    net = make_devnet("--faulty-challenger", "--challenge-window", "30", "--game-clock", "20")
    doc = net.doc
    faulty = challenger(doc, "dispute_all")
    try:
        with TransferLoad(doc["sequencer"]["rpc"]):
            lost = wait_for(
                lambda: next((g for g in games(doc) if g["status"] == "defender_won"), None),
                60,
                "the faulty challenger to lose a game",
            )
        # the proposer defends its output and the honest challenger joins the defence: each plays its own game
        defenders = {doc["roles"]["proposer"], challenger(doc, "honest")["address"]}
        assert lost["challenger"] == faulty["address"] and lost["winner"] in defenders
        assert all(g["status"] != "challenger_won" for g in games(doc))
        final = wait_for(
            lambda: next(
                (o for o in outputs(doc) if o["index"] == lost["outputIndex"] and o["status"] == "finalized"), None
            ),
            60,
            "the disputed output to finalize",
        )
        assert lost["gameId"] in final["dispute"]["games"]
        assert {d["address"] for d in final["dispute"]["defenders"]} <= defenders
        assert l1_balance(doc, faulty["address"]) < GENESIS - BOND + 10**16  # its bond is gone
        stats = wait_for(
            lambda: (
                (s := SyncRpcClient(challenger(doc, "honest")["rpc"]).call("challenger_status")["stats"])["won"] and s
            ),
            10,
            "the honest challenger to record its win",
        )
        assert stats["lost"] == 0
        text = cli("disputes", "--dir", str(net.directory)).stdout
        assert "defender_won" in text
        report(
            f"faulty challenger game: {lost['moves']} moves, {lost['resolvedAt'] - lost['createdAt']} L1 blocks, "
            f"honest defender witness sizes {stats['witnessBytes']}"
        )
    except BaseException:
        report(net.logs("challenger"))
        report(net.logs("dispute-all"))
        raise


@pytest.mark.slow
def test_challenger_killed_mid_game_resumes_and_wins(make_devnet: Callable[..., Devnet]) -> None:
    net = make_devnet("--faulty-proposer", "50", "--challenge-window", "40", "--game-clock", "40")
    doc = net.doc
    honest = challenger(doc, "honest")
    record = net.process("challenger")
    try:
        with TransferLoad(doc["sequencer"]["rpc"]):
            game = wait_for(
                lambda: next((g for g in games(doc) if g["status"] == "in_progress" and g["moves"] >= 2), None),
                60,
                "a game in progress",
                interval=0.05,
            )
        os.kill(record["pid"], signal.SIGKILL)
        killed_at = game["moves"]
        time.sleep(1.0)  # the game waits on our clock meanwhile
        with open(record["log"], "ab") as log:
            net.extra.append(
                subprocess.Popen(
                    [*ROLLUP, "challenger", "--config", record["config"]],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        over = wait_for(
            lambda: next(
                (g for g in games(doc) if g["gameId"] == game["gameId"] and g["status"] != "in_progress"), None
            ),
            60,
            "the game to end after the restart",
        )
        assert over["status"] == "challenger_won" and over["winner"] == honest["address"]
        assert over["moves"] > killed_at
        report(
            f"killed at move {killed_at}; the restarted challenger won after {over['moves']} moves "
            f"({over['resolvedAt'] - over['createdAt']} L1 blocks)"
        )
    except BaseException:
        report(net.logs("challenger"))
        report(net.logs("settler"))
        raise
