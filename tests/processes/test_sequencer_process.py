"""The sequencer as a real process next to a real L1: soft confirmations, mempool rules over
the wire, newHeads, and SIGKILL + restart keeping every acknowledged transaction.

Processes run on free loopback ports and are always killed in the fixtures' teardown.
`Service` and `devnet_configs` are shared with tests/processes/test_settler_process.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from l1.contracts.client import L1Client
from l1.contracts.payloads import Deposit, ForceTx
from node.crypto import PrivateKey, to_checksum_address
from node.encoding import encode_uint, pack
from node.keys.hd import dev_account
from node.rpc.client import RpcClient, SyncRpcClient
from node.rpc.errors import RpcError
from node.tx import Transfer, sign_tx

ROOT = Path(__file__).resolve().parents[2]
L2_CHAIN_ID = 901
MIN_FEE = 1000
GENESIS_BALANCE = 10**24
DEVS = [dev_account(i) for i in range(10)]
CENSORED = DEVS[9]


MAX_SEAL_TXS = 8  # the sequencer's per-block cap in this module's devnet


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """One `python -m <module> --config FILE` subprocess, logging to <dir>/<name>.log."""

    def __init__(self, name: str, module: str, directory: Path, config: Path, url: str, ready_method: str) -> None:
        self.name, self.module, self.directory, self.config = name, module, directory, config
        self.url = url
        self.ready_method = ready_method
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Service:
        with (self.directory / f"{self.name}.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "--config", str(self.config)], cwd=ROOT, stdout=log, stderr=log
            )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        rpc = SyncRpcClient(self.url, timeout=1.0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                rpc.call(self.ready_method)
                return
            except Exception:
                time.sleep(0.05)
        raise AssertionError(f"{self.name} did not answer within {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        path = self.directory / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=15)
        self.proc = None
        return code

    def stop(self) -> None:
        """Teardown: never raises, never leaves the process behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self.proc = None


@dataclass
class DevnetConfigs:
    directory: Path
    l1_port: int
    seq_port: int
    settler_port: int

    @property
    def l1_url(self) -> str:
        return f"http://127.0.0.1:{self.l1_port}/"

    @property
    def seq_url(self) -> str:
        return f"http://127.0.0.1:{self.seq_port}/"

    @property
    def settler_url(self) -> str:
        return f"http://127.0.0.1:{self.settler_port}/"

    def l1(self) -> Service:
        return Service("l1", "l1.chain", self.directory, self.directory / "l1.toml", self.l1_url, "l1_blockNumber")

    def sequencer(self) -> Service:
        return Service(
            "sequencer", "sequencer", self.directory, self.directory / "sequencer.toml", self.seq_url, "rollup_chainId"
        )

    def settler(self) -> Service:
        return Service(
            "settler", "l1.settler", self.directory, self.directory / "settler.toml", self.settler_url, "settler_status"
        )


def devnet_configs(
    directory: Path,
    *,
    challenge_window: int = 5,
    output_interval: int = 10,
    censor: tuple[bytes, ...] = (),
    recovery_workers: int = 0,
) -> DevnetConfigs:
    """Write l1.toml, sequencer.toml and settler.toml for one devnet on free ports."""
    cfg = DevnetConfigs(directory, free_port(), free_port(), free_port())
    genesis = "\n".join(f'"{to_checksum_address(k.address)}" = "{GENESIS_BALANCE}"' for k in DEVS)
    rollup = f"""
[rollup]
chain_id = {L2_CHAIN_ID}
l1_chain_id = 900
fee_recipient = "0x000000000000000000000000000000000000fee1"
min_fee = "{MIN_FEE}"
max_block_txs = 2000
max_sequencer_drift_ms = 10000
sequencing_window = 50

[rollup.genesis]
{genesis}
"""

    def node(name: str, port: int) -> str:
        return (
            f'[node]\ndata_dir = "{directory / ("data-" + name)}"\nrpc_host = "127.0.0.1"\nrpc_port = {port}\n'
            'log_level = "INFO"\n'
        )

    (directory / "l1.toml").write_text(
        node("l1", cfg.l1_port)
        + f"""
[l1]
chain_id = 900
block_time_ms = 200
min_fee = "1"
batcher = "dev1"
proposer_bond = "1000"
challenge_window = {challenge_window}
max_batch_bytes = 131072
"""
    )
    censored = ", ".join(f'"{to_checksum_address(a)}"' for a in censor)
    (directory / "sequencer.toml").write_text(
        node("sequencer", cfg.seq_port)
        + rollup
        + f'\n[sequencer]\nl1_rpc = "{cfg.l1_url}"\nblock_time_ms = 200\ncensor = [{censored}]\n'
        + f"recovery_workers = {recovery_workers}\n"
        + f"max_seal_txs = {MAX_SEAL_TXS}\n"
    )
    (directory / "settler.toml").write_text(
        node("settler", cfg.settler_port)
        + rollup
        + f"""
[settler]
l1_rpc = "{cfg.l1_url}"
sequencer_rpc = "{cfg.seq_url}"
batcher_key = "dev1"
proposer_key = "dev2"
output_interval = {output_interval}
poll_ms = 100
"""
    )
    return cfg


