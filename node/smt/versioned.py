"""The persistent, versioned radix-16 sparse Merkle tree.

`VersionedTree` reads nodes from any byte store with `get` (RocksDB in the
nodes, a dict in tests) and never writes: `compute_update` returns a
`TreeUpdate` (puts and deletes) that the caller adds to the same atomic write
batch as the block, then reports back with `on_committed` so the node cache
stays in step. It gives exactly the roots and proofs of the reference
`MemoryTree` (tested with hypothesis).

Besides the nodes, each update maintains a flat table key_hash -> value for
the latest version, so the state transition reads current state with one
lookup instead of a walk; past versions are read by walking their root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mypy_extensions import mypyc_attr

from node.smt.hashing import EMPTY, hash_value, leaf_hash
from node.smt.nodes import (
    EMPTY_INTERNAL,
    HASHES_AT,
    INTERNAL_LEN,
    LEAFMAP_AT,
    NODE_PREFIX,
    VALUE_PREFIX,
    VERSIONS_AT,
    CorruptTreeError,
    NodeRef,
    child_hashes,
    child_ref,
    decode_leaf,
    decode_ref,
    encode_ref,
    encode_stale_list,
    node_key,
    present_slots,
    root_key,
    set_child,
    stale_key,
    validate_internal,
    value_key,
)
from node.smt.proof import Proof, ProofLevel

DEFAULT_CACHE_NODES = 300_000


class ByteStore(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


@mypyc_attr(native_class=False)
class MissingVersionError(KeyError):
    """No root is stored for that version (never written, or pruned)."""


@dataclass(slots=True)
class TreeUpdate:
    version: int
    root: NodeRef | None
    puts: dict[bytes, bytes] = field(default_factory=dict)
    deletes: list[bytes] = field(default_factory=list)
    new_internal: dict[bytes, bytes] = field(default_factory=dict)
    retired: list[bytes] = field(default_factory=list)
    previous: dict[bytes, bytes | None] = field(default_factory=dict)  # key hash -> value before this update

    @property
    def root_hash(self) -> bytes:
        return self.root.hash if self.root is not None else EMPTY


class VersionedTree:
    def __init__(self, store: ByteStore, cache_nodes: int = DEFAULT_CACHE_NODES) -> None:
        self.store = store
        self.cache_nodes = cache_nodes
        self._cache: dict[bytes, bytes] = {}  # node key -> internal node bytes (latest nodes)

    # -- reads ---------------------------------------------------------------

    def root_ref(self, version: int) -> NodeRef | None:
        raw = self.store.get(root_key(version))
        if raw is None:
            raise MissingVersionError(f"no state root stored for version {version}")
        return decode_ref(raw)

    def root_hash(self, version: int) -> bytes:
        ref = self.root_ref(version)
        return ref.hash if ref is not None else EMPTY

    def has_version(self, version: int) -> bool:
        return self.store.get(root_key(version)) is not None

    def get_latest(self, key_hash: bytes) -> bytes | None:
        """Value at the newest committed version (one flat lookup)."""
        return self.store.get(value_key(key_hash))

    def get(self, key_hash: bytes, version: int) -> bytes | None:
        """Value at a past (or the latest) version, by walking that version's root."""
        ref = self.root_ref(version)
        path = b""
        while ref is not None:
            if ref.is_leaf:
                leaf_key, value = self._load_leaf(ref, path)
                return value if leaf_key == key_hash else None
            slot = _nibble(key_hash, len(path))
            ref = child_ref(self._load_internal(ref, path), slot)
            path += bytes((slot,))
        return None

    def prove(self, key_hash: bytes, version: int) -> Proof:
        ref = self.root_ref(version)
        path = b""
        levels: list[ProofLevel] = []
        while ref is not None and not ref.is_leaf:
            node = self._load_internal(ref, path)
            slot = _nibble(key_hash, len(path))
            levels.append(ProofLevel.from_children(child_hashes(node), slot))
            ref = child_ref(node, slot)
            path += bytes((slot,))
        if ref is None:
            return Proof(tuple(levels), None)
        leaf_key, value = self._load_leaf(ref, path)
        return Proof(tuple(levels), (leaf_key, hash_value(value)))

    # -- writes (computed, not performed) --------------------------------------

    def compute_update(
        self,
        base_version: int | None,
        version: int,
        updates: Mapping[bytes, bytes | None],
        known_values: Mapping[bytes, bytes | None] | None = None,
    ) -> TreeUpdate:
        """Apply `updates` (key_hash -> value, None deletes) on top of `base_version`.

        `known_values` (key_hash -> value at the base version, e.g. what the state
        transition just read) lets the update recognise an existing leaf by its hash
        instead of reading it from storage; a wrong entry only costs that read.
        """
        if base_version is not None and version <= base_version:
            raise ValueError(f"version {version} must be above the base version {base_version}")
        base = self.root_ref(base_version) if base_version is not None else None
        return _Updater(self, version, known_values or {}).run(base, updates)

    def on_committed(self, update: TreeUpdate) -> None:
        """Keep the node cache in step once the caller's write batch is durable."""
        cache = self._cache
        for key in update.retired:
            cache.pop(key, None)
        cache.update(update.new_internal)
        excess = len(cache) - self.cache_nodes
        if excess > 0:
            for key in list(_take(cache, excess)):
                del cache[key]

    def forget_cache(self) -> None:
        self._cache.clear()

    # -- node loading ----------------------------------------------------------

    def _load_internal(self, ref: NodeRef, path: bytes) -> bytes:
        key = node_key(ref.version, path)
        node = self._cache.get(key)
        if node is None:
            raw = self.store.get(key)
            if raw is None:
                raise CorruptTreeError(f"internal node v{ref.version} path {path.hex()} is missing")
            node = validate_internal(raw)
        return node

    def _load_leaf(self, ref: NodeRef, path: bytes) -> tuple[bytes, bytes]:
        raw = self.store.get(node_key(ref.version, path))
        if raw is None:
            raise CorruptTreeError(f"leaf v{ref.version} path {path.hex()} is missing")
        return decode_leaf(raw)


