"""Storage encoding of tree nodes and the keys they are stored under.

Nodes are immutable and versioned (the Jellyfish Merkle Tree idea): a node
written while applying version v at nibble path p is stored at
`N || v (8 bytes) || p (one byte per nibble)` and never changes. A parent
refers to each child by (hash, version, is_leaf), so any past root can be
walked as long as its nodes are not pruned. A node replaced at version v is
recorded in the stale index `S || v || node_key`; pruning up to version P
deletes every node that went stale at or before P.

    internal = 0x01 || bitmap(2) || leafmap(2) || (hash(32) || version(8)) per present child
    leaf     = 0x00 || key_hash(32) || value
"""

from __future__ import annotations

from typing import NamedTuple

NODE_PREFIX = b"N"
ROOT_PREFIX = b"R"
STALE_PREFIX = b"S"
VALUE_PREFIX = b"V"


class CorruptTreeError(RuntimeError):
    """A node the tree refers to is missing or undecodable (pruned or damaged storage)."""


class NodeRef(NamedTuple):
    hash: bytes
    version: int
    is_leaf: bool


Children = list  # list[NodeRef | None], always 16 entries


def version_bytes(version: int) -> bytes:
    return version.to_bytes(8, "big")


def node_key(version: int, path: bytes) -> bytes:
    return NODE_PREFIX + version.to_bytes(8, "big") + path


def root_key(version: int) -> bytes:
    return ROOT_PREFIX + version.to_bytes(8, "big")


def stale_key(stale_since: int, key: bytes) -> bytes:
    return STALE_PREFIX + stale_since.to_bytes(8, "big") + key


def value_key(key_hash: bytes) -> bytes:
    return VALUE_PREFIX + key_hash


def encode_ref(ref: NodeRef | None) -> bytes:
    if ref is None:
        return b""
    return ref.hash + ref.version.to_bytes(8, "big") + (b"\x01" if ref.is_leaf else b"\x00")


def decode_ref(raw: bytes) -> NodeRef | None:
    if raw == b"":
        return None
    if len(raw) != 41:
        raise CorruptTreeError("root reference has the wrong length")
    return NodeRef(raw[:32], int.from_bytes(raw[32:40], "big"), raw[40] == 1)


def encode_internal(children: Children) -> bytes:
    bitmap = leafmap = 0
    parts = []
    for i, child in enumerate(children):
        if child is not None:
            bitmap |= 1 << i
            if child.is_leaf:
                leafmap |= 1 << i
            parts.append(child.hash)
            parts.append(child.version.to_bytes(8, "big"))
    return b"\x01" + bitmap.to_bytes(2, "big") + leafmap.to_bytes(2, "big") + b"".join(parts)


def decode_internal(raw: bytes) -> Children:
    if raw[:1] != b"\x01":
        raise CorruptTreeError("expected an internal node")
    bitmap = int.from_bytes(raw[1:3], "big")
    leafmap = int.from_bytes(raw[3:5], "big")
    children: Children = [None] * 16
    offset = 5
    for i in range(16):
        if bitmap >> i & 1:
            children[i] = NodeRef(
                raw[offset : offset + 32],
                int.from_bytes(raw[offset + 32 : offset + 40], "big"),
                bool(leafmap >> i & 1),
            )
            offset += 40
    if offset != len(raw):
        raise CorruptTreeError("internal node has trailing bytes")
    return children


def encode_leaf(key_hash: bytes, value: bytes) -> bytes:
    return b"\x00" + key_hash + value


def decode_leaf(raw: bytes) -> tuple[bytes, bytes]:
    if raw[:1] != b"\x00" or len(raw) < 33:
        raise CorruptTreeError("expected a leaf node")
    return raw[1:33], raw[33:]
