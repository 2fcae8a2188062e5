"""Traces from a ChainStore: scratch roots leave the store untouched; outputs; pruned history; witness sizes."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.chain import Chain
from node.crypto import Address
from node.fraud.onestep import execute_step
from node.fraud.trace import (
    SCRATCH_VERSION_BASE,
    LayeredStore,
    TraceError,
    compute_intermediate_roots,
    compute_step_proof,
    count_block_steps,
    get_block_output,
    output_roots_between,
)
from node.output import compute_output_root
from node.smt.versioned import TreeUpdate
from node.store.chain import PRUNE_EVERY, ChainStore
from node.tx import Transfer, Withdrawal
from tests.fraud.support import ALLOC, CONFIG, KEYS, L1_RECIPIENT, build_kinds_chain, new_chain, rtx_of


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = build_kinds_chain(tmp_path_factory.mktemp("trace"), 3)
    yield chain  # type: ignore[misc]
    chain.store.close()


def test_tracing_writes_nothing_and_is_repeatable(chain: Chain) -> None:
    store = chain.store
    before = list(store.kv.scan(b"", b"\xff" * 8))
    first = compute_intermediate_roots(store, CONFIG, 1)
    assert compute_intermediate_roots(store, CONFIG, 1) == first
    assert compute_step_proof(store, CONFIG, 1, 3).post_root == first[4]
    assert list(store.kv.scan(b"", b"\xff" * 8)) == before
    assert not store.tree.has_version(SCRATCH_VERSION_BASE)
    assert count_block_steps(store, CONFIG, 1) == len(first) - 1


def test_outputs_between_blocks(chain: Chain) -> None:
    store = chain.store
    outputs = output_roots_between(store, 0, 3)
    assert [o.number for o in outputs] == [0, 1, 2, 3]
    for output in outputs:
        block = store.get_block(output.number)
        assert block is not None
        assert output.block_hash == block.hash() and output.state_root == block.header.state_root
        assert output.output_root == compute_output_root(output.number, output.state_root, output.block_hash)
    assert get_block_output(store, 2) == outputs[2]
    with pytest.raises(ValueError):
        output_roots_between(store, 3, 2)
    with pytest.raises(TraceError):
        get_block_output(store, 9)


def test_untraceable_blocks(chain: Chain) -> None:
    with pytest.raises(TraceError):
        compute_intermediate_roots(chain.store, CONFIG, 0)
    with pytest.raises(TraceError):
        compute_intermediate_roots(chain.store, CONFIG, 7)
    with pytest.raises(TraceError):
        compute_step_proof(chain.store, CONFIG, 1, 99)


def test_layered_store_shadows_without_writing() -> None:
    base = {b"a": b"1", b"b": b"2"}
    layered = LayeredStore(base)  # type: ignore[arg-type]
    update = TreeUpdate(version=1, root=None, puts={b"a": b"9", b"c": b""}, deletes=[b"b"])
    layered.add_update(update)
    assert (layered.get(b"a"), layered.get(b"b"), layered.get(b"c"), layered.get(b"d")) == (b"9", None, b"", None)
    assert base == {b"a": b"1", b"b": b"2"}


def test_witness_bytes_on_a_hundred_thousand_accounts(tmp_path: Path) -> None:
    """Report-sized: one-step witnesses for a transfer and a withdrawal on ~100k accounts."""
    alloc = dict(ALLOC)
    alloc.update({Address((i + 1).to_bytes(4, "big") * 5): 1_000 for i in range(100_000)})
    chain = new_chain(tmp_path / "big", alloc=alloc)
    chain.seal_block(
        [rtx_of(KEYS[0], 0, Transfer(KEYS[1].address, 5)), rtx_of(KEYS[2], 0, Withdrawal(L1_RECIPIENT, 5))],
        1_000,
        (1, bytes(32)),
    )
    sizes = []
    for k in range(2):
        proof = compute_step_proof(chain.store, CONFIG, 1, k)
        assert execute_step(proof.pre_root, proof.step, proof.witness, CONFIG) == proof.post_root
        sizes.append((len(proof.witness.entries), len(proof.witness.encode())))
    print(f"\nwitness bytes on {len(alloc)} accounts: transfer {sizes[0]}, withdrawal {sizes[1]} (entries, bytes)")
    # sender, recipient, fee recipient, and the sender's venue account that the margin debit check reads
    assert sizes[0][0] == 4 and sizes[0][1] < 10_000
    # sender, fee recipient, supply, withdrawal record, and the sender's venue account
    assert sizes[1][0] == 5 and sizes[1][1] < 12_000
    chain.store.close()


def test_pruned_parent_state_is_reported(tmp_path: Path) -> None:
    chain = Chain(ChainStore(tmp_path / "pruned", history_window=4), CONFIG)
    chain.init_genesis(ALLOC)
    for number in range(1, PRUNE_EVERY + 1):
        chain.seal_block([], number, (0, bytes(32)))
    with pytest.raises(TraceError):
        compute_intermediate_roots(chain.store, CONFIG, 2)
    assert len(compute_intermediate_roots(chain.store, CONFIG, PRUNE_EVERY)) == 2
    chain.store.close()
