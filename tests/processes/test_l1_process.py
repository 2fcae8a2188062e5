"""The L1 devnet as a real process: JSON-RPC, block cadence, bad input, SIGKILL + restart, SIGTERM.

Each test starts `python -m l1 --config <tmp toml>` on a free loopback port
and always terminates it in the fixture's teardown.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from l1.chain.config import l1_config_from_dict
from l1.chain.tx import sign_l1_tx
from l1.contracts.client import L1Client
from l1.contracts.payloads import Deposit, ForceTx, L1Transfer, PostBatch, ProposeOutput
from node.crypto import keccak256
from node.encoding import pack, unpack
from node.keys.hd import dev_account
from node.rpc.client import RpcClient, SyncRpcClient
from node.rpc.errors import RpcError
from node.service import ConfigError
from node.tx import Transfer, sign_tx

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TIME_MS = 200
WINDOW = 3
BOND = 1000
ALICE, BATCHER, PROPOSER, BOB = (dev_account(i) for i in range(4))
GENESIS_BALANCE = 10**22


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(directory: Path, port: int) -> Path:
    path = directory / "l1.toml"
    path.write_text(
        f"""
[node]
data_dir = "{directory / "data"}"
rpc_host = "127.0.0.1"
rpc_port = {port}
log_level = "DEBUG"

[l1]
chain_id = 900
block_time_ms = {BLOCK_TIME_MS}
min_fee = "1"
batcher = "dev1"
proposer_bond = "{BOND}"
challenge_window = {WINDOW}
max_batch_bytes = 4096
"""
    )
    return path


class L1Node:
    """One `python -m l1` subprocess with its config and log file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.config = write_config(directory, self.port)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> L1Node:
        log = (self.directory / "l1.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "l1.chain", "--config", str(self.config)], cwd=ROOT, stdout=log, stderr=log
        )
        log.close()
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 15.0) -> None:
        rpc = SyncRpcClient(self.url, timeout=1.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"l1 exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                rpc.call("l1_blockNumber")
                return
            except Exception:
                time.sleep(0.05)
        raise AssertionError(f"l1 did not answer within {timeout}s: {self.log()[-2000:]}")

    def log(self) -> str:
        return (self.directory / "l1.log").read_text(errors="replace")

    def signal(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=10)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L1Node]:
    node = L1Node(tmp_path_factory.mktemp("l1"))
    try:
        yield node.start()
    finally:
        node.stop()


# -- config (pure) --


def test_config_defaults_and_precise_errors(tmp_path: Path) -> None:
    config = l1_config_from_dict({"node": {"data_dir": str(tmp_path)}})
    assert config.params.chain_id == 900 and config.block_time_ms == 1000
    assert len(config.genesis) == 10 and all(balance == GENESIS_BALANCE for _, balance in config.genesis)
    assert config.params.batcher == dev_account(1).address
    cases = [
        ({}, r"\[node\] data_dir is required"),
        ({"node": {"data_dir": "x"}, "l1": {"block_time_ms": "fast"}}, r"\[l1\] block_time_ms must be an integer"),
        ({"node": {"data_dir": "x"}, "l1": {"batcher": "0x1234"}}, r"\[l1\] batcher is not a valid address"),
        (
            {"node": {"data_dir": "x"}, "l1": {"min_fee": "-1"}},
            r"\[l1\] min_fee must be an integer or a decimal string",
        ),
        ({"node": {"data_dir": "x"}, "l1": {"blocktime": 1}}, r"unknown key\(s\) blocktime"),
        ({"node": {"data_dir": "x"}, "l1": {"genesis": {"0xzz": "1"}}}, r"\[l1.genesis\] key '0xzz'"),
        ({"node": {"data_dir": "x", "rpc_port": 70000}}, r"\[node\] rpc_port must be in \[0, 65535\]"),
        ({"node": {"data_dir": "x"}, "l1": {"max_batch_bytes": 10**9}}, r"max_batch_bytes must be in"),
    ]
    for data, message in cases:
        with pytest.raises(ConfigError, match=message):
            l1_config_from_dict(data)
    genesis = l1_config_from_dict(
        {"node": {"data_dir": "x"}, "l1": {"genesis": {"dev3": 5, ALICE.address.hex(): "7"}}}
    ).genesis
    assert dict(genesis) == {dev_account(3).address: 5, ALICE.address: 7}