def transfer_hex(
    key: PrivateKey, nonce: int, to: bytes, amount: int = 1, fee: int = MIN_FEE, chain_id: int = L2_CHAIN_ID
) -> str:
    return "0x" + sign_tx(key, chain_id, nonce, fee, Transfer(to, amount)).encode().hex()  # type: ignore[arg-type]


async def wait_receipt(rpc: RpcClient, tx_hash: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = await rpc.call("rollup_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return receipt  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no receipt for {tx_hash} within {timeout}s")


async def expect_code(rpc: RpcClient, code: int, method: str, *params: Any) -> str:
    with pytest.raises(RpcError) as info:
        await rpc.call(method, *params)
    assert info.value.code == code, info.value
    return info.value.message


# -- fixtures --


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevnetConfigs, Service, Service]]:
    cfg = devnet_configs(tmp_path_factory.mktemp("seqnet"), censor=(CENSORED.address,), recovery_workers=2)
    l1, seq = cfg.l1(), cfg.sequencer()
    try:
        l1.start()
        seq.start()
        yield cfg, l1, seq
    finally:
        seq.stop()
        l1.stop()


# -- tests --


async def test_transfers_get_receipts_within_a_second(devnet: tuple[DevnetConfigs, Service, Service]) -> None:
    cfg, _, _ = devnet
    alice, bob = DEVS[3], DEVS[4]
    async with RpcClient(cfg.seq_url) as rpc:
        assert await rpc.call("rollup_chainId") == L2_CHAIN_ID
        nonce = await rpc.call("rollup_getNonce", to_checksum_address(alice.address))
        bob_before = int(await rpc.call("rollup_getBalance", to_checksum_address(bob.address)))
        latencies = []
        for i in range(10):
            sent = time.monotonic()
            tx_hash = await rpc.call("rollup_sendRawTransaction", transfer_hex(alice, nonce + i, bob.address, 7))
            receipt = await wait_receipt(rpc, tx_hash, timeout=2.0)
            latencies.append(time.monotonic() - sent)
            assert receipt["status"] == 1 and receipt["transactionHash"] == tx_hash
        assert max(latencies) < 1.0, latencies
        assert await rpc.call("rollup_getNonce", to_checksum_address(alice.address)) == nonce + 10
        assert int(await rpc.call("rollup_getBalance", to_checksum_address(bob.address))) == bob_before + 70
        sync = await rpc.call("rollup_sendRawTransactionSync", transfer_hex(alice, nonce + 10, bob.address, 1))
        assert sync["status"] == 1 and sync["blockNumber"] >= receipt["blockNumber"]
        status = await rpc.call("rollup_mempoolStatus")
        assert status == {"pending": 0, "queued": 0, "capacity": 10_000, "queuedCapacity": 2_500}


async def test_a_burst_is_sealed_in_blocks_of_at_most_max_seal_txs(
    devnet: tuple[DevnetConfigs, Service, Service],
) -> None:
    cfg, _, _ = devnet
    sender, to = DEVS[7], DEVS[8]
    async with RpcClient(cfg.seq_url) as rpc:
        nonce = await rpc.call("rollup_getNonce", to_checksum_address(sender.address))
        burst = 3 * MAX_SEAL_TXS + 5
        hashes = await rpc.batch(
            [("rollup_sendRawTransaction", [transfer_hex(sender, nonce + i, to.address)]) for i in range(burst)]
        )
        assert all(isinstance(h, str) for h in hashes), hashes
        receipts = [await wait_receipt(rpc, h) for h in hashes]
        blocks = sorted({r["blockNumber"] for r in receipts})
        sizes = [len((await rpc.call("rollup_getBlockByNumber", b, False))["transactions"]) for b in blocks]
        assert all(r["status"] == 1 for r in receipts)
        assert len(blocks) >= 4 and max(sizes) <= MAX_SEAL_TXS, sizes


