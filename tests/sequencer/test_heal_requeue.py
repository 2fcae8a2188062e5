"""A heal's re-queue against the sequencer's real admission: the mempool, the txpool, the block producer.

The soak's open defect at the smallest scale: L1 replaces blocks holding a
sender's transactions while that sender (a wallet re-syncing its nonce
stream after the reorg) keeps submitting. Every transaction the sequencer
acknowledged must end up executed on the healed chain, or reported dropped
with a reason that is true; none may stay queued behind a nonce gap the
sequencer opened itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from node.batch import BatchBlock, encode_batch
from node.chain import Chain, decode_receipt
from node.crypto import PrivateKey
from node.derivation import L1BlockData
from node.mempool_errors import ReplacementUnderpriced
from node.state.schema import get_account
from node.stf import InvalidTransaction
from node.stf.execute import STATUS_SKIPPED, STATUS_SUCCESS, recover_transaction
from node.tx import RecoveredTx, Transfer, sign_tx
from sequencer.healing import ChainHealer, HealReport
from sequencer.mempool import Mempool, MempoolLimits
from sequencer.producer import BlockProducer, BlockReport
from sequencer.txpool import TxPool
from tests.sequencer.test_sequencer_healing import (
    ALICE,
    BOB,
    CAROL,
    CHAIN_ID,
    FEE,
    RULES,
    WINDOW,
    Origins,
    l1_block,
    new_chain,
)


class NotValidYet(InvalidTransaction):
    """A state check a transaction passes once another (pooled, not sealed yet) one is in."""


def signed(key: PrivateKey, nonce: int, amount: int = 1, fee: int = FEE) -> RecoveredTx:
    return recover_transaction(sign_tx(key, CHAIN_ID, nonce, fee, Transfer(CAROL.address, amount)).encode())


class Sequencer:
    """The sequencer's parts as sequencer.process wires them, with a hand-driven clock and L1."""

    def __init__(self, path: Path, limits: MempoolLimits = MempoolLimits(), **healer_options) -> None:  # type: ignore[no-untyped-def]
        self.chain: Chain = new_chain(path)
        self.not_valid_yet: set[bytes] = set()  # hashes the state refuses once (resubmit)
        self.mempool = Mempool(limits)
        self.txpool = TxPool(self.chain, self.mempool)
        lock = asyncio.Lock()
        self.heals: list[HealReport] = []
        self.healer = ChainHealer(
            self.chain, RULES, lock, self.resubmit, self.mempool.__contains__, self.heals.append, **healer_options
        )
        self.txpool.attach_backlog(self.healer)
        self.l1_blocks: dict[int, L1BlockData] = {}
        self.origins = Origins({0: l1_block(0)})
        self.now = 1_000_000
        self.producer = BlockProducer(
            self.chain,
            RULES,
            self.origins,
            self.mempool,
            250,
            self.on_sealed,
            clock_ms=lambda: self.now,
            lock=lock,
            safe_number=lambda: self.healer.safe_head().number,
        )

    async def resubmit(self, rtx: RecoveredTx) -> RecoveredTx:
        if rtx.hash in self.not_valid_yet:
            self.not_valid_yet.discard(rtx.hash)
            raise NotValidYet("market 0 has no oracle price yet")  # as a venue order before its oracle price
        await self.txpool.admit(rtx)
        return rtx

    async def submit(self, rtx: RecoveredTx) -> None:
        await self.txpool.admit(rtx)

    def on_sealed(self, report: BlockReport) -> None:
        self.txpool.on_block(report)
        build = report.build
        self.healer.note_sealed(
            [r.hash for r in build.transactions], [(r.rtx.hash, str(r.error)) for r in build.rejected]
        )

    async def l1(self, number: int, batches: tuple[bytes, ...] = ()) -> HealReport | None:
        data = l1_block(number, batches=batches)
        self.origins.blocks[number] = data
        self.origins.head = max(self.origins.blocks)
        self.now = max(self.now, data.timestamp_ms)  # L2 time keeps up with L1
        return await self.healer.take_l1_block(data)

    async def seal(self) -> int:
        self.now += 250
        async with self.healer.lock:
            report = await self.producer.produce_one()
        assert report is not None
        return report.sealed.head.number

    async def seal_until_moved(self, key: PrivateKey) -> None:
        """Seal (catch-up default blocks first, after a heal) until `key`'s nonce moves."""
        before = self.nonce(key)
        for _ in range(WINDOW * 4):
            await self.seal()
            if self.nonce(key) != before:
                return
        raise AssertionError(f"the nonce stayed at {before}")

    def batch(self, blocks: list[tuple[int, bool]]) -> bytes:
        """Our blocks as a settler would post them; (number, False) posts block `number` without its user txs."""
        out = []
        for number, with_txs in blocks:
            block = self.chain.store.get_block(number)
            assert block is not None
            txs = block.transactions[self.chain.system_count(number) :] if with_txs else ()
            out.append(BatchBlock(number, block.header.timestamp_ms, block.header.l1_origin_number, txs))
        return encode_batch(out, CHAIN_ID)

    def nonce(self, key: PrivateKey) -> int:
        return get_account(self.chain.store.latest_state(), key.address).nonce

    def receipt_status(self, rtx: RecoveredTx) -> int | None:
        location = self.chain.store.get_tx_location(rtx.hash)
        if location is None:
            return None
        return decode_receipt(self.chain.store.get_receipts(location[0])[location[1]]).status

    async def run_until_idle(self, blocks: int = 12) -> None:
        stop = asyncio.Event()
        retries = asyncio.create_task(self.healer.run(stop))
        try:
            for _ in range(blocks):
                await self.seal()
                await asyncio.sleep(0.01)  # the retry loop's turn
        finally:
            stop.set()
            await retries