def test_bad_config_file_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "l1.chain", "--config", str(tmp_path / "missing.toml")],
        cwd=ROOT,
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert b"does not exist" in result.stderr


# -- a running node --


async def test_blocks_advance_about_once_per_block_time(node: L1Node) -> None:
    async with L1Client(node.url) as l1:
        first = await l1.block_number()
        started = time.monotonic()
        await asyncio.sleep(1.2)
        blocks = await l1.block_number() - first
        expected = (time.monotonic() - started) * 1000 / BLOCK_TIME_MS
        assert expected * 0.6 <= blocks <= expected * 1.4 + 1
        head = await l1.get_block("latest")
        parent = await l1.get_block(head.number - 1)  # type: ignore[union-attr]
        assert head is not None and parent is not None
        assert head.parent_hash == parent.hash and head.timestamp_ms > parent.timestamp_ms
        assert await l1.get_block_by_hash(head.hash) == head
        assert await l1.get_block(10**9) is None
        assert (await l1.config()).chain_id == await l1.chain_id() == 900


async def test_new_heads_are_published_and_metrics_served(node: L1Node) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(node.url + "ws") as ws:
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "rollup_subscribe", "params": ["newHeads"]})
            assert isinstance((await ws.receive_json(timeout=5))["result"], str)
            heads = [(await ws.receive_json(timeout=5))["params"]["result"] for _ in range(2)]
        assert heads[1]["number"] == heads[0]["number"] + 1 and heads[1]["parentHash"] == heads[0]["hash"]
        async with session.get(node.url + "metrics") as response:
            text = await response.text()
    for name in ("l1_head", "l1_txs_total", "l1_mempool_size", "l1_batch_bytes_total"):
        assert f"# TYPE {name}" in text


async def test_every_kind_is_visible_to_derivation_and_outputs(node: L1Node) -> None:
    l2_tx = sign_tx(ALICE, 901, 0, 1, Transfer(BOB.address, 5)).encode()
    async with L1Client(node.url) as l1:
        start = await l1.block_number()
        bob_before = await l1.get_balance(BOB.address)
        hashes = [
            await l1.send_tx(ALICE, L1Transfer(BOB.address), 1234),
            await l1.send_tx(ALICE, Deposit(BOB.address), 5000),
            await l1.send_tx(BATCHER, PostBatch(b"batch-bytes")),
            await l1.send_tx(BOB, ForceTx(l2_tx)),
            await l1.send_tx(PROPOSER, ProposeOutput(8, keccak256(b"root")), BOND),
        ]
        receipts = [await l1.wait_receipt(h, timeout=10) for h in hashes]
        assert [r.status for r in receipts] == [1] * 5
        assert await l1.get_balance(BOB.address) == bob_before + 1234 - 1  # + transfer - fee of the force_tx

        last = max(r.block_number for r in receipts)
        blocks = await l1.get_derivation_data(start, last - start + 1)
        assert [b.number for b in blocks] == list(range(start, last + 1))
        deposits = [d for b in blocks for d in b.deposits]
        assert [(d.sender, d.to, d.amount) for d in deposits] == [(ALICE.address, BOB.address, 5000)]
        assert [f.tx for b in blocks for f in b.forced_txs] == [l2_tx]
        assert [x.data for b in blocks for x in b.batches] == [b"batch-bytes"]
        assert receipts[2].events[0].type == "batch"

        outputs = await l1.get_outputs(0, 256)
        mine = [o for o in outputs if o.l2_block_number == 8]
        assert mine and mine[0].proposer == PROPOSER.address and mine[0].finalizes_at == mine[0].proposed_at + WINDOW
        while await l1.block_number() < mine[0].finalizes_at:
            await asyncio.sleep(0.05)
        assert (await l1.get_outputs(mine[0].index, 1))[0].status == "finalized"


async def test_kind_rule_failure_is_a_status_0_receipt(node: L1Node) -> None:
    async with L1Client(node.url) as l1:
        receipt = await l1.wait_receipt(await l1.send_tx(ALICE, PostBatch(b"not mine")), timeout=10)
        assert (receipt.status, receipt.error_code) == (0, -32060) and receipt.error