async def test_mempool_rules_over_the_wire(devnet: tuple[DevnetConfigs, Service, Service]) -> None:
    cfg, _, _ = devnet
    carol, dave = DEVS[5], DEVS[6]
    send = "rollup_sendRawTransaction"
    async with RpcClient(cfg.seq_url) as rpc:
        nonce = await rpc.call("rollup_getNonce", to_checksum_address(carol.address))
        await rpc.call("rollup_sendRawTransactionSync", transfer_hex(carol, nonce, dave.address))
        await expect_code(rpc, -32012, send, transfer_hex(carol, nonce, dave.address, 2))  # nonce too low
        queued = transfer_hex(carol, nonce + 3, dave.address, 1, fee=5000)  # a gap: held back
        await rpc.call(send, queued)
        assert (await rpc.call("rollup_mempoolStatus"))["queued"] == 1
        await expect_code(rpc, -32023, send, queued)  # already known
        message = await expect_code(rpc, -32022, send, transfer_hex(carol, nonce + 3, dave.address, 2, fee=5000))
        assert "replacement fee too low: have 5000, need >= 5500" in message
        await expect_code(rpc, -32022, send, transfer_hex(carol, nonce + 3, dave.address, 2, fee=5499))  # under 10 %
        await rpc.call(send, transfer_hex(carol, nonce + 3, dave.address, 2, fee=5500))  # a 10 % bump: replaces
        await expect_code(rpc, -32024, send, transfer_hex(carol, nonce + 1000, dave.address))  # gap too large
        await expect_code(rpc, -32011, send, transfer_hex(carol, nonce + 1, dave.address, chain_id=902))
        await expect_code(rpc, -32015, send, transfer_hex(carol, nonce + 1, dave.address, fee=MIN_FEE - 1))
        await expect_code(rpc, -32014, send, transfer_hex(carol, nonce + 1, dave.address, amount=GENESIS_BALANCE * 2))
        await expect_code(rpc, -32019, send, transfer_hex(carol, nonce + 1, dave.address, amount=0))
        good = bytearray(bytes.fromhex(transfer_hex(carol, nonce + 1, dave.address)[2:]))
        good[-65:-33] = b"\xff" * 32  # r above the curve order: no key recovers
        await expect_code(rpc, -32010, send, "0x" + good.hex())
        too_much = pack([1, L2_CHAIN_ID, nonce + 1, encode_uint(MIN_FEE), dave.address, b"\x01" * 33, b"\x00" * 65])
        await expect_code(rpc, -32018, send, "0x" + too_much.hex())  # amount above 2^256 - 1
        await expect_code(rpc, -32602, send, "0xnothex")
        await expect_code(rpc, -32602, send, 12345)
        await expect_code(rpc, -32018, send, "0xc0ffee")
        await expect_code(rpc, -32018, send, "0x")
        await expect_code(rpc, -32025, send, "0x" + "00" * 5000)
        await expect_code(rpc, -32600, send, "0x" + "00" * (3 * 1024 * 1024))  # body above the server's limit
        await expect_code(rpc, -32602, "rollup_getBalance", "0xnot-an-address")
        # still serving, and the filled gap makes the queued transaction executable
        for n in (nonce + 1, nonce + 2):
            await rpc.call(send, transfer_hex(carol, n, dave.address))
        deadline = time.monotonic() + 3
        while await rpc.call("rollup_getNonce", to_checksum_address(carol.address)) != nonce + 4:
            assert time.monotonic() < deadline, "the filled gap did not release the queued transaction"
            await asyncio.sleep(0.05)


