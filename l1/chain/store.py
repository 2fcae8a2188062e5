"""L1 blocks, receipts and the chain's indexes in RocksDB, next to the L1 state.

    header = [number, parent_hash, timestamp_ms, tx_root, events_hash]
    block  = [header, [raw tx, ...], [event, ...]]

The block hash is keccak-256 of the header's canonical encoding; `tx_root`
is node.block.compute_tx_root over the transaction hashes and `events_hash`
is keccak-256 of the packed event list, so the hash commits to everything
derivation reads.

Keys (the L1 state lives under `S`, see l1.contracts.state):
    B b number(8)   -> block encoding
    B c number(8)   -> pack([receipt, ...])
    B h block_hash  -> number(8)
    B t tx_hash     -> pack([number, index])
    M head          -> pack([number, block_hash, timestamp_ms])
    M genesis       -> pack([chain_id, genesis_alloc_hash])  which chain this directory holds
    D b number(8)   -> pack([[address, balance], ...])  devnet_setBalance overrides applied at the start
                       of that block (devnet mode only; not part of the block hash, see l1.chain.control)

`commit_block_puts` builds every key of one block; the chain writes them with
the block's state writes in one atomic `KVStore.write`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from l1.chain.events import Event, EventTable, L1Receipt, decode_event, encode_event
from node.block import compute_tx_root
from node.crypto import Hash32, keccak256
from node.encoding import expect_bytes, expect_int, expect_list, pack, unpack
from node.records import from_wire, to_wire

BLOCK_PREFIX = b"Bb"
RECEIPTS_PREFIX = b"Bc"
HASH_INDEX_PREFIX = b"Bh"
TX_INDEX_PREFIX = b"Bt"
HEAD_KEY = b"Mhead"
GENESIS_KEY = b"Mgenesis"
DEVNET_PREFIX = b"Db"
ZERO_HASH = Hash32(bytes(32))
MAX_STORED_BLOCK_BYTES = 1 << 31


class KVReader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class L1Header:
    number: int
    parent_hash: Hash32
    timestamp_ms: int
    tx_root: Hash32
    events_hash: Hash32

    def to_fields(self) -> list[Any]:
        return [self.number, self.parent_hash, self.timestamp_ms, self.tx_root, self.events_hash]

    @classmethod
    def from_fields(cls, value: Any) -> L1Header:
        fields = expect_list(value, 5, "L1 header")
        return cls(
            number=expect_int(fields[0], "number"),
            parent_hash=Hash32(expect_bytes(fields[1], "parent_hash", 32)),
            timestamp_ms=expect_int(fields[2], "timestamp_ms"),
            tx_root=Hash32(expect_bytes(fields[3], "tx_root", 32)),
            events_hash=Hash32(expect_bytes(fields[4], "events_hash", 32)),
        )

    def hash(self) -> Hash32:
        return Hash32(keccak256(pack(self.to_fields())))


@dataclass(frozen=True, slots=True)
class L1StoredBlock:
    header: L1Header
    transactions: tuple[bytes, ...]
    events: tuple[Event, ...]

    @property
    def number(self) -> int:
        return self.header.number

    def hash(self) -> Hash32:
        return self.header.hash()

    def tx_hashes(self) -> list[Hash32]:
        return [Hash32(keccak256(raw)) for raw in self.transactions]

    def encode(self) -> bytes:
        return pack([self.header.to_fields(), list(self.transactions), [encode_event(e) for e in self.events]])

    @classmethod
    def decode(cls, raw: bytes, table: EventTable) -> L1StoredBlock:
        fields = expect_list(unpack(raw, MAX_STORED_BLOCK_BYTES), 3, "L1 block")
        txs = expect_list(fields[1], None, "transactions")
        stored_events = expect_list(fields[2], None, "events")
        return cls(
            L1Header.from_fields(fields[0]),
            tuple(expect_bytes(t, "transaction") for t in txs),
            tuple(decode_event(e, table) for e in stored_events),
        )


@dataclass(frozen=True, slots=True)
class L1Head:
    number: int
    hash: Hash32
    timestamp_ms: int


def build_block(
    parent: L1Head | None, timestamp_ms: int, txs: Iterable[bytes], events: Iterable[Event]
) -> L1StoredBlock:
    """Seal a block: header over the transactions' root and the events' hash."""
    transactions = tuple(txs)
    event_list = tuple(events)
    header = L1Header(
        number=0 if parent is None else parent.number + 1,
        parent_hash=ZERO_HASH if parent is None else parent.hash,
        timestamp_ms=timestamp_ms,
        tx_root=compute_tx_root([keccak256(raw) for raw in transactions]),
        events_hash=compute_events_hash(event_list),
    )
    return L1StoredBlock(header, transactions, event_list)


def compute_events_hash(events: Iterable[Event]) -> Hash32:
    return Hash32(keccak256(pack([encode_event(e) for e in events])))


def _num(n: int) -> bytes:
    return n.to_bytes(8, "big")


def commit_block_puts(block: L1StoredBlock, receipts: Iterable[L1Receipt]) -> dict[bytes, bytes]:
    """Every key one block adds: the block, its receipts, its indexes and the new head."""
    number, block_hash = block.number, block.hash()
    puts = {
        BLOCK_PREFIX + _num(number): block.encode(),
        RECEIPTS_PREFIX + _num(number): pack([to_wire(r) for r in receipts]),
        HASH_INDEX_PREFIX + block_hash: _num(number),
        HEAD_KEY: pack([number, block_hash, block.header.timestamp_ms]),
    }
    for index, tx_hash in enumerate(block.tx_hashes()):
        puts[TX_INDEX_PREFIX + tx_hash] = pack([number, index])
    return puts


def devnet_override_puts(number: int, balances: Iterable[tuple[bytes, int]]) -> dict[bytes, bytes]:
    """The record of the devnet balance overrides applied at the start of block `number`."""
    entries = [[bytes(a), b.to_bytes(32, "big")] for a, b in sorted(balances)]
    return {DEVNET_PREFIX + _num(number): pack(entries)}


# -- reads --


def read_head(kv: KVReader) -> L1Head | None:
    raw = kv.get(HEAD_KEY)
    if raw is None:
        return None
    fields = expect_list(unpack(raw, 128), 3, "head")
    return L1Head(
        expect_int(fields[0], "number"), Hash32(expect_bytes(fields[1], "hash", 32)), expect_int(fields[2], "timestamp")
    )


def read_block(kv: KVReader, number: int, events: EventTable) -> L1StoredBlock | None:
    """Block `number` with its events decoded by the contracts' `events` table, or None."""
    raw = kv.get(BLOCK_PREFIX + _num(number))
    return None if raw is None else L1StoredBlock.decode(raw, events)


