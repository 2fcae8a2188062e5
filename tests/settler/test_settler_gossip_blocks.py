"""The settler's gossip path, pure parts: held blocks to batch blocks, the source choice, the block store.

The central check: a batch built from the sequencer's signed (gossiped)
blocks is byte-identical to one built from `rollup_getBatchBlocks` for the
same range, with an epoch that opens with a deposit and a forced
transaction (the system part a batch leaves out).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from l1.settler.blockstore import Added, BlockStore
from l1.settler.feed import LatencyWindow, compute_percentile
from l1.settler.held import Source, Starvation, choose_source, held_run, should_range_sync, to_batch_blocks
from l1.settler.pack import pack_batch, parse_batch_block, validate_contiguous
from node.block import Block
from node.chain import Chain
from node.crypto import PrivateKey
from node.gossip import GossipRules, SignedBlock, sign_block
from node.l2rpc import Heads, _Reader
from node.shape import OriginInfo, ShapeHead
from node.tx import DepositTx, Transfer, sign_tx
from tests.derivation.test_derivation import ALICE, BOB, CAROL, CHAIN_ID, FEE, Sequencer, l1_block, new_chain

SEQUENCER_KEY = PrivateKey(bytes([42]) * 32)
OTHER_KEY = PrivateKey(bytes([43]) * 32)
RULES = GossipRules(CHAIN_ID, SEQUENCER_KEY.address)


class SequencerNode:
    """What node.l2rpc reads of a node: the sequencer's chain, all of it unsafe."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def heads(self) -> Heads:
        head = self.chain.head()
        return Heads(unsafe=head, safe=head, finalized=head)

    def l1_head(self) -> int:
        return 0


def sealed_chain(tmp_path: Path, blocks: int = 12) -> tuple[Sequencer, dict[int, OriginInfo]]:
    """A sequencer chain over L1 blocks 0..3; L1 block 1 brings a deposit and a forced transaction."""
    seq = Sequencer(new_chain(tmp_path / "seq"))
    forced = sign_tx(BOB, CHAIN_ID, 0, FEE, Transfer(CAROL.address, 7)).encode()
    seq.nonces[BOB.address] = 1
    seq.l1[1] = l1_block(1, deposits=(DepositTx(1, 0, b"\x11" * 20, CAROL.address, 5 * 10**18),), forced_txs=(forced,))
    seq.l1[2] = l1_block(2)
    seq.l1[3] = l1_block(3)
    for i in range(blocks):
        seq.seal([seq.transfer(ALICE, BOB.address, i + 1)])
    origins = {
        n: OriginInfo(n, data.timestamp_ms, len(data.deposits) + len(data.forced_txs)) for n, data in seq.l1.items()
    }
    return seq, origins


def signed_blocks(chain: Chain) -> list[SignedBlock]:
    return [sign_block(SEQUENCER_KEY, CHAIN_ID, chain.store.get_block(n)) for n in range(1, chain.head().number + 1)]  # type: ignore[arg-type]


def genesis_head(chain: Chain) -> ShapeHead:
    genesis = chain.store.get_block(0)
    assert genesis is not None
    return ShapeHead(0, genesis.header.timestamp_ms, 0)


def rpc_blocks(chain: Chain, first: int, count: int) -> list[Any]:
    items = _Reader(SequencerNode(chain)).getBatchBlocks([first, count])
    blocks = [parse_batch_block(item) for item in items]
    validate_contiguous(blocks, first)
    return blocks


