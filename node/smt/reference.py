"""The plain in-memory reference tree: a dict, with root and proofs computed
straight from the definition in node.smt.hashing. It is slow on purpose-free
code paths and exists to check the persistent tree (same roots, same proofs),
and to serve small states such as one-step-proof witnesses.
"""

from __future__ import annotations

from collections.abc import Mapping

from node.smt.hashing import EMPTY, hash_value, internal_hash, leaf_hash, nibble
from node.smt.proof import Proof, ProofLevel


class MemoryTree:
    def __init__(self, items: Mapping[bytes, bytes] | None = None) -> None:
        self.items: dict[bytes, bytes] = dict(items or {})

    def get(self, key_hash: bytes) -> bytes | None:
        return self.items.get(key_hash)

    def update(self, updates: Mapping[bytes, bytes | None]) -> bytes:
        for key_hash, value in updates.items():
            if value is None:
                self.items.pop(key_hash, None)
            else:
                self.items[key_hash] = value
        return self.root()

    def root(self) -> bytes:
        return _subtree_hash(sorted(self.items.items()), 0)

    def prove(self, key_hash: bytes) -> Proof:
        entries = sorted(self.items.items())
        levels: list[ProofLevel] = []
        depth = 0
        while len(entries) > 1:
            groups = _group(entries, depth)
            slot = nibble(key_hash, depth)
            children = [_subtree_hash(g, depth + 1) for g in groups]
            levels.append(ProofLevel.from_children(children, slot))
            entries = groups[slot]
            depth += 1
        leaf = (entries[0][0], hash_value(entries[0][1])) if entries else None
        return Proof(tuple(levels), leaf)


def _group(entries: list[tuple[bytes, bytes]], depth: int) -> list[list[tuple[bytes, bytes]]]:
    groups: list[list[tuple[bytes, bytes]]] = [[] for _ in range(16)]
    for entry in entries:
        groups[nibble(entry[0], depth)].append(entry)
    return groups


def _subtree_hash(entries: list[tuple[bytes, bytes]], depth: int) -> bytes:
    if not entries:
        return EMPTY
    if len(entries) == 1:
        key_hash, value = entries[0]
        return leaf_hash(key_hash, hash_value(value))
    return internal_hash([_subtree_hash(g, depth + 1) for g in _group(entries, depth)])