async def started(tmp_path: Path, **options) -> Sequencer:  # type: ignore[no-untyped-def]
    seq = Sequencer(tmp_path / "seq", **options)
    await seq.healer.take_l1_block(seq.origins.blocks[0])
    await seq.l1(1)
    return seq


def assert_accounted(seq: Sequencer, acknowledged: list[RecoveredTx]) -> None:
    """Each acknowledged transaction executed, or reported dropped with a reason; none pooled or unknown."""
    for rtx in acknowledged:
        status = seq.txpool.status_of(rtx.hash)
        if seq.receipt_status(rtx) == STATUS_SUCCESS:
            assert status.status == "included", (rtx.tx.nonce, status)  # type: ignore[union-attr]
            continue
        assert status.status == "dropped" and status.detail, (rtx.tx.nonce, status)  # type: ignore[union-attr]


# -- a batch that landed late: the healed chain holds a transaction, skipped ---------------------------------


async def test_a_transaction_the_healed_chain_holds_skipped_is_requeued_not_kept(tmp_path: Path) -> None:
    seq = await started(tmp_path)
    txs = [signed(ALICE, n) for n in range(5)]
    for rtx in txs[:2]:
        await seq.submit(rtx)
        await seq.seal()
    assert await seq.l1(2, batches=(seq.batch([(1, True), (2, True)]),)) is None
    assert seq.healer.safe_head().number == 2
    for rtx in txs[2:4]:
        await seq.submit(rtx)
        assert await seq.seal() in (3, 4)
    await seq.submit(txs[4])  # acknowledged, not sealed yet
    # L1 derives block 3 without ALICE's nonce 2 (e.g. defaults after a closed window), then our block 4
    # from a batch that landed late: its nonce 3 transfer is skipped there (nonce too high)
    report = await seq.l1(3, batches=(seq.batch([(3, False), (4, True)]),))
    assert report is not None and (report.first_replaced, report.discarded_head) == (3, 4)
    assert seq.receipt_status(txs[3]) == STATUS_SKIPPED  # in the healed chain, but it did nothing
    await seq.run_until_idle()
    assert seq.nonce(ALICE) == 5, [seq.txpool.status_of(r.hash) for r in txs]
    for rtx in txs:
        assert seq.receipt_status(rtx) == STATUS_SUCCESS
        assert seq.txpool.status_of(rtx.hash).status == "included"
    assert len(seq.mempool) == 0 and seq.healer.backlog == []


# -- a wallet re-syncing its nonce stream while the backlog waits for room -----------------------------------


async def outage_heal(seq: Sequencer, key: PrivateKey, count: int) -> list[RecoveredTx]:
    """`count` transfers of `key` sealed (a few per block) while the settler is down, then healed away."""
    assert await seq.l1(2) is None
    txs = [signed(key, n) for n in range(count)]
    sent = 0
    number = 2
    report = None
    while report is None:
        for rtx in txs[sent : sent + 3]:
            await seq.submit(rtx)
        sent = min(count, sent + 3)
        await seq.seal()
        number += 1
        assert number <= 2 + WINDOW + 3, "the window closed: L1 derives default blocks"
        report = await seq.l1(number)
    assert report.first_replaced == 1 and sent == count, report
    return txs


