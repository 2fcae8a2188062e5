"""Rewinding the chain store (reorg to L1's version): state, indexes and storage return exactly."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from node.chain import Chain
from node.crypto import PrivateKey
from node.smt.hashing import hash_key
from node.smt.proof import verify_proof
from node.state.schema import account_key, get_account
from node.stf import ChainConfig
from node.stf.execute import recover_transaction
from node.store.chain import ChainStore
from node.tx import DepositTx, Transfer, Withdrawal, sign_tx

CONFIG = ChainConfig(901, fee_recipient=b"\xfe" * 20, min_fee=1)
KEYS = [PrivateKey(bytes([i + 1]) * 32) for i in range(6)]
ALLOC = {k.address: 10**18 for k in KEYS}


def make_chain(path: Path) -> Chain:
    chain = Chain(ChainStore(path, history_window=64), CONFIG)
    chain.init_genesis(ALLOC)
    return chain


def seal_random(chain: Chain, rng: random.Random, nonces: dict[bytes, int], blocks: int) -> None:
    for _ in range(blocks):
        txs = []
        for _ in range(rng.randrange(1, 8)):
            key = rng.choice(KEYS)
            nonce = nonces.get(key.address, 0)
            nonces[key.address] = nonce + 1
            fresh = bytes([rng.randrange(256)]) * 20
            payload = (
                Withdrawal(fresh, 5)
                if rng.random() < 0.2
                else Transfer(fresh if rng.random() < 0.5 else rng.choice(KEYS).address, rng.randrange(1, 1000))
            )
            txs.append(recover_transaction(sign_tx(key, CONFIG.chain_id, nonce, 1, payload).encode()))
        number = chain.head().number + 1
        deposits = [DepositTx(number, 0, b"\x11" * 20, rng.choice(KEYS).address, 7)] if rng.random() < 0.3 else []
        sealed, build = chain.seal_block(txs, number * 100, (0, bytes(32)), deposits)
        assert not build.rejected


def snapshot(store: ChainStore) -> dict[bytes, bytes]:
    return {k: v for k, v in store.kv.scan(b"\x00", b"\xff")}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rewind_restores_exactly_the_earlier_store(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    chain = make_chain(tmp_path / "a")
    nonces: dict[bytes, int] = {}
    seal_random(chain, rng, nonces, 6)
    reference = make_chain(tmp_path / "b")  # the same first 6 blocks, sealed the same way, never rewound
    for n in range(1, 7):
        block = chain.store.get_block(n)
        assert block is not None
        rtxs = [recover_transaction(raw) for raw in block.transactions]
        deposits = [r for r in rtxs if isinstance(r.tx, DepositTx)]
        user = [r for r in rtxs if not isinstance(r.tx, DepositTx)]
        h = block.header
        sealed, _ = reference.seal_block(user, h.timestamp_ms, (h.l1_origin_number, h.l1_origin_hash), deposits)
        assert sealed.block == block
    seal_random(chain, rng, dict(nonces), 5)  # blocks 7..11 on a copy of the nonces: they will be undone
    chain.store.rewind_to(6)
    assert chain.head() == reference.head()
    for key in ALLOC:
        assert get_account(chain.store.latest_state(), key) == get_account(reference.store.latest_state(), key)
    mine, theirs = snapshot(chain.store), snapshot(reference.store)
    assert set(mine) == set(theirs), "rewind left or lost keys"
    assert mine == theirs
    # the rewound chain continues, and survives a reopen
    seal_random(chain, rng, nonces, 3)
    head = chain.head()
    chain.store.close()
    reopened = make_chain(tmp_path / "a")
    assert reopened.head() == head
    for key in ALLOC:
        value, proof = reopened.store.prove(account_key(key), head.number)
        verify_proof(head.state_root, hash_key(account_key(key)), value, proof)


def test_rewind_rejects_bad_targets(tmp_path: Path) -> None:
    chain = make_chain(tmp_path / "a")
    seal_random(chain, random.Random(5), {}, 3)
    with pytest.raises(ValueError):
        chain.store.rewind_to(3)  # not below the head
    with pytest.raises(ValueError):
        chain.store.rewind_to(7)
    assert chain.head().number == 3