def _take(d: dict[bytes, bytes], n: int) -> Iterable[bytes]:
    it = iter(d)
    for _ in range(n):
        yield next(it)


def _nibble(key_hash: bytes, depth: int) -> int:
    byte = key_hash[depth >> 1]
    return (byte >> 4) if depth % 2 == 0 else (byte & 0x0F)


Entry = tuple[bytes, "bytes | None"]


def _group(entries: list[Entry], depth: int) -> dict[int, list[Entry]]:
    """Split entries sorted by key into runs sharing the nibble at `depth`."""
    index = depth >> 1
    shift = 4 if depth % 2 == 0 else 0
    if len(entries) == 1:  # most nodes below the top levels: one updated key
        return {(entries[0][0][index] >> shift) & 0x0F: entries}
    groups: dict[int, list[Entry]] = {}
    for entry in entries:
        nib = (entry[0][index] >> shift) & 0x0F
        group = groups.get(nib)
        if group is None:
            groups[nib] = [entry]
        else:
            group.append(entry)
    return groups


_sha256 = hashlib.sha256
ZERO_VERSION = bytes(8)
_NIBBLE_BYTES = tuple(bytes((nib,)) for nib in range(16))  # path + _NIBBLE_BYTES[nib]: no bytes((nib,)) per step


