"""A partial radix-16 tree: just the nodes on the paths a witness opens, checked against a root.

Built from inclusion/exclusion proofs (node.smt.proof) of several keys against
one root, it holds the internal nodes on those paths (16 child hashes each,
the unopened children as bare hashes), the leaves the proofs end in, and the
node openings the witness adds for deletions. Every proof is verified on
construction and must agree with the nodes already built; any mismatch raises
`WitnessError`.

Updates follow the canonical tree definition of node.smt.hashing exactly
(tested against the reference MemoryTree with hypothesis):

- insert into an empty slot: the new leaf sits there;
- insert onto another key's leaf: both move down to where their paths split
  (the other leaf's key hash is known from the proof that ends in it);
- overwrite / delete a leaf;
- collapse: when a deletion leaves an internal node with one child and that
  child is a leaf, the leaf moves up (repeatedly). Deciding needs to know
  whether the lone child is a leaf: if it was not opened by a proof, the
  witness must carry its `NodeOpening` (a leaf's key and value hash, or an
  internal node's 16 child hashes), else `MissingWitness` is raised.

Nodes are immutable (updates copy the path), so a failed update leaves the
tree unchanged and `copy()` is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from node.smt.hashing import EMPTY, KEY_LEN, MAX_DEPTH, hash_value, internal_hash, leaf_hash, nibble
from node.smt.proof import Proof, ProofError, verify_proof


class WitnessError(ValueError):
    """A witness is malformed or does not open the root it is checked against."""


class MissingWitness(WitnessError):
    """The witness does not cover something the computation needs (a key's path, a value, a sibling)."""

    def __init__(self, message: str, path: bytes = b"") -> None:
        super().__init__(message)
        self.path = path  # nibble path of the unopened node that was needed


@dataclass(frozen=True, slots=True)
class WitnessEntry:
    """A key's proof against the witness root; `value` None claims absence."""

    key_hash: bytes
    value: bytes | None
    proof: Proof


@dataclass(frozen=True, slots=True)
class LeafOpening:
    key_hash: bytes
    value_hash: bytes

    def node_hash(self) -> bytes:
        return leaf_hash(self.key_hash, self.value_hash)


@dataclass(frozen=True, slots=True)
class InternalOpening:
    children: tuple[bytes, ...]  # 16 child hashes, EMPTY where there is none

    def node_hash(self) -> bytes:
        return internal_hash(list(self.children))


NodeOpening = LeafOpening | InternalOpening


class _Leaf:
    __slots__ = ("key_hash", "value_hash", "value")

    def __init__(self, key_hash: bytes, value_hash: bytes, value: bytes | None) -> None:
        self.key_hash = key_hash
        self.value_hash = value_hash
        self.value = value  # None: only the hash is known (an exclusion terminal or an opening)


class _Internal:
    __slots__ = ("children", "digest")

    def __init__(self, children: tuple[Child, ...], digest: bytes | None = None) -> None:
        self.children = children
        self.digest = digest  # memoised hash; nodes never change after creation


Child = bytes | _Leaf | _Internal  # bytes: an unopened subtree's hash (EMPTY: no subtree)


# -- helpers on proofs and paths --


def compute_path_hashes(key_hash: bytes, proof: Proof) -> list[bytes]:
    """Hashes of the nodes on the proof's path: [root, depth 1, ..., terminal]."""
    depth = len(proof.levels)
    hashes = [EMPTY] * (depth + 1)
    hashes[depth] = leaf_hash(*proof.leaf) if proof.leaf is not None else EMPTY
    for d in range(depth - 1, -1, -1):
        hashes[d] = internal_hash(proof.levels[d].children_with(nibble(key_hash, d), hashes[d + 1]))
    return hashes


def get_nibble_path(key_hash: bytes, depth: int) -> bytes:
    return bytes(nibble(key_hash, i) for i in range(depth))


def compute_key_with_prefix(path: bytes) -> bytes:
    """The smallest key hash whose nibble path starts with `path`."""
    if len(path) > MAX_DEPTH or any(n > 15 for n in path):
        raise ValueError("a nibble path has at most 64 nibbles of 0..15")
    padded = path + bytes(MAX_DEPTH - len(path))
    return bytes((padded[i] << 4) | padded[i + 1] for i in range(0, MAX_DEPTH, 2))


def is_prefix_of(path: bytes, key_hash: bytes) -> bool:
    return get_nibble_path(key_hash, len(path)) == path


def validate_hash32(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != KEY_LEN:
        raise WitnessError(f"{what} must be 32 bytes")


def validate_opening(opening: NodeOpening) -> None:
    if isinstance(opening, LeafOpening):
        validate_hash32(opening.key_hash, "opened leaf key hash")
        validate_hash32(opening.value_hash, "opened leaf value hash")
        return
    if not isinstance(opening, InternalOpening) or len(opening.children) != 16:
        raise WitnessError("an internal node opening has 16 child hashes")
    for child in opening.children:
        validate_hash32(child, "opened child hash")
    if all(child == EMPTY for child in opening.children):
        raise WitnessError("an internal node opening has at least one child")


def _hash_of(node: Child) -> bytes:
    if isinstance(node, bytes):
        return node
    if isinstance(node, _Leaf):
        return leaf_hash(node.key_hash, node.value_hash)
    if node.digest is None:
        node.digest = internal_hash([_hash_of(c) for c in node.children])
    return node.digest


def _is_empty(node: Child) -> bool:
    return isinstance(node, bytes) and node == EMPTY


def _with_child(node: _Internal, slot: int, child: Child, digest: bytes | None = None) -> _Internal:
    """A copy of `node` with one child replaced (`digest`: its hash when known unchanged)."""
    children = node.children
    return _Internal(children[:slot] + (child,) + children[slot + 1 :], digest)


class PartialTree:
    def __init__(self, root: bytes, entries: Iterable[WitnessEntry] = (), openings: Iterable[NodeOpening] = ()) -> None:
        validate_hash32(root, "root")
        self._root: Child = root
        for entry in entries:
            self._add_entry(root, entry)
        self._add_openings(openings)

    # -- reads --

    def root(self) -> bytes:
        return _hash_of(self._root)

    def get(self, key_hash: bytes) -> bytes | None:
        """The value at key_hash, None if absent; MissingWitness if the witness does not settle it."""
        validate_hash32(key_hash, "key hash")
        node, depth = self._root, 0
        while True:
            if isinstance(node, bytes):
                if node == EMPTY:
                    return None
                raise MissingWitness(
                    f"key 0x{key_hash.hex()} is not covered by the witness", get_nibble_path(key_hash, depth)
                )
            if isinstance(node, _Leaf):
                if node.key_hash != key_hash:
                    return None
                if node.value is None:
                    raise MissingWitness(f"the witness holds only the hash of key 0x{key_hash.hex()}'s value")
                return node.value
            node = node.children[nibble(key_hash, depth)]
            depth += 1

    def copy(self) -> PartialTree:
        clone = PartialTree.__new__(PartialTree)
        clone._root = self._root
        return clone

    # -- updates --

    def update(self, key_hash: bytes, value: bytes | None) -> None:
        """Set (or with None delete) one key; on any error the tree is unchanged."""
        validate_hash32(key_hash, "key hash")
        if value is not None and not isinstance(value, bytes):
            raise TypeError("values are bytes (None deletes)")
        self._root = self._set(self._root, key_hash, value, 0)

    def apply_writes(self, writes: Mapping[bytes, bytes | None]) -> bytes:
        """Apply a batch in canonical order (sets by key hash, then deletes by key hash); return the root.

        All or nothing: on MissingWitness the tree keeps its previous state.
        """
        before = self._root
        try:
            for key_hash in sorted(k for k, v in writes.items() if v is not None):
                self.update(key_hash, writes[key_hash])
            for key_hash in sorted(k for k, v in writes.items() if v is None):
                self.update(key_hash, None)
        except WitnessError:
            self._root = before
            raise
        return self.root()

    def _set(self, node: Child, key_hash: bytes, value: bytes | None, depth: int) -> Child:
        if isinstance(node, bytes):
            if node != EMPTY:
                raise MissingWitness(
                    f"key 0x{key_hash.hex()} is not covered by the witness", get_nibble_path(key_hash, depth)
                )
            return node if value is None else _Leaf(key_hash, hash_value(value), value)
        if isinstance(node, _Leaf):
            return self._set_on_leaf(node, key_hash, value, depth)
        slot = nibble(key_hash, depth)
        old = node.children[slot]
        new = self._set(old, key_hash, value, depth + 1)
        if new is old:
            return node
        updated = _with_child(node, slot, new)
        return self._collapse(updated, key_hash, depth) if value is None else updated

    def _set_on_leaf(self, leaf: _Leaf, key_hash: bytes, value: bytes | None, depth: int) -> Child:
        if leaf.key_hash == key_hash:
            return EMPTY if value is None else _Leaf(key_hash, hash_value(value), value)
        if value is None:
            return leaf  # deleting an absent key
        return _split(leaf, _Leaf(key_hash, hash_value(value), value), depth)

    def _collapse(self, node: _Internal, key_hash: bytes, depth: int) -> Child:
        """After a deletion below `node`: its lone leaf child moves up; no child left: it is gone."""
        present = [(slot, child) for slot, child in enumerate(node.children) if not _is_empty(child)]
        if len(present) != 1:
            return node if present else EMPTY
        slot, only = present[0]
        if isinstance(only, _Leaf):
            return only
        if isinstance(only, _Internal):
            return node
        path = get_nibble_path(key_hash, depth) + bytes((slot,))
        raise MissingWitness(f"deleting 0x{key_hash.hex()} needs the opening of node {path.hex()}", path)

    # -- construction --

    def _add_entry(self, root: bytes, entry: WitnessEntry) -> None:
        validate_hash32(entry.key_hash, "key hash")
        try:
            verify_proof(root, entry.key_hash, entry.value, entry.proof)
        except ProofError as exc:
            raise WitnessError(f"proof of key 0x{entry.key_hash.hex()}: {exc}") from None
        hashes = compute_path_hashes(entry.key_hash, entry.proof)
        self._root = self._merge(self._root, entry, hashes, 0)

    def _merge(self, node: Child, entry: WitnessEntry, hashes: list[bytes], depth: int) -> Child:
        if _hash_of(node) != hashes[depth]:
            raise WitnessError(f"proof of key 0x{entry.key_hash.hex()} disagrees with the witness at depth {depth}")
        levels = entry.proof.levels
        if depth == len(levels):
            return _merge_terminal(node, entry)
        if isinstance(node, _Leaf):
            raise WitnessError("a proof walks through a leaf")
        slot = nibble(entry.key_hash, depth)
        base = (
            node
            if isinstance(node, _Internal)
            else _Internal(tuple(levels[depth].children_with(slot, hashes[depth + 1])), hashes[depth])
        )
        child = self._merge(base.children[slot], entry, hashes, depth + 1)
        return base if child is base.children[slot] else _with_child(base, slot, child, hashes[depth])

    def _add_openings(self, openings: Iterable[NodeOpening]) -> None:
        pending: dict[bytes, NodeOpening] = {}
        for opening in openings:
            validate_opening(opening)
            digest = opening.node_hash()
            if digest in pending:
                raise WitnessError("the witness opens the same node twice")
            pending[digest] = opening
        if pending:
            self._root = _expand(self._root, b"", pending)
        if pending:
            raise WitnessError(f"{len(pending)} node opening(s) match no unopened node of the tree")


def _merge_terminal(node: Child, entry: WitnessEntry) -> Child:
    leaf = entry.proof.leaf
    if leaf is None:
        return node  # an empty slot (its hash was checked equal to EMPTY)
    known = entry.value if leaf[0] == entry.key_hash else None
    if isinstance(node, _Leaf) and (node.value is not None or known is None):
        return node
    return _Leaf(leaf[0], leaf[1], known)


def _expand(node: Child, path: bytes, pending: dict[bytes, NodeOpening]) -> Child:
    """Replace unopened nodes whose hash an opening matches (recursively inside openings too)."""
    if isinstance(node, bytes):
        opening = pending.pop(node, None) if node != EMPTY else None
        if opening is None:
            return node
        if isinstance(opening, LeafOpening):
            if not is_prefix_of(path, opening.key_hash):
                raise WitnessError(f"leaf opening of 0x{opening.key_hash.hex()} does not lie on path {path.hex()}")
            return _Leaf(opening.key_hash, opening.value_hash, None)
        node = _Internal(opening.children, node)
    if isinstance(node, _Leaf):
        return node
    children = tuple(_expand(child, path + bytes((slot,)), pending) for slot, child in enumerate(node.children))
    if all(new is old for new, old in zip(children, node.children)):
        return node
    return _Internal(children, node.digest)


def _split(a: _Leaf, b: _Leaf, depth: int) -> _Internal:
    """The subtree holding exactly leaves a and b, rooted at `depth`."""
    if depth >= MAX_DEPTH:
        raise WitnessError("two distinct keys cannot share every nibble")
    slot_a, slot_b = nibble(a.key_hash, depth), nibble(b.key_hash, depth)
    children: list[Child] = [EMPTY] * 16
    if slot_a == slot_b:
        children[slot_a] = _split(a, b, depth + 1)
    else:
        children[slot_a], children[slot_b] = a, b
    return _Internal(tuple(children))


__all__ = [
    "InternalOpening",
    "LeafOpening",
    "MissingWitness",
    "NodeOpening",
    "PartialTree",
    "WitnessEntry",
    "WitnessError",
    "compute_key_with_prefix",
    "compute_path_hashes",
    "get_nibble_path",
    "is_prefix_of",
    "validate_opening",
]
