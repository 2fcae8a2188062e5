"""The settler's transactions in flight (l1.settler.txs) and the file that records them (l1.settler.journal).

A small in-memory L1 (confirmed nonces, a mempool keyed by sender and nonce
with replace-by-fee, receipts) stands in for the devnet's, so each crash
point can be staged exactly: sent but not mined, mined, the mempool lost,
a replacement racing the original.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from l1.chain.tx import recover_l1_tx
from l1.contracts.payloads import PAYLOADS, PostBatch, ProposeOutput
from l1.settler.inbox import InboxCheckpoint
from l1.settler.journal import JournalError, SettlerRecord, load_record, save_record
from l1.settler.plan import BatchIntent, InFlight, Intent, OutputIntent, Role, TxFate
from l1.settler.txs import Outgoing, TxBook, TxRefused
from node.crypto import Address, Hash32, keccak256, to_checksum_address
from node.keys.hd import dev_account
from node.rpc.errors import RpcError
from node.shape import ShapeHead

CHAIN_ID = 900
MIN_FEE = 1
BATCHER, PROPOSER, OTHER = dev_account(1), dev_account(2), dev_account(7)
ROOT = Hash32(keccak256(b"root"))
NOW = 1_000_000.0
STALE_S = 10.0


class FakeL1:
    """Just what TxBook uses: l1_getNonce, l1_sendRawTransaction and (batched) receipts."""

    def __init__(self) -> None:
        self.confirmed: dict[Address, int] = {}
        self.mempool: dict[tuple[Address, int], Any] = {}
        self.receipts: dict[Hash32, dict[str, Any]] = {}
        self.block = 0
        self.rpc = self
        self.seen_before_send: list[bool] = []
        self.journal: list[InFlight] = []
        self.refuse_code: int | None = None

    async def get_nonce(self, address: bytes) -> int:
        nonce = self.confirmed.get(Address(address), 0)
        while (Address(address), nonce) in self.mempool:
            nonce += 1
        return nonce

    async def send_raw_transaction(self, raw: bytes) -> Hash32:
        rtx = recover_l1_tx(raw, PAYLOADS)
        self.seen_before_send.append(any(rtx.hash in e.hashes for e in self.journal))
        if self.refuse_code is not None:
            raise RpcError(self.refuse_code, "refused by the test")
        if rtx.tx.nonce < self.confirmed.get(rtx.sender, 0):
            raise RpcError(-32012, "nonce too low")
        present = self.mempool.get((rtx.sender, rtx.tx.nonce))
        if present is not None and present.hash == rtx.hash:
            raise RpcError(-32023, "already known")
        if present is not None and rtx.tx.fee <= present.tx.fee:
            raise RpcError(-32022, "replacement fee too low")
        self.mempool[(rtx.sender, rtx.tx.nonce)] = rtx
        return rtx.hash

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        return [self.receipts.get(Hash32(bytes.fromhex(params[0][2:]))) for _, params in calls]

    def mine(self, status: int = 1, error_code: int | None = None) -> None:
        """Include every executable transaction in one new block."""
        self.block += 1
        for (sender, nonce), rtx in sorted(self.mempool.items(), key=lambda kv: kv[0][1]):
            if nonce != self.confirmed.get(sender, 0):
                continue
            self.confirmed[sender] = nonce + 1
            self.receipts[rtx.hash] = receipt_json(rtx, self.block, status, error_code)
            del self.mempool[(sender, nonce)]

    def use_nonce_elsewhere(self, key: Any) -> None:
        """Another transaction of the same key takes its next nonce (no receipt of ours)."""
        self.confirmed[key.address] = self.confirmed.get(key.address, 0) + 1

    def lose_mempool(self) -> None:
        self.mempool.clear()


def receipt_json(rtx: Any, block: int, status: int, error_code: int | None) -> dict[str, Any]:
    return {
        "transactionHash": "0x" + rtx.hash.hex(),
        "blockNumber": block,
        "blockHash": "0x" + "ab" * 32,
        "transactionIndex": 0,
        "from": to_checksum_address(rtx.sender),
        "kind": "post_batch",
        "status": status,
        "error": None if status else "refused",
        "errorCode": error_code,
        "events": [],
    }


def make_book(l1: FakeL1, entries: tuple[InFlight, ...] = ()) -> TxBook:
    book: TxBook

    def persist() -> None:
        l1.journal = list(book.entries)

    book = TxBook(l1, {Role.BATCHER: BATCHER, Role.PROPOSER: PROPOSER}, CHAIN_ID, MIN_FEE, persist, entries)  # type: ignore[arg-type]
    return book


def batch_out(first: int, last: int) -> Outgoing:
    return Outgoing(BatchIntent(first, last, 10, 1), PostBatch(b"batch %d..%d" % (first, last)), 0)


def output_out(block: int) -> Outgoing:
    return Outgoing(OutputIntent(block, ROOT), ProposeOutput(block, ROOT), 1000)


async def rebuild(intent: Intent) -> Outgoing:
    return batch_out(intent.first, intent.last) if isinstance(intent, BatchIntent) else output_out(intent.block)


# -- sending --


async def test_every_transaction_is_recorded_before_it_is_sent() -> None:
    l1 = FakeL1()
    book = make_book(l1)
    sent = await book.send([output_out(4), output_out(8), output_out(12)], NOW)
    assert [e.nonce for e in sent] == [0, 1, 2]
    assert l1.seen_before_send == [True, True, True]
    assert [e.intent.block for e in l1.journal] == [4, 8, 12]  # type: ignore[union-attr]


async def test_nonces_continue_after_the_mempool_and_after_our_own_in_flight() -> None:
    l1 = FakeL1()
    l1.confirmed[BATCHER.address] = 5
    book = make_book(l1)
    (first,) = await book.send([batch_out(1, 3)], NOW)
    (second,) = await book.send([batch_out(4, 6)], NOW)
    assert (first.nonce, second.nonce) == (5, 6)


async def test_a_refused_send_is_forgotten_with_everything_after_it() -> None:
    l1 = FakeL1()
    l1.refuse_code = -32020  # mempool full
    book = make_book(l1)
    with pytest.raises(TxRefused, match="refused by the test"):
        await book.send([output_out(4), output_out(8)], NOW)
    assert book.entries == [] and l1.journal == []


async def test_a_leftover_of_ours_at_the_same_nonce_is_outbid() -> None:
    l1 = FakeL1()
    stray, raw = make_book(FakeL1())._sign(batch_out(9, 9), 1, MIN_FEE, NOW)
    await l1.send_raw_transaction(raw)  # an old batch of ours, behind a nonce gap, no longer recorded
    book = make_book(l1)
    sent = await book.send([batch_out(1, 3), batch_out(4, 6)], NOW)
    assert [e.nonce for e in sent] == [0, 1]
    assert sent[1].fee > MIN_FEE and sent[1].hashes[0] != stray.tx_hash and len(sent[1].hashes) == 2
    assert l1.mempool[(BATCHER.address, 1)].hash == sent[1].tx_hash  # the stray one can no longer land


# -- following --


async def test_pending_stays_in_flight_then_lands() -> None:
    l1 = FakeL1()
    book = make_book(l1)
    await book.send([batch_out(1, 3)], NOW)
    assert await book.reconcile(NOW + 1, STALE_S, rebuild) == []
    assert len(book.entries) == 1
    l1.mine()
    (resolution,) = await book.reconcile(NOW + 2, STALE_S, rebuild)
    assert resolution.fate is TxFate.LANDED and resolution.receipt is not None and resolution.receipt.status == 1
    assert book.entries == [] and l1.journal == []


async def test_a_round_that_settles_nothing_writes_nothing() -> None:
    l1 = FakeL1()
    writes: list[int] = []
    book = make_book(l1)
    book.persist = lambda: writes.append(len(book.entries))  # type: ignore[method-assign]
    await book.send([batch_out(1, 3)], NOW)
    assert writes == [1]  # recorded before it was sent
    for later in range(1, 4):
        assert await book.reconcile(NOW + later, STALE_S, rebuild) == []
    assert writes == [1]  # still pending: three rounds, no write (each is a file write and two fsyncs)
    l1.mine()
    (landed,) = await book.reconcile(NOW + 5, STALE_S, rebuild)
    assert landed.fate is TxFate.LANDED and writes == [1, 0]


async def test_after_a_restart_the_recorded_transaction_is_followed_not_sent_again() -> None:
    l1 = FakeL1()
    first_life = make_book(l1)
    await first_life.send([output_out(12)], NOW)  # then kill -9: the proposal sits in the mempool
    restarted = make_book(l1, tuple(l1.journal))
    assert await restarted.reconcile(NOW + 1, STALE_S, rebuild) == []
    assert len(l1.mempool) == 1  # nothing sent again
    l1.mine()
    (resolution,) = await restarted.reconcile(NOW + 2, STALE_S, rebuild)
    assert resolution.fate is TxFate.LANDED and resolution.entry.intent == OutputIntent(12, ROOT)


async def test_a_stale_transaction_is_replaced_with_the_same_nonce_so_only_one_lands() -> None:
    l1 = FakeL1()
    book = make_book(l1)
    (original,) = await book.send([batch_out(1, 3)], NOW)
    assert await book.reconcile(NOW + STALE_S, STALE_S, rebuild) == []
    (replaced,) = book.entries
    assert replaced.nonce == original.nonce and replaced.fee > original.fee and replaced.hashes[0] == original.tx_hash
    assert len(l1.mempool) == 1 and l1.mempool[(BATCHER.address, 0)].hash == replaced.tx_hash
    l1.mine()
    (resolution,) = await book.reconcile(NOW + STALE_S + 1, STALE_S, rebuild)
    assert resolution.fate is TxFate.LANDED and len(l1.receipts) == 1


async def test_a_transaction_the_l1_lost_is_forgotten_so_the_settler_decides_again() -> None:
    l1 = FakeL1()
    book = make_book(l1)
    await book.send([output_out(4), output_out(8)], NOW)
    l1.lose_mempool()  # the L1 restarted: its mempool is not persisted
    resolutions = await book.reconcile(NOW + 1, STALE_S, rebuild)
    assert [r.fate for r in resolutions] == [TxFate.LOST, TxFate.LOST] and book.entries == []


async def test_a_nonce_taken_by_someone_else_with_our_key_is_given_up() -> None:
    l1 = FakeL1()
    book = make_book(l1)
    await book.send([batch_out(1, 3)], NOW)
    l1.mempool.clear()
    l1.use_nonce_elsewhere(BATCHER)  # nonce 0 confirmed by a transaction we never sent
    (resolution,) = await book.reconcile(NOW + STALE_S, STALE_S, rebuild)
    assert resolution.fate is TxFate.LOST and "did not send" in resolution.note and book.entries == []


async def test_a_refused_transaction_lands_with_status_zero() -> None:
    l1 = FakeL1()
    book = make_book(l1)
    await book.send([output_out(4)], NOW)
    l1.mine(status=0, error_code=-32062)
    (resolution,) = await book.reconcile(NOW + 1, STALE_S, rebuild)
    assert resolution.receipt is not None and resolution.receipt.status == 0 and resolution.receipt.error_code == -32062


# -- the file --


def test_record_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "settler_state.json"
    assert load_record(path) == SettlerRecord()
    entries = (
        InFlight(7, 2, (ROOT, Hash32(keccak256(b"x"))), NOW, BatchIntent(41, 60, 9120, 88)),
        InFlight(3, 1, (ROOT,), NOW + 1, OutputIntent(60, ROOT)),
    )
    record = SettlerRecord(entries, InboxCheckpoint(812, ROOT, ShapeHead(60, 1_700_000_000_000, 805)))
    save_record(path, record)
    assert load_record(path) == record
    assert not path.with_suffix(".tmp").exists()


def test_version_one_cursors_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "settler_state.json"
    path.write_text(json.dumps({"posted_upto": 41, "proposed_upto": 40}))
    assert load_record(path) == SettlerRecord()


@pytest.mark.parametrize(
    "text", ["{not json", json.dumps({"version": 2, "inFlight": [{"nonce": 1}]}), json.dumps({"version": 9})]
)
def test_a_malformed_record_stops_the_settler_with_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "settler_state.json"
    path.write_text(text)
    with pytest.raises(JournalError, match="settler state"):
        load_record(path)
