"""A block's writes applied as one batch tree update equal the same writes applied one key at a time.

The state transition hands the tree all of a block's writes at once
(node.store.chain.ChainStore.compute_state_update); the batch walk shares the
path work of keys under one node. These properties hold it to applying each
write as its own update, in the order given: same root, same values, same
undo record (`previous`), whatever the known values the caller passes.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.smt.hashing import hash_key
from node.smt.versioned import VersionedTree
from tests.stf.test_smt import DictStore, commit

keys = st.integers(min_value=0, max_value=60).map(lambda i: hash_key(b"k%d" % i))
near_keys = st.integers(min_value=0, max_value=9).map(lambda i: bytes(30) + bytes([i >> 1, i & 1]))
values = st.one_of(st.none(), st.binary(min_size=0, max_size=8))
writes = st.dictionaries(st.one_of(keys, near_keys), values, max_size=40)


def fresh(initial: dict[bytes, bytes | None]) -> tuple[VersionedTree, DictStore]:
    store = DictStore()
    tree = VersionedTree(store, cache_nodes=16)
    commit(tree, store, None, 0, initial)
    return tree, store


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=writes, block=writes, known_right=st.booleans())
def test_one_batch_equals_one_key_at_a_time(
    initial: dict[bytes, bytes | None], block: dict[bytes, bytes | None], known_right: bool
) -> None:
    batch_tree, batch_store = fresh(initial)
    before = {k: batch_tree.get_latest(k) for k in block}
    known = before if known_right else {k: b"wrong" for k in block}
    update = batch_tree.compute_update(0, 1, block, known)
    batch_store.write(update)
    batch_tree.on_committed(update)

    single_tree, single_store = fresh(initial)
    root = single_tree.root_hash(0)
    for version, (key, value) in enumerate(block.items(), start=1):
        root = commit(single_tree, single_store, version - 1, version, {key: value})

    assert update.root_hash == root
    if known_right:  # `previous` takes the caller's known values as they are (they are the base's reads)
        assert update.previous == before
    for key in set(block) | set(initial):
        assert batch_tree.get_latest(key) == single_tree.get_latest(key)
        assert batch_tree.get(key, 1) == single_tree.get(key, len(block))
