"""The persistent tree against the reference tree; proofs; history; pruning."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.encoding import DecodeError
from node.smt.hashing import EMPTY, hash_key
from node.smt.nodes import CorruptTreeError
from node.smt.proof import Proof, ProofError, ProofLevel, is_valid_proof, verify_proof
from node.smt.reference import MemoryTree
from node.smt.versioned import MissingVersionError, VersionedTree


class DictStore:
    """A byte store that applies TreeUpdates the way the RocksDB store does."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def write(self, update) -> None:  # type: ignore[no-untyped-def]
        self.data.update(update.puts)
        for key in update.deletes:
            self.data.pop(key, None)


def commit(tree: VersionedTree, store: DictStore, base: int | None, version: int, updates, known=None) -> bytes:  # type: ignore[no-untyped-def]
    update = tree.compute_update(base, version, updates, known)
    store.write(update)
    tree.on_committed(update)
    return update.root_hash


# Small key space so that updates, deletes and leaf splits/collapses collide often.
keys = st.integers(min_value=0, max_value=40).map(lambda i: hash_key(b"k%d" % i))
# Keys sharing long prefixes exercise deep single-child chains.
near_keys = st.integers(min_value=0, max_value=7).map(lambda i: bytes(31) + bytes([i]))
values = st.one_of(st.none(), st.binary(min_size=0, max_size=8))
batches = st.lists(st.dictionaries(st.one_of(keys, near_keys), values, max_size=12), min_size=1, max_size=8)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_versioned_tree_matches_reference(batch_list: list[dict[bytes, bytes | None]]) -> None:
    store = DictStore()
    tree = VersionedTree(store, cache_nodes=8)  # tiny cache: exercise the store path too
    reference = MemoryTree()
    history: list[dict[bytes, bytes]] = []
    base = None
    for version, updates in enumerate(batch_list):
        # Known base values speed up leaf overwrites; wrong ones must not change the result.
        if version % 2:
            known = {k: reference.items.get(k) for k in updates}
        else:
            known = {k: b"stale" for k in updates}
        root = commit(tree, store, base, version, updates, known)
        assert root == reference.update(updates)
        history.append(dict(reference.items))
        base = version
    probe_keys = {k for b in batch_list for k in b} | {hash_key(b"absent")}
    for version, snapshot in enumerate(history):
        root = tree.root_hash(version)
        assert root == MemoryTree(snapshot).root()
        for key in probe_keys:
            assert tree.get(key, version) == snapshot.get(key)
            verify_proof(root, key, snapshot.get(key), tree.prove(key, version))
    last = len(history) - 1
    for key in probe_keys:  # identical proofs, not just valid ones
        proof = tree.prove(key, last)
        assert proof == reference.prove(key)
        assert Proof.decode(proof.encode()) == proof
    for key in probe_keys:
        assert tree.get_latest(key) == history[-1].get(key)


def test_empty_tree_root_and_exclusion() -> None:
    store = DictStore()
    tree = VersionedTree(store)
    assert commit(tree, store, None, 0, {}) == EMPTY
    key = hash_key(b"x")
    proof = tree.prove(key, 0)
    verify_proof(EMPTY, key, None, proof)
    with pytest.raises(ProofError):
        verify_proof(EMPTY, key, b"1", proof)


def test_proof_rejects_tampering() -> None:
    store = DictStore()
    tree = VersionedTree(store)
    items = {hash_key(b"k%d" % i): b"v%d" % i for i in range(300)}
    root = commit(tree, store, None, 1, items)
    key = hash_key(b"k7")
    proof = tree.prove(key, 1)
    verify_proof(root, key, b"v7", proof)
    assert not is_valid_proof(root, key, b"v8", proof)  # wrong value
    assert not is_valid_proof(root, key, None, proof)  # claims absence of a present key
    assert not is_valid_proof(root, hash_key(b"k8"), b"v7", proof)  # other key
    first = proof.levels[0]
    bad_hash = bytes([first.hashes[0][0] ^ 1]) + first.hashes[0][1:]
    tampered = Proof((ProofLevel(first.bitmap, (bad_hash,) + first.hashes[1:]),) + proof.levels[1:], proof.leaf)
    assert not is_valid_proof(root, key, b"v7", tampered)
    truncated = Proof(proof.levels[:-1], proof.leaf)
    assert not is_valid_proof(root, key, b"v7", truncated)


def test_exclusion_proof_for_absent_key_with_neighbour_leaf() -> None:
    store = DictStore()
    tree = VersionedTree(store)
    items = {hash_key(b"k%d" % i): b"v" for i in range(50)}
    root = commit(tree, store, None, 1, items)
    for i in range(50, 120):
        key = hash_key(b"k%d" % i)
        proof = tree.prove(key, 1)
        verify_proof(root, key, None, proof)
        assert not is_valid_proof(root, key, b"v", proof)


def test_proof_decoding_rejects_malformed() -> None:
    for fields in ([], [[], [b"x"]], [[[0x10000]], []], [[[1]], []], [[[1, EMPTY]], []], [[[1, b"short"]], []]):
        with pytest.raises(DecodeError):
            Proof.from_fields(fields)
    with pytest.raises(DecodeError):
        Proof.decode(b"\xc1")


def test_history_pruning_keeps_window_and_removes_old_nodes() -> None:
    from node.smt.nodes import STALE_PREFIX, decode_stale_list

    store = DictStore()
    tree = VersionedTree(store, cache_nodes=0)
    for version in range(20):
        commit(
            tree,
            store,
            version - 1 if version else None,
            version,
            {hash_key(b"k%d" % i): b"%d" % version for i in range(30)},
        )
    size_before = len(store.data)
    prune_until = 15
    stale = [k for k in store.data if k.startswith(STALE_PREFIX) and int.from_bytes(k[1:9], "big") <= prune_until]
    for k in stale:
        for node in decode_stale_list(store.data[k]):
            store.data.pop(node, None)
        del store.data[k]
    for version in range(prune_until):
        store.data.pop(b"R" + version.to_bytes(8, "big"))
    assert len(store.data) < size_before
    for version in range(prune_until, 20):
        for i in range(30):
            assert tree.get(hash_key(b"k%d" % i), version) == b"%d" % version
    with pytest.raises(MissingVersionError):
        tree.root_hash(3)


def test_missing_node_is_reported_as_corruption() -> None:
    store = DictStore()
    tree = VersionedTree(store, cache_nodes=0)
    commit(tree, store, None, 0, {hash_key(b"k%d" % i): b"v" for i in range(40)})
    for key in [k for k in store.data if k.startswith(b"N")]:
        del store.data[key]
    with pytest.raises(CorruptTreeError):
        tree.get(hash_key(b"k1"), 0)


def test_version_must_increase() -> None:
    store = DictStore()
    tree = VersionedTree(store)
    commit(tree, store, None, 5, {hash_key(b"a"): b"1"})
    with pytest.raises(ValueError):
        tree.compute_update(5, 5, {})


def test_key_hash_is_sha256_of_app_key() -> None:
    assert hash_key(b"abc") == hashlib.sha256(b"abc").digest()