def test_batch_from_gossip_equals_batch_from_rpc(tmp_path: Path) -> None:
    seq, origins = sealed_chain(tmp_path)
    store = BlockStore(tmp_path / "held", RULES)
    for signed in signed_blocks(seq.chain):
        assert store.add(signed) is Added.NEW
    head = seq.chain.head().number
    opens_epoch_1 = min(n for n, b in store.blocks.items() if b.header.l1_origin_number == 1)
    assert seq.chain.system_count(opens_epoch_1) == 2  # the deposit and the forced transaction open epoch 1
    assert {b.header.l1_origin_number for b in store.blocks.values()} >= {0, 1, 2}
    from_gossip = to_batch_blocks(held_run(store.blocks, 1, 64), genesis_head(seq.chain), origins.get)
    from_rpc = rpc_blocks(seq.chain, 1, head)
    assert from_gossip == from_rpc
    assert pack_batch(from_gossip, CHAIN_ID, 1 << 20) == pack_batch(from_rpc, CHAIN_ID, 1 << 20)
    # after a restart the store re-validates its files and gives the same batch
    reopened = BlockStore(tmp_path / "held", RULES)
    assert reopened.load_report.loaded == head and reopened.load_report.deleted == 0
    again = to_batch_blocks(held_run(reopened.blocks, 1, 64), genesis_head(seq.chain), origins.get)
    assert pack_batch(again, CHAIN_ID, 1 << 20) == pack_batch(from_rpc, CHAIN_ID, 1 << 20)


def test_a_batch_stops_before_an_origin_the_settler_has_not_walked(tmp_path: Path) -> None:
    seq, origins = sealed_chain(tmp_path)
    blocks = held_run({s.block.number: s.block for s in signed_blocks(seq.chain)}, 1, 64)
    first_of_epoch_2 = next(b.number for b in blocks if b.header.l1_origin_number == 2)
    known = {n: o for n, o in origins.items() if n < 2}
    batch = to_batch_blocks(blocks, genesis_head(seq.chain), known.get)
    assert [b.number for b in batch] == list(range(1, first_of_epoch_2))


def test_held_run_stops_at_a_gap_and_at_a_block_not_on_its_parent(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=6)
    held = {s.block.number: s.block for s in signed_blocks(seq.chain)}
    assert [b.number for b in held_run(held, 1, 64)] == [1, 2, 3, 4, 5, 6]
    assert [b.number for b in held_run(held, 2, 3)] == [2, 3, 4]
    assert held_run(held, 7, 64) == []
    gap = {n: b for n, b in held.items() if n != 4}
    assert [b.number for b in held_run(gap, 1, 64)] == [1, 2, 3]
    forked = dict(held)
    forked[4] = Block(replace(held[4].header, parent_hash=b"\x01" * 32), held[4].transactions)
    assert [b.number for b in held_run(forked, 1, 64)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("has_network", "holds_next", "silent_s", "expected"),
    [
        (False, False, 0.0, Source.RPC),  # no [p2p]: always the RPC
        (False, True, 0.0, Source.RPC),
        (True, True, 100.0, Source.GOSSIP),  # held blocks are used whatever the silence
        (True, False, 1.0, None),  # gossip is live: wait for it
        (True, False, 3.0, Source.RPC),  # silent for the fallback time
    ],
)
def test_choose_source(has_network: bool, holds_next: bool, silent_s: float, expected: Source | None) -> None:
    assert (
        choose_source(has_network=has_network, holds_next=holds_next, silent_s=silent_s, fallback_after_s=3.0)
        == expected
    )


def test_store_replaces_a_resealed_block_and_drops_the_ones_above(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=5)
    store = BlockStore(tmp_path / "held", RULES)
    signed = signed_blocks(seq.chain)
    for s in signed:
        store.add(s)
    assert store.add(signed[1]) is Added.DUPLICATE
    other = Block(replace(signed[2].block.header, timestamp_ms=signed[2].block.header.timestamp_ms + 1), ())
    assert store.add(sign_block(SEQUENCER_KEY, CHAIN_ID, other)) is Added.REPLACED
    assert sorted(store.blocks) == [1, 2, 3] and store.blocks[3] == other
    reopened = BlockStore(tmp_path / "held", RULES)
    assert sorted(reopened.blocks) == [1, 2, 3] and reopened.blocks[3] == other
    assert reopened.prune_upto(2) == 2 and sorted(reopened.blocks) == [3]
    assert sorted(p.name for p in (tmp_path / "held").iterdir()) == [f"{3:016d}.blk"]


