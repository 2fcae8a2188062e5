"""L2 blocks and batches.

    header = [number, parent_hash, timestamp_ms, l1_origin_number, l1_origin_hash, tx_root, state_root]
    block  = [header, [tx_encoding, ...]]
    batch  = zlib(pack([block, ...]))   (see node.batch for the compressed L1 form)

The block hash is keccak-256 of the header's canonical encoding; the
transactions root is a binary sha256 Merkle root over the transaction hashes
(an odd node is paired with ZERO_HASH), tagged so leaves and inner nodes
differ, with the count hashed in at the top.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from node.crypto import Hash32, keccak256, sha256
from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.tx import MAX_TX_BYTES, Transaction, decode_tx

ZERO_HASH = Hash32(bytes(32))
MAX_BLOCK_BYTES = 8 * 1024 * 1024
MAX_BLOCK_TXS = 20_000


@dataclass(frozen=True, slots=True)
class BlockHeader:
    number: int
    parent_hash: Hash32
    timestamp_ms: int
    l1_origin_number: int
    l1_origin_hash: Hash32
    tx_root: Hash32
    state_root: Hash32

    def to_fields(self) -> list[Any]:
        return [
            self.number,
            self.parent_hash,
            self.timestamp_ms,
            self.l1_origin_number,
            self.l1_origin_hash,
            self.tx_root,
            self.state_root,
        ]

    @classmethod
    def from_fields(cls, fields: Any) -> BlockHeader:
        expect_list(fields, 7, "block header")
        return cls(
            number=expect_int(fields[0], "number"),
            parent_hash=Hash32(expect_bytes(fields[1], "parent_hash", 32)),
            timestamp_ms=expect_int(fields[2], "timestamp_ms"),
            l1_origin_number=expect_int(fields[3], "l1_origin_number"),
            l1_origin_hash=Hash32(expect_bytes(fields[4], "l1_origin_hash", 32)),
            tx_root=Hash32(expect_bytes(fields[5], "tx_root", 32)),
            state_root=Hash32(expect_bytes(fields[6], "state_root", 32)),
        )

    def hash(self) -> Hash32:
        return Hash32(keccak256(pack(self.to_fields())))


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    transactions: tuple[bytes, ...]  # canonical transaction encodings, in order

    @property
    def number(self) -> int:
        return self.header.number

    def hash(self) -> Hash32:
        return self.header.hash()

    def to_fields(self) -> list[Any]:
        return [self.header.to_fields(), list(self.transactions)]

    def encode(self) -> bytes:
        return pack(self.to_fields())

    def decoded_transactions(self) -> list[Transaction]:
        return [decode_tx(raw) for raw in self.transactions]

    @classmethod
    def from_fields(cls, fields: Any) -> Block:
        expect_list(fields, 2, "block")
        header = BlockHeader.from_fields(fields[0])
        txs = expect_list(fields[1], None, "block transactions")
        if len(txs) > MAX_BLOCK_TXS:
            raise DecodeError(f"block has {len(txs)} transactions, limit is {MAX_BLOCK_TXS}")
        return cls(header, tuple(expect_bytes(t, "transaction", max_length=MAX_TX_BYTES) for t in txs))


def decode_block(raw: bytes, max_size: int = MAX_BLOCK_BYTES) -> Block:
    return Block.from_fields(unpack(raw, max_size))


def compute_tx_root(tx_hashes: Sequence[bytes]) -> Hash32:
    """Binary sha256 Merkle root of transaction hashes, bound to their count; empty -> ZERO_HASH.

    An odd node is paired with ZERO_HASH (never with a copy of itself), and the
    count is hashed in at the top, so [a, b, c] and [a, b, c, c] have different
    roots (the duplication ambiguity of Bitcoin's CVE-2012-2459).
    """
    if not tx_hashes:
        return ZERO_HASH
    level = [sha256(b"\x00" + h) for h in tx_hashes]
    while len(level) > 1:
        if len(level) % 2:
            level.append(ZERO_HASH)
        level = [sha256(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return Hash32(sha256(b"\x02" + len(tx_hashes).to_bytes(8, "big") + level[0]))


def with_state_root(block: Block, state_root: bytes) -> Block:
    return Block(replace(block.header, state_root=Hash32(state_root)), block.transactions)
