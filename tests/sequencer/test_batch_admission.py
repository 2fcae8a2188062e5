"""A JSON-RPC batch of rollup_sendRawTransaction entries is recovered as one group (sequencer.rpc's batch
preparer, sequencer.intake.Recoverer.recover_group) and admitted strictly in batch order: every entry gets
the answer it would get sent alone (valid, malformed, wrongly signed, replayed, nonce-gapped, mixed with
other methods), an answered transaction is in the mempool journal, concurrent batches from several
clients keep each batch's order, and a pool worker dying mid-batch costs no entry its answer."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.chain import Chain
from node.crypto import PrivateKey, keccak256
from node.derivation import L1BlockData
from node.recovery import recover_senders
from node.rpc.server import RpcServer
from node.stf import ChainConfig
from node.store.chain import ChainStore
from node.tx import Transfer, sign_tx
from sequencer.intake import Recoverer
from sequencer.journal import JournalAdd, decode_records, open_journal
from sequencer.mempool import Mempool, MempoolLimits
from sequencer.rpc import ReceiptWaiters, SequencerMethods
from sequencer.txpool import TxPool

CHAIN_ID = 901
FEE = 1000
CONFIG = ChainConfig(CHAIN_ID, fee_recipient=b"\xfe" * 20, min_fee=FEE)
KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(12)]
STRANGER = PrivateKey(b"\x77" * 32)  # never funded
L1_GENESIS = L1BlockData(0, keccak256(b"l1-0"), 1_000_000)
LIMITS = MempoolLimits(max_tx_bytes=512, max_pending_per_sender=200, max_nonce_gap=64)
SEND = "rollup_sendRawTransaction"
POISON_AMOUNT = 4_242_424  # a transfer of this amount kills the pool worker that recovers it


def die_on_poison(raws: Sequence[bytes]) -> list[bytes | None]:
    """A worker's recovery that exits the worker process when it meets the poison transfer."""
    if any(raw == poison() for raw in raws):
        os._exit(3)
    return recover_senders(raws)


def poison() -> bytes:
    return sign_tx(KEYS[0], CHAIN_ID, 1, FEE, Transfer(KEYS[1].address, POISON_AMOUNT)).encode()


@dataclass
class Sequencer:
    """The sequencer's admission path behind an RpcServer, on a fresh chain, with a journal."""

    chain: Chain
    txpool: TxPool
    server: RpcServer
    journal_path: Path

    async def close(self) -> None:
        await self.txpool.close()
        self.chain.store.close()

    def journaled(self) -> list[bytes]:
        records, _ = decode_records(self.journal_path.read_bytes())
        return [keccak256(r.raw) for r in records if isinstance(r, JournalAdd)]

    def pool(self) -> list[str]:
        """Every transaction the journal says was added, with its status now (pending, queued or dropped)."""
        return sorted(f"{self.txpool.status_of(h).status}:{h.hex()}" for h in self.journaled())


def new_sequencer(path: Path, recoverer: Recoverer) -> Sequencer:
    path.mkdir(parents=True)
    chain = Chain(ChainStore(path / "chain"), CONFIG)
    chain.init_genesis({k.address: 10**20 for k in KEYS}, L1_GENESIS.timestamp_ms, (0, L1_GENESIS.hash))
    journal, _ = open_journal(path)
    txpool = TxPool(chain, Mempool(LIMITS), journal)
    server = RpcServer("sequencer", max_batch=100)
    SequencerMethods(chain, txpool, recoverer, ReceiptWaiters()).register(server)
    return Sequencer(chain, txpool, server, path / "mempool.journal")


@pytest.fixture(scope="module")
def pooled() -> Iterator[Recoverer]:
    recoverer = Recoverer(workers=2)
    yield recoverer
    recoverer.close()


# -- building entries ------------------------------------------------------------------------


def transfer(key: PrivateKey, nonce: int, amount: int = 1, fee: int = FEE, chain_id: int = CHAIN_ID) -> str:
    return "0x" + sign_tx(key, chain_id, nonce, fee, Transfer(KEYS[-1].address, amount)).encode().hex()


