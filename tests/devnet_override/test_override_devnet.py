"""Balance overrides on a real devnet: any address to any amount, up and down, without its key.

One detached devnet (one executor, the challenger), always torn down. A fresh address is set to 5 eth (by the
CLI), then to 1 wei, then to 0 (by the control endpoint); the sequencer and the executor agree on every
balance; a dev account's transfer goes through afterwards; every node has the same blocks and roots; the
settler's outputs over those blocks are proposed and never disputed. Bad input is refused and the devnet
keeps running.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from node.crypto import to_checksum_address
from node.devnet.handle import Devnet
from node.devnet.params import L2_CHAIN_ID, L2_MIN_FEE
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient
from node.rpc.errors import ControlRefused, InvalidParams, RpcError
from node.tx import BalanceOverrideTx, Transfer, sign_tx
from tests.processes.test_devnet_cli import cli, free_base_port, teardown_devnet, wait_for

pytestmark = pytest.mark.slow

FRESH = "0x00000000000000000000000000000000000fee01"  # nobody holds its key
ETH = 10**18
WAIT_S = 120.0


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    directory = tmp_path_factory.mktemp("override") / "net"
    base = free_base_port(1)
    try:
        cli("devnet", "up", "--dir", str(directory), "--detach", "--executors", "1", "--base-port", str(base))
        yield Devnet.from_dir(directory)
    finally:
        teardown_devnet(directory)


def rpc(url: str) -> SyncRpcClient:
    return SyncRpcClient(url, timeout=20)


def nodes(devnet: Devnet) -> dict[str, SyncRpcClient]:
    return {"sequencer": rpc(devnet.endpoints["sequencer"]), "executor": rpc(devnet.endpoints["executors"][0])}


def balance(client: SyncRpcClient, who: str) -> int:
    return int(client.call("rollup_getBalance", who, "latest"))


def wait_everywhere(devnet: Devnet, who: str, expected: int) -> None:
    for name, client in nodes(devnet).items():
        wait_for(lambda c=client: balance(c, who) == expected, WAIT_S, f"{who} to hold {expected} wei on the {name}")


def check_override(devnet: Devnet, result: dict[str, Any], before: int, wei: int) -> None:
    assert result["address"].lower() == FRESH and int(result["before"]) == before and int(result["balance"]) == wei
    assert int(result["locked"]) == max(0, wei - before)
    receipt = nodes(devnet)["sequencer"].call("rollup_getTransactionReceipt", result["l2Tx"])
    assert receipt["status"] == 1 and receipt["kind"] == "balance_override" and receipt["fee"] == "0"
    assert receipt["blockNumber"] == result["l2Block"]
    block = nodes(devnet)["sequencer"].call("rollup_getBlockByNumber", result["l2Block"], True)
    shown = next(t for t in block["transactions"] if t["hash"] == result["l2Tx"])
    assert shown["kind"] == "balance_override" and int(shown["amount"]) == wei and shown["to"].lower() == FRESH
    l1_receipt = rpc(devnet.endpoints["l1"]).call("l1_getTransactionReceipt", result["l1Tx"])
    assert l1_receipt["status"] == 1 and l1_receipt["kind"] == "set_l2_balance"
    event = next(e for e in l1_receipt["events"] if e["type"] == "l2_balance_set")
    derived = BalanceOverrideTx(
        l1_receipt["blockNumber"],
        event["log_index"],
        bytes.fromhex(event["from"][2:]),
        bytes.fromhex(event["to"][2:]),
        int(event["balance"]),
    )
    assert "0x" + derived.hash().hex() == result["l2Tx"]  # the L2 transaction is the L1 event's, derived
    wait_everywhere(devnet, FRESH, wei)


def test_a_fresh_address_is_set_up_down_and_to_zero_and_the_chain_goes_on(devnet: Devnet) -> None:
    sequencer = nodes(devnet)["sequencer"]
    assert balance(sequencer, FRESH) == 0
    shown = cli("devnet", "set-balance", FRESH, "5eth", "--dir", str(devnet.directory), "--json", timeout=240)
    up = json.loads(shown.stdout)
    check_override(devnet, up, 0, 5 * ETH)
    text = cli("devnet", "set-balance", FRESH, "5eth", "--dir", str(devnet.directory), timeout=240).stdout
    assert f"balance of {to_checksum_address(bytes.fromhex(FRESH[2:]))}: {5 * ETH} wei" in text and "override" in text

    down = devnet.set_l2_balance(FRESH, 1)
    check_override(devnet, down, 5 * ETH, 1)
    zero = devnet.set_l2_balance(FRESH, 0)
    check_override(devnet, zero, 1, 0)
    assert int(sequencer.call("rollup_getNonce", FRESH, "latest")) == 0

    # the chain goes on: a dev account's transfer to the address, confirmed safe on the executor
    key = dev_account(3)
    sender = to_checksum_address(key.address)
    nonce = int(sequencer.call("rollup_getNonce", sender, "pending"))
    tx = sign_tx(key, L2_CHAIN_ID, nonce, L2_MIN_FEE, Transfer(bytes.fromhex(FRESH[2:]), 7))  # type: ignore[arg-type]
    tx_hash = str(sequencer.call("rollup_sendRawTransaction", "0x" + tx.encode().hex()))
    receipt = wait_for(lambda: sequencer.call("rollup_getTransactionReceipt", tx_hash), WAIT_S, "the transfer")
    assert receipt["status"] == 1
    wait_everywhere(devnet, FRESH, 7)
    last = int(receipt["blockNumber"])
    executor = nodes(devnet)["executor"]
    wait_for(
        lambda: int(executor.call("rollup_syncStatus")["safe"]["number"]) >= last, WAIT_S, "the transfer to be safe"
    )

    # every node has the same blocks and state roots, the overrides' blocks included
    first = int(up["l2Block"]) - 1
    for number in range(first, last + 1):
        blocks = [c.call("rollup_getBlockByNumber", number, False) for c in nodes(devnet).values()]
        assert len({(b["hash"], b["stateRoot"]) for b in blocks}) == 1, (number, blocks)

    # the settler proposes outputs over those blocks; the challenger re-derives them and disputes none
    l1 = rpc(devnet.endpoints["l1"])

    def outputs_past_the_transfer() -> list[dict[str, Any]] | None:
        outputs = l1.call("l1_getOutputs", 0, 256)
        return outputs if any(int(o["l2BlockNumber"]) >= last for o in outputs) else None

    outputs = wait_for(outputs_past_the_transfer, 240, f"an output at or past L2 block {last}")
    for output in outputs:
        assert output["status"] in ("pending", "finalized") and output.get("dispute") is None, output
        block = executor.call("rollup_getBlockByNumber", int(output["l2BlockNumber"]), False)
        assert block["stateRoot"] is not None
    assert l1.call("l1_getGames", 0, 16) == []
    challenger = rpc(devnet.endpoints["challengers"][0])
    status = wait_for(
        lambda: (s := challenger.call("challenger_status"))["safeHead"] >= last and s, WAIT_S, "the challenger"
    )
    assert status["stats"]["disputes"] == 0 and status["stats"]["lost"] == 0
    assert devnet.status()["all_alive"]


def test_a_balance_past_the_l2_supply_limit_is_skipped_on_every_node_and_refused(devnet: Devnet) -> None:
    """2^256-1 is a valid amount, but the L2's supply (the sum of every balance) cannot hold it: the L2 skips
    the override (status 0, AmountOverflow's code) identically on every node and the control endpoint says why."""
    other = "0x00000000000000000000000000000000000fee02"
    with pytest.raises(ControlRefused, match="total supply would pass 2\\^256-1"):
        devnet.set_l2_balance(other, 2**256 - 1)
    for client in nodes(devnet).values():
        assert balance(client, other) == 0
    head = int(nodes(devnet)["sequencer"].call("rollup_syncStatus")["unsafe"]["number"])
    executor = nodes(devnet)["executor"]
    wait_for(
        lambda: int(executor.call("rollup_syncStatus")["unsafe"]["number"]) >= head, WAIT_S, "the executor to follow"
    )
    blocks = [c.call("rollup_getBlockByNumber", head, False) for c in nodes(devnet).values()]
    assert len({(b["hash"], b["stateRoot"]) for b in blocks}) == 1
    assert devnet.status()["all_alive"]


@pytest.mark.parametrize(
    ("params", "why"),
    [
        (["0x12", 1], "address"),
        (["nobody", 1], "address"),
        ([FRESH, -5], "2\\^256-1"),
        ([FRESH, str(2**256)], "2\\^256-1"),
        ([FRESH, "1.5"], "wei"),
        ([FRESH], "takes 2 param"),
    ],
)
def test_bad_set_l2_balance_requests_are_refused_and_the_devnet_keeps_running(
    devnet: Devnet, params: list[Any], why: str
) -> None:
    with pytest.raises(InvalidParams, match=why):
        SyncRpcClient(devnet.control_url, timeout=60).call("devnet_setL2Balance", *params)
    assert devnet.status()["all_alive"]


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["0x12", "1"], "address"),
        ([FRESH, "-1"], "AMOUNT"),
        ([FRESH, str(2**256)], "AMOUNT"),
        ([FRESH, "5 bananas"], "AMOUNT"),
    ],
)
def test_the_cli_refuses_bad_input(devnet: Devnet, args: list[str], why: str) -> None:
    result = cli("devnet", "set-balance", *args, "--dir", str(devnet.directory), check=False)
    assert result.returncode != 0 and why in result.stderr, result.stderr
    assert devnet.status()["all_alive"]


def test_processes_outside_the_control_endpoint_have_no_set_l2_balance(devnet: Devnet) -> None:
    """The L2 nodes have no balance write at all: only the devnet's control endpoint sets one (through L1)."""
    for client in nodes(devnet).values():
        with pytest.raises(RpcError, match="devnet_setL2Balance"):
            client.call("devnet_setL2Balance", FRESH, 1)
