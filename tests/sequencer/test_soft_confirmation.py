"""Soft confirmation in a few milliseconds (issue 12): small blocks sealed on the event loop give the
same blocks as the worker-thread path, a transaction's arrival starts the next block without
waiting for the block time, and the sequencer measures arrival -> soft confirmation itself."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from node.chain import Chain
from node.crypto import PrivateKey, keccak256
from node.derivation import L1BlockData, RollupRules
from node.mempool_errors import AlreadyKnown
from node.rpc.server import RpcServer
from node.state.schema import get_account
from node.stf import ChainConfig, FeeTooLow
from node.stf.execute import recover_transaction
from node.store.chain import ChainStore
from node.tx import RecoveredTx, Transfer, sign_tx
from sequencer.intake import Recoverer
from sequencer.latency import SoftLatency
from sequencer.mempool import Mempool
from sequencer.producer import BlockProducer, BlockReport
from sequencer.rpc import ReceiptWaiters, SequencerMethods
from sequencer.txpool import TxPool

CHAIN_ID = 901
FEE = 1000
RULES = RollupRules(CHAIN_ID, max_sequencer_drift_ms=60_000)
CONFIG = ChainConfig(CHAIN_ID, fee_recipient=b"\xfe" * 20, min_fee=FEE)
KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(8)]
L1_GENESIS = L1BlockData(0, keccak256(b"l1-0"), 1_000_000)


class OneOrigin:
    """The L1 as the producer sees it: only block 0 (every L2 block stays in epoch 0)."""

    head = 0

    def get(self, number: int) -> L1BlockData | None:
        return L1_GENESIS if number == 0 else None


def new_chain(path: Path) -> Chain:
    chain = Chain(ChainStore(path), CONFIG)
    chain.init_genesis({k.address: 10**20 for k in KEYS}, L1_GENESIS.timestamp_ms, (0, L1_GENESIS.hash))
    return chain


def transfers(count: int) -> list[RecoveredTx]:
    out = []
    for i in range(count):
        key = KEYS[i % len(KEYS)]
        raw = sign_tx(key, CHAIN_ID, i // len(KEYS), FEE, Transfer(KEYS[(i + 1) % len(KEYS)].address, 1 + i)).encode()
        out.append(recover_transaction(raw))
    return out


def fill(mempool: Mempool, chain: Chain, rtxs: list[RecoveredTx]) -> None:
    reader = chain.store.latest_state()
    for rtx in rtxs:
        mempool.add(rtx, get_account(reader, rtx.sender))


def producer(chain: Chain, mempool: Mempool, sealed: list[BlockReport], **kw) -> BlockProducer:  # type: ignore[no-untyped-def]
    now = iter(range(L1_GENESIS.timestamp_ms + 1, L1_GENESIS.timestamp_ms + 10_000))
    return BlockProducer(chain, RULES, OneOrigin(), mempool, 200, sealed.append, clock_ms=lambda: next(now), **kw)


# -- sealing on the event loop is the same block -------------------------------------------------


@pytest.mark.parametrize("count", [1, 20])
async def test_a_block_sealed_on_the_event_loop_equals_the_one_sealed_in_a_thread(tmp_path: Path, count: int) -> None:
    rtxs = transfers(count)
    heads = []
    for name, inline_txs in (("inline", 64), ("thread", 0)):
        chain = new_chain(tmp_path / name)
        mempool = Mempool()
        fill(mempool, chain, rtxs)
        sealed: list[BlockReport] = []
        report = await producer(chain, mempool, sealed, inline_txs=inline_txs).produce_one()
        assert report is not None and len(report.sealed.block.transactions) == count
        assert sealed == [report] and len(mempool) == 0
        heads.append((report.sealed.head, report.sealed.block.encode()))
        chain.store.close()
    assert heads[0] == heads[1]  # same hash, state root and bytes


async def test_a_block_above_the_inline_size_goes_to_the_worker_thread(tmp_path: Path) -> None:
    chain = new_chain(tmp_path / "c")
    mempool = Mempool()
    fill(mempool, chain, transfers(10))
    made = producer(chain, mempool, [], inline_txs=4)
    report = await made.produce_one()
    assert report is not None and len(report.sealed.block.transactions) == 10
    assert made._inflight is not None and made._inflight.done()  # the thread path ran
    chain.store.close()


# -- arrival starts the next block ---------------------------------------------------------------


async def test_an_arrival_is_sealed_long_before_the_block_time(tmp_path: Path) -> None:
    """block_time 30 s: without an arrival nothing is sealed after the first block; with one the next
    block follows within min_block_time plus the sealing itself (a generous bound on a loaded machine)."""
    chain = new_chain(tmp_path / "c")
    mempool = Mempool()
    sealed: list[BlockReport] = []
    started = time.monotonic()
    made = BlockProducer(
        chain,
        RULES,
        OneOrigin(),
        mempool,
        30_000,
        sealed.append,
        clock_ms=lambda: L1_GENESIS.timestamp_ms + 1 + int((time.monotonic() - started) * 1000),
        min_block_time_ms=1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(made.run(stop))
    try:
        await _until(lambda: len(sealed) == 1)
        await asyncio.sleep(0.2)
        assert len(sealed) == 1  # idle: the next block is 30 s away
        (rtx,) = transfers(1)
        fill(mempool, chain, [rtx])
        arrived = time.perf_counter()
        made.notify_arrival()
        await _until(lambda: len(sealed) == 2)
        waited = time.perf_counter() - arrived
        assert sealed[1].sealed.block.transactions == (rtx.raw,)
        assert waited < 5.0
    finally:
        stop.set()
        await task
        chain.store.close()


async def _until(condition, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.001)


# -- the sequencer's own arrival -> soft confirmation figure -------------------------------------


def test_soft_latency_times_each_noted_transaction_once() -> None:
    clock = iter([10.0, 10.5, 12.0]).__next__
    latency = SoftLatency(clock=clock)
    latency.arrived(b"a", 1.0)
    latency.arrived(b"a", 9.0)  # a resubmission: the first arrival counts
    latency.arrived(b"b", 2.0)
    assert latency.sealed([b"a", b"zz"]) == [9.0]  # now = 10.0; zz was never noted
    assert latency.sealed([b"a"]) == []  # forgotten once timed
    latency.forget(b"b")
    assert latency.sealed([b"b"]) == [] and len(latency) == 0


def test_soft_latency_keeps_at_most_capacity_notes_dropping_the_oldest() -> None:
    latency = SoftLatency(capacity=2, clock=lambda: 5.0)
    for i, name in enumerate((b"a", b"b", b"c")):
        latency.arrived(name, float(i))
    assert len(latency) == 2
    assert latency.sealed([b"a", b"b", b"c"]) == [4.0, 3.0]


def test_soft_latency_refuses_a_capacity_below_one() -> None:
    with pytest.raises(ValueError):
        SoftLatency(capacity=0)


async def test_submissions_are_timed_from_arrival_and_refusals_are_forgotten(tmp_path: Path) -> None:
    chain = new_chain(tmp_path / "c")
    mempool = Mempool()
    txpool = TxPool(chain, mempool, None)
    latency = SoftLatency()
    methods = SequencerMethods(chain, txpool, Recoverer(0), ReceiptWaiters(), latency=latency)
    good, second = transfers(9)[0], transfers(9)[8]  # KEYS[0] nonces 0 and 1
    await methods.admit("0x" + good.raw.hex())
    assert len(latency) == 1
    with pytest.raises(AlreadyKnown):
        await methods.admit("0x" + good.raw.hex())  # already known: still pooled, its note stays
    assert len(latency) == 1
    low_fee = sign_tx(KEYS[1], CHAIN_ID, 0, FEE - 1, Transfer(KEYS[2].address, 1)).encode()
    with pytest.raises(FeeTooLow):
        await methods.admit("0x" + low_fee.hex())
    assert len(latency) == 1  # the refused one left no note
    await methods.admit("0x" + second.raw.hex())
    report = await producer(chain, mempool, []).produce_one()
    assert report is not None and len(report.sealed.block.transactions) == 2
    waited = latency.sealed(rtx.hash for rtx in report.build.transactions)
    assert len(waited) == 2 and all(0 <= w < 60 for w in waited)
    assert len(latency) == 0
    chain.store.close()


async def test_a_batch_request_is_sealed_while_its_later_entries_are_still_admitted(tmp_path: Path) -> None:
    """The entries of one JSON-RPC batch are admitted one after another; with a block due, admission
    yields, so the first entries are sealed (and answered) before the whole batch is through."""
    chain = new_chain(tmp_path / "c")
    mempool = Mempool()
    txpool = TxPool(chain, mempool, None)
    sealed: list[BlockReport] = []
    started = time.monotonic()
    made = BlockProducer(
        chain,
        RULES,
        OneOrigin(),
        mempool,
        30_000,
        sealed.append,
        clock_ms=lambda: L1_GENESIS.timestamp_ms + 1 + int((time.monotonic() - started) * 1000),
        min_block_time_ms=1,
    )
    methods = SequencerMethods(
        chain,
        txpool,
        Recoverer(0),
        ReceiptWaiters(),
        on_admitted=lambda rtx: made.notify_arrival(),
        ready_to_seal=made.ready_to_seal,
    )
    server = RpcServer("sequencer")
    methods.register(server)
    stop = asyncio.Event()
    task = asyncio.create_task(made.run(stop))
    try:
        await _until(lambda: len(sealed) == 1)
        await asyncio.sleep(0.05)  # the loop waits, the next block due
        rtxs = transfers(40)
        body = json.dumps(
            [
                {"jsonrpc": "2.0", "id": i, "method": "rollup_sendRawTransaction", "params": ["0x" + rtx.raw.hex()]}
                for i, rtx in enumerate(rtxs)
            ]
        )
        replies = json.loads(await server.dispatch(body) or "[]")
        assert all("result" in reply for reply in replies) and len(replies) == 40
        await _until(lambda: sum(len(r.sealed.block.transactions) for r in sealed) == 40)
        holding = [r for r in sealed if r.sealed.block.transactions]
        assert len(holding) >= 2  # sealed in parts, not once at the end of the batch
        assert sorted(raw for r in holding for raw in r.sealed.block.transactions) == sorted(rtx.raw for rtx in rtxs)
    finally:
        stop.set()
        await task
        chain.store.close()