KINDS = (
    "valid",
    "valid",
    "valid",
    "gap",
    "far_gap",
    "replay",
    "zero_signature",
    "stranger",
    "low_fee",
    "other_chain",
    "not_hex",
    "odd_hex",
    "empty",
    "number",
    "too_large",
    "truncated",
    "no_params",
    "two_params",
    "status",
    "notification",
)
entry_specs = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 3), st.integers(0, 1_000)), min_size=1, max_size=40
)


def build_entries(specs: list[tuple[str, int, int]]) -> list[dict[str, Any]]:
    """Request objects for the specs; valid transfers take each sender's next nonce in order."""
    nonces = [0] * len(KEYS)
    sent: list[str] = []
    entries: list[dict[str, Any]] = []
    for index, (kind, k, n) in enumerate(specs):
        method, params = SEND, _params(kind, k, n, nonces, sent)
        if kind == "status":
            method, params = "rollup_mempoolStatus", []
        entry: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if kind != "notification":
            entry["id"] = index
        entries.append(entry)
        if params and isinstance(params[0], str) and params[0].startswith("0x") and len(params[0]) > 40:
            sent.append(params[0])
    return entries


def _params(kind: str, k: int, n: int, nonces: list[int], sent: list[str]) -> list[Any]:
    key = KEYS[k]
    if kind in ("valid", "notification") or (kind == "replay" and not sent):
        nonces[k] += 1
        return [transfer(key, nonces[k] - 1, amount=1 + n)]
    simple: dict[str, list[Any]] = {
        "gap": [transfer(key, nonces[k] + 1 + n % 3)],
        "far_gap": [transfer(key, nonces[k] + 65 + n)],
        "replay": [sent[n % len(sent)]] if sent else [],
        "zero_signature": [transfer(key, nonces[k])[:-130] + "00" * 65],
        "stranger": [transfer(STRANGER, 0)],
        "low_fee": [transfer(key, nonces[k], fee=FEE - 1)],
        "other_chain": [transfer(key, nonces[k], chain_id=CHAIN_ID + 1)],
        "not_hex": ["0xzz"],
        "odd_hex": ["0x123"],
        "empty": ["0x"],
        "number": [n],
        "too_large": ["0x" + "ab" * 600],
        "truncated": [transfer(key, nonces[k])[: 20 + n % 40]],
        "no_params": [],
        "two_params": [transfer(key, nonces[k]), 1],
        "status": [],
    }
    return simple[kind]


async def one_by_one(sequencer: Sequencer, entries: list[dict[str, Any]]) -> list[Any]:
    replies = []
    for entry in entries:
        reply = await sequencer.server.dispatch(json.dumps(entry))
        if reply is not None:
            replies.append(json.loads(reply))
    return replies


async def as_batch(sequencer: Sequencer, entries: list[dict[str, Any]]) -> list[Any]:
    reply = await sequencer.server.dispatch(json.dumps(entries))
    return [] if reply is None else json.loads(reply)


def accepted(replies: list[Any]) -> list[bytes]:
    return [bytes.fromhex(r["result"][2:]) for r in replies if isinstance(r.get("result"), str)]


# -- the same answers as one by one ----------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=entry_specs)
def test_a_mixed_batch_gets_the_answers_its_entries_get_one_by_one(pooled: Recoverer, specs: Any) -> None:
    entries = build_entries(specs)

    async def run(root: Path) -> None:
        alone, batched = new_sequencer(root / "alone", pooled), new_sequencer(root / "batch", pooled)
        try:
            expected = await one_by_one(alone, entries)
            groups_before = pooled.groups
            got = await as_batch(batched, entries)
            assert got == expected
            assert batched.pool() == alone.pool()
            assert not [s for s in batched.pool() if s.startswith("unknown")]
            # acknowledged means on disk: every answered hash is journaled, in batch order
            assert accepted(got) == [h for h in batched.journaled() if h in set(accepted(got))]
            sends = sum(1 for e in entries if e["method"] == SEND)
            assert pooled.groups - groups_before <= (1 if sends else 0)  # one group for the whole batch
        finally:
            await alone.close()
            await batched.close()

    with tempfile.TemporaryDirectory() as root:
        asyncio.run(run(Path(root)))


