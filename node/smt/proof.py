"""Inclusion and exclusion proofs, and a verifier that needs only (root, key, value, proof).

A proof walks from the root down the key's nibble path. Each level carries the
hashes of the 15 siblings, compressed as a 16-bit bitmap of non-empty
siblings plus their hashes in nibble order. The walk ends in one of:

- the key's own leaf (inclusion: the value must hash to the leaf's value hash);
- another key's leaf sharing the path so far (exclusion);
- an empty slot (exclusion).

Wire form (canonical msgpack): [[[bitmap, hash, ...], ...], terminal] where
terminal is [] for an empty slot or [leaf_key_hash, leaf_value_hash].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.smt.hashing import EMPTY, MAX_DEPTH, hash_value, internal_hash, leaf_hash, nibble, shares_prefix

MAX_PROOF_BYTES = 64 * 16 * 33 + 256


class ProofError(ValueError):
    """A proof is malformed or does not verify against the root."""


@dataclass(frozen=True, slots=True)
class ProofLevel:
    bitmap: int  # bit i set: sibling at nibble i is non-empty
    hashes: tuple[bytes, ...]  # the non-empty siblings, in nibble order

    def children_with(self, slot: int, child: bytes) -> list[bytes]:
        children = [EMPTY] * 16
        it = iter(self.hashes)
        for i in range(16):
            if self.bitmap >> i & 1:
                children[i] = next(it)
        children[slot] = child
        return children

    @classmethod
    def from_children(cls, children: list[bytes], slot: int) -> ProofLevel:
        bitmap = 0
        hashes = []
        for i, h in enumerate(children):
            if i != slot and h != EMPTY:
                bitmap |= 1 << i
                hashes.append(h)
        return cls(bitmap, tuple(hashes))


@dataclass(frozen=True, slots=True)
class Proof:
    levels: tuple[ProofLevel, ...]
    leaf: tuple[bytes, bytes] | None  # (key_hash, value_hash) of the leaf ending the walk

    def to_fields(self) -> list[Any]:
        return [
            [[lvl.bitmap, *lvl.hashes] for lvl in self.levels],
            list(self.leaf) if self.leaf else [],
        ]

    def encode(self) -> bytes:
        return pack(self.to_fields())

    @classmethod
    def from_fields(cls, fields: Any) -> Proof:
        expect_list(fields, 2, "proof")
        raw_levels = expect_list(fields[0], None, "proof levels")
        if len(raw_levels) > MAX_DEPTH:
            raise DecodeError("proof is deeper than the tree")
        levels = tuple(_decode_level(raw) for raw in raw_levels)
        terminal = expect_list(fields[1], None, "proof terminal")
        if terminal and len(terminal) != 2:
            raise DecodeError("proof terminal must be [] or [key_hash, value_hash]")
        leaf = (
            (expect_bytes(terminal[0], "leaf key hash", 32), expect_bytes(terminal[1], "leaf value hash", 32))
            if terminal
            else None
        )
        return cls(levels, leaf)

    @classmethod
    def decode(cls, raw: bytes) -> Proof:
        return cls.from_fields(unpack(raw, MAX_PROOF_BYTES))


def _decode_level(raw: Any) -> ProofLevel:
    items = expect_list(raw, None, "proof level")
    if not items:
        raise DecodeError("proof level is empty")
    bitmap = expect_int(items[0], "proof level bitmap", 0xFFFF)
    hashes = tuple(expect_bytes(h, "sibling hash", 32) for h in items[1:])
    if bin(bitmap).count("1") != len(hashes):
        raise DecodeError("proof level bitmap does not match its hash count")
    if any(h == EMPTY for h in hashes):
        raise DecodeError("proof level lists an empty sibling")
    return ProofLevel(bitmap, hashes)


def compute_proof_root(key_hash: bytes, value: bytes | None, proof: Proof) -> bytes:
    """The root the proof implies for (key_hash -> value); value None claims absence."""
    depth = len(proof.levels)
    node = _terminal_hash(key_hash, value, proof.leaf, depth)
    for d in range(depth - 1, -1, -1):
        level = proof.levels[d]
        slot = nibble(key_hash, d)
        if level.bitmap >> slot & 1:
            raise ProofError(f"proof level {d} lists a sibling on the key's own path")
        node = internal_hash(level.children_with(slot, node))
    return node


def _terminal_hash(key_hash: bytes, value: bytes | None, leaf: tuple[bytes, bytes] | None, depth: int) -> bytes:
    if leaf is None:
        if value is not None:
            raise ProofError("proof ends in an empty slot but a value was claimed")
        return EMPTY
    leaf_key, leaf_value_hash = leaf
    if leaf_key == key_hash:
        if value is None:
            raise ProofError("proof includes the key but absence was claimed")
        if hash_value(value) != leaf_value_hash:
            raise ProofError("value does not match the proven leaf")
    else:
        if value is not None:
            raise ProofError("proof ends in another key's leaf but a value was claimed")
        if not shares_prefix(leaf_key, key_hash, depth):
            raise ProofError("exclusion leaf does not lie on the key's path")
    return leaf_hash(leaf_key, leaf_value_hash)


def verify_proof(root: bytes, key_hash: bytes, value: bytes | None, proof: Proof) -> None:
    """Raise ProofError unless `proof` shows key_hash -> value (or absence) under `root`."""
    if len(key_hash) != 32 or len(root) != 32:
        raise ProofError("root and key hash must be 32 bytes")
    computed = compute_proof_root(key_hash, value, proof)
    if computed != root:
        raise ProofError(f"proof gives root 0x{computed.hex()}, expected 0x{root.hex()}")


def is_valid_proof(root: bytes, key_hash: bytes, value: bytes | None, proof: Proof) -> bool:
    try:
        verify_proof(root, key_hash, value, proof)
    except ProofError:
        return False
    return True