async def test_the_backlog_goes_before_a_new_submission_with_the_same_nonce(tmp_path: Path) -> None:
    seq = await started(tmp_path, limits=MempoolLimits(max_pending_per_sender=4))
    old = await outage_heal(seq, ALICE, 9)
    waiting = [item.nonce for item in seq.healer.backlog]
    assert waiting, "the mempool took only 4: the rest waits in the backlog"
    for nonce in waiting:  # acknowledged and still coming: the status lookup says so
        status = seq.txpool.status_of(old[nonce].hash)
        assert (status.status, status.reason) == ("queued", "reorged") and "re-queue backlog" in (status.detail or "")
    await seq.seal_until_moved(ALICE)  # the mempool's four go in; the retry loop has not had its turn yet
    resynced = seq.nonce(ALICE)
    assert resynced == 4
    # the wallet saw the reorg and re-signs from the state nonce on (other amounts: other hashes): the
    # backlog holds those nonces, so each is refused as a replacement without a fee bump
    for n in range(resynced, 9):
        with pytest.raises(ReplacementUnderpriced):
            await seq.submit(signed(ALICE, n, amount=7))
    await seq.run_until_idle()
    assert seq.nonce(ALICE) == 9
    for rtx in old:
        assert seq.receipt_status(rtx) == STATUS_SUCCESS, rtx.tx.nonce  # type: ignore[union-attr]
    assert_accounted(seq, old)


async def test_a_new_submission_paying_the_bump_replaces_a_backlog_entry(tmp_path: Path) -> None:
    seq = await started(tmp_path, limits=MempoolLimits(max_pending_per_sender=4))
    old = await outage_heal(seq, ALICE, 9)
    await seq.seal_until_moved(ALICE)
    nonce = seq.nonce(ALICE)
    assert nonce in [item.nonce for item in seq.healer.backlog]
    bumped = signed(ALICE, nonce, amount=7, fee=2 * FEE)
    await seq.submit(bumped)
    assert nonce not in [item.nonce for item in seq.healer.backlog]  # the newcomer took its place
    await seq.run_until_idle()
    assert seq.nonce(ALICE) == 9 and seq.receipt_status(bumped) == STATUS_SUCCESS
    replaced = old[nonce]
    status = seq.txpool.status_of(replaced.hash)
    assert status.status == "dropped" and f"0x{bumped.hash.hex()}" in (status.detail or ""), status
    assert_accounted(seq, old)


async def test_an_entry_the_state_refuses_for_now_waits_for_the_next_block(tmp_path: Path) -> None:
    seq = await started(tmp_path)
    seq.not_valid_yet.add(signed(ALICE, 0).hash)
    old = await outage_heal(seq, ALICE, 6)
    assert sorted(item.nonce for item in seq.healer.backlog) == list(range(6))  # the first waits, the rest behind it
    assert seq.heals[-1].dropped == ()
    await seq.run_until_idle()
    assert seq.nonce(ALICE) == 6 and seq.healer.backlog == []
    assert_accounted(seq, old)


# -- a backlog entry dropped: its successors do not wait behind the gap ------------------------------------


async def test_the_successors_of_a_dropped_backlog_entry_are_dropped_too(tmp_path: Path) -> None:
    now = [0.0]
    seq = await started(tmp_path, limits=MempoolLimits(max_pending_per_sender=4), patience_s=30, clock=lambda: now[0])
    old = await outage_heal(seq, ALICE, 9)
    later = signed(ALICE, 9)
    await seq.submit(later)  # a new submission behind the backlog: queued
    bob = signed(BOB, 0)
    await seq.submit(bob)
    now[0] = 31.0
    seq.mempool.limits = MempoolLimits(max_pending_per_sender=4, max_txs=1)  # never room again
    outcome = await seq.healer._requeue_round()
    assert outcome.dropped and seq.healer.backlog == []
    assert [seq.txpool.status_of(r.hash).status for r in old[:4]] == ["pending"] * 4
    status = seq.txpool.status_of(old[4].hash)
    assert status.status == "dropped" and "not admitted again within 30 s" in (status.detail or ""), status
    for rtx in [*old[5:], later]:  # behind the gap: dropped too, with the reason
        status = seq.txpool.status_of(rtx.hash)
        assert status.status == "dropped" and "predecessor dropped" in (status.detail or ""), status
        assert f"0x{old[4].hash.hex()}" in (status.detail or "")
    assert seq.txpool.status_of(bob.hash).status == "pending"  # another sender is not touched


