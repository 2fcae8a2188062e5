"""The sequencer heals onto its L1-derived chain (sequencer.healing, the catch-up rule of sequencer.producer).

Real chain stores throughout: a sequencer seals blocks, a "settler" posts
some of them as batches in L1 blocks (or stops), and the sequencer's own
derivation (node.derivation.Deriver over the same store) promotes, or
replaces and re-queues.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from node.batch import BatchBlock, encode_batch
from node.block import BlockHeader
from node.chain import Chain
from node.crypto import PrivateKey, keccak256
from node.derivation import L1BlockData, RollupRules, plan_next_block, seal_planned
from node.follower import CURSOR_KEY
from node.safe_chain import SAFE_KEY
from node.state.schema import get_account
from node.stf import ChainConfig, NonceTooLow
from node.stf.execute import recover_transaction
from node.store.chain import ChainStore
from node.tx import RecoveredTx, Transfer, sign_tx
from sequencer.dropped import TRANSACTION_DROPPED, TransactionDropped
from sequencer.healing import REQUEUE_KEY, ChainHealer, HealReport
from sequencer.mempool import Mempool, SenderQueueFull
from sequencer.producer import BlockProducer, BlockReport

CHAIN_ID = 901
FEE = 1000
WINDOW = 4
RULES = RollupRules(CHAIN_ID, max_sequencer_drift_ms=5_000, sequencing_window=WINDOW)
CONFIG = ChainConfig(CHAIN_ID, fee_recipient=b"\xfe" * 20, min_fee=FEE)
ALICE = PrivateKey(bytes([1]) * 32)
BOB = PrivateKey(bytes([2]) * 32)
CAROL = PrivateKey(bytes([3]) * 32)
ALLOC = {ALICE.address: 10**20, BOB.address: 10**20}


def l1_block(number: int, **kw) -> L1BlockData:  # type: ignore[no-untyped-def]
    return L1BlockData(number, keccak256(b"l1-%d" % number), 1_000_000 + 1000 * number, **kw)


def new_chain(path: Path) -> Chain:
    chain = Chain(ChainStore(path), CONFIG)
    chain.init_genesis(ALLOC, timestamp_ms=l1_block(0).timestamp_ms, l1_origin=(0, l1_block(0).hash))
    return chain


def transfer(key: PrivateKey, nonce: int, to: bytes, amount: int) -> RecoveredTx:
    return recover_transaction(sign_tx(key, CHAIN_ID, nonce, FEE, Transfer(to, amount)).encode())


class Admissions:
    """The sequencer's admission as the healer sees it: recover, refuse a used nonce, keep in order."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.pool: list[RecoveredTx] = []

    async def resubmit(self, rtx: RecoveredTx) -> RecoveredTx:
        account = get_account(self.chain.store.latest_state(), rtx.sender)
        if rtx.tx.nonce < account.nonce:  # type: ignore[union-attr]
            raise NonceTooLow(rtx.sender, account.nonce, rtx.tx.nonce)  # type: ignore[union-attr]
        self.pool.append(rtx)
        return rtx

    def is_pooled(self, tx_hash: bytes) -> bool:
        return any(r.hash == tx_hash for r in self.pool)


class CappedAdmissions(Admissions):
    """Admission with a per-sender cap on pooled transactions (as the mempool's, for new submissions)."""

    def __init__(self, chain: Chain, cap: int) -> None:
        super().__init__(chain)
        self.cap = cap
        self.admitted: list[bytes] = []

    async def resubmit(self, rtx: RecoveredTx) -> RecoveredTx:
        if sum(r.sender == rtx.sender for r in self.pool) >= self.cap:
            raise SenderQueueFull(rtx.sender, self.cap)
        admitted = await super().resubmit(rtx)
        self.admitted.append(rtx.raw)
        return admitted