class _Updater:
    """One version's batch update: walks only the paths the updates touch."""

    def __init__(self, tree: VersionedTree, version: int, known_values: Mapping[bytes, bytes | None]) -> None:
        self.tree = tree
        self.known_values = known_values
        self.version = version
        self.version_bytes = version.to_bytes(8, "big")
        self.node_prefix = NODE_PREFIX + self.version_bytes  # node_key(version, path) = node_prefix + path
        self.pending_leaves: dict[bytes, bytes] = {}
        self.pending_internal: dict[bytes, bytes] = {}
        self.retired: list[bytes] = []

    def run(self, base: NodeRef | None, updates: Mapping[bytes, bytes | None]) -> TreeUpdate:
        entries = sorted(updates.items())
        root = self._update(base, b"", entries) if entries else base
        update = TreeUpdate(self.version, root)
        update.previous = self._previous_values(updates)
        puts = update.puts
        deletes = update.deletes
        for key, value in updates.items():
            if value is None:
                deletes.append(VALUE_PREFIX + key)  # value_key(key), inlined
            else:
                puts[VALUE_PREFIX + key] = value
        puts.update(self.pending_leaves)
        puts.update(self.pending_internal)
        if self.retired:
            puts[stale_key(self.version)] = encode_stale_list(self.retired)
        puts[root_key(self.version)] = encode_ref(root)
        update.new_internal = self.pending_internal
        update.retired = self.retired
        return update

    def _previous_values(self, updates: Mapping[bytes, bytes | None]) -> dict[bytes, bytes | None]:
        """Latest values before this update (for undo records); known ones are not read again."""
        known, missing = self.known_values, object()
        previous: dict[bytes, bytes | None] = {}
        for key in updates:
            value = known.get(key, missing)
            previous[key] = self.tree.get_latest(key) if value is missing else value  # type: ignore[assignment]
        return previous

    # A subtree receiving updates: returns its new reference (None when it became empty).
    def _update(self, ref: NodeRef | None, path: bytes, entries: list[Entry]) -> NodeRef | None:
        if ref is None:
            return self._build(path, [e for e in entries if e[1] is not None])  # type: ignore[misc]
        if ref.is_leaf:
            return self._update_leaf(ref, path, entries)
        old = self.tree._load_internal(ref, path)
        node = bytearray(old)
        leafmap = int.from_bytes(old[LEAFMAP_AT:INTERNAL_LEN], "big")
        changed = may_collapse = False
        # The hot loop: child slots are read and written in place (see node.smt.nodes for the layout).
        for nib, group in _group(entries, len(path)).items():
            hs, vs = HASHES_AT + 32 * nib, VERSIONS_AT + 8 * nib
            digest = old[hs : hs + 32]
            child = (
                None
                if digest == EMPTY
                else NodeRef(digest, int.from_bytes(old[vs : vs + 8], "big"), bool(leafmap >> nib & 1))
            )
            new = self._update(child, path + _NIBBLE_BYTES[nib], group)
            if new is child:
                continue  # unchanged subtree
            changed = True
            if new is None:
                node[hs : hs + 32] = EMPTY
                node[vs : vs + 8] = ZERO_VERSION
                leafmap &= ~(1 << nib)
                may_collapse = True
                continue
            node[hs : hs + 32] = new.hash
            node[vs : vs + 8] = new.version.to_bytes(8, "big")
            if new.is_leaf:
                leafmap |= 1 << nib
                may_collapse = may_collapse or (child is not None and not child.is_leaf)
            else:
                leafmap &= ~(1 << nib)
        if not changed:
            return ref
        node[LEAFMAP_AT:INTERNAL_LEN] = leafmap.to_bytes(2, "big")
        self._retire(ref, path)
        if may_collapse:
            return self._internal_or_collapse(path, node)
        return self._write_internal(path, node)

    def _update_leaf(self, ref: NodeRef, path: bytes, entries: list[Entry]) -> NodeRef | None:
        if len(entries) == 1:  # the common case: overwrite or delete the leaf's own key
            key, value = entries[0]
            old = self.known_values.get(key)
            if old is not None and ref.version != self.version and leaf_hash(key, hash_value(old)) == ref.hash:
                return self._replace_leaf(ref, path, key, old, value)
        leaf_key, leaf_value = self._read_leaf(ref, path)
        if len(entries) == 1 and entries[0][0] == leaf_key:
            return self._replace_leaf(ref, path, leaf_key, leaf_value, entries[0][1])
        merged: dict[bytes, bytes | None] = {leaf_key: leaf_value}
        merged.update(entries)
        live = sorted((k, v) for k, v in merged.items() if v is not None)
        if len(live) == 1 and live[0][0] == leaf_key and live[0][1] == leaf_value:
            return ref
        self._retire(ref, path)
        return self._build(path, live)

    def _replace_leaf(self, ref: NodeRef, path: bytes, key: bytes, old: bytes, value: bytes | None) -> NodeRef | None:
        if value == old:
            return ref
        self._retire(ref, path)
        return self._write_leaf(path, key, value) if value is not None else None

    def _internal_or_collapse(self, path: bytes, node: bytearray) -> NodeRef | None:
        slots = present_slots(node)
        if not slots:
            return None
        if len(slots) == 1:
            only = child_ref(node, slots[0])
            if only is not None and only.is_leaf:
                return self._move_leaf_up(only, path + bytes((slots[0],)), path)
        return self._write_internal(path, node)

    def _move_leaf_up(self, ref: NodeRef, from_path: bytes, to_path: bytes) -> NodeRef:
        key, value = self._read_leaf(ref, from_path)
        self._retire(ref, from_path)
        return self._write_leaf(to_path, key, value)

    def _build(self, path: bytes, entries: list[tuple[bytes, bytes]]) -> NodeRef | None:
        if not entries:
            return None
        if len(entries) == 1:
            return self._write_leaf(path, entries[0][0], entries[0][1])
        node = bytearray(EMPTY_INTERNAL)
        for nib, group in _group(entries, len(path)).items():  # type: ignore[arg-type]
            set_child(node, nib, self._build(path + bytes((nib,)), group))  # type: ignore[arg-type]
        return self._write_internal(path, node)

    def _write_leaf(self, path: bytes, key_hash: bytes, value: bytes) -> NodeRef:
        self.pending_leaves[self.node_prefix + path] = b"\x00" + key_hash + value  # encode_leaf, inlined
        return NodeRef(leaf_hash(key_hash, hash_value(value)), self.version, True)

    def _write_internal(self, path: bytes, node: bytearray) -> NodeRef:
        raw = bytes(node)
        self.pending_internal[self.node_prefix + path] = raw
        return NodeRef(_sha256(memoryview(raw)[:VERSIONS_AT]).digest(), self.version, False)

    def _read_leaf(self, ref: NodeRef, path: bytes) -> tuple[bytes, bytes]:
        if ref.version == self.version:
            raw = self.pending_leaves.get(node_key(ref.version, path))
            if raw is not None:
                return decode_leaf(raw)
        return self.tree._load_leaf(ref, path)

    def _retire(self, ref: NodeRef, path: bytes) -> None:
        if ref.version == self.version:  # written earlier in this same update: just drop it
            key = self.node_prefix + path
            self.pending_leaves.pop(key, None)
            self.pending_internal.pop(key, None)
        else:
            self.retired.append(NODE_PREFIX + ref.version.to_bytes(8, "big") + path)
