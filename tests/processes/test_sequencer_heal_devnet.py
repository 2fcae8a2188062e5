"""A settler outage longer than the sequencing window, on a real devnet (`rollup devnet up`): the sequencer heals.

Transfers flow from four senders (each receipt the sequencer returns is
kept); the settler is frozen (SIGSTOP) for longer than the sequencing
window while they keep flowing, then resumed (SIGCONT). L1 derives default
blocks for the epochs nobody posted; the sequencer replaces its blocks with
them, re-queues their transactions and goes on. Afterwards:
- the sequencer's chain equals the L1-derived chain at every safe height
  (block hashes against both executors, whose unsafe chains held the old
  blocks);
- every transaction the sequencer returned a receipt for is in the final
  chain (its receipt served again, from the healed chain, by the sequencer
  and the executors) or reported dropped (-32007);
- executors agree on state roots; no output proposed after the heal is
  disputed or defeated, and one of them finalizes.

Fast L1 blocks (500 ms: the 20-block window is 10 s), 100 ms L2 blocks, a
10-block challenge window. The devnet is always brought down (leftover pids
SIGKILLed), pass or fail.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.devnet.ports import random_free_base_port
from node.devnet.procfs import is_our_process
from node.keys.hd import dev_account
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from node.tx import Transfer, sign_tx
from sequencer.dropped import TRANSACTION_DROPPED
from tests.support.processes import wait_for

ROLLUP = [sys.executable, "-m", "node.cli.main"]
L1_BLOCK_MS = 500
SEQUENCING_WINDOW = 20
OUTAGE_S = SEQUENCING_WINDOW * L1_BLOCK_MS / 1000 + 4  # past the window, by 8 L1 blocks
CHAIN_ID = 901
FEE = 10**9
SENDERS = (0, 1, 2, 3)


def cli_json(*args: str, timeout: float = 120) -> Any:
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
            "100",
            "--challenge-window",
            "10",
        )
        self.sequencer = SyncRpcClient(self.doc["sequencer"]["rpc"], timeout=10)
        self.executors = [SyncRpcClient(e["rpc"], timeout=10) for e in self.doc["executors"]]
        self.l1 = SyncRpcClient(self.doc["l1"]["rpc"], timeout=10)

    def pid(self, name: str) -> int:
        state = json.loads((self.directory / "devnet.json").read_text())
        return int(next(p for p in state["processes"] if p["name"] == name)["pid"])

    def log(self, name: str) -> str:
        path = self.directory / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def down(self) -> None:
        state_file = self.directory / "devnet.json"
        if not state_file.exists():
            return
        for proc in json.loads(state_file.read_text()).get("processes", []):
            pid = proc.get("pid")
            if isinstance(pid, int) and is_our_process(pid, proc["config"]):
                os.kill(pid, signal.SIGCONT)  # a frozen process cannot stop cleanly
        subprocess.run([*ROLLUP, "devnet", "down", "--dir", str(self.directory)], capture_output=True, timeout=120)
        for proc in json.loads(state_file.read_text()).get("processes", []):
            pid = proc.get("pid")
            if isinstance(pid, int) and is_our_process(pid, proc["config"]):
                os.kill(pid, signal.SIGKILL)


class Senders:
    """Transfers from dev0..dev3, each through rollup_sendRawTransactionSync; every receipt returned is kept."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.receipts: dict[str, dict[str, Any]] = {}
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in SENDERS]

    def __enter__(self) -> Senders:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def _run(self, index: int) -> None:
        client = SyncRpcClient(self.url, timeout=10)
        key = dev_account(index)
        to = dev_account(6).address
        nonce = int(client.call("rollup_getNonce", "0x" + key.address.hex(), "latest"))
        while not self.stop.wait(0.05):
            raw = sign_tx(key, CHAIN_ID, nonce, FEE, Transfer(to, 1 + index)).encode()
            nonce += 1  # a nonce is never reused: a heal re-queues the one that went out
            try:
                receipt = client.call("rollup_sendRawTransactionSync", "0x" + raw.hex(), 3000)
            except (RpcError, RpcTransportError) as exc:
                with self.lock:
                    self.failures.append(str(exc))
                continue
            with self.lock:
                self.receipts[receipt["transactionHash"]] = receipt


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    net = Devnet(tmp_path / "net")
    try:
        yield net
    finally:
        net.down()


def block_hash(client: SyncRpcClient, number: int) -> str | None:
    block = client.call("rollup_getBlockByNumber", number)
    return None if block is None else str(block["hash"])