class Node:
    """A sequencer's chain with its healer; L1 blocks arrive through `l1()`, blocks are sealed with `seal()`."""

    def __init__(self, path: Path, admissions: type[Admissions] = Admissions, **healer_options) -> None:  # type: ignore[no-untyped-def]
        self.chain = new_chain(path)
        self.admissions = admissions(self.chain) if admissions is Admissions else admissions(self.chain, 3)  # type: ignore[call-arg]
        self.heals: list[HealReport] = []
        self.healer = ChainHealer(
            self.chain,
            RULES,
            asyncio.Lock(),
            self.admissions.resubmit,
            self.admissions.is_pooled,
            self.heals.append,
            **healer_options,
        )
        self.l1_blocks: dict[int, L1BlockData] = {0: l1_block(0)}
        self.now = 1_000_000
        self.nonces: dict[bytes, int] = {}

    async def start(self) -> None:
        await self.healer.take_l1_block(self.l1_blocks[0])

    async def l1(self, number: int, **kw) -> HealReport | None:  # type: ignore[no-untyped-def]
        data = l1_block(number, **kw)
        self.l1_blocks[number] = data
        return await self.healer.take_l1_block(data)

    def tx(self, key: PrivateKey, to: bytes = CAROL.address, amount: int = 1) -> RecoveredTx:
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        return transfer(key, nonce, to, amount)

    def seal(self, *txs: RecoveredTx) -> int:
        self.now += 250
        parent = header(self.chain)
        plan = plan_next_block(
            parent,
            self.l1_blocks[parent.l1_origin_number],
            self.l1_blocks.get(parent.l1_origin_number + 1),
            self.now,
            RULES,
        )
        assert plan is not None
        sealed, build = seal_planned(self.chain, plan, list(txs))
        assert not build.rejected
        return sealed.head.number

    def batch(self, first: int, last: int, **changes: int) -> bytes:
        """Our blocks first..last as the settler posts them (`changes` alter the last one's timestamp)."""
        blocks = []
        for n in range(first, last + 1):
            block = self.chain.store.get_block(n)
            assert block is not None
            skip = self.chain.system_count(n)
            timestamp = block.header.timestamp_ms + (changes.get("timestamp_shift", 0) if n == last else 0)
            blocks.append(BatchBlock(n, timestamp, block.header.l1_origin_number, block.transactions[skip:]))
        return encode_batch(blocks, CHAIN_ID)

    def user_txs(self, first: int, last: int) -> list[bytes]:
        raws: list[bytes] = []
        for n in range(first, last + 1):
            block = self.chain.store.get_block(n)
            assert block is not None
            raws.extend(block.transactions[self.chain.system_count(n) :])
        return raws


def header(chain: Chain) -> BlockHeader:
    block = chain.store.get_block(chain.head().number)
    assert block is not None
    return block.header


async def node_with_safe_prefix(tmp_path: Path, **options) -> Node:  # type: ignore[no-untyped-def]
    """Blocks 1..4 sealed on origins 0/1 with a transfer each; blocks 1..2 posted in L1 block 2 (safe)."""
    node = Node(tmp_path / "seq", **options)
    await node.start()
    await node.l1(1)
    for _ in range(4):
        node.seal(node.tx(ALICE), node.tx(BOB))
    assert await node.l1(2, batches=(node.batch(1, 2),)) is None
    assert node.healer.safe_head().number == 2
    return node


# -- promotion -------------------------------------------------------------------------------


