"""One-step proofs against the RocksDB-backed chain: every intermediate root, every transaction kind."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from node.chain import Chain, decode_receipt
from node.fraud.onestep import compute_step_result, execute_step
from node.fraud.partial_tree import MissingWitness, WitnessEntry, WitnessError
from node.fraud.steps import STEP_END_OF_BLOCK, STEP_TRANSACTION, StepInput, StepOutcome, process_step
from node.fraud.trace import compute_intermediate_roots, compute_step_proof, iter_block_trace
from node.fraud.witness import RecordingState, VersionedSource, Witness, build_witness
from node.smt.hashing import hash_key
from node.state.schema import SUPPLY_KEY, account_key
from node.state.view import Overlay
from node.stf import ChainConfig, recover_transaction
from node.stf.errors import NonceTooHigh
from node.tx import DepositTx, Transfer, Withdrawal, sign_tx
from tests.fraud.support import CONFIG, FRESH, KEYS, L1_RECIPIENT, build_kinds_chain, new_chain, rtx_of

N_BLOCKS = 4


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    chain = build_kinds_chain(tmp_path_factory.mktemp("onestep"), N_BLOCKS)
    yield chain  # type: ignore[misc]
    chain.store.close()


def _kind_of(step: StepInput) -> str:
    if step.kind == STEP_END_OF_BLOCK:
        return "end_of_block"
    rtx = recover_transaction(step.tx)
    if isinstance(rtx.tx, DepositTx):
        return "deposit"
    payload = rtx.tx.payload
    if isinstance(payload, Transfer):
        return "self_transfer" if payload.to == rtx.sender else "transfer"
    assert isinstance(payload, Withdrawal)
    return "withdrawal"


def test_every_step_over_its_witness_gives_the_chains_roots(chain: Chain) -> None:
    store = chain.store
    kinds: set[str] = set()
    for number in range(1, N_BLOCKS + 1):
        block = store.get_block(number)
        parent = store.get_block(number - 1)
        assert block is not None and parent is not None
        roots = compute_intermediate_roots(store, CONFIG, number)
        assert len(roots) == len(block.transactions) + 2  # one end-of-block chunk: nothing to liquidate
        assert roots[0] == parent.header.state_root and roots[-1] == block.header.state_root
        for traced in iter_block_trace(store, CONFIG, number, with_witness=True):
            k = traced.step.index
            assert traced.witness is not None and traced.pre_root == roots[k] and traced.post_root == roots[k + 1]
            witness = Witness.decode(traced.witness.encode())
            assert witness == traced.witness
            result = compute_step_result(roots[k], traced.step, witness, CONFIG)
            assert result.post_root == roots[k + 1], (number, k)
            skipped = (number, k) == (1, 4)  # the forced transaction with a nonce too high
            assert result.outcome is (StepOutcome.SKIPPED_INVALID if skipped else StepOutcome.APPLIED)
            kinds.add(_kind_of(traced.step))
    assert kinds == {"deposit", "transfer", "self_transfer", "withdrawal", "end_of_block"}
    # an empty block: its only step is one end-of-block chunk, a no-op here
    last = store.get_block(N_BLOCKS)
    assert last is not None and last.transactions == ()
    roots = compute_intermediate_roots(store, CONFIG, N_BLOCKS)
    assert len(roots) == 2 and len(set(roots)) == 1


def test_step_proof_for_one_step_matches_the_full_replay(chain: Chain) -> None:
    roots = compute_intermediate_roots(chain.store, CONFIG, 1)
    for k in (0, 4, 6, 8):
        proof = compute_step_proof(chain.store, CONFIG, 1, k)
        assert proof.pre_root == roots[k] and proof.post_root == roots[k + 1]
        assert execute_step(proof.pre_root, proof.step, proof.witness, CONFIG) == roots[k + 1]


def test_forced_transaction_that_fails_is_skipped_and_an_invalid_tx_step_is_a_no_op(chain: Chain) -> None:
    store = chain.store
    block = store.get_block(1)
    assert block is not None and store.get_system_count(1) == 5  # 3 deposits + both forced txs
    skipped = [decode_receipt(r) for r in store.get_receipts(1)][4]
    assert (skipped.status, skipped.error) == (0, NonceTooHigh.rpc_code)  # the forced tx with a nonce too high
    # that transaction, garbage and a wrong-chain transaction, each run as a step: state untouched
    for raw in (block.transactions[4], b"\x93\x01\x02", sign_tx(KEYS[0], 1, 0, 3, Transfer(FRESH[0], 1)).encode()):
        step = StepInput(2, 2_000, 1, 0, STEP_TRANSACTION, raw)
        pre_root, witness = _witness_at(chain, 1, step)
        result = compute_step_result(pre_root, step, witness, CONFIG)
        assert result.outcome is StepOutcome.SKIPPED_INVALID and result.post_root == pre_root


def _witness_at(chain: Chain, number: int, step: StepInput, config: ChainConfig = CONFIG) -> tuple[bytes, Witness]:
    """The witness of `step` run on the state after block `number` (recorded, then proven)."""
    store = chain.store
    recorder = RecordingState(store.state_at(number))
    overlay = Overlay(recorder)
    process_step(overlay, config, step)
    touched = {hash_key(k) for k in recorder.get_touched_keys(overlay.writes)}
    deleted = {hash_key(k) for k, v in overlay.writes.items() if v is None}
    return store.tree.root_hash(number), build_witness(VersionedSource(store.tree, number), touched, deleted)


def test_tampered_witnesses_are_rejected(chain: Chain) -> None:
    store = chain.store
    proof = compute_step_proof(store, CONFIG, 1, 5)  # the first user transfer
    entries = proof.witness.entries
    assert len(entries) >= 3
    present = next(i for i, e in enumerate(entries) if e.value is not None)
    forged = list(entries)
    forged[present] = WitnessEntry(entries[present].key_hash, entries[present].value + b"\x00", entries[present].proof)  # type: ignore[operator]
    with pytest.raises(WitnessError):
        execute_step(proof.pre_root, proof.step, Witness(tuple(forged)), CONFIG)
    other = compute_step_proof(store, CONFIG, 2, 0)
    with pytest.raises(WitnessError):  # proofs against another root
        execute_step(proof.pre_root, proof.step, other.witness, CONFIG)
    with pytest.raises(WitnessError):  # the right witness, the wrong pre-root
        execute_step(other.pre_root, proof.step, proof.witness, CONFIG)
    sender_key = hash_key(account_key(KEYS[0].address))
    missing = Witness(tuple(e for e in entries if e.key_hash != sender_key))
    with pytest.raises(MissingWitness):
        execute_step(proof.pre_root, proof.step, missing, CONFIG)
    # a witness for another step's keys does not cover this one
    with pytest.raises(MissingWitness):
        execute_step(
            proof.pre_root, replace(proof.step, tx=rtx_of(KEYS[3], 1, Transfer(FRESH[1], 1)).raw), proof.witness, CONFIG
        )


def test_withdrawing_the_whole_supply_deletes_it(tmp_path: Path) -> None:
    """A deletion inside a step: min_fee 0 and one holder who withdraws everything."""
    holder = KEYS[0]
    config = ChainConfig(chain_id=CONFIG.chain_id, fee_recipient=FRESH[0], min_fee=0)
    chain = new_chain(tmp_path / "del", config, alloc={holder.address: 100})
    chain.seal_block([rtx_of(holder, 0, Withdrawal(L1_RECIPIENT, 100), fee=0)], 1_000, (1, bytes(32)))
    store = chain.store
    assert store.state_at(1).get(SUPPLY_KEY) is None and store.state_at(0).get(SUPPLY_KEY) is not None
    roots = compute_intermediate_roots(store, config, 1)
    for traced in iter_block_trace(store, config, 1, with_witness=True):
        assert execute_step(traced.pre_root, traced.step, traced.witness, config) == roots[traced.step.index + 1]  # type: ignore[arg-type]
    store.close()