def test_store_drops_from_a_height_up_on_disk_too(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=5)
    store = BlockStore(tmp_path / "held", RULES)
    for s in signed_blocks(seq.chain):
        store.add(s)
    assert store.drop_from(4) == 2 and sorted(store.blocks) == [1, 2, 3]
    assert store.drop_from(9) == 0
    assert sorted(BlockStore(tmp_path / "held", RULES).blocks) == [1, 2, 3]


def test_store_deletes_files_that_fail_validation_and_leftover_temporaries(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=3)
    directory = tmp_path / "held"
    store = BlockStore(directory, RULES)
    for s in signed_blocks(seq.chain):
        store.add(s)
    block2 = seq.chain.store.get_block(2)
    assert block2 is not None
    (directory / f"{2:016d}.blk").write_bytes(sign_block(OTHER_KEY, CHAIN_ID, block2).encode())  # not the sequencer
    (directory / f"{3:016d}.blk").write_bytes(b"\x00garbage")
    (directory / f"{9:016d}.blk").write_bytes((directory / f"{1:016d}.blk").read_bytes())  # block 1 under 9's name
    (directory / f"{4:016d}.tmp").write_bytes(b"half written")
    reopened = BlockStore(directory, RULES)
    assert sorted(reopened.blocks) == [1]
    assert reopened.load_report.deleted == 3
    assert sorted(p.name for p in directory.iterdir()) == [f"{1:016d}.blk"]


def test_store_serves_contiguous_ranges_and_has_a_bound(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=4)
    store = BlockStore(tmp_path / "held", RULES, max_held=3)
    signed = signed_blocks(seq.chain)
    assert [store.add(s) for s in signed] == [Added.NEW, Added.NEW, Added.NEW, Added.FULL]
    assert store.serve_range(1, 10) == [s.encode() for s in signed[:3]]
    assert store.serve_range(2, 1) == [signed[1].encode()]
    assert store.serve_range(5, 3) == []


def test_percentiles() -> None:
    assert compute_percentile([], 0.5) is None
    values = [float(v) for v in range(1, 101)]
    assert compute_percentile(values, 0.5) == 50.0
    assert compute_percentile(values, 0.99) == 99.0
    assert compute_percentile([7.0], 0.99) == 7.0
    window = LatencyWindow(size=4, recent=2)
    assert window.report()["p50Ms"] is None
    for v in (0.001, 0.002, 0.003, 0.004, 0.005):
        window.add(v)
    assert window.report() == {"samples": 4, "p50Ms": 3.0, "p99Ms": 5.0, "recentP50Ms": 4.0, "recentP99Ms": 5.0}


@pytest.mark.parametrize(
    ("newest_held", "silent_s", "expected"),
    [
        (None, 0.0, False),  # nothing held, gossip live: the block is not sealed yet
        (10, 0.2, False),  # the next block (11) is simply not sealed yet
        (12, 0.2, True),  # a later block is held: a gap to fill
        (None, 1.0, True),  # quiet for a while (a start, a restart, held blocks dropped)
    ],
)
def test_should_range_sync(newest_held: int | None, silent_s: float, expected: bool) -> None:
    assert should_range_sync(11, newest_held, silent_s) is expected


def test_starvation_counts_how_long_the_next_block_has_been_missing() -> None:
    """Lively gossip of other blocks must not hold the RPC fallback off: the wait for block `first` counts."""
    starvation = Starvation()
    assert starvation.observe(10, False, 100.0) == 0.0
    assert starvation.observe(10, False, 103.5) == 3.5  # still missing 3.5 s later: past a 3 s fallback
    assert choose_source(has_network=True, holds_next=False, silent_s=3.5, fallback_after_s=3.0) is Source.RPC
    assert starvation.observe(10, True, 104.0) == 0.0  # held now
    assert starvation.observe(11, False, 104.0) == 0.0  # the next one: a new wait
    assert starvation.observe(12, False, 106.0) == 0.0  # another block: the clock restarts
    assert starvation.observe(12, False, 107.0) == 1.0