async def test_blocks_posted_in_time_become_safe_without_a_heal(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    head = node.chain.head()
    assert await node.l1(3, batches=(node.batch(3, 4),)) is None
    assert node.healer.safe_head() == head == node.chain.head()
    assert node.heals == [] and node.admissions.pool == []
    assert node.chain.store.kv.get(CURSOR_KEY) == (3).to_bytes(8, "big")


async def test_a_fresh_store_records_genesis_as_safe(tmp_path: Path) -> None:
    node = Node(tmp_path / "seq")
    assert node.chain.store.kv.get(SAFE_KEY) is not None
    node.seal(node.tx(ALICE))
    node.chain.store.close()
    reopened = Node.__new__(Node)  # a restart before any batch: block 1 must not count as safe
    reopened.chain = Chain(ChainStore(tmp_path / "seq"), CONFIG)
    reopened.admissions = Admissions(reopened.chain)
    healer = ChainHealer(
        reopened.chain, RULES, asyncio.Lock(), reopened.admissions.resubmit, reopened.admissions.is_pooled
    )
    assert healer.safe_head().number == 0 and reopened.chain.head().number == 1


# -- the settler outage: default blocks replace ours -----------------------------------------------


async def test_an_outage_past_the_window_heals_onto_default_blocks_and_requeues_in_order(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    # the settler stops; the sequencer keeps sealing, its origin advancing with L1
    safe_origin = node.chain.store.get_block(2).header.l1_origin_number  # type: ignore[union-attr]
    report = None
    for number in range(3, safe_origin + 1 + WINDOW + 1):
        node.seal(node.tx(ALICE), node.tx(BOB))
        old_head = node.chain.head()
        replaced = node.user_txs(3, old_head.number)
        report = await node.l1(number)
        if report is not None:
            break
    assert number == safe_origin + 1 + WINDOW
    assert report is not None, "the window of the epoch after the safe head closed: L1 derives a default block"
    assert (report.first_replaced, report.discarded_head) == (3, old_head.number)
    assert report.requeued == len(replaced) and report.kept == 0 and report.dropped == ()
    assert [r.raw for r in node.admissions.pool] == replaced  # original order: each sender's nonces run in order
    default = node.chain.store.get_block(3)
    assert default is not None and default.transactions == ()  # the epoch's system transactions only (none here)
    assert node.chain.head() == node.healer.safe_head() == report.head
    for raw in replaced:  # no receipt from a replaced block is served any more
        assert node.chain.store.get_tx_location(keccak256(raw)) is None
    assert node.chain.store.kv.get(REQUEUE_KEY) is None
    # re-included on the healed head: the new receipts are served
    node.seal(*node.admissions.pool)
    for raw in replaced:
        location = node.chain.store.get_tx_location(keccak256(raw))
        assert location is not None and location[0] == node.chain.head().number


async def test_a_transaction_no_longer_valid_after_the_heal_is_reported_dropped(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    ours = node.chain.store.get_block(3)
    assert ours is not None
    doomed, bob_tx = (recover_transaction(raw) for raw in ours.transactions)
    block_4 = node.user_txs(4, 4)
    # L1 derives another block 3, in which ALICE's nonce 2 pays BOB instead (whoever posted it)
    other = sign_tx(ALICE, CHAIN_ID, doomed.tx.nonce, FEE, Transfer(BOB.address, 77)).encode()  # type: ignore[union-attr]
    batch = encode_batch([BatchBlock(3, ours.header.timestamp_ms, ours.header.l1_origin_number, (other,))], CHAIN_ID)
    report = await node.l1(3, batches=(batch,))
    assert report is not None and (report.first_replaced, report.discarded_head) == (3, 4)
    assert [d.tx_hash for d in report.dropped] == [doomed.hash]
    assert report.requeued == 3 and report.kept == 0  # BOB's nonce 2, and both nonce-3 transactions of block 4
    assert [r.raw for r in node.admissions.pool] == [bob_tx.raw, *block_4]
    dropped = node.healer.dropped_transaction(doomed.hash)
    assert dropped is not None and "nonce" in dropped.reason and dropped.was_in_block == 3
    error = TransactionDropped(dropped)
    assert error.code == TRANSACTION_DROPPED and error.to_json()["data"]["status"] == "dropped"
    assert node.healer.dropped_transaction(bob_tx.hash) is None
    # reopened, the record is still there (it lives in the chain store)
    node.chain.store.close()
    chain = Chain(ChainStore(tmp_path / "seq"), CONFIG)
    healer = ChainHealer(chain, RULES, asyncio.Lock(), Admissions(chain).resubmit, lambda tx_hash: False)
    assert healer.dropped_transaction(doomed.hash) == dropped


async def test_transactions_the_derived_block_holds_too_are_kept_not_requeued(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    kept = node.user_txs(3, 3)
    moved = node.user_txs(4, 4)
    # a batch of block 3 with another timestamp: L1 derives a block 3 that differs from ours but holds its txs
    report = await node.l1(3, batches=(node.batch(3, 3, timestamp_shift=1),))
    assert report is not None and (report.first_replaced, report.discarded_head) == (3, 4)
    assert report.kept == len(kept) and report.requeued == len(moved)
    assert [r.raw for r in node.admissions.pool] == moved
    for raw in kept:
        assert node.chain.store.get_tx_location(keccak256(raw)) == (3, kept.index(raw))


async def test_an_interrupted_heal_is_finished_after_a_restart(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    replaced = node.user_txs(3, 4)
    node.chain.store.rewind_to(2)  # the rewind happened, then the process died before re-queueing
    assert node.chain.store.kv.get(REQUEUE_KEY) is not None
    node.chain.store.close()
    chain = Chain(ChainStore(tmp_path / "seq"), CONFIG)
    admissions = Admissions(chain)
    healer = ChainHealer(chain, RULES, asyncio.Lock(), admissions.resubmit, admissions.is_pooled)
    outcome = await healer.resume()
    assert outcome is not None and (outcome.requeued, outcome.waiting, outcome.dropped) == (len(replaced), 0, ())
    assert [r.raw for r in admissions.pool] == replaced
    assert chain.store.kv.get(REQUEUE_KEY) is None
    assert await healer.resume() is None


async def test_transactions_refused_for_room_wait_and_go_in_after_each_block(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path, admissions=CappedAdmissions)  # at most 3 pooled per sender
    for _ in range(4):
        node.seal(node.tx(ALICE), node.tx(ALICE), node.tx(BOB))
    replaced = node.user_txs(3, node.chain.head().number)  # ALICE 10, BOB 6
    report = await node.l1(3, batches=(node.batch(3, 3, timestamp_shift=1),))
    assert report is not None and report.kept == 2 and report.dropped == ()
    assert (report.requeued, report.waiting) == (6, len(replaced) - 2 - 6)
    assert node.chain.store.kv.get(REQUEUE_KEY) is not None  # the waiting ones survive a crash
    stop = asyncio.Event()
    retries = asyncio.create_task(node.healer.run(stop))
    try:
        while node.healer.backlog:
            sealed = list(node.admissions.pool)
            node.admissions.pool.clear()
            node.seal(*sealed)  # the producer takes them; the healer offers the next ones
            node.healer.note_sealed([r.hash for r in sealed], [])
            for _ in range(100):
                await asyncio.sleep(0.01)
                if node.admissions.pool or not node.healer.backlog:
                    break
        node.seal(*node.admissions.pool)
    finally:
        stop.set()
        await retries
    assert sorted(node.admissions.admitted) == sorted(replaced[2:])  # every one
    for key in (ALICE, BOB):  # each sender's in nonce order
        mine = [r for r in map(recover_transaction, node.admissions.admitted) if r.sender == key.address]
        assert [r.tx.nonce for r in mine] == sorted(r.tx.nonce for r in mine)  # type: ignore[union-attr]
    for raw in replaced:
        assert node.chain.store.get_tx_location(keccak256(raw)) is not None
    assert node.chain.store.kv.get(REQUEUE_KEY) is None


async def test_a_transaction_refused_for_longer_than_the_patience_is_dropped(tmp_path: Path) -> None:
    now = [0.0]
    node = await node_with_safe_prefix(tmp_path, admissions=CappedAdmissions, patience_s=30, clock=lambda: now[0])
    node.admissions.cap = 0  # the mempool never has room
    report = await node.l1(3, batches=(node.batch(3, 3, timestamp_shift=1),))
    assert report is not None and report.waiting == 2 and report.dropped == ()
    now[0] = 31.0
    outcome = await node.healer._requeue_round()
    assert outcome.waiting == 0 and len(outcome.dropped) == 2
    assert all("not admitted again within 30 s" in d.reason for d in outcome.dropped)
    assert node.healer.dropped_transaction(outcome.dropped[0].tx_hash) is not None


async def test_a_requeued_transaction_the_builder_refuses_becomes_dropped(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    report = await node.l1(3, batches=(node.batch(3, 3, timestamp_shift=1),))
    assert report is not None
    requeued = node.admissions.pool[0]
    included = node.admissions.pool[1]
    node.admissions.pool.remove(requeued)  # the producer takes a refused transaction out of the mempool
    node.healer.note_sealed([included.hash], [(requeued.hash, "insufficient balance")])
    dropped = node.healer.dropped_transaction(requeued.hash)
    assert dropped is not None and dropped.reason == "insufficient balance" and dropped.was_in_block == 4
    node.healer.note_sealed([], [(included.hash, "not re-queued: not ours to record")])
    assert node.healer.dropped_transaction(included.hash) is None


async def test_l1_blocks_up_to_the_cursor_are_only_origins_after_a_restart(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    assert node.healer.cursor == 2
    assert node.healer.first_l1_block() == min(node.healer.needed_from(), 3)
    # re-feeding processed L1 blocks (as the follower does from first_l1_block) derives nothing again
    assert await node.healer.take_l1_block(node.l1_blocks[2]) is None
    assert node.healer.safe_head().number == 2


# -- the producer: catch-up default blocks, and the rewind depth ----------------------------------


class Origins:
    def __init__(self, blocks: dict[int, L1BlockData]) -> None:
        self.blocks = blocks
        self.head = max(blocks)

    def get(self, number: int) -> L1BlockData | None:
        return self.blocks.get(number)


def producer_for(node: Node, origins: Origins, sealed: list[BlockReport], **kw) -> BlockProducer:  # type: ignore[no-untyped-def]
    return BlockProducer(
        node.chain,
        RULES,
        origins,
        Mempool(),
        250,
        sealed.append,
        clock_ms=lambda: node.now,
        lock=node.healer.lock,
        safe_number=lambda: node.healer.safe_head().number,
        **kw,
    )


async def test_an_origin_whose_window_is_closing_gets_exactly_the_default_block(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    await node.l1(3, batches=(node.batch(3, 4),))  # all our blocks are safe
    parent = header(node.chain)
    for number in range(4, parent.l1_origin_number + WINDOW + 1):  # L1 is far ahead of our origin
        node.l1_blocks[number] = l1_block(number)
    node.now = l1_block(max(node.l1_blocks)).timestamp_ms
    sealed: list[BlockReport] = []
    producer = producer_for(node, Origins(node.l1_blocks), sealed)
    report = await producer.produce_one()
    assert report is not None and report.catch_up
    block = report.sealed.block
    origin = node.l1_blocks[parent.l1_origin_number + 1]
    assert block.header.l1_origin_number == origin.number
    assert block.header.timestamp_ms == max(origin.timestamp_ms, parent.timestamp_ms + 1)
    assert block.transactions == ()
    # L1 never gets a batch for it: the default block derivation fills in is exactly ours (promoted, no heal)
    ours = node.chain.head()
    for number in range(4, origin.number + WINDOW + 1):
        assert await node.l1(number) is None
    assert node.heals == []
    assert node.healer.safe_head().number >= ours.number
    assert node.chain.store.get_block(ours.number).hash() == ours.hash  # type: ignore[union-attr]


async def test_a_fresh_origin_is_sealed_normally(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)
    parent = header(node.chain)
    node.l1_blocks[3] = l1_block(3)
    node.now = max(parent.timestamp_ms + 1, l1_block(3).timestamp_ms)
    sealed: list[BlockReport] = []
    report = await producer_for(node, Origins(node.l1_blocks), sealed).produce_one()
    assert report is not None and not report.catch_up


async def test_sealing_waits_when_the_store_could_not_rewind_any_further(tmp_path: Path) -> None:
    node = await node_with_safe_prefix(tmp_path)  # head 4, safe 2
    sealed: list[BlockReport] = []
    producer = producer_for(node, Origins(node.l1_blocks), sealed, max_unsafe_blocks=2)
    node.now += 250
    assert await producer.produce_one() is None
    producer = producer_for(node, Origins(node.l1_blocks), sealed, max_unsafe_blocks=3)
    assert await producer.produce_one() is not None


@pytest.mark.parametrize("blocks", [1, 3])
async def test_the_rewind_hook_sees_the_blocks_before_they_go(tmp_path: Path, blocks: int) -> None:
    node = await node_with_safe_prefix(tmp_path)
    for _ in range(blocks - 1):
        node.seal(node.tx(ALICE))
    expected = node.user_txs(3, node.chain.head().number)
    node.chain.store.rewind_to(2)
    assert [item.raw for item in node.healer.backlog] == expected
    assert node.chain.store.kv.get(REQUEUE_KEY) is not None


# -- executors that held the replaced blocks as unsafe ones ---------------------------------------


async def test_an_executor_holding_the_old_blocks_converges_on_the_healed_chain(tmp_path: Path) -> None:
    """Gossip of the healed chain first meets the old blocks (equivocation evidence, nothing applied); the
    executor's own derivation then reorgs it, and range sync of the new blocks makes it follow again."""
    from node.derivation import Deriver
    from node.gossip import sign_block
    from node.unsafe import UnsafeFollower

    key = PrivateKey(bytes([42]) * 32)
    node = await node_with_safe_prefix(tmp_path)
    replica = Deriver(new_chain(tmp_path / "executor"), RULES)
    executor = UnsafeFollower(replica.chain, replica.safe)

    def gossip(number: int):  # type: ignore[no-untyped-def]
        block = node.chain.store.get_block(number)
        assert block is not None
        return sign_block(key, CHAIN_ID, block)

    for number in range(1, 5):
        assert executor.accept(gossip(number)).applied == [number]
    for number in range(3):
        replica.process_l1_block(node.l1_blocks[number])
    assert replica.safe.safe_head() == node.healer.safe_head()
    safe_origin = node.chain.store.get_block(2).header.l1_origin_number  # type: ignore[union-attr]
    report = None
    for number in range(3, safe_origin + 1 + WINDOW + 1):  # the settler is down
        node.seal(node.tx(ALICE))
        head = node.chain.head().number
        assert executor.accept(gossip(head)).applied == [head]
        report = await node.l1(number)
        if report is not None:
            break
        replica.process_l1_block(node.l1_blocks[number])
    assert report is not None
    old_head = executor.chain.head().number
    node.now = max(node.now, node.l1_blocks[max(node.l1_blocks)].timestamp_ms)
    first_new = node.seal(*node.admissions.pool)
    second_new = node.seal()
    assert first_new <= old_head  # the healed chain's blocks sit at heights the executor holds
    result = executor.accept(gossip(first_new))
    assert result.equivocation == first_new and result.applied == [] and executor.evidence() == [first_new]
    derived = replica.process_l1_block(node.l1_blocks[max(node.l1_blocks)])
    assert derived.reorgs == [(report.first_replaced, old_head)]
    assert replica.chain.head() == node.healer.safe_head()
    result = executor.accept(gossip(second_new))
    assert result.applied == [] and result.gap == (first_new, second_new - 1)
    for number in range(first_new, second_new):  # range sync from the sequencer
        executor.accept(gossip(number))
    assert executor.chain.head() == node.chain.head()
