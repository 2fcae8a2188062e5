"""Batches: the compressed form in which the settler posts L2 blocks to the L1 inbox.

A batch carries per block only what L1 does not already know:
`[number, timestamp_ms, l1_origin_number, [user transactions]]` (deposits and
forced transactions come from L1 itself). To get a transfer under 100 L1
bytes (plain zlib over the raw transactions gives ~119):

- signatures go into their own column, uncompressed (they are random) and in
  the 64-byte EIP-2098 compact form (v folded into the top bit of s, which is
  always free because only low-s signatures are valid);
- the chain id is implied by the rollup's config and not repeated;
- 20-byte values (addresses) that occur more than once in a batch are stored
  once in a dictionary and referenced by index (msgpack ext type 1);
- the rest (kinds, nonces, fees, amounts, headers) is msgpack then zlib.

    batch = pack([BATCH_VERSION, zlib(pack([dictionary, blocks])), signature_column])

Decoding rebuilds each transaction's exact canonical bytes, so the hashes
and the blocks derived from a batch equal the sequencer's.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgpack

from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.tx import MAX_TX_BYTES

BATCH_VERSION = 1
ADDRESS_REF_EXT = 1
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_DECOMPRESSED_BYTES = 32 * 1024 * 1024
MAX_BLOCKS_PER_BATCH = 4096
COMPRESSION_LEVEL = 9


class BatchError(DecodeError):
    """A batch is malformed, too large, or does not rebuild valid transaction encodings."""


@dataclass(frozen=True, slots=True)
class BatchBlock:
    number: int
    timestamp_ms: int
    l1_origin_number: int
    transactions: tuple[bytes, ...]  # canonical encodings of the sequencer's (user) transactions


def encode_batch(blocks: Iterable[BatchBlock], chain_id: int) -> bytes:
    blocks = list(blocks)
    split = [[_split_tx(raw, chain_id) for raw in b.transactions] for b in blocks]
    dictionary = _build_dictionary(rest for txs in split for _, rest in txs)
    index = {value: i for i, value in enumerate(dictionary)}
    body = [
        dictionary,
        [
            [b.number, b.timestamp_ms, b.l1_origin_number, [_substitute(rest, index) for _, rest in txs]]
            for b, txs in zip(blocks, split)
        ],
    ]
    signatures = b"".join(sig for txs in split for sig, _ in txs)
    return pack([BATCH_VERSION, zlib.compress(pack(body), COMPRESSION_LEVEL), signatures])


def decode_batch(data: bytes, chain_id: int, max_size: int = MAX_BATCH_BYTES) -> list[BatchBlock]:
    outer = _unpack(data, max_size, "batch")
    expect_list(outer, 3, "batch")
    if expect_int(outer[0], "batch version") != BATCH_VERSION:
        raise BatchError(f"unsupported batch version {outer[0]}")
    body = _unpack(_decompress(expect_bytes(outer[1], "batch body")), MAX_DECOMPRESSED_BYTES, "batch body")
    signatures = expect_bytes(outer[2], "signature column")
    expect_list(body, 2, "batch body")
    dictionary = [expect_bytes(v, "dictionary entry", 20) for v in expect_list(body[0], None, "dictionary")]
    raw_blocks = expect_list(body[1], None, "batch blocks")
    if len(raw_blocks) > MAX_BLOCKS_PER_BATCH:
        raise BatchError(f"batch has {len(raw_blocks)} blocks, limit is {MAX_BLOCKS_PER_BATCH}")
    sig_iter = _SignatureReader(signatures)
    blocks = [_decode_block(raw, dictionary, sig_iter, chain_id) for raw in raw_blocks]
    sig_iter.check_consumed()
    return blocks


# -- encoding helpers ----------------------------------------------------------------


def _split_tx(raw: bytes, chain_id: int) -> tuple[bytes, list[Any]]:
    fields = unpack(raw, MAX_TX_BYTES)
    if not isinstance(fields, list) or len(fields) < 5 or fields[0] == 0:
        raise BatchError("only signed user transactions go into batches")
    if fields[1] != chain_id:
        raise BatchError(f"transaction for chain {fields[1]} in a batch for chain {chain_id}")
    return _compact_signature(fields[-1]), [fields[0], *fields[2:-1]]


def _compact_signature(sig: bytes) -> bytes:
    if not isinstance(sig, bytes) or len(sig) != 65 or sig[64] > 1 or sig[32] & 0x80:
        raise BatchError("signature is not a low-s 65-byte recoverable signature")
    s = bytearray(sig[32:64])
    s[0] |= sig[64] << 7
    return sig[:32] + bytes(s)


def _expand_signature(compact: bytes) -> bytes:
    s = bytearray(compact[32:64])
    v = s[0] >> 7
    s[0] &= 0x7F
    return compact[:32] + bytes(s) + bytes((v,))


def _build_dictionary(rests: Iterable[list[Any]]) -> list[bytes]:
    counts: Counter[bytes] = Counter()
    order: dict[bytes, None] = {}
    for rest in rests:
        for value in rest:
            if isinstance(value, bytes) and len(value) == 20:
                counts[value] += 1
                order.setdefault(value, None)
    return [value for value in order if counts[value] > 1]


def _substitute(rest: list[Any], index: dict[bytes, int]) -> list[Any]:
    return [_ref(index[v]) if isinstance(v, bytes) and v in index else v for v in rest]


def _ref(i: int) -> msgpack.ExtType:
    return msgpack.ExtType(ADDRESS_REF_EXT, i.to_bytes(max(1, (i.bit_length() + 7) // 8), "big"))


# -- decoding helpers -------------------------------------------------------------------


def _unpack(data: bytes, max_size: int, what: str) -> Any:
    try:
        return unpack(data, max_size)
    except DecodeError as exc:
        raise BatchError(f"{what}: {exc}") from None


def _decompress(body: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(body, MAX_DECOMPRESSED_BYTES)
    except zlib.error as exc:
        raise BatchError(f"batch body does not decompress: {exc}") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise BatchError(f"batch body is truncated or inflates beyond {MAX_DECOMPRESSED_BYTES} bytes")
    if inflater.unused_data:
        raise BatchError("trailing bytes after the compressed batch body")
    return out


class _SignatureReader:
    def __init__(self, column: bytes) -> None:
        if len(column) % 64:
            raise BatchError("signature column length is not a multiple of 64")
        self.column = column
        self.offset = 0

    def next(self) -> bytes:
        if self.offset + 64 > len(self.column):
            raise BatchError("batch has more transactions than signatures")
        sig = self.column[self.offset : self.offset + 64]
        self.offset += 64
        return _expand_signature(sig)

    def check_consumed(self) -> None:
        if self.offset != len(self.column):
            raise BatchError("batch has more signatures than transactions")


def _decode_block(raw: Any, dictionary: list[bytes], sigs: _SignatureReader, chain_id: int) -> BatchBlock:
    fields = expect_list(raw, 4, "batch block")
    txs = expect_list(fields[3], None, "batch block transactions")
    return BatchBlock(
        number=expect_int(fields[0], "block number"),
        timestamp_ms=expect_int(fields[1], "block timestamp"),
        l1_origin_number=expect_int(fields[2], "block l1 origin"),
        transactions=tuple(_rebuild_tx(rest, dictionary, sigs, chain_id) for rest in txs),
    )


def _rebuild_tx(rest: Any, dictionary: list[bytes], sigs: _SignatureReader, chain_id: int) -> bytes:
    items = expect_list(rest, None, "batch transaction")
    if len(items) < 3:
        raise BatchError("batch transaction has too few fields")
    expanded = [_resolve(v, dictionary) for v in items]
    raw = pack([expanded[0], chain_id, *expanded[1:], sigs.next()])
    if len(raw) > MAX_TX_BYTES:
        raise BatchError(f"rebuilt transaction is {len(raw)} bytes, limit is {MAX_TX_BYTES}")
    return raw


def _resolve(value: Any, dictionary: list[bytes]) -> Any:
    if isinstance(value, msgpack.ExtType):
        if value.code != ADDRESS_REF_EXT:
            raise BatchError(f"unknown batch reference type {value.code}")
        i = int.from_bytes(value.data, "big")
        if i >= len(dictionary) or value.data != _ref(i).data:
            raise BatchError(f"batch reference {i} is out of range or non-canonical")
        return dictionary[i]
    return value