async def test_nonces_n_and_n_plus_1_of_one_sender_in_one_batch_are_both_admitted_pending(
    tmp_path: Path, pooled: Recoverer
) -> None:
    sequencer = new_sequencer(tmp_path / "s", pooled)
    try:
        entries = [
            {"jsonrpc": "2.0", "id": i, "method": SEND, "params": [transfer(KEYS[i % 3], i // 3)]} for i in range(60)
        ]
        replies = await as_batch(sequencer, entries)
        assert [r["id"] for r in replies] == list(range(60)) and all("result" in r for r in replies)
        assert {s.split(":")[0] for s in sequencer.pool()} == {"pending"}
        assert len(sequencer.journaled()) == 60
    finally:
        await sequencer.close()


async def test_without_a_pool_a_batch_is_recovered_entry_by_entry_with_the_same_answers(tmp_path: Path) -> None:
    entries = build_entries([("valid", 0, 1), ("zero_signature", 1, 0), ("replay", 0, 0), ("valid", 0, 2)])
    here = Recoverer(0)
    alone, batched = new_sequencer(tmp_path / "a", here), new_sequencer(tmp_path / "b", here)
    try:
        assert await as_batch(batched, entries) == await one_by_one(alone, entries)
        assert here.recover_group([b"x"]) is None
    finally:
        await alone.close()
        await batched.close()


# -- several clients at once -----------------------------------------------------------------


async def test_concurrent_batches_from_several_clients_keep_each_batchs_order(
    tmp_path: Path, pooled: Recoverer
) -> None:
    sequencer = new_sequencer(tmp_path / "s", pooled)
    await sequencer.server.start("127.0.0.1", 0)
    groups_before = pooled.groups
    clients, batches, per_batch = 4, 3, 60

    async def client(c: int) -> list[Any]:
        keys = KEYS[3 * c : 3 * c + 3]
        replies: list[Any] = []
        async with aiohttp.ClientSession() as session:
            for b in range(batches):
                body = [
                    {"jsonrpc": "2.0", "id": i, "method": SEND, "params": [transfer(keys[i % 3], b * 20 + i // 3)]}
                    for i in range(per_batch)
                ]
                async with session.post(sequencer.server.url, json=body) as response:
                    replies.extend(await response.json())
        return replies

    try:
        results = await asyncio.wait_for(asyncio.gather(*(client(c) for c in range(clients))), 120)
        for replies in results:
            assert len(replies) == batches * per_batch and all("result" in r for r in replies), replies[:3]
        statuses = sequencer.pool()
        assert len(statuses) == clients * batches * per_batch
        assert {s.split(":")[0] for s in statuses} == {"pending"}  # no nonce overtook its predecessor
        assert pooled.groups - groups_before <= clients * batches  # at most one group per batch
    finally:
        await sequencer.server.stop()
        await sequencer.close()


# -- the pool breaks mid-batch ---------------------------------------------------------------


async def test_a_worker_dying_mid_batch_costs_no_entry_its_answer(tmp_path: Path) -> None:
    fragile = Recoverer(workers=2, recover_fn=die_on_poison)
    here = Recoverer(0)
    entries = [
        {"jsonrpc": "2.0", "id": 0, "method": SEND, "params": [transfer(KEYS[0], 0)]},
        {"jsonrpc": "2.0", "id": 1, "method": SEND, "params": ["0x" + poison().hex()]},
        {"jsonrpc": "2.0", "id": 2, "method": SEND, "params": [transfer(KEYS[0], 1)[:-130] + "00" * 65]},
        *({"jsonrpc": "2.0", "id": i, "method": SEND, "params": [transfer(KEYS[i], 0)]} for i in range(3, 10)),
    ]
    later = [{"jsonrpc": "2.0", "id": i, "method": SEND, "params": [transfer(KEYS[i], 1)]} for i in range(3, 10)]
    broken, alone = new_sequencer(tmp_path / "b", fragile), new_sequencer(tmp_path / "a", here)
    try:
        got = await asyncio.wait_for(as_batch(broken, entries), 120)
        assert got == await one_by_one(alone, entries)
        assert [("result" in r) for r in got] == [True, True, False, *([True] * 7)]
        assert fragile.pool_restarts == 1
        groups = fragile.groups
        after = await asyncio.wait_for(as_batch(broken, later), 120)  # the new pool serves the next batch
        assert after == await one_by_one(alone, later) and all("result" in r for r in after)
        assert fragile.groups == groups + 1 and fragile.pool_restarts == 1
    finally:
        fragile.close()
        await broken.close()
        await alone.close()
