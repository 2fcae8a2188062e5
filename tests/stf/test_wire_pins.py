"""Pinned digests of wire formats and state roots: a refactor that changes a byte of any of them fails here.

Each digest is keccak-256 over a canonical list of encodings produced from fixed inputs:
- L2: the block hashes and state roots of a chain holding every transaction kind, deposits, a forced
  transaction that is skipped, a withdrawal and empty blocks (tests.fraud.support.build_kinds_chain);
- the batch encoding of those blocks' user transactions;
- the venue: the state root after orders, a price move and the end-of-block liquidation scan;
- L1: one signed transaction of each kind, an L1 block with events, and the L2 genesis output root.

If a change to one of them is intended (a new wire version), update the pin in the same commit and say so.
"""

from __future__ import annotations

from pathlib import Path

from l1.chain.store import build_block
from l1.chain.tx import sign_l1_tx
from l1.contracts.events import BatchPosted, DepositLocked, OutputProposed, TxForced
from l1.contracts.payloads import (
    DefendOutput,
    Deposit,
    DisputeOutput,
    ForceTx,
    GameMove,
    L1Transfer,
    PostBatch,
    ProposeOutput,
    ResolveGame,
)
from node.batch import BatchBlock, encode_batch
from node.crypto import PrivateKey, keccak256
from node.encoding import pack
from node.fraud.game import Claim, Side
from node.smt.hashing import hash_key
from node.smt.reference import MemoryTree
from node.venue.payloads import ORDER_IOC, SIDE_BUY, SIDE_SELL, PlaceOrder
from tests.fraud.support import CONFIG, build_kinds_chain
from tests.venue.support import FUND, KEYS, A, B, C, D, new_venue

KEY = PrivateKey(bytes([7]) * 32)

PINS = {  # pinned 2026-12-05, after issue 10's wire changes (skipped transactions, kind 12, no step_ref)
    "l2_blocks": "d3c540ee901182e962c64b37a985075c2a5b67cbb4b70776af5502df5b656232",
    "batch": "c09ac1a51f28f859814a09093c0cdd1d48a98a7898555fb280406471fe5343e1",
    "venue_root": "cfa7e4adc0daea9b216b22a6a4846a9d00db2bd703cff28bed6b9065c99f2312",
    "l1_txs": "4d59a686c6e8592bde6b1076cbbb01633b43cc5ef82a9c00515ab9b81fe999c2",
    "l1_block": "21a5660164799333b5372fb36713b5d09e6e0982a4784c3ade85b380e355c36e",
}


def digest(items: list[bytes]) -> str:
    return keccak256(pack(items)).hex()


def l2_items(tmp_path: Path) -> tuple[list[bytes], bytes]:
    chain = build_kinds_chain(tmp_path / "chain", n_blocks=5)
    blocks = [chain.store.get_block(n) for n in range(6)]
    items = [b for block in blocks if block is not None for b in (block.hash(), block.header.state_root)]
    batch_blocks = [
        BatchBlock(
            b.number, b.header.timestamp_ms, b.header.l1_origin_number, b.transactions[chain.system_count(b.number) :]
        )
        for b in blocks[1:]
        if b is not None
    ]
    batch = encode_batch(batch_blocks, CONFIG.chain_id)
    chain.store.close()
    return items, batch


def venue_root() -> bytes:
    venue = new_venue({A: 2_000, B: 10_000_000, C: 10_000_000, D: 10_000_000, FUND: 500}, prices={0: 1000})
    venue.send(KEYS[1], PlaceOrder(0, SIDE_SELL, 10, 1000))
    venue.send(KEYS[0], PlaceOrder(0, SIDE_BUY, 10, 1000, ORDER_IOC))
    venue.send(KEYS[2], PlaceOrder(0, SIDE_BUY, 5, 900))
    venue.set_price(0, 880)
    venue.end_block()
    return MemoryTree({hash_key(k): v for k, v in venue.state.items.items()}).root()


def l1_txs() -> list[bytes]:
    payloads = [
        (L1Transfer(b"\x01" * 20), 5),
        (PostBatch(b"batch"), 0),
        (Deposit(b"\x02" * 20), 9),
        (ForceTx(b"\x03tx"), 0),
        (ProposeOutput(12, b"\x04" * 32), 100),
        (DisputeOutput(3), 100),
        (DefendOutput(3), 100),
        (GameMove(4, Claim(Side.DEFENDER, b"\x05" * 32)), 0),
        (ResolveGame(4), 0),
    ]
    return [sign_l1_tx(KEY, 900, n, 10, value, payload).encode() for n, (payload, value) in enumerate(payloads)]


def l1_block() -> bytes:
    events = [
        BatchPosted(0, b"\x10" * 32, b"\x11" * 20, b"data"),
        DepositLocked(1, b"\x12" * 32, b"\x13" * 20, b"\x14" * 20, 77),
        TxForced(2, b"\x15" * 32, b"\x16" * 20, b"forced"),
        OutputProposed(3, b"\x17" * 32, 0, 12, b"\x18" * 32, b"\x19" * 20, 100),
    ]
    return build_block(None, 1_000, [b"raw tx"], events).encode()


def test_wire_formats_and_roots_are_pinned(tmp_path: Path) -> None:
    l2, batch = l2_items(tmp_path)
    found = {
        "l2_blocks": digest(l2),
        "batch": digest([batch]),
        "venue_root": digest([venue_root()]),
        "l1_txs": digest(l1_txs()),
        "l1_block": digest([l1_block()]),
    }
    assert found == PINS
