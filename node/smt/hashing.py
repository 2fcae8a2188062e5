"""Node hashing of the radix-16 sparse Merkle tree.

The tree maps 32-byte key hashes (sha256 of an application key) to values.
It is canonical: its shape depends only on the set of (key, value) pairs,
never on the order of updates. A subtree holding no key hashes to EMPTY; a
subtree holding one key is that key's leaf, placed at the shallowest depth
where its nibble path is unique (so typical depth is log16(n), about 5 for a
million keys); any other subtree is an internal node with 16 children, one per
next nibble.

    leaf_hash     = sha256(0x00 || key_hash || sha256(value))
    internal_hash = sha256(0x01 || child_0 || ... || child_15)   (EMPTY for no child)

Why radix-16 with a flat hash over 16 children: measured on this machine
(shared/notes/performance.md) it costs ~15 us per updated key against ~27-29
us for binary layouts, because most of the cost is interpreter work per
level and 16-way nodes halve-to-quarter the levels. The price is bigger
proofs (up to 15 sibling hashes per level, ~2 KB at a million keys, less with
the sibling bitmap the proof encoding uses).
"""

from __future__ import annotations

import hashlib

EMPTY = bytes(32)
KEY_LEN = 32
MAX_DEPTH = 2 * KEY_LEN  # 64 nibbles
LEAF_TAG = b"\x00"
INTERNAL_TAG = b"\x01"

_sha256 = hashlib.sha256


def hash_key(app_key: bytes) -> bytes:
    """The tree position of an application key."""
    return _sha256(app_key).digest()


def hash_value(value: bytes) -> bytes:
    return _sha256(value).digest()


def leaf_hash(key_hash: bytes, value_hash: bytes) -> bytes:
    return _sha256(LEAF_TAG + key_hash + value_hash).digest()


def internal_hash(children: list[bytes]) -> bytes:
    """Hash of 16 child hashes (EMPTY where there is no child)."""
    return _sha256(INTERNAL_TAG + b"".join(children)).digest()


def nibble(key_hash: bytes, depth: int) -> int:
    byte = key_hash[depth >> 1]
    return (byte >> 4) if depth % 2 == 0 else (byte & 0x0F)


def shares_prefix(a: bytes, b: bytes, depth: int) -> bool:
    """True when key hashes a and b agree on their first `depth` nibbles."""
    full, odd = divmod(depth, 2)
    if a[:full] != b[:full]:
        return False
    return not odd or (a[full] >> 4) == (b[full] >> 4)