# -- order, and a restart ---------------------------------------------------------------------------------


def test_the_backlog_keeps_block_order_across_senders_and_nonce_order_within_one() -> None:
    from sequencer.healing import Replaced, _in_sender_nonce_order

    def entry(key: PrivateKey, nonce: int, block: int) -> Replaced:
        return Replaced.from_block(signed(key, nonce).raw, block)

    # a second heal appended ALICE's nonce 3 after her nonce 5; BOB's transaction (say, the oracle price
    # ALICE's order needs) stays where the blocks had it
    items = [entry(ALICE, 5, 9), entry(BOB, 0, 9), entry(ALICE, 3, 12)]
    ordered = _in_sender_nonce_order(items)
    assert [(e.sender, e.nonce) for e in ordered] == [(ALICE.address, 3), (BOB.address, 0), (ALICE.address, 5)]
    broken = Replaced.from_block(b"\x01\x02", 4)  # does not decode: no sender, resubmitting it says why
    assert broken.sender == b"" and broken.nonce == -1 and _in_sender_nonce_order([broken]) == [broken]


async def test_a_restart_mid_heal_keeps_the_backlog_nonces_taken(tmp_path: Path) -> None:
    seq = await started(tmp_path, limits=MempoolLimits(max_pending_per_sender=4))
    old = await outage_heal(seq, ALICE, 9)
    waiting = sorted(item.nonce for item in seq.healer.backlog)
    assert waiting
    seq.chain.store.close()  # kill -9: the backlog is in the store, the mempool (no journal here) is gone
    again = Sequencer.__new__(Sequencer)
    Sequencer.__init__(again, tmp_path / "seq", limits=MempoolLimits(max_pending_per_sender=4))
    assert sorted(item.nonce for item in again.healer.backlog) == waiting
    with pytest.raises(ReplacementUnderpriced):
        await again.submit(signed(ALICE, waiting[-1], amount=7))
    for rtx in old[: waiting[0]]:  # the journal replays what the mempool held (no journal here: by hand)
        await again.submit(rtx)
    outcome = await again.healer.resume()
    assert outcome is not None and (outcome.requeued, outcome.waiting) == (0, len(waiting))  # no room yet
    for number in sorted(seq.origins.blocks):  # the L1 follower fetches the origins again
        await again.l1(number)
    await again.l1(max(seq.origins.blocks) + 1)
    await again.run_until_idle()
    assert again.nonce(ALICE) == 9 and again.healer.backlog == []
    assert_accounted(again, old)


async def test_a_requeued_entry_the_builder_refuses_takes_its_successors_with_it(tmp_path: Path) -> None:
    seq = await started(tmp_path, limits=MempoolLimits(max_pending_per_sender=4))
    old = await outage_heal(seq, ALICE, 9)
    assert [seq.txpool.status_of(r.hash).status for r in old[:4]] == ["pending"] * 4
    seq.mempool.remove_hashes([old[0].hash])  # the producer takes a refused transaction out of the mempool
    seq.healer.note_sealed([], [(old[0].hash, "insufficient balance")])
    status = seq.txpool.status_of(old[0].hash)
    assert status.status == "dropped" and "insufficient balance" in (status.detail or "")
    for rtx in old[1:]:  # pooled (1..3) and in the backlog (4..8): none can execute before nonce 0
        status = seq.txpool.status_of(rtx.hash)
        assert status.status == "dropped" and "predecessor dropped" in (status.detail or ""), status
    assert len(seq.mempool) == 0 and seq.healer.backlog == []


async def test_a_heal_takes_the_sealed_transactions_as_recovered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No signature is recovered again while sealing waits for the heal: the txpool remembers what it sealed."""
    import sequencer.healing as healing

    recovered: list[bytes] = []
    real = healing.recover_transaction
    monkeypatch.setattr(healing, "recover_transaction", lambda raw: recovered.append(raw) or real(raw))
    seq = await started(tmp_path, limits=MempoolLimits(max_pending_per_sender=4))
    await outage_heal(seq, ALICE, 9)
    assert recovered == []
    assert {(item.sender, item.nonce) for item in seq.healer.backlog} == {(ALICE.address, n) for n in range(4, 9)}