async def test_new_heads_and_metrics(devnet: tuple[DevnetConfigs, Service, Service]) -> None:
    cfg, _, _ = devnet
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(cfg.seq_url + "ws") as ws:
            await ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "rollup_subscribe", "params": ["newHeads"]})
            assert isinstance((await ws.receive_json(timeout=5))["result"], str)
            heads = [(await ws.receive_json(timeout=5))["params"]["result"] for _ in range(2)]
        assert heads[1]["number"] == heads[0]["number"] + 1
        assert set(heads[0]) == {"number", "hash", "stateRoot", "timestamp", "txCount"}
        async with session.get(cfg.seq_url + "metrics") as response:
            text = await response.text()
    for name in ("l2_unsafe_head", "l2_txs_total", "mempool_size", "block_seal_seconds", "l2_safe_head"):
        assert f"# TYPE {name}" in text


async def test_censored_sender_gets_in_only_through_l1(devnet: tuple[DevnetConfigs, Service, Service]) -> None:
    cfg, _, _ = devnet
    target = os.urandom(20)
    depositee = os.urandom(20)
    async with RpcClient(cfg.seq_url) as rpc, L1Client(cfg.l1_url) as l1:
        nonce = await rpc.call("rollup_getNonce", to_checksum_address(CENSORED.address))
        raw = transfer_hex(CENSORED, nonce, target, 42)
        tx_hash = await rpc.call("rollup_sendRawTransaction", raw)  # accepted, never selected
        await asyncio.sleep(0.8)
        assert await rpc.call("rollup_getTransactionReceipt", tx_hash) is None
        assert (await rpc.call("rollup_mempoolStatus"))["pending"] >= 1
        await l1.send_tx(DEVS[0], ForceTx(bytes.fromhex(raw[2:])))
        await l1.send_tx(DEVS[0], Deposit(depositee), value=12345)
        receipt = await wait_receipt(rpc, tx_hash, timeout=5.0)
        assert receipt["status"] == 1
        block = await rpc.call("rollup_getBlockByNumber", receipt["blockNumber"])
        assert block["systemTransactionCount"] >= 1 and receipt["transactionIndex"] < block["systemTransactionCount"]
        assert await rpc.call("rollup_getBalance", to_checksum_address(target)) == "42"
        await wait_for_value(lambda: rpc.call("rollup_getBalance", to_checksum_address(depositee)), "12345", 5.0)
        assert (await rpc.call("rollup_mempoolStatus"))["pending"] == 0  # the mempool copy went stale


async def wait_for_value(read: Any, expected: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while (value := await read()) != expected:
        assert time.monotonic() < deadline, f"still {value!r}, expected {expected!r}"
        await asyncio.sleep(0.05)


async def test_sigkill_keeps_every_acknowledged_transaction(devnet: tuple[DevnetConfigs, Service, Service]) -> None:
    cfg, _, seq = devnet
    erin, frank = DEVS[7], DEVS[8]
    async with RpcClient(cfg.seq_url) as rpc:
        nonce = await rpc.call("rollup_getNonce", to_checksum_address(erin.address))
        hashes = [
            await rpc.call("rollup_sendRawTransaction", transfer_hex(erin, nonce + i, frank.address)) for i in range(20)
        ]
        await asyncio.sleep(0.3)  # some are sealed, some may still be in the mempool
        acknowledged = {}
        for tx_hash in hashes:
            receipt = await rpc.call("rollup_getTransactionReceipt", tx_hash)
            if receipt is not None:
                acknowledged[tx_hash] = receipt
        head_before = (await rpc.call("rollup_syncStatus"))["unsafe"]["number"]
    assert acknowledged
    seq.kill(signal.SIGKILL)
    seq.start()
    async with RpcClient(cfg.seq_url) as rpc:
        for tx_hash, receipt in acknowledged.items():
            assert await rpc.call("rollup_getTransactionReceipt", tx_hash) == receipt
        deadline = time.monotonic() + 5
        while (await rpc.call("rollup_syncStatus"))["unsafe"]["number"] <= head_before + 2:
            assert time.monotonic() < deadline, "the chain did not continue after the restart"
            await asyncio.sleep(0.05)
        resumed = await rpc.call("rollup_getNonce", to_checksum_address(erin.address))
        assert resumed >= nonce + len(acknowledged)
        receipt = await rpc.call("rollup_sendRawTransactionSync", transfer_hex(erin, resumed, frank.address))
        assert receipt["status"] == 1
