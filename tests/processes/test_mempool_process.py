"""The mempool under attack, with real processes (an L1 and a sequencer on loopback ports):

- many unfunded keys spam future-nonce transactions: every one is refused, nothing is queued; funded
  junk is capped (queued per sender and in all, pending by rank), and a funded honest sender that pays
  more still gets in while the pool is full, and is included;
- kill -9 right after a burst of accepted transactions: after the restart every accepted hash is
  included or reported dropped with a reason (rollup_getTransactionStatus), none is unknown.

No settler runs: the sequencing window is made long enough that the sequencer never heals onto
empty L1-derived blocks while a test runs.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from node.crypto import PrivateKey, to_checksum_address
from node.keys.hd import dev_account
from node.rpc.client import RpcClient
from node.rpc.errors import RpcError
from node.tx import Transfer, sign_tx
from tests.processes.test_sequencer_process import Service, free_port

pytestmark = pytest.mark.slow

L2_CHAIN_ID = 901
MIN_FEE = 1000
DEVS = [dev_account(i) for i in range(10)]
TO = bytes.fromhex("00000000000000000000000000000000000000aa")
BATCH = 100  # the RPC server's batch cap


def key(i: int) -> PrivateKey:
    return PrivateKey((77_000 + i).to_bytes(32, "big"))


def raw_hex(k: PrivateKey, nonce: int, fee: int = MIN_FEE, amount: int = 1) -> str:
    return "0x" + sign_tx(k, L2_CHAIN_ID, nonce, fee, Transfer(TO, amount)).encode().hex()


@dataclass
class Devnet:
    directory: Path
    l1: Service
    seq: Service
    executor: Service

    @property
    def url(self) -> str:
        return self.seq.url


def write_devnet(directory: Path, sequencer: dict[str, Any], genesis: dict[bytes, int]) -> Devnet:
    l1_port, seq_port, executor_port = free_port(), free_port(), free_port()
    l1_url, seq_url = f"http://127.0.0.1:{l1_port}/", f"http://127.0.0.1:{seq_port}/"

    def node(name: str, port: int) -> str:
        return (
            f'[node]\ndata_dir = "{directory / ("data-" + name)}"\nrpc_host = "127.0.0.1"\nrpc_port = {port}\n'
            'log_level = "INFO"\n'
        )

    alloc = "\n".join(f'"{to_checksum_address(a)}" = "{b}"' for a, b in genesis.items())
    (directory / "l1.toml").write_text(
        node("l1", l1_port)
        + '\n[l1]\nchain_id = 900\nblock_time_ms = 200\nmin_fee = "1"\nbatcher = "dev1"\nproposer_bond = "1000"\n'
        + "challenge_window = 5\nmax_batch_bytes = 131072\n"
    )
    seq_lines = "\n".join(f"{k} = {v}" for k, v in {"l1_rpc": f'"{l1_url}"', **sequencer}.items())
    rollup = (
        f"\n[rollup]\nchain_id = {L2_CHAIN_ID}\nl1_chain_id = 900\nfee_recipient = "
        '"0x000000000000000000000000000000000000fee1"\n'
        + f'min_fee = "{MIN_FEE}"\nmax_block_txs = 2000\nmax_sequencer_drift_ms = 10000\nsequencing_window = 100000\n'
        + f"\n[rollup.genesis]\n{alloc}\n"
    )
    (directory / "sequencer.toml").write_text(node("sequencer", seq_port) + rollup + f"\n[sequencer]\n{seq_lines}\n")
    (directory / "executor.toml").write_text(
        node("executor", executor_port) + rollup + f'\n[executor]\nl1_rpc = "{l1_url}"\nsequencer_rpc = "{seq_url}"\n'
    )
    l1 = Service("l1", "l1.chain", directory, directory / "l1.toml", l1_url, "l1_blockNumber")
    seq = Service("sequencer", "sequencer", directory, directory / "sequencer.toml", seq_url, "rollup_chainId")
    executor = Service(
        "executor",
        "node.executor",
        directory,
        directory / "executor.toml",
        f"http://127.0.0.1:{executor_port}/",
        "rollup_chainId",
    )
    return Devnet(directory, l1, seq, executor)


@pytest.fixture
def devnet_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[Devnet] = []

    def start(sequencer: dict[str, Any], genesis: dict[bytes, int]) -> Devnet:
        net = write_devnet(tmp_path, sequencer, genesis)
        started.append(net)
        net.l1.start()
        net.seq.start()
        return net

    try:
        yield start
    finally:
        for net in started:
            net.executor.stop()
            net.seq.stop()
            net.l1.stop()


async def send_all(rpc: RpcClient, txs: list[str]) -> list[Any]:
    """rollup_sendRawTransaction for each, in batches of BATCH; a hash or the RpcError."""
    results: list[Any] = []
    for start in range(0, len(txs), BATCH):
        results.extend(await rpc.batch([("rollup_sendRawTransaction", [t]) for t in txs[start : start + BATCH]]))
    return results


def codes(results: list[Any]) -> dict[int | str, int]:
    counts: dict[int | str, int] = {}
    for r in results:
        label: int | str = r.code if isinstance(r, RpcError) else "accepted"
        counts[label] = counts.get(label, 0) + 1
    return counts


async def wait_receipt(rpc: RpcClient, tx_hash: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = await rpc.call("rollup_getTransactionReceipt", tx_hash)
        if receipt is not None:
            return receipt  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no receipt for {tx_hash} within {timeout} s")


# -- (a) spam --------------------------------------------------------------------------------

QUEUED_JUNK = [key(i) for i in range(30)]  # funded, queue far-future transactions at a high fee
# funded, fill the pool with executable minimum-fee ones: one transaction each, so a refused one opens no
# nonce gap (a later nonce of its sender would be queued, and an honest pending newcomer evicts a queued one)
PENDING_JUNK = [key(100 + i) for i in range(640)]
UNFUNDED = [key(1000 + i) for i in range(160)]


async def test_spam_is_refused_or_capped_and_an_honest_sender_still_gets_in(devnet_factory: Any) -> None:
    genesis = {k.address: 10**24 for k in DEVS} | {k.address: 10**12 for k in QUEUED_JUNK + PENDING_JUNK}
    net = devnet_factory(
        {
            "block_time_ms": 200,
            "min_block_time_ms": 200,
            "max_seal_txs": 4,
            "mempool_max_txs": 400,
            "mempool_max_queued": 100,
            "mempool_max_queued_per_sender": 8,
            "mempool_queued_lifetime_ms": 4000,
        },
        genesis,
    )
    honest = DEVS[3]
    async with RpcClient(net.url) as rpc:
        # 1. the attack: 160 unfunded keys x 64 future nonces. Not one is queued.
        spam = [raw_hex(k, n) for n in range(1, 65) for k in UNFUNDED]
        started = time.monotonic()
        results = await send_all(rpc, spam)
        spam_s = time.monotonic() - started
        assert codes(results) == {-32014: len(spam)}, codes(results)
        assert await rpc.call("rollup_mempoolStatus") == {
            "pending": 0,
            "queued": 0,
            "capacity": 400,
            "queuedCapacity": 100,
        }

        # 2. funded keys queueing far-future transactions at a high fee: capped per sender (8) and in all (100)
        queued = [raw_hex(k, n, fee=10**6) for k in QUEUED_JUNK for n in range(2, 12)]
        results = await send_all(rpc, queued)
        assert codes(results).get("accepted") == 100 and set(codes(results)) == {"accepted", -32021, -32020}, codes(
            results
        )
        assert (await rpc.call("rollup_mempoolStatus"))["queued"] == 100
        evicted_later = next(r for r in results if isinstance(r, str))

        # 3. executable junk at the minimum fee from other funded keys fills the pool and evicts the queued junk
        #    (pending outranks queued); the last entry, an honest minimum-fee transfer, finds the pool full. The
        #    sequencer keeps sealing 4 per block meanwhile: the freed room goes to the junk after it, which is
        #    all pending, so the pool stays full of pending junk the honest transfer does not outrank
        pending = [raw_hex(k, 0) for k in PENDING_JUNK]  # the honest one shares the last batch
        results = await send_all(rpc, pending + [raw_hex(honest, 0)])
        assert isinstance(results[-1], RpcError) and results[-1].code == -32020, results[-1]
        status = await rpc.call("rollup_mempoolStatus")
        assert status["pending"] + status["queued"] >= 390 and status["queued"] < 100, status
        assert (await rpc.call("rollup_getTransactionStatus", evicted_later))["reason"] == "evicted"

        # 4. the honest sender pays a little more: it gets in at once and is in the next block
        tx_hash = await rpc.call("rollup_sendRawTransaction", raw_hex(honest, 0, fee=2 * MIN_FEE))
        receipt = await wait_receipt(rpc, tx_hash, timeout=3.0)
        assert receipt["status"] == 1
        assert await rpc.call("rollup_getTransactionStatus", tx_hash) == {
            "status": "included",
            "blockNumber": receipt["blockNumber"],
        }

        # 5. every junk transaction that was accepted is accounted for
        junk = [h for h in results[:-1] if isinstance(h, str)]
        statuses = await rpc.batch([("rollup_getTransactionStatus", [h]) for h in junk[:BATCH]])
        assert all(s["status"] in ("pending", "included") or s.get("reason") == "evicted" for s in statuses), statuses
    assert spam_s < 30, f"refusing 10,240 spam transactions took {spam_s:.1f} s"


# -- (b) kill -9 -------------------------------------------------------------------------------


async def test_kill_9_after_a_burst_loses_no_accepted_transaction(devnet_factory: Any) -> None:
    genesis = {k.address: 10**24 for k in DEVS}
    net = devnet_factory(
        {"block_time_ms": 200, "min_block_time_ms": 200, "max_seal_txs": 20, "mempool_queued_lifetime_ms": 3000},
        genesis,
    )
    senders = DEVS[:8]
    async with RpcClient(net.url) as rpc:
        burst = [raw_hex(k, n) for n in range(40) for k in senders]
        burst += [raw_hex(DEVS[9], n) for n in range(2, 12)]  # queued behind a gap that never fills
        burst += [raw_hex(senders[0], 39, fee=2 * MIN_FEE)]  # a replacement: drops the first one
        results = await send_all(rpc, burst)
    accepted = [r for r in results if isinstance(r, str)]
    assert len(accepted) == len(burst), codes(results)
    net.seq.kill()  # SIGKILL right after the last hash came back
    net.seq.start()
    assert "mempool journal replayed" in net.seq.log()
    replayed = re.findall(r"mempool journal replayed: (\d+) transaction\(s\) back", net.seq.log())
    assert replayed and int(replayed[-1]) > 0, replayed  # some were still pooled at the kill: the journal kept them

    async with RpcClient(net.url) as rpc:
        deadline = time.monotonic() + 30
        while True:
            answers = await rpc.batch([("rollup_getTransactionStatus", [h]) for h in accepted[:BATCH]])
            for start in range(BATCH, len(accepted), BATCH):
                answers += await rpc.batch(
                    [("rollup_getTransactionStatus", [h]) for h in accepted[start : start + BATCH]]
                )
            settled = [a for a in answers if a["status"] in ("included", "dropped")]
            assert not [a for a in answers if a["status"] == "unknown"], "an accepted transaction disappeared"
            if len(settled) == len(accepted):
                break
            assert time.monotonic() < deadline, f"{len(accepted) - len(settled)} still pooled"
            await asyncio.sleep(0.3)
        dropped = {a["reason"] for a in answers if a["status"] == "dropped"}
        assert dropped == {"replaced", "expired"}, dropped
        assert sum(a["status"] == "dropped" for a in answers) == 11  # 10 queued expired + 1 replaced
        for h, a in zip(accepted, answers):
            if a["status"] == "included":
                receipt = await rpc.call("rollup_getTransactionReceipt", h)
                assert receipt is not None and receipt["blockNumber"] == a["blockNumber"]
    net.executor.start()  # an executor forwards the status query to the sequencer
    async with RpcClient(net.executor.url) as executor:
        assert [await executor.call("rollup_getTransactionStatus", h) for h in accepted[-12:]] == answers[-12:]
