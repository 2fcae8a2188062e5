"""In-process snapshot and revert on a real devnet (L1, sequencer, settler, executor, challenger).

- every role takes the in-process path, for snapshots and reverts, and says so (`paths`);
- per role, a revert in place (by the undo log, and by swapping the data dir and reopening) gives
  what a restart on the same snapshot gives: with the L1 held at
  the snapshot's head, the L1 head and balances, the sequencer's block, balances and mempool, the
  executor's safe and finalized heads and derivation cursor, the settler's inbox walk and outputs,
  the challenger's safe head and cursor, compared once every follower has caught up with the L1;
- the chain goes on after an in-place revert: new blocks gossiped to the executor, batches posted,
  outputs proposed; a kill -9 of a reverted role and its restart keep the reverted chain, and so
  does a kill -9 of the executor at any point of a revert;
- bad directories are InvalidParams (-32602) on every role, which keeps running.

One devnet (one executor, 6 s L1 blocks so a restarted L1 makes no block before it is held; blocks
come from devnet_mine where a test needs them) serves the module and is always torn down.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.crypto import to_checksum_address
from node.devnet.handle import Devnet
from node.devnet.inproc.client import stages
from node.devnet.inproc.control import QUIESCE, RESUME, REVERT
from node.devnet.layout import DevnetLayout, ProcessSpec
from node.devnet.params import L2_MIN_FEE
from node.devnet.snapshot_ops import IN_PROCESS, NO_INPROC_ENV, RESTARTED, revert_to
from node.devnet.state import read_state, recorded_processes
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient
from node.rpc.errors import InvalidParams
from node.tx import Transfer, sign_tx
from tests.processes.test_devnet_cli import cli, free_base_port, teardown_devnet, wait_for

pytestmark = pytest.mark.slow

RECIPIENT = "0x00000000000000000000000000000000000c0de7"
CHAIN_ID = 901


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    directory = tmp_path_factory.mktemp("inproc") / "net"
    base = free_base_port(1)
    try:
        cli(
            "devnet", "up", "--dir", str(directory), "--detach", "--executors", "1", "--base-port", str(base),
            "--l1-block-time-ms", "6000", timeout=180,
        )  # fmt: skip
        yield Devnet.from_dir(directory)
    finally:
        teardown_devnet(directory)


def specs(devnet: Devnet) -> dict[str, ProcessSpec]:
    return {spec.name: spec for spec, _ in recorded_processes(read_state(DevnetLayout.at(devnet.directory)))}


def rpc(spec: ProcessSpec, method: str, *params: Any) -> Any:
    return SyncRpcClient(spec.rpc, timeout=30).call(method, *params)


def metric(spec: ProcessSpec, name: str) -> float:
    with urllib.request.urlopen(spec.rpc + "metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.MULTILINE)
    assert match is not None, f"{name} missing from {spec.name}'s metrics"
    return float(match.group(1))


def send(devnet: Devnet, index: int, to: str, amount: int, nonce_ahead: int = 0) -> str:
    key = dev_account(index)
    sequencer = SyncRpcClient(devnet.endpoints["sequencer"], timeout=30)
    nonce = int(sequencer.call("rollup_getNonce", to_checksum_address(key.address), "latest")) + nonce_ahead
    tx = sign_tx(key, CHAIN_ID, nonce, L2_MIN_FEE, Transfer(bytes.fromhex(to[2:]), amount))  # type: ignore[arg-type]
    return str(sequencer.call("rollup_sendRawTransaction", "0x" + tx.encode().hex()))


def included(devnet: Devnet, tx_hash: str) -> dict[str, Any]:
    sequencer = SyncRpcClient(devnet.endpoints["sequencer"], timeout=30)
    return dict(wait_for(lambda: sequencer.call("rollup_getTransactionReceipt", tx_hash), 60, f"{tx_hash} included"))


def each_stage(devnet: Devnet, method: str, params: Any = lambda spec: []) -> dict[str, Any]:
    answers = {}
    for stage in stages(list(specs(devnet).values())):
        for spec in stage:
            answers[spec.name] = rpc(spec, method, *params(spec))
    return answers


def caught_up(devnet: Devnet) -> bool:
    """Every follower has processed the (held) L1 up to its head."""
    by_name = specs(devnet)
    head = int(rpc(by_name["l1"], "l1_blockNumber"))
    return (
        metric(by_name["executor-0"], "derivation_l1_cursor") == head
        and int(rpc(by_name["challenger"], "challenger_status")["l1Cursor"]) == head
        and int(rpc(by_name["settler"], "settler_status")["l1Walked"]) == head
    )


def view(devnet: Devnet, number: int, undone: str, queued: str) -> dict[str, Any]:
    """What each role holds, read while the devnet is held (no L1 or L2 block is made), once every follower has
    caught up with the L1: the L1 followers are released for that (their L1 transactions wait in the held L1's
    mempool; no L2 block is made to gossip)."""
    by_name = specs(devnet)
    for name in ("settler", "executor-0", "challenger"):
        rpc(by_name[name], RESUME)
    wait_for(lambda: caught_up(devnet), 60, "every follower caught up with the held L1")
    time.sleep(1.0)  # the executor's finality loop runs every 0.25 s: one more round over the same L1
    l1, sequencer, executor = by_name["l1"], by_name["sequencer"], by_name["executor-0"]
    head = int(rpc(l1, "l1_blockNumber"))
    block = rpc(sequencer, "rollup_getBlockByNumber", number, False)
    sync = rpc(executor, "rollup_syncStatus")
    settler = rpc(by_name["settler"], "settler_status")
    challenger = rpc(by_name["challenger"], "challenger_status")
    return {
        "l1": {
            "head": head,
            "hash": rpc(l1, "l1_getBlockByNumber", head)["hash"],
            "recipient": rpc(l1, "l1_getBalance", RECIPIENT),
        },
        "sequencer": {
            "block": (block["hash"], block["stateRoot"]),
            "balance": rpc(sequencer, "rollup_getBalance", RECIPIENT, number),
            "undone": rpc(sequencer, "rollup_getTransactionReceipt", undone),
            "queued": rpc(sequencer, "rollup_getTransactionStatus", queued),
            "mempoolQueued": rpc(sequencer, "rollup_mempoolStatus")["queued"],
        },
        "executor-0": {
            "safe": sync["safe"],
            "finalized": sync["finalized"],
            "l1Head": sync["l1Head"],
            "cursor": metric(executor, "derivation_l1_cursor"),
            "undone": rpc(executor, "rollup_getTransactionReceipt", undone),
        },
        "settler": {key: settler[key] for key in ("postedUpto", "proposedUpto", "l1Walked", "ownOutputs")},
        "challenger": {key: challenger[key] for key in ("safeHead", "l1Cursor", "l1Head")},
    }


@pytest.mark.parametrize("undo", [True, False], ids=["undo-log", "swap-and-reopen"])
def test_a_revert_in_place_gives_what_a_restart_on_the_same_snapshot_gives(
    devnet: Devnet, monkeypatch: pytest.MonkeyPatch, undo: bool
) -> None:
    by_name = specs(devnet)

    def posted() -> bool:
        devnet.mine(1)
        return int(rpc(by_name["settler"], "settler_status")["postedUpto"]) > 0

    wait_for(posted, 120, "a first batch on L1")
    # waits in the mempool for a nonce gap (each parametrization its own: the other's is still queued)
    queued = send(devnet, 4, RECIPIENT, 3 if undo else 4, nonce_ahead=3 if undo else 4)
    snap = devnet.snapshot()
    assert devnet.call("devnet_snapshotInfo")["paths"] == {name: IN_PROCESS for name in by_name}
    recorded = devnet.call("devnet_snapshotInfo")["heads"]["sequencer"]["unsafe"]["number"]
    undone = send(devnet, 3, RECIPIENT, 10**18 + int(undo))
    included(devnet, undone)
    devnet.set_l1_balance(RECIPIENT, "7eth")
    devnet.mine(3)

    # in place, as snapshot_ops does it, but left held so every role can be read as it was reopened
    layout = DevnetLayout.at(devnet.directory)
    source = layout.snapshots_dir / snap
    assert all(answer == {"held": True} for answer in each_stage(devnet, QUIESCE).values())
    reverted = each_stage(devnet, REVERT, lambda spec: [str(source / spec.name), {"hold": True, "undo": undo}])
    assert all(answer["held"] for answer in reverted.values())
    assert {answer["way"] for answer in reverted.values()} == {"undo" if undo else "swap"}
    in_place = view(devnet, recorded, undone, queued)
    each_stage(devnet, RESUME)

    # the restart on the same snapshot, then held at once (the L1 makes its first block 6 s after it starts)
    monkeypatch.setenv(NO_INPROC_ENV, "1")
    restarted = revert_to(layout, snap)
    assert restarted["paths"] == {name: RESTARTED for name in by_name}
    each_stage(devnet, QUIESCE)
    try:
        by_restart = view(devnet, recorded, undone, queued)
    finally:
        each_stage(devnet, RESUME)
    assert in_place == by_restart
    assert in_place["sequencer"]["undone"] is None and in_place["executor-0"]["undone"] is None
    assert in_place["sequencer"]["mempoolQueued"] >= 1
    assert int(in_place["l1"]["recipient"]) != 7 * 10**18


def test_the_chain_goes_on_after_an_in_place_revert(devnet: Devnet) -> None:
    by_name = specs(devnet)
    snap = devnet.snapshot()
    info = devnet.call("devnet_snapshotInfo")
    settler_before = rpc(by_name["settler"], "settler_status")
    undone = send(devnet, 3, RECIPIENT, 5)
    included(devnet, undone)
    result = devnet.revert(snap)
    assert result["paths"] == {name: IN_PROCESS for name in by_name} == result["timings"]["paths"]
    assert set(result["timings"]) >= {"quiesce", "revert_in_place", "resume"}
    assert result["ways"] == {name: "undo" for name in by_name}  # each store rewound in place, never reopened
    assert result["heads"]["sequencer"]["unsafe"]["number"] >= info["heads"]["sequencer"]["unsafe"]["number"]
    recorded = info["heads"]["sequencer"]["unsafe"]
    sequencer, executor = by_name["sequencer"], by_name["executor-0"]
    assert rpc(sequencer, "rollup_getTransactionReceipt", undone) is None

    # new blocks, gossiped to the executor
    fresh = send(devnet, 3, RECIPIENT, 9)
    receipt = included(devnet, fresh)
    assert receipt["blockNumber"] > recorded["number"]
    wait_for(
        lambda: (rpc(executor, "rollup_getTransactionReceipt", fresh) or {}).get("blockHash") == receipt["blockHash"],
        60,
        "the new block gossiped to the executor",
    )
    head = int(rpc(sequencer, "rollup_syncStatus")["unsafe"]["number"])
    wait_for(lambda: int(rpc(executor, "rollup_syncStatus")["unsafe"]["number"]) >= head, 60, "the executor's head")
    assert (
        rpc(executor, "rollup_getBlockByNumber", head, False)["hash"]
        == (rpc(sequencer, "rollup_getBlockByNumber", head, False)["hash"])
    )

    # batches posted and outputs proposed (L1 blocks mined on demand), the new transfer safe everywhere
    def settled() -> bool:
        devnet.mine(2)
        status = rpc(by_name["settler"], "settler_status")
        safe = int(rpc(executor, "rollup_syncStatus")["safe"]["number"])
        return (
            int(status["postedUpto"]) >= receipt["blockNumber"]
            and int(status["proposedUpto"]) > int(settler_before["proposedUpto"])
            and safe >= receipt["blockNumber"]
        )

    wait_for(settled, 180, "batches posted past the new block and a new output proposed")
    wait_for(
        lambda: int(rpc(by_name["challenger"], "challenger_status")["safeHead"]) >= receipt["blockNumber"],
        60,
        "the challenger deriving the new block",
    )

    # a kill -9 of a reverted role, then a restart: the reverted chain is what it reopens
    killed = devnet.kill("sequencer")
    assert killed["result"] == "killed"
    devnet.restart("sequencer")
    block = rpc(sequencer, "rollup_getBlockByNumber", recorded["number"], False)
    assert (block["hash"], block["stateRoot"]) == (recorded["hash"], recorded["stateRoot"])
    assert rpc(sequencer, "rollup_getTransactionReceipt", fresh)["blockHash"] == receipt["blockHash"]
    assert devnet.revert(snap)["paths"] == {name: IN_PROCESS for name in by_name}  # the snapshot is reusable


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("/etc", "inside this devnet's snapshots directory"),
        ("relative/dir", "absolute"),
        ("{snapshots}/s1-00000000/../../data/{name}", r"'\.\.'"),
        ("{snapshots}/s999-00000000/{name}", "no such directory"),
        ("{snapshots}/link/{name}", "symbolic link"),
    ],
)
def test_every_role_refuses_a_bad_dir_and_keeps_running(devnet: Devnet, value: str, why: str) -> None:
    layout = DevnetLayout.at(devnet.directory)
    link = layout.snapshots_dir / "link"
    if not link.exists():
        link.symlink_to(layout.data_root)
    for name, spec in specs(devnet).items():
        path = value.replace("{snapshots}", str(layout.snapshots_dir)).replace("{name}", name)
        with pytest.raises(InvalidParams, match=why):
            rpc(spec, REVERT, path)
        with pytest.raises(InvalidParams):
            rpc(spec, "devnet_quiesceSnapshot", path.replace("s999", "s998"))
    link.unlink()
    assert devnet.status()["all_alive"]
    assert all(Path(spec.data_dir).is_dir() for spec in specs(devnet).values())


def pid_of(devnet: Devnet, name: str) -> int:
    doc = json.loads((devnet.directory / "devnet.json").read_text())
    return int(next(entry["pid"] for entry in doc["processes"] if entry["name"] == name))


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15])
def test_a_kill_during_an_in_place_revert_leaves_a_consistent_executor(devnet: Devnet, delay: float) -> None:
    """Whichever step the executor is killed at (before its quiesce, during its revert, after it), the revert
    completes (restarting it where it could not revert in place) or a restart brings it back on a whole data
    dir: the snapshot's chain, and it follows the new blocks."""
    snap = devnet.snapshot()
    recorded = devnet.call("devnet_snapshotInfo")["heads"]["sequencer"]["unsafe"]
    undone = send(devnet, 3, RECIPIENT, 11)
    included(devnet, undone)
    victim = pid_of(devnet, "executor-0")
    result: dict[str, Any] = {}
    reverting = threading.Thread(target=lambda: result.update(devnet.revert(snap)))
    reverting.start()
    time.sleep(delay)
    with contextlib.suppress(ProcessLookupError):
        os.kill(victim, signal.SIGKILL)
    reverting.join(180)
    assert result.get("id") == snap, result
    if not devnet.status()["all_alive"]:  # killed after its revert and resume: the revert could not see it
        devnet.restart("executor-0")
    executor = specs(devnet)["executor-0"]
    wait_for(
        lambda: int(rpc(executor, "rollup_syncStatus")["unsafe"]["number"]) >= recorded["number"],
        90,
        "the executor back at the snapshot's head",
    )
    block = rpc(executor, "rollup_getBlockByNumber", recorded["number"], False)
    assert (block["hash"], block["stateRoot"]) == (recorded["hash"], recorded["stateRoot"])
    assert rpc(executor, "rollup_getTransactionReceipt", undone) is None
    fresh = send(devnet, 3, RECIPIENT, 13)
    receipt = included(devnet, fresh)
    wait_for(
        lambda: (rpc(executor, "rollup_getTransactionReceipt", fresh) or {}).get("blockHash") == receipt["blockHash"],
        90,
        "the executor following the new blocks",
    )