def read_block_number(kv: KVReader, block_hash: bytes) -> int | None:
    raw = kv.get(HASH_INDEX_PREFIX + block_hash)
    return None if raw is None else int.from_bytes(raw, "big")


def read_receipts(kv: KVReader, number: int) -> list[L1Receipt]:
    raw = kv.get(RECEIPTS_PREFIX + _num(number))
    if raw is None:
        return []
    return [from_wire(L1Receipt, r) for r in expect_list(unpack(raw, MAX_STORED_BLOCK_BYTES), None, "receipts")]


def read_tx_location(kv: KVReader, tx_hash: bytes) -> tuple[int, int] | None:
    raw = kv.get(TX_INDEX_PREFIX + tx_hash)
    if raw is None:
        return None
    fields = expect_list(unpack(raw, 64), 2, "tx location")
    return expect_int(fields[0], "number"), expect_int(fields[1], "index")


def read_devnet_overrides(kv: KVReader, number: int) -> dict[bytes, int]:
    """The balances devnet_setBalance set at the start of block `number` ({} for an ordinary block)."""
    raw = kv.get(DEVNET_PREFIX + _num(number))
    if raw is None:
        return {}
    entries = expect_list(unpack(raw, MAX_STORED_BLOCK_BYTES), None, "devnet overrides")
    pairs = [expect_list(entry, 2, "devnet override") for entry in entries]
    return {expect_bytes(a, "address", 20): int.from_bytes(expect_bytes(b, "balance", 32), "big") for a, b in pairs}


def read_genesis_identity(kv: KVReader) -> bytes | None:
    return kv.get(GENESIS_KEY)


def compute_genesis_identity(chain_id: int, alloc: Iterable[tuple[bytes, int]]) -> bytes:
    alloc_hash = keccak256(pack([[address, amount.to_bytes(32, "big")] for address, amount in sorted(alloc)]))
    return pack([chain_id, alloc_hash])
