"""The Merkle witness of one step: the part of the pre-state the step reads and writes.

    Witness = entries: [(key_hash, value | None, proof)]   sorted by key hash, unique
              openings: [leaf (key_hash, value_hash) | internal (16 child hashes)]
                        sorted by node hash, unique; only the nodes a deletion's
                        collapse must see (node.fraud.partial_tree)

Wire form (canonical msgpack, strict decoding):

    [WITNESS_VERSION, [[key_hash, value | nil, proof_fields], ...], [opening, ...]]
    opening = [0, key_hash, value_hash] | [1, bitmap, child_hash, ...]   (non-empty children in nibble order)

Building one: run the step over a `RecordingState` (it records every key the
state transition reads; the overlay holds what it writes), then
`build_witness(source, touched_key_hashes, deleted_key_hashes)` proves each
touched key against the source tree (a VersionedTree at a version, or a
MemoryTree) and adds the openings the deletions need, found by replaying the
deletions on the partial tree itself. The verifier reads state through
`WitnessState`, which raises MissingWitness for anything the witness does not
settle, so a witness missing a key the step touches is rejected, never
guessed around.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack
from node.fraud.partial_tree import (
    InternalOpening,
    LeafOpening,
    MissingWitness,
    NodeOpening,
    PartialTree,
    WitnessEntry,
    WitnessError,
    compute_key_with_prefix,
    compute_path_hashes,
    validate_hash32,
    validate_opening,
)
from node.smt.hashing import EMPTY, hash_key, nibble
from node.smt.proof import Proof, compute_proof_root
from node.smt.versioned import VersionedTree
from node.state.view import StateReader

WITNESS_VERSION = 1
MAX_WITNESS_BYTES = 960 * 1024  # a liquidation step can touch ~150 keys (~300 KB); fits an L1 transaction
MAX_WITNESS_ENTRIES = 1024
MAX_WITNESS_OPENINGS = 512
MAX_VALUE_BYTES = 4096
OPENING_LEAF = 0
OPENING_INTERNAL = 1


class MalformedWitness(WitnessError):
    """The witness bytes or fields break the wire rules (size, order, types)."""


@dataclass(frozen=True, slots=True)
class Witness:
    entries: tuple[WitnessEntry, ...]
    openings: tuple[NodeOpening, ...] = ()

    def __post_init__(self) -> None:
        validate_witness_shape(self)

    def key_hashes(self) -> tuple[bytes, ...]:
        return tuple(entry.key_hash for entry in self.entries)

    def open(self, root: bytes) -> PartialTree:
        """The partial tree this witness opens under `root`; WitnessError if it does not verify."""
        return PartialTree(root, self.entries, self.openings)

    def to_fields(self) -> list[Any]:
        return [
            WITNESS_VERSION,
            [[e.key_hash, e.value, e.proof.to_fields()] for e in self.entries],
            [encode_opening_fields(o) for o in self.openings],
        ]

    def encode(self) -> bytes:
        return pack(self.to_fields())

    @classmethod
    def decode(cls, raw: bytes) -> Witness:
        try:
            fields = expect_list(unpack(raw, MAX_WITNESS_BYTES), 3, "witness")
            if expect_int(fields[0], "witness version") != WITNESS_VERSION:
                raise DecodeError(f"witness version {fields[0]} is not {WITNESS_VERSION}")
            raw_entries = expect_list(fields[1], None, "witness entries")
            raw_openings = expect_list(fields[2], None, "witness openings")
            validate_counts(len(raw_entries), len(raw_openings))
            entries = tuple(decode_entry(e) for e in raw_entries)
            openings = tuple(decode_opening(o) for o in raw_openings)
        except DecodeError as exc:
            raise MalformedWitness(str(exc)) from None
        return cls(entries, openings)


# -- shape and codec --


def validate_counts(n_entries: int, n_openings: int) -> None:
    if n_entries > MAX_WITNESS_ENTRIES:
        raise MalformedWitness(f"witness has {n_entries} entries, limit is {MAX_WITNESS_ENTRIES}")
    if n_openings > MAX_WITNESS_OPENINGS:
        raise MalformedWitness(f"witness has {n_openings} openings, limit is {MAX_WITNESS_OPENINGS}")


def validate_witness_shape(witness: Witness) -> None:
    validate_counts(len(witness.entries), len(witness.openings))
    previous = b""
    for entry in witness.entries:
        validate_hash32(entry.key_hash, "witness key hash")
        if entry.key_hash <= previous:
            raise MalformedWitness("witness entries must be sorted by key hash, without repeats")
        previous = entry.key_hash
        if entry.value is not None and (not isinstance(entry.value, bytes) or len(entry.value) > MAX_VALUE_BYTES):
            raise MalformedWitness(f"a witness value is bytes of at most {MAX_VALUE_BYTES}")
    previous = b""
    for opening in witness.openings:
        validate_opening(opening)
        digest = opening.node_hash()
        if digest <= previous:
            raise MalformedWitness("witness openings must be sorted by node hash, without repeats")
        previous = digest


def decode_entry(raw: Any) -> WitnessEntry:
    fields = expect_list(raw, 3, "witness entry")
    key_hash = expect_bytes(fields[0], "witness key hash", 32)
    value = None if fields[1] is None else expect_bytes(fields[1], "witness value", max_length=MAX_VALUE_BYTES)
    return WitnessEntry(key_hash, value, Proof.from_fields(fields[2]))


def encode_opening_fields(opening: NodeOpening) -> list[Any]:
    if isinstance(opening, LeafOpening):
        return [OPENING_LEAF, opening.key_hash, opening.value_hash]
    bitmap = sum(1 << i for i, child in enumerate(opening.children) if child != EMPTY)
    return [OPENING_INTERNAL, bitmap, *(child for child in opening.children if child != EMPTY)]


def decode_opening(raw: Any) -> NodeOpening:
    fields = expect_list(raw, None, "node opening")
    if not fields:
        raise DecodeError("node opening is empty")
    tag = expect_int(fields[0], "node opening tag", OPENING_INTERNAL)
    if tag == OPENING_LEAF:
        expect_list(fields, 3, "leaf opening")
        return LeafOpening(expect_bytes(fields[1], "leaf key hash", 32), expect_bytes(fields[2], "leaf value hash", 32))
    if len(fields) < 2:
        raise DecodeError("internal opening has no bitmap")
    bitmap = expect_int(fields[1], "internal opening bitmap", 0xFFFF)
    hashes = [expect_bytes(h, "child hash", 32) for h in fields[2:]]
    if bin(bitmap).count("1") != len(hashes) or not hashes:
        raise DecodeError("internal opening bitmap does not match its hash count")
    if any(h == EMPTY for h in hashes):
        raise DecodeError("internal opening lists an empty child")
    it = iter(hashes)
    return InternalOpening(tuple(next(it) if bitmap >> i & 1 else EMPTY for i in range(16)))


# -- state readers over a witness, and recording what a step touches --


class WitnessState:
    """StateReader over a partial tree (application keys); MissingWitness outside the witness."""

    __slots__ = ("tree",)

    def __init__(self, tree: PartialTree) -> None:
        self.tree = tree

    def get(self, key: bytes) -> bytes | None:
        return self.tree.get(hash_key(key))


class RecordingState:
    """Wraps any StateReader and records every application key read through it."""

    __slots__ = ("base", "reads")

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.reads: set[bytes] = set()

    def get(self, key: bytes) -> bytes | None:
        self.reads.add(key)
        return self.base.get(key)

    def get_touched_keys(self, writes: Mapping[bytes, bytes | None]) -> set[bytes]:
        """Every application key read or written (the overlay's writes)."""
        return self.reads | set(writes)


# -- building a witness --


class ProofSource(Protocol):
    """A tree at one root: a MemoryTree, or a VersionedTree at a version (VersionedSource)."""

    def get(self, key_hash: bytes) -> bytes | None: ...

    def prove(self, key_hash: bytes) -> Proof: ...


class VersionedSource:
    __slots__ = ("tree", "version")

    def __init__(self, tree: VersionedTree, version: int) -> None:
        self.tree = tree
        self.version = version

    def get(self, key_hash: bytes) -> bytes | None:
        return self.tree.get(key_hash, self.version)

    def prove(self, key_hash: bytes) -> Proof:
        return self.tree.prove(key_hash, self.version)


def build_witness(source: ProofSource, accessed_keys: Iterable[bytes], deleted_keys: Iterable[bytes] = ()) -> Witness:
    """The witness of `accessed_keys` (key hashes) plus the openings deleting `deleted_keys` needs."""
    deleted = sorted(set(deleted_keys))
    keys = sorted(set(accessed_keys) | set(deleted))
    entries = tuple(WitnessEntry(k, source.get(k), source.prove(k)) for k in keys)
    if not entries:
        return Witness(())
    first = entries[0]
    root = compute_proof_root(first.key_hash, first.value, first.proof)
    return Witness(entries, compute_deletion_openings(source, root, entries, deleted))


def compute_deletion_openings(
    source: ProofSource, root: bytes, entries: tuple[WitnessEntry, ...], deleted: list[bytes]
) -> tuple[NodeOpening, ...]:
    """Replay the deletions alone (a superset of what any batch with them needs) and open what they ask for."""
    openings: dict[bytes, NodeOpening] = {}
    while True:
        tree = PartialTree(root, entries, openings.values())
        try:
            tree.apply_writes({key_hash: None for key_hash in deleted})
        except MissingWitness as exc:
            opening = get_node_opening(source, exc.path)
            if opening.node_hash() in openings:
                raise WitnessError(f"node {exc.path.hex()} is still missing after opening it") from None
            openings[opening.node_hash()] = opening
            continue
        return tuple(sorted(openings.values(), key=lambda o: o.node_hash()))


def get_node_opening(source: ProofSource, path: bytes) -> NodeOpening:
    """Open the node at nibble `path`, from a proof of a key below it."""
    key_hash = compute_key_with_prefix(path)
    proof = source.prove(key_hash)
    depth = len(path)
    if len(proof.levels) > depth:
        hashes = compute_path_hashes(key_hash, proof)
        return InternalOpening(tuple(proof.levels[depth].children_with(nibble(key_hash, depth), hashes[depth + 1])))
    if len(proof.levels) == depth and proof.leaf is not None:
        return LeafOpening(*proof.leaf)
    raise WitnessError(f"the source tree has no node at path {path.hex()}")


__all__ = [
    "MAX_VALUE_BYTES",
    "MAX_WITNESS_BYTES",
    "MAX_WITNESS_ENTRIES",
    "MAX_WITNESS_OPENINGS",
    "MalformedWitness",
    "ProofSource",
    "RecordingState",
    "VersionedSource",
    "WITNESS_VERSION",
    "Witness",
    "WitnessState",
    "build_witness",
    "compute_deletion_openings",
    "get_node_opening",
]
