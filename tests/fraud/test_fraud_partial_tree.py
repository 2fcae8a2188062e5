"""The partial tree against the reference MemoryTree: same roots after any update set; strict checking."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.fraud.partial_tree import (
    InternalOpening,
    LeafOpening,
    MissingWitness,
    PartialTree,
    WitnessEntry,
    WitnessError,
    compute_key_with_prefix,
    get_nibble_path,
)
from node.fraud.witness import Witness, build_witness
from node.smt.hashing import EMPTY, hash_key, hash_value
from node.smt.reference import MemoryTree

# A small key space (collisions, splits, collapses) plus keys sharing long prefixes (deep chains).
keys = st.one_of(
    st.integers(min_value=0, max_value=40).map(lambda i: hash_key(b"k%d" % i)),
    st.integers(min_value=0, max_value=7).map(lambda i: bytes(31) + bytes([i])),
    st.integers(min_value=0, max_value=5).map(lambda i: bytes([0x5A, 0x5A, 0x50 + i]) + bytes(29)),
)
values = st.binary(min_size=0, max_size=6)
trees = st.dictionaries(keys, values, max_size=30)
updates = st.dictionaries(keys, st.one_of(st.none(), values), min_size=1, max_size=10)


def witness_for(tree: MemoryTree, writes: dict[bytes, bytes | None], extra_reads: list[bytes] = ()) -> Witness:  # type: ignore[assignment]
    deleted = [k for k, v in writes.items() if v is None]
    return build_witness(tree, [*writes, *extra_reads], deleted)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, updates, st.lists(keys, max_size=3))
def test_partial_tree_matches_reference(
    items: dict[bytes, bytes], writes: dict[bytes, bytes | None], reads: list[bytes]
) -> None:
    reference = MemoryTree(items)
    pre_root = reference.root()
    witness = witness_for(reference, writes, reads)
    assert Witness.decode(witness.encode()) == witness
    partial = witness.open(pre_root)
    assert partial.root() == pre_root
    for key in [*writes, *reads]:
        assert partial.get(key) == items.get(key)
    post_root = partial.apply_writes(writes)
    assert post_root == reference.update(writes)
    for key, value in writes.items():
        assert partial.get(key) == value
    # one key at a time, in any order, gives the same root when the witness allows that order
    again = witness.open(pre_root)
    try:
        for key, value in reversed(list(writes.items())):
            again.update(key, value)
    except MissingWitness:
        return
    assert again.root() == post_root


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, updates)
def test_deletions_without_openings_are_refused_not_miscomputed(
    items: dict[bytes, bytes], writes: dict[bytes, bytes | None]
) -> None:
    reference = MemoryTree(items)
    pre_root = reference.root()
    full = witness_for(reference, writes)
    bare = Witness(full.entries)
    partial = bare.open(pre_root)
    try:
        root = partial.apply_writes(writes)
    except MissingWitness:
        assert full.openings, "a witness without openings failed although none are needed"
        assert partial.root() == pre_root  # all or nothing
        return
    assert root == reference.update(writes)


def test_empty_tree_and_single_leaf() -> None:
    partial = PartialTree(EMPTY)
    assert partial.get(hash_key(b"a")) is None
    a, b = hash_key(b"a"), hash_key(b"b")
    partial.update(a, b"1")
    assert partial.root() == MemoryTree({a: b"1"}).root()
    partial.update(b, b"2")
    assert partial.root() == MemoryTree({a: b"1", b: b"2"}).root()
    partial.update(a, None)
    assert partial.root() == MemoryTree({b: b"2"}).root()
    partial.update(b, None)
    assert partial.root() == EMPTY


def _tree(n: int) -> MemoryTree:
    return MemoryTree({hash_key(b"k%d" % i): b"v%d" % i for i in range(n)})


def test_uncovered_keys_raise_missing_witness() -> None:
    tree = _tree(40)
    root = tree.root()
    covered = hash_key(b"k1")
    partial = build_witness(tree, [covered]).open(root)
    assert partial.get(covered) == b"v1"
    far = next(hash_key(b"k%d" % i) for i in range(2, 40) if hash_key(b"k%d" % i)[0] >> 4 != covered[0] >> 4)
    with pytest.raises(MissingWitness):
        partial.get(far)
    with pytest.raises(MissingWitness):
        partial.update(far, b"x")
    assert partial.root() == root


def test_tampered_witnesses_are_rejected() -> None:
    tree = _tree(40)
    root = tree.root()
    key = hash_key(b"k3")
    witness = build_witness(tree, [key])
    entry = witness.entries[0]
    with pytest.raises(WitnessError):  # wrong value
        Witness((WitnessEntry(key, b"forged", entry.proof),)).open(root)
    with pytest.raises(WitnessError):  # claimed absence
        Witness((WitnessEntry(key, None, entry.proof),)).open(root)
    with pytest.raises(WitnessError):  # another root
        witness.open(_tree(41).root())
    other = build_witness(_tree(41), [key])
    with pytest.raises(WitnessError):  # a proof from another tree
        other.open(root)
    # two proofs that disagree with each other cannot both verify against one root
    mixed = build_witness(_tree(41), [hash_key(b"k40")])
    with pytest.raises(WitnessError):
        Witness(tuple(sorted(witness.entries + mixed.entries, key=lambda e: e.key_hash))).open(root)


def test_openings_must_belong_to_the_tree() -> None:
    tree = _tree(40)
    root = tree.root()
    witness = build_witness(tree, [hash_key(b"k3")])
    stray = LeafOpening(hash_key(b"nowhere"), hash_value(b"x"))
    with pytest.raises(WitnessError):
        Witness(witness.entries, (stray,)).open(root)
    with pytest.raises(WitnessError):
        Witness(witness.entries, (InternalOpening((EMPTY,) * 15 + (hash_key(b"z"),)),)).open(root)


def test_deleting_next_to_an_unopened_leaf_needs_its_opening() -> None:
    # two keys under a common 3-nibble prefix, a third elsewhere: deleting one must lift the other up
    a = bytes([0x12, 0x30]) + bytes(30)
    b = bytes([0x12, 0x38]) + bytes(30)
    c = bytes([0x90]) + bytes(31)
    tree = MemoryTree({a: b"A", b: b"B", c: b"C"})
    root = tree.root()
    bare = Witness(build_witness(tree, [a]).entries)
    with pytest.raises(MissingWitness) as info:
        bare.open(root).apply_writes({a: None})
    assert info.value.path == get_nibble_path(b, 4)
    full = build_witness(tree, [], [a])
    assert full.openings == (LeafOpening(b, hash_value(b"B")),)
    assert full.open(root).apply_writes({a: None}) == MemoryTree({b: b"B", c: b"C"}).root()


def test_key_with_prefix() -> None:
    assert compute_key_with_prefix(b"") == bytes(32)
    assert compute_key_with_prefix(bytes([1, 2, 3])) == bytes([0x12, 0x30]) + bytes(30)
    key = hash_key(b"x")
    assert compute_key_with_prefix(get_nibble_path(key, 64)) == key
