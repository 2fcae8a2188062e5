"""The mempool journal and the sequencer's TxPool: framing and torn tails, group commit, rotation,
replay after a restart, drop history and rollup_getTransactionStatus's answers."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.chain import Chain
from node.crypto import Address, PrivateKey
from node.state.schema import Account, account_key, encode_account
from node.stf import ChainConfig, InsufficientBalance
from node.stf.execute import recover_transaction
from node.store.chain import ChainStore
from node.tx import RecoveredTx, Transfer, sign_tx
from sequencer.journal import (
    JOURNAL_NAME,
    JournalAdd,
    JournalDrop,
    JournalError,
    decode_records,
    encode_record,
    open_journal,
)
from sequencer.mempool import DropReason, Mempool, MempoolLimits
from sequencer.producer import BlockReport
from sequencer.txpool import TxPool, accounts_written

CHAIN_ID = 901
FEE = 1000
CONFIG = ChainConfig(CHAIN_ID, Address(b"\xfe" * 20), FEE)
KEYS = [PrivateKey((5000 + i).to_bytes(32, "big")) for i in range(4)]
TO = Address(b"\xee" * 20)


def signed(key: PrivateKey, nonce: int, fee: int = FEE, amount: int = 1) -> RecoveredTx:
    return recover_transaction(sign_tx(key, CHAIN_ID, nonce, fee, Transfer(TO, amount)).encode())


class Clock:
    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def new_chain(path: Path, balance: int = 10**21) -> Chain:
    chain = Chain(ChainStore(path / "chain"), CONFIG)
    chain.init_genesis({k.address: balance for k in KEYS})
    return chain


# -- framing --------------------------------------------------------------------------------

records_strategy = st.lists(
    st.one_of(
        st.builds(
            JournalAdd, st.binary(min_size=1, max_size=300), st.binary(min_size=20, max_size=20), st.integers(0, 2**62)
        ),
        st.builds(
            JournalDrop,
            st.binary(min_size=32, max_size=32),
            st.sampled_from(list(DropReason)),
            st.text(max_size=50),
            st.integers(0, 2**62),
        ),
    ),
    max_size=20,
)


@settings(max_examples=100, deadline=None)
@given(records=records_strategy, cut=st.integers(0, 10_000))
def test_records_round_trip_and_a_torn_tail_ends_the_journal(records: list, cut: int) -> None:  # type: ignore[type-arg]
    frames = [encode_record(r) for r in records]
    data = b"".join(frames)
    assert decode_records(data) == (records, len(data))
    cut = min(cut, len(data))
    decoded, valid = decode_records(data[:cut])
    whole = 0
    for frame in frames:  # exactly the frames wholly before the cut survive
        if whole + len(frame) > cut:
            break
        whole += len(frame)
    assert valid == whole and decoded == records[: len(decoded)]
    assert sum(len(f) for f in frames[: len(decoded)]) == whole


def test_a_corrupt_frame_ends_the_journal_and_open_cuts_the_file(tmp_path: Path) -> None:
    good = [JournalAdd(b"\x01" * 50, b"\x02" * 20, 7), JournalDrop(b"\x03" * 32, "evicted", "made room", 8)]
    bad = bytearray(encode_record(JournalAdd(b"\x04" * 50, b"\x05" * 20, 9)))
    bad[-1] ^= 0xFF  # checksum mismatch
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(b"".join(encode_record(r) for r in good) + bytes(bad) + encode_record(good[0]))

    async def main() -> None:
        journal, records = open_journal(tmp_path)
        assert records == good
        assert path.stat().st_size == sum(len(encode_record(r)) for r in good)
        await journal.close()

    asyncio.run(main())


# -- group commit and rotation ----------------------------------------------------------------


def test_appends_are_on_disk_when_they_return_and_fsync_groups_them(tmp_path: Path) -> None:
    async def main(fsync: bool) -> None:
        journal, _ = open_journal(tmp_path, fsync=fsync)
        journal.start()
        adds = [JournalAdd(bytes([i]) * 40, b"\x09" * 20, i) for i in range(200)]
        await asyncio.gather(*(journal.append([a]) for a in adds))
        if fsync:  # group commit: the first append starts a sync, the other 199 wait and share the next one
            assert journal.groups <= 2
        else:  # write-through: each append is in the page cache when it returns
            assert journal.groups == len(adds)
        records, _ = decode_records((tmp_path / JOURNAL_NAME).read_bytes())  # another reader sees them all
        assert sorted(r.added_ms for r in records if isinstance(r, JournalAdd)) == sorted(a.added_ms for a in adds)
        await journal.close()
        (tmp_path / JOURNAL_NAME).unlink()

    asyncio.run(main(False))
    asyncio.run(main(True))


def test_rotation_replaces_the_file_and_keeps_later_appends(tmp_path: Path) -> None:
    async def main() -> None:
        journal, _ = open_journal(tmp_path)
        journal.start()
        for i in range(50):
            await journal.append([JournalAdd(bytes([i]) * 40, b"\x09" * 20, i)])
        keep = [JournalAdd(b"\x07" * 40, b"\x09" * 20, 7)]
        later = JournalDrop(b"\x08" * 32, "expired", "queued too long", 99)
        appended: list[asyncio.Future[None]] = []

        def snapshot() -> list[JournalAdd]:  # a submission arrives while the new file is being written
            appended.append(asyncio.ensure_future(journal.append([later])))
            return keep

        await journal.rotate(snapshot)
        await appended[0]
        await journal.close()
        records, _ = decode_records((tmp_path / JOURNAL_NAME).read_bytes())
        assert records == [keep[0], later]
        assert not (tmp_path / (JOURNAL_NAME + ".new")).exists()

    asyncio.run(main())


def test_a_failed_write_is_refused_and_cut_so_the_journal_stays_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sequencer.journal as journal_module

    async def main() -> None:
        journal, _ = open_journal(tmp_path)
        journal.start()
        first = JournalAdd(b"\x01" * 40, b"\x09" * 20, 1)
        await journal.append([first])
        real_write = journal_module._write_all

        def half_then_fail(fd: int, data: bytes, sync: bool) -> None:
            os.write(fd, data[: len(data) // 2])
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(journal_module, "_write_all", half_then_fail)
        with pytest.raises(JournalError, match="No space left"):
            await journal.append([JournalAdd(b"\x02" * 40, b"\x09" * 20, 2)])
        monkeypatch.setattr(journal_module, "_write_all", real_write)
        third = JournalAdd(b"\x03" * 40, b"\x09" * 20, 3)
        await journal.append([third])
        await journal.close()
        assert decode_records((tmp_path / JOURNAL_NAME).read_bytes())[0] == [first, third]

    asyncio.run(main())


# -- TxPool: admission, blocks, restart --------------------------------------------------------


async def started_pool(tmp_path: Path, chain: Chain, clock: Clock, limits: MempoolLimits = MempoolLimits()) -> TxPool:
    journal, records = open_journal(tmp_path)
    journal.start()
    pool = TxPool(chain, Mempool(limits), journal, clock_ms=clock)
    await pool.restore(records)
    return pool


def test_admitted_transactions_come_back_after_a_restart_and_the_rest_is_accounted_for(tmp_path: Path) -> None:
    clock = Clock()
    chain = new_chain(tmp_path)
    a, b, c = KEYS[:3]
    txs = {
        "included": signed(a, 0),
        "pending": signed(a, 1),
        "queued": signed(b, 3),
        "replaced": signed(c, 0, fee=FEE),
        "replacement": signed(c, 0, fee=2 * FEE),
        "invalid": signed(b, 0),  # its nonce gets used by another transaction before the restart
    }

    async def first_run() -> None:
        pool = await started_pool(tmp_path, chain, clock)
        for name in ("included", "pending", "queued", "replaced", "replacement", "invalid"):
            await pool.admit(txs[name])
        await pool.close()

    asyncio.run(first_run())
    # while the sequencer is down: a block holds "included" and another transaction with b's nonce 0
    other = signed(b, 0, fee=3 * FEE, amount=2)
    chain.seal_block([txs["included"], other], chain.store.get_block(0).header.timestamp_ms + 1, (0, b"\x00" * 32))  # type: ignore[union-attr]

    async def second_run() -> dict[str, dict[str, object]]:
        pool = await started_pool(tmp_path, chain, clock)
        answers = {name: pool.status_of(rtx.hash).to_json() for name, rtx in txs.items()}
        answers["never sent"] = pool.status_of(b"\x42" * 32).to_json()
        await pool.close()
        return answers

    answers = asyncio.run(second_run())
    assert answers["included"] == {"status": "included", "blockNumber": 1}
    assert answers["pending"] == {"status": "pending"}
    assert answers["queued"] == {"status": "queued"}
    assert answers["replaced"]["status"] == "dropped" and answers["replaced"]["reason"] == "replaced"
    assert answers["replacement"] == {"status": "pending"}
    assert answers["invalid"]["status"] == "dropped" and answers["invalid"]["reason"] == "invalid"
    assert "nonce too low" in str(answers["invalid"]["detail"])
    assert answers["never sent"] == {"status": "unknown"}
    # the restart rotated the journal: the pool's three transactions and the two drops, nothing else
    records, _ = decode_records((tmp_path / JOURNAL_NAME).read_bytes())
    assert sorted(type(r).__name__ for r in records) == ["JournalAdd"] * 3 + ["JournalDrop"] * 2
    chain.store.close()


def test_a_queued_transaction_expires_also_across_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    chain = new_chain(tmp_path)
    limits = MempoolLimits(queued_lifetime_ms=60_000)
    early, late = signed(KEYS[0], 5), signed(KEYS[1], 5)

    async def main() -> None:
        pool = await started_pool(tmp_path, chain, clock, limits)
        await pool.admit(early)
        clock.now += 30_000
        await pool.admit(late)
        await pool.close()
        clock.now += 30_000  # down for 30 s: `early` is 60 s old at the restart
        pool = await started_pool(tmp_path, chain, clock, limits)
        assert pool.status_of(early.hash).to_json()["reason"] == "expired"
        assert pool.status_of(late.hash).status == "queued"
        clock.now += 30_000
        pool.tick()
        assert pool.status_of(late.hash).reason == "expired"
        await pool.close()

    asyncio.run(main())
    chain.store.close()


def test_after_a_block_stale_and_unpayable_transactions_are_recorded_as_dropped(tmp_path: Path) -> None:
    clock = Clock()
    chain = new_chain(tmp_path, balance=10 * FEE)
    a, b = KEYS[:2]

    def seal(candidates: list[RecoveredTx]) -> None:
        parent = chain.store.get_block(chain.head().number)
        prepared = chain.prepare_block(candidates, parent.header.timestamp_ms + 1, (0, b"\x00" * 32))  # type: ignore[union-attr]
        sealed = chain.commit(prepared)
        pool.mempool.remove_included(prepared.build.included)  # as the producer's tidy-up does
        pool.on_block(BlockReport(sealed, prepared.build, 0.0))

    async def main() -> None:
        nonlocal pool
        pool = await started_pool(tmp_path, chain, clock)
        pooled = [signed(a, 0), signed(a, 1), signed(a, 3), signed(b, 0)]
        for rtx in pooled:
            await pool.admit(rtx)
        seal([])  # the first block after a start re-reads every sender
        # a transaction of a's that the pool never saw (as one forced through L1) spends most of a's balance
        spend = signed(a, 0, fee=FEE, amount=8 * FEE)
        seal([spend])
        assert pool.status_of(spend.hash).to_json() == {"status": "included", "blockNumber": 2}
        assert pool.status_of(pooled[0].hash).reason == "stale"
        assert pool.status_of(pooled[1].hash).reason == "unpayable"  # a holds 1000, nonce 1 costs 1001
        assert pool.status_of(pooled[2].hash).reason == "unpayable"
        assert pool.status_of(pooled[3].hash).status == "pending"
        with pytest.raises(InsufficientBalance):
            await pool.admit(signed(a, 1))
        await pool.close()

    pool: TxPool
    asyncio.run(main())
    chain.store.close()


def test_accounts_written_reads_the_blocks_account_writes() -> None:
    writes = {
        account_key(KEYS[0].address): encode_account(Account(5, 1)),
        account_key(KEYS[1].address): None,
        b"\x03": b"supply",
    }
    assert accounts_written(writes) == {KEYS[0].address: Account(5, 1), KEYS[1].address: Account(0, 0)}


def test_without_a_journal_the_pool_works_in_memory(tmp_path: Path) -> None:
    chain = new_chain(tmp_path)

    async def main() -> None:
        pool = TxPool(chain, Mempool(), None)
        rtx = signed(KEYS[0], 0)
        await pool.admit(rtx)
        assert pool.status_of(rtx.hash).status == "pending"
        await pool.rotate()

    asyncio.run(main())
    assert not (tmp_path / JOURNAL_NAME).exists()
    chain.store.close()


def test_a_journal_failure_refuses_the_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sequencer.journal as journal_module

    chain = new_chain(tmp_path)

    def fail(fd: int, data: bytes, sync: bool) -> None:
        raise OSError(5, "Input/output error")

    async def main() -> None:
        pool = await started_pool(tmp_path, chain, Clock())
        monkeypatch.setattr(journal_module, "_write_all", fail)
        rtx = signed(KEYS[0], 0)
        with pytest.raises(JournalError):
            await pool.admit(rtx)
        assert rtx.hash not in pool.mempool and pool.status_of(rtx.hash).status == "unknown"
        await pool.close()

    asyncio.run(main())
    chain.store.close()


def test_a_transaction_healed_away_is_reported_dropped_as_reorged(tmp_path: Path) -> None:
    from sequencer.dropped import DroppedTx, DroppedTxs

    chain = new_chain(tmp_path)
    gone = b"\x77" * 32
    DroppedTxs(chain.store.kv).record([DroppedTx(gone, "nonce too low", 12, 15)])
    pool = TxPool(chain, Mempool(), None)
    answer = pool.status_of(gone).to_json()
    assert answer["status"] == "dropped" and answer["reason"] == "reorged"
    assert "block 12" in str(answer["detail"]) and "nonce too low" in str(answer["detail"])
    chain.store.close()