async def _code(rpc: RpcClient, method: str, *params: object) -> int:
    with pytest.raises(RpcError) as info:
        await rpc.call(method, *params)
    return info.value.code


async def test_bad_input_gets_the_right_codes_and_the_node_survives(node: L1Node) -> None:
    good = sign_l1_tx(BOB, 900, 10**6, 1, 1, L1Transfer(ALICE.address))  # far-future nonce
    fields = unpack(good.encode())
    bad_sig = pack([*fields[:-1], bytes(64) + b"\x00"])
    async with RpcClient(node.url) as rpc, L1Client(node.url) as l1:
        assert await _code(rpc, "l1_sendRawTransaction", "0xzz") == -32602
        assert await _code(rpc, "l1_sendRawTransaction", 12) == -32602
        assert await _code(rpc, "l1_getBalance", "0x1234") == -32602
        assert await _code(rpc, "l1_getBlockByNumber", {"n": 1}) == -32602
        assert await _code(rpc, "l1_getDerivationData", 0, 65) == -32005
        assert await _code(rpc, "l1_getOutputs", 0, 257) == -32005
        assert await _code(rpc, "l1_nope") == -32601
        assert await _code(rpc, "l1_sendRawTransaction", "0xc1") == -32018
        assert await _code(rpc, "l1_sendRawTransaction", "0x" + bad_sig.hex()) == -32010
        wrong_chain = sign_l1_tx(ALICE, 901, 0, 1, 1, L1Transfer(BOB.address)).encode()
        assert await _code(rpc, "l1_sendRawTransaction", "0x" + wrong_chain.hex()) == -32011
        assert await _code(rpc, "l1_sendRawTransaction", "0x" + good.encode().hex()) == -32024
        assert (
            await _code(
                rpc,
                "l1_sendRawTransaction",
                "0x" + sign_l1_tx(ALICE, 900, 0, 0, 1, L1Transfer(BOB.address)).encode().hex(),
            )
            == -32015
        )

        nonce = await l1.get_nonce(BOB.address)
        tx = sign_l1_tx(BOB, 900, nonce, 1, 1, L1Transfer(ALICE.address)).encode()
        tx_hash = await l1.send_raw_transaction(tx)
        assert await _code(rpc, "l1_sendRawTransaction", "0x" + tx.hex()) in (
            -32023,
            -32012,
        )  # pending or just included
        await l1.wait_receipt(tx_hash, timeout=10)
        assert await _code(rpc, "l1_sendRawTransaction", "0x" + tx.hex()) == -32012  # replay

        async with aiohttp.ClientSession() as session:
            async with session.post(node.url, data=b"{" * 100) as response:
                assert (await response.json())["error"]["code"] == -32700
            async with session.post(node.url, data=b"x" * (6 * 1024 * 1024)) as response:
                assert response.status == 413 and (await response.json())["error"]["code"] == -32600
        assert await l1.block_number() > 0
    assert node.proc is not None and node.proc.poll() is None


# -- crash and shutdown --


async def test_sigkill_restart_resumes_then_sigterm_exits_0(tmp_path: Path) -> None:
    node = L1Node(tmp_path).start()
    try:
        async with L1Client(node.url) as l1:
            receipt = await l1.wait_receipt(await l1.send_tx(ALICE, L1Transfer(BOB.address), 777), timeout=10)
            await asyncio.sleep(0.3)
            head = await l1.block_number()
            hashes = [(await l1.get_block(n)).hash for n in range(head + 1)]  # type: ignore[union-attr]
            bob = await l1.get_balance(BOB.address)
        assert node.signal(signal.SIGKILL) == -signal.SIGKILL

        node.start()
        async with L1Client(node.url) as l1:
            new_head = await l1.block_number()
            assert new_head >= head
            assert [(await l1.get_block(n)).hash for n in range(head + 1)] == hashes  # type: ignore[union-attr]
            assert await l1.get_balance(BOB.address) == bob == GENESIS_BALANCE + 777
            assert (await l1.get_receipt(receipt.tx_hash)) == receipt
            while await l1.block_number() < new_head + 2:
                await asyncio.sleep(0.05)

        started = time.monotonic()
        assert node.signal(signal.SIGTERM) == 0
        assert time.monotonic() - started < 5
        assert "shutting down (SIGTERM)" in node.log()
    finally:
        node.stop()
