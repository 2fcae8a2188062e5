"""Settler.next_blocks: where a batch's blocks come from (held gossip blocks, range sync, the RPC fallback).

The settler runs without its network here: a stand-in feed (a real
BlockStore, a settable silence, a range sync that hands over given blocks)
and a stand-in sequencer RPC that answers `rollup_getBatchBlocks` from the
same chain, so both sources can be compared.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from l1.settler.blockstore import BlockStore
from l1.settler.config import settler_config_from_dict
from l1.settler.held import Source
from l1.settler.process import Settler
from node.chain import Chain
from node.gossip import SignedBlock
from node.l2rpc import _Reader
from node.shape import ShapeHead
from tests.settler.test_settler_gossip_blocks import (
    RULES,
    SequencerNode,
    genesis_head,
    sealed_chain,
    signed_blocks,
)


class FakeFeed:
    def __init__(self, store: BlockStore, by_range: list[SignedBlock]) -> None:
        self.store = store
        self.by_range = by_range
        self.silence = 0.0
        self.fills: list[tuple[int, int]] = []

    def silent_s(self) -> float:
        return self.silence

    async def fill(self, first: int, count: int) -> int:
        self.fills.append((first, count))
        taken = [s for s in self.by_range if first <= s.block.number < first + count]
        for signed in taken:
            self.store.add(signed)
        return len(taken)

    def fill_soon(self, first: int, count: int) -> bool:
        self.task = asyncio.get_running_loop().create_task(self.fill(first, count))
        return True


class FakeSequencer:
    def __init__(self, chain: Chain | None) -> None:
        self.chain = chain
        self.calls = 0

    async def call(self, method: str, *params: Any) -> Any:
        self.calls += 1
        if self.chain is None:
            from node.rpc.client import RpcTransportError

            raise RpcTransportError("http://127.0.0.1:9/", "connection refused")
        assert method == "rollup_getBatchBlocks"
        return _Reader(SequencerNode(self.chain)).getBatchBlocks(list(params))


def make_settler(tmp_path: Path, chain: Chain | None, head: ShapeHead, origins: dict[int, Any]) -> Settler:
    doc = {
        "node": {"data_dir": str(tmp_path / "settler")},
        "rollup": {"chain_id": RULES.chain_id, "l1_chain_id": 900, "fee_recipient": "0x" + "fe" * 20},
        "settler": {
            "l1_rpc": "http://127.0.0.1:9/",
            "sequencer_rpc": "http://127.0.0.1:9/",
            "batcher_key": "dev1",
            "proposer_key": "dev2",
            "gossip_fallback_ms": 3000,
        },
    }
    settler = Settler(settler_config_from_dict(doc))
    settler.walker.head = head
    settler.walker.last_l1 = max(origins)
    settler.walker.origins = dict(origins)
    settler.sequencer = FakeSequencer(chain)  # type: ignore[assignment]
    return settler


async def close(settler: Settler) -> None:
    await settler.l1.close()


async def test_held_blocks_make_the_batch_and_it_equals_the_rpc_one(tmp_path: Path) -> None:
    seq, origins = sealed_chain(tmp_path)
    store = BlockStore(tmp_path / "held", RULES)
    for signed in signed_blocks(seq.chain):
        store.add(signed)
    settler = make_settler(tmp_path, seq.chain, genesis_head(seq.chain), origins)
    feed = FakeFeed(store, [])
    settler.feed = feed  # type: ignore[assignment]
    gossip, source = await settler.next_blocks(1, 256)
    assert source is Source.GOSSIP and settler.sequencer.calls == 0  # type: ignore[attr-defined]
    assert feed.fills == []
    settler.feed = None
    rpc, source = await settler.next_blocks(1, 256)
    assert source is Source.RPC and gossip == rpc
    assert settler.batch_outgoing(gossip).payload == settler.batch_outgoing(rpc).payload
    await close(settler)


async def test_a_missing_first_block_is_range_synced_when_a_later_one_is_held(tmp_path: Path) -> None:
    seq, origins = sealed_chain(tmp_path, blocks=6)
    signed = signed_blocks(seq.chain)
    store = BlockStore(tmp_path / "held", RULES)
    for s in signed[3:]:
        store.add(s)  # 4..6 came by gossip; 1..3 were sealed before we joined
    settler = make_settler(tmp_path, None, genesis_head(seq.chain), origins)
    feed = FakeFeed(store, signed[:3])
    settler.feed = feed  # type: ignore[assignment]
    blocks, source = await settler.next_blocks(1, 256)
    assert (blocks, source) == ([], None)  # the range sync runs in the background: this round waits
    await feed.task
    blocks, source = await settler.next_blocks(1, 256)  # the next round has them
    assert source is Source.GOSSIP and [b.number for b in blocks] == [1, 2, 3, 4, 5, 6]
    assert feed.fills == [(1, 256)]
    await close(settler)


@pytest.mark.parametrize(("silence", "expected"), [(0.5, None), (3.0, Source.RPC)])
async def test_the_rpc_is_the_fallback_after_gossip_fallback_ms_of_silence(
    tmp_path: Path, silence: float, expected: Source | None
) -> None:
    seq, origins = sealed_chain(tmp_path, blocks=4)
    settler = make_settler(tmp_path, seq.chain, genesis_head(seq.chain), origins)
    feed = FakeFeed(BlockStore(tmp_path / "held", RULES), [])
    feed.silence = silence
    settler.feed = feed  # type: ignore[assignment]
    blocks, source = await settler.next_blocks(1, 256)
    assert source is expected
    assert (len(blocks) == 4) is (expected is Source.RPC)
    await close(settler)


async def test_only_blocks_after_the_derivable_head_are_taken_from_the_store(tmp_path: Path) -> None:
    seq, origins = sealed_chain(tmp_path, blocks=4)
    store = BlockStore(tmp_path / "held", RULES)
    for s in signed_blocks(seq.chain):
        store.add(s)
    settler = make_settler(tmp_path, None, genesis_head(seq.chain), origins)
    settler.feed = FakeFeed(store, [])  # type: ignore[assignment]
    assert await settler.held_batch(2, 256) == []  # block 2 does not follow the head (0)
    assert [b.number for b in await settler.held_batch(1, 2)] == [1, 2]
    await close(settler)
