"""The settler as a real process between a real L1 and a real sequencer.

Batches on L1 decode to exactly the sequencer's blocks, output proposals
appear every output_interval blocks with the sequencer's output roots, and a
SIGKILLed settler resumes without gaps. Prints the measured L1 bytes per
transfer (random recipients, so addresses barely compress).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from l1.settler.pack import pack_batch
from node.batch import BatchBlock, decode_batch
from node.crypto import PrivateKey, parse_hex, to_checksum_address
from node.output import compute_output_root
from node.rpc.client import RpcClient
from tests.processes.test_sequencer_process import (
    DEVS,
    L2_CHAIN_ID,
    MAX_SEAL_TXS,
    DevnetConfigs,
    Service,
    devnet_configs,
    transfer_hex,
)

OUTPUT_INTERVAL = 4
SEQUENCER_BLOCK_S = 0.2  # block_time_ms of devnet_configs' sequencer
SENDERS = DEVS[3:10]


# -- pure parts --


def test_pack_batch_takes_the_longest_prefix_that_fits() -> None:
    key = DEVS[3]
    blocks = [
        BatchBlock(
            n, 1000 + n, 0, tuple(bytes.fromhex(transfer_hex(key, 10 * n + i, os.urandom(20))[2:]) for i in range(10))
        )
        for n in range(1, 21)
    ]
    data, count = pack_batch(blocks, L2_CHAIN_ID, 4000)
    assert 1 <= count < 20 and len(data) <= 4000
    assert decode_batch(data, L2_CHAIN_ID) == blocks[:count]
    data_all, count_all = pack_batch(blocks, L2_CHAIN_ID, 10**6)
    assert count_all == 20 and decode_batch(data_all, L2_CHAIN_ID) == blocks


# -- the processes --


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[tuple[DevnetConfigs, Service, Service, Service]]:
    cfg = devnet_configs(tmp_path, challenge_window=5, output_interval=OUTPUT_INTERVAL)
    l1, seq, settler = cfg.l1(), cfg.sequencer(), cfg.settler()
    try:
        l1.start()
        seq.start()
        settler.start()
        yield cfg, l1, seq, settler
    finally:
        for service in (settler, seq, l1):
            service.stop()


async def send_load(rpc: RpcClient, per_sender: int) -> int:
    """Transfers to random recipients from every sender, in JSON-RPC batches; wait until all are sealed."""
    nonces = {key.address: await rpc.call("rollup_getNonce", to_checksum_address(key.address)) for key in SENDERS}
    calls = []
    for i in range(per_sender):
        for key in SENDERS:
            calls.append(
                ("rollup_sendRawTransaction", [transfer_hex(key, nonces[key.address] + i, os.urandom(20), 1 + i)])
            )
    hashes = []
    for start in range(0, len(calls), 100):
        for result in await rpc.batch(calls[start : start + 100]):
            assert isinstance(result, str), result
            hashes.append(result)
    seal_s = len(calls) / MAX_SEAL_TXS * SEQUENCER_BLOCK_S  # the sequencer seals at most MAX_SEAL_TXS per block
    await wait_for(
        lambda: all_sealed(rpc, SENDERS, {k.address: nonces[k.address] + per_sender for k in SENDERS}),
        10 + 2 * seal_s,
        "load sealed",
    )
    return len(hashes)


async def all_sealed(rpc: RpcClient, keys: list[PrivateKey], targets: dict[bytes, int]) -> bool:
    for key in keys:
        if await rpc.call("rollup_getNonce", to_checksum_address(key.address)) < targets[key.address]:
            return False
    return True


async def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        await asyncio.sleep(0.1)


async def posted_past(settler: RpcClient, number: int) -> bool:
    return bool((await settler.call("settler_status"))["postedUpto"] >= number)


async def l1_batches(l1: RpcClient) -> list[tuple[int, bytes]]:
    head = await l1.call("l1_blockNumber")
    found = []
    for first in range(0, head + 1, 64):
        for block in await l1.call("l1_getDerivationData", first, 64):
            found.extend((block["number"], parse_hex(b["data"], None, "batch")) for b in block["batches"])
    return found


def sequencer_block(item: dict[str, Any]) -> BatchBlock:
    return BatchBlock(
        item["number"],
        item["timestamp"],
        item["l1Origin"],
        tuple(parse_hex(t, None, "tx") for t in item["transactions"]),
    )


async def sequencer_blocks(seq: RpcClient, last: int) -> list[BatchBlock]:
    blocks: list[BatchBlock] = []
    while len(blocks) < last:
        blocks.extend(
            sequencer_block(b)
            for b in await seq.call("rollup_getBatchBlocks", len(blocks) + 1, min(256, last - len(blocks)))
        )
    return blocks


async def test_batches_and_outputs_match_the_sequencer_across_a_settler_crash(
    devnet: tuple[DevnetConfigs, Service, Service, Service],
) -> None:
    cfg, _, _, settler_proc = devnet
    async with RpcClient(cfg.seq_url) as seq, RpcClient(cfg.l1_url) as l1, RpcClient(cfg.settler_url) as settler:
        sent = await send_load(seq, per_sender=60)
        await wait_for(lambda: sync_reaches(seq, "unsafe", 3 * OUTPUT_INTERVAL), 5, "a few output intervals of blocks")
        head = (await seq.call("rollup_syncStatus"))["unsafe"]["number"]
        await wait_for(lambda: posted_past(settler, head), 10, f"settler posts up to L2 block {head}")
        first_run = await settler.call("settler_status")

        settler_proc.kill(signal.SIGKILL)
        sent += await send_load(seq, per_sender=30)
        await asyncio.sleep(1.0)  # blocks pile up while the settler is down
        settler_proc.start()
        head = (await seq.call("rollup_syncStatus"))["unsafe"]["number"]
        await wait_for(lambda: posted_past(settler, head), 15, f"restarted settler posts up to L2 block {head}")
        await wait_for(lambda: outputs_reach(l1, head - head % OUTPUT_INTERVAL), 10, "outputs catch up")

        # batches decode to exactly the sequencer's blocks, without gaps
        posted: dict[int, BatchBlock] = {}
        batch_bytes = 0
        for _, data in await l1_batches(l1):
            batch_bytes += len(data)
            for block in decode_batch(data, L2_CHAIN_ID):
                assert posted.setdefault(block.number, block) == block
        assert sorted(posted) == list(range(1, max(posted) + 1))
        ours = await sequencer_blocks(seq, max(posted))
        assert [posted[n] for n in sorted(posted)] == ours
        user_txs = sum(len(b.transactions) for b in ours)
        assert user_txs >= sent

        # output proposals every OUTPUT_INTERVAL blocks, with the sequencer's roots
        outputs = await l1.call("l1_getOutputs", 0, 256)
        numbers = [o["l2BlockNumber"] for o in outputs]
        assert numbers == list(range(OUTPUT_INTERVAL, numbers[-1] + 1, OUTPUT_INTERVAL))
        for output in outputs:
            block = await seq.call("rollup_getBlockByNumber", output["l2BlockNumber"])
            expected = compute_output_root(
                block["number"], parse_hex(block["stateRoot"], 32), parse_hex(block["hash"], 32)
            )
            assert output["outputRoot"] == "0x" + expected.hex()

        # the sequencer sees its blocks as safe, and finalized once an output finalizes
        await wait_for(lambda: sync_reaches(seq, "safe", OUTPUT_INTERVAL), 5, "safe head")
        await wait_for(lambda: sync_reaches(seq, "finalized", OUTPUT_INTERVAL), 10, "finalized head")

    per_tx_first_run = first_run["l1BytesPerTx"]
    print(
        f"\nL1 batch bytes per transfer: {per_tx_first_run:.1f} (settler's first run, {first_run['txsPosted']} txs in "
        f"{first_run['batches']} batches); {batch_bytes / user_txs:.1f} over all batches on L1 "
        f"({user_txs} txs, {len(posted)} blocks, re-posts and empty blocks included)"
    )
    assert per_tx_first_run < 110


async def outputs_reach(l1: RpcClient, number: int) -> bool:
    outputs = await l1.call("l1_getOutputs", 0, 256)
    return bool(outputs) and outputs[-1]["l2BlockNumber"] >= number


async def sync_reaches(seq: RpcClient, which: str, number: int) -> bool:
    return bool((await seq.call("rollup_syncStatus"))[which]["number"] >= number)
