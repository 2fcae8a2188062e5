"""The executor derives L2 from L1 alone: deposits and forced transactions with no sequencer at all.

Real L1 and executor processes on ephemeral loopback ports. With no batches on
L1, every epoch's sequencing window expires and derivation fills it with a
default block carrying that L1 block's deposits and forced transactions.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from l1.chain.tx import sign_l1_tx
from l1.contracts.payloads import Deposit, ForceTx
from node.crypto import PrivateKey, keccak256, to_checksum_address
from node.keys.hd import dev_account
from node.tx import Transfer, sign_tx
from tests.support.processes import Process, RpcFailure, free_port, rpc, wait_until, write_toml

L1_CHAIN_ID = 900
L2_CHAIN_ID = 901
L1_FEE = 10**12
L2_FEE = 10**9
WINDOW = 3
RECEIVER = PrivateKey(bytes([77]) * 32).address


def l1_config(tmp: Path, port: int) -> Path:
    return write_toml(
        tmp / "l1.toml",
        {
            "node": {"data_dir": str(tmp / "l1-data"), "rpc_port": port},
            "l1": {
                "chain_id": L1_CHAIN_ID,
                "block_time_ms": 200,
                "min_fee": L1_FEE,
                "batcher": "dev1",
                "challenge_window": 5,
            },
        },
    )


def executor_config(tmp: Path, port: int, l1_url: str) -> Path:
    return write_toml(
        tmp / "executor.toml",
        {
            "node": {"data_dir": str(tmp / "executor-data"), "rpc_port": port},
            "rollup": {
                "chain_id": L2_CHAIN_ID,
                "l1_chain_id": L1_CHAIN_ID,
                "fee_recipient": to_checksum_address(bytes([0xFE]) * 20),
                "min_fee": L2_FEE,
                "sequencing_window": WINDOW,
                "max_sequencer_drift_ms": 5000,
            },
            "rollup.genesis": {to_checksum_address(dev_account(0).address): 10**21},
            "executor": {"l1_rpc": l1_url, "poll_ms": 50},
        },
    )


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[tuple[Process, Process]]:
    l1_port, ex_port = free_port(), free_port()
    l1 = Process(
        "l1",
        ["-m", "l1.chain", "--config", str(l1_config(tmp_path, l1_port))],
        tmp_path / "l1.log",
        f"http://127.0.0.1:{l1_port}",
    )
    cfg = executor_config(tmp_path, ex_port, l1.url)
    executor = Process(
        "executor",
        ["-m", "node.executor", "--config", str(cfg)],
        tmp_path / "executor.log",
        f"http://127.0.0.1:{ex_port}",
    )
    try:
        l1.start().wait_healthy()
        executor.start().wait_healthy()
        yield l1, executor
    finally:
        executor.stop()
        l1.stop()


def send_l1(l1: Process, key: PrivateKey, payload: object, value: int = 0) -> str:
    nonce = l1.call("l1_getNonce", to_checksum_address(key.address))
    raw = sign_l1_tx(key, L1_CHAIN_ID, nonce, L1_FEE, value, payload).encode()
    return str(l1.call("l1_sendRawTransaction", "0x" + raw.hex()))


def balance(executor: Process, address: bytes, tag: str = "latest") -> int:
    return int(executor.call("rollup_getBalance", to_checksum_address(address), tag))


def test_deposit_and_forced_transaction_reach_l2_without_a_sequencer(devnet: tuple[Process, Process]) -> None:
    l1, executor = devnet
    depositor, sender = dev_account(3), dev_account(0)
    send_l1(l1, depositor, Deposit(RECEIVER), value=5 * 10**18)
    forced = sign_tx(sender, L2_CHAIN_ID, 0, L2_FEE, Transfer(RECEIVER, 123)).encode()
    forced_l1_hash = send_l1(l1, sender, ForceTx(forced))
    receipt = wait_until(lambda: l1.call("l1_getTransactionReceipt", forced_l1_hash), 10, "the forced tx on L1")
    forced_in = int(receipt["blockNumber"])
    wait_until(lambda: balance(executor, RECEIVER) == 5 * 10**18 + 123, 20, "deposit and forced transfer on L2")
    # included within the sequencing window of the L1 block that carried it
    status = executor.call("rollup_syncStatus")
    assert status["safe"]["number"] >= 1 and status["l1Head"] >= forced_in
    tx = executor.call("rollup_getTransactionReceipt", "0x" + keccak256(forced).hex())
    assert tx["status"] == 1
    block = executor.call("rollup_getBlockByNumber", tx["blockNumber"], False)
    assert block["l1Origin"]["number"] <= forced_in + WINDOW
    # the proof of the receiver's account verifies against that block's state root (done in the CLI tests too)
    proof = executor.call("rollup_getProof", to_checksum_address(RECEIVER), "latest")
    assert proof["balance"] == str(5 * 10**18 + 123)


def test_restart_after_sigkill_keeps_state_and_continues(devnet: tuple[Process, Process]) -> None:
    l1, executor = devnet
    send_l1(l1, dev_account(4), Deposit(RECEIVER), value=10**18)
    wait_until(lambda: balance(executor, RECEIVER) == 10**18, 20, "deposit on L2")
    before = executor.call("rollup_syncStatus")["safe"]
    executor.kill()
    executor.start().wait_healthy()
    after = executor.call("rollup_getBlockByNumber", before["number"], False)
    assert after["hash"] == before["hash"]
    assert balance(executor, RECEIVER) == 10**18
    send_l1(l1, dev_account(4), Deposit(RECEIVER), value=10**18)
    wait_until(lambda: balance(executor, RECEIVER) == 2 * 10**18, 20, "a deposit after the restart")


def test_bad_requests_get_json_rpc_errors_and_the_executor_keeps_serving(devnet: tuple[Process, Process]) -> None:
    _, executor = devnet
    cases = [
        ("rollup_getBalance", ["0x1234"], -32602),
        ("rollup_getBalance", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92267"], -32602),  # bad checksum
        ("rollup_getBalance", [to_checksum_address(RECEIVER), 10**9], -32004),  # future block
        ("rollup_getBlockByNumber", ["not-a-tag"], -32602),
        ("rollup_getProof", [], -32602),
        ("rollup_noSuchMethod", [], -32601),
        ("rollup_sendRawTransaction", ["0xzz"], -32602),
        ("rollup_sendRawTransaction", ["0x" + "00" * 10], -32006),  # no sequencer configured to forward to
        ("rollup_getTransactionStatus", ["0x1234"], -32602),
        ("rollup_getTransactionStatus", ["0x" + "00" * 32], -32006),  # forwarded to the sequencer: none here
    ]
    for method, params, code in cases:
        with pytest.raises(RpcFailure) as info:
            rpc(executor.url, method, *params)
        assert info.value.code == code, (method, params, info.value)
    request = urllib.request.Request(executor.url, b"{not json", {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert b"-32700" in response.read()
    assert executor.alive()
    assert executor.call("rollup_chainId") == L2_CHAIN_ID