def safe_number(client: SyncRpcClient) -> int:
    return int(client.call("rollup_syncStatus")["safe"]["number"])


def report(line: str) -> None:
    print(line, file=sys.stderr)


@pytest.mark.slow
def test_the_sequencer_heals_after_a_settler_outage_longer_than_the_window(devnet: Devnet) -> None:
    seq_url = devnet.doc["sequencer"]["rpc"]
    seq, l1 = devnet.sequencer, devnet.l1
    settler = devnet.pid("settler")
    with Senders(seq_url) as senders:
        wait_for(lambda: safe_number(seq) >= 10 and len(senders.receipts) >= 40, 30, "transfers safe on L1")
        os.kill(settler, signal.SIGSTOP)
        stopped_at = time.monotonic()
        l1_at_stop = int(l1.call("l1_blockNumber"))
        safe_at_stop = safe_number(seq)
        wait_for(lambda: metric(seq_url, "l2_reorgs_total") >= 1, OUTAGE_S + 10, "the sequencer to heal")
        healed_after = time.monotonic() - stopped_at
        l1_at_heal = int(l1.call("l1_blockNumber"))
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        os.kill(settler, signal.SIGCONT)
        resumed_at = time.monotonic()
        outage = resumed_at - stopped_at
        time.sleep(3)  # transfers keep flowing while the settler catches up
    head = int(seq.call("rollup_syncStatus")["unsafe"]["number"])
    wait_for(lambda: safe_number(seq) >= head, 40, f"the sequencer's blocks up to {head} to be safe again")
    caught_up = time.monotonic() - resumed_at
    for executor in devnet.executors:
        wait_for(lambda node=executor: safe_number(node) >= head, 30, f"executors to derive up to {head}")  # type: ignore[misc]

    # the sequencer's chain is the L1-derived chain at every safe height, and executors agree on it
    for number in range(1, head + 1):
        ours = block_hash(seq, number)
        assert ours is not None
        assert [block_hash(e, number) for e in devnet.executors] == [ours, ours], f"block {number} differs"
    roots = {e.call("rollup_getBlockByNumber", head)["stateRoot"] for e in devnet.executors}
    assert roots == {seq.call("rollup_getBlockByNumber", head)["stateRoot"]}

    # every receipt the sequencer gave is still true or visibly replaced: served again from the healed chain
    kept = replaced = dropped = 0
    for tx_hash, given in senders.receipts.items():
        try:
            now = seq.call("rollup_getTransactionReceipt", tx_hash)
        except RpcError as exc:
            assert exc.code == TRANSACTION_DROPPED, exc
            dropped += 1
            continue
        assert now is not None, f"transaction {tx_hash} had a receipt and is silently gone"
        on_executors = [e.call("rollup_getTransactionReceipt", tx_hash) for e in devnet.executors]
        assert all(r is not None and r["blockHash"] == now["blockHash"] for r in on_executors), tx_hash
        if now["blockHash"] == given["blockHash"]:
            kept += 1
        else:
            replaced += 1
    assert replaced > 0, "no receipt was replaced: the outage did not make the sequencer heal"

    # executors held the old blocks as unsafe ones: they kept following after seeing the equivocation
    for executor in devnet.executors:
        assert int(executor.call("rollup_syncStatus")["unsafe"]["number"]) >= head

    # outputs: none proposed after the heal is disputed or defeated; one finalizes
    def outputs() -> list[dict[str, Any]]:
        return [o for o in l1.call("l1_getOutputs", 0, 256) if int(o["proposedAt"]) > l1_at_heal]

    wait_for(
        lambda: any(o["status"] == "finalized" for o in outputs()), 40, "an output proposed after the heal to finalize"
    )
    assert [o for o in outputs() if o["status"] in ("disputed", "defeated")] == []

    requeued = metric(seq_url, "l2_reorg_requeued_txs_total")
    heals = metric(seq_url, "l2_reorgs_total")
    pauses = [float(m) for m in re.findall(r"sealing paused (\d+) ms", devnet.log("sequencer"))]
    report(
        f"outage {outage:.1f} s from L1 block {l1_at_stop} (safe head {safe_at_stop}); first heal {healed_after:.1f} s "
        f"after the stop; {heals:.0f} heal(s), {requeued:.0f} transactions re-queued, sealing paused "
        f"max {max(pauses, default=0):.0f} ms; receipts: {kept} kept, {replaced} replaced, {dropped} dropped, "
        f"{len(senders.failures)} sends without a receipt; safe up to head {head} {caught_up:.1f} s after the "
        "settler resumed"
    )
    assert requeued > 0
