"""Shared builders for the fraud-proof tests: small RocksDB-backed chains with every transaction kind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from node.chain import Chain
from node.crypto import Address, PrivateKey
from node.stf import ChainConfig, recover_transaction
from node.store.chain import ChainStore
from node.tx import DepositTx, RecoveredTx, Transfer, Withdrawal, sign_tx

CHAIN_ID = 901
KEYS = [PrivateKey((i + 1).to_bytes(32, "big")) for i in range(4)]
FEE_RECIPIENT = Address(b"\xfe" * 20)
OTHER_FEE_RECIPIENT = Address(b"\xfd" * 20)
L1_SENDER = Address(b"\x11" * 20)
L1_RECIPIENT = Address(b"\x22" * 20)
FRESH = [Address(bytes([0xA0 + i]) * 20) for i in range(3)]
ALLOC = {k.address: 1_000_000 + i for i, k in enumerate(KEYS)}
CONFIG = ChainConfig(chain_id=CHAIN_ID, fee_recipient=FEE_RECIPIENT, min_fee=3)
WRONG_CONFIG = ChainConfig(chain_id=CHAIN_ID, fee_recipient=OTHER_FEE_RECIPIENT, min_fee=3)


def rtx_of(key: PrivateKey, nonce: int, payload: object, fee: int = 3, chain_id: int = CHAIN_ID) -> RecoveredTx:
    return recover_transaction(sign_tx(key, chain_id, nonce, fee, payload).encode())


def new_chain(path: Path, config: ChainConfig = CONFIG, alloc: dict[bytes, int] | None = None) -> Chain:
    chain = Chain(ChainStore(path), config)
    chain.init_genesis(ALLOC if alloc is None else alloc)
    return chain


@dataclass
class Nonces:
    values: dict[bytes, int]

    def next(self, key: PrivateKey) -> int:
        nonce = self.values.get(key.address, 0)
        self.values[key.address] = nonce + 1
        return nonce


def seal_kinds_block(chain: Chain, number: int, nonces: Nonces) -> None:
    """A first-of-epoch block: deposits (one of 0), a valid and an invalid forced tx (included, skipped), then user
    txs of every kind."""
    k0, k1, k2, k3 = KEYS
    deposits = [
        DepositTx(number, 0, L1_SENDER, k0.address, 500),
        DepositTx(number, 1, L1_SENDER, FRESH[0], 0),  # a zero deposit: a no-op with a receipt
        DepositTx(number, 2, L1_SENDER, FRESH[1], 77),  # creates an account
    ]
    forced = [
        rtx_of(k1, nonces.next(k1), Transfer(FRESH[2], 5)),
        rtx_of(k1, nonces.values[k1.address] + 5, Transfer(FRESH[2], 5)),  # nonce too high: included, skipped
    ]
    candidates = [
        rtx_of(k0, nonces.next(k0), Transfer(k2.address, 1_234)),
        rtx_of(k3, nonces.next(k3), Transfer(k3.address, 10)),  # self-transfer
        rtx_of(k2, nonces.next(k2), Withdrawal(L1_RECIPIENT, 999)),
        rtx_of(k0, nonces.next(k0), Transfer(FRESH[2], 3)),
    ]
    sealed, build = chain.seal_block(candidates, 1_000 * number, (number, bytes([number]) * 32), deposits, forced)
    assert len(build.system_skipped) == 1 and not build.rejected
    assert build.system_count == 5 and len(sealed.block.transactions) == 9


def seal_plain_block(chain: Chain, number: int, nonces: Nonces, n_txs: int = 3) -> None:
    candidates = []
    for i in range(n_txs):
        key = KEYS[(number + i) % len(KEYS)]
        payload: object = (
            Withdrawal(L1_RECIPIENT, 7 + i)
            if i % 3 == 2
            else Transfer(KEYS[(number + i + 1) % len(KEYS)].address, 11 + i)
        )
        candidates.append(rtx_of(key, nonces.next(key), payload))
    _, build = chain.seal_block(candidates, 1_000 * number, (number // 2, bytes([number // 2]) * 32))
    assert len(build.included) == n_txs


def build_kinds_chain(
    path: Path, n_blocks: int = 4, config: ChainConfig = CONFIG, wrong_from: int | None = None
) -> Chain:
    """Block 1 holds every kind, then plain blocks, the last one empty.

    With `wrong_from`, blocks from that number on are executed with WRONG_CONFIG (a faulty state).
    """
    chain = new_chain(path, config)
    nonces = Nonces({})
    for number in range(1, n_blocks + 1):
        if wrong_from is not None and number == wrong_from:
            chain = Chain(chain.store, WRONG_CONFIG)
        if number == 1:
            seal_kinds_block(chain, number, nonces)
        elif number == n_blocks:
            seal_plain_block(chain, number, nonces, n_txs=0)
        else:
            seal_plain_block(chain, number, nonces)
    return chain
