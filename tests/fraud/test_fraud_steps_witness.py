"""Steps of a block (layout, codec, extensibility) and the witness codec and readers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.block import ZERO_HASH, Block, BlockHeader
from node.encoding import DecodeError, pack
from node.fraud.onestep import compute_step_result
from node.fraud.partial_tree import InternalOpening, LeafOpening, MissingWitness
from node.fraud.steps import (
    STEP_END_OF_BLOCK,
    STEP_TRANSACTION,
    StepError,
    StepInput,
    StepOutcome,
    get_block_step,
    get_next_step,
    new_step_table,
    process_step,
)
from node.fraud.witness import (
    MAX_WITNESS_BYTES,
    MalformedWitness,
    RecordingState,
    Witness,
    WitnessState,
    build_witness,
)
from node.smt.hashing import EMPTY, hash_key, hash_value
from node.smt.reference import MemoryTree
from node.state.schema import Account, account_key, encode_account, get_account, set_account
from node.state.view import DictState, Overlay
from node.stf import BlockContext, ChainConfig
from node.stf.end_of_block import MAX_END_OF_BLOCK_CHUNKS
from node.tx import Transfer
from tests.fraud.support import CONFIG, FRESH, KEYS, rtx_of


def _block(n_txs: int) -> Block:
    header = BlockHeader(5, ZERO_HASH, 7_000, 3, ZERO_HASH, ZERO_HASH, ZERO_HASH)
    return Block(header, tuple(rtx_of(KEYS[0], i, Transfer(FRESH[0], 1)).raw for i in range(n_txs)))


def test_block_steps_layout() -> None:
    block = _block(3)
    steps = [get_block_step(block, i, 4) for i in range(4)]
    assert [s.kind for s in steps] == [STEP_TRANSACTION] * 3 + [STEP_END_OF_BLOCK]
    assert [s.index for s in steps] == [0, 1, 2, 3]
    assert (steps[3].chunk, steps[3].last) == (0, True)
    assert all((s.number, s.timestamp_ms, s.l1_origin_number) == (5, 7_000, 3) for s in steps)
    assert [s.tx for s in steps[:3]] == list(block.transactions) and steps[3].tx == b""
    assert steps[1].context() == BlockContext(5, 7_000, 3)
    # three end-of-block chunks: only the last is declared last
    chunks = [get_block_step(block, i, 6) for i in range(3, 6)]
    assert [(s.kind, s.chunk, s.last) for s in chunks] == [
        (STEP_END_OF_BLOCK, 0, False),
        (STEP_END_OF_BLOCK, 1, False),
        (STEP_END_OF_BLOCK, 2, True),
    ]
    assert get_block_step(_block(0), 0, 1).chunk == 0
    for bad_count in (3, 3 + MAX_END_OF_BLOCK_CHUNKS + 1):  # no end-of-block step / too many
        with pytest.raises(StepError, match="step count"):
            get_block_step(block, 0, bad_count)
    with pytest.raises(StepError):
        get_block_step(block, 4, 4)
    for step in steps + chunks:
        assert StepInput.decode(step.encode()) == step
    # a replay finds the steps one by one: the transactions, then chunks while the phase is open
    state = DictState()
    assert [get_next_step(block, k, state) for k in range(3)] == steps[:3]
    assert get_next_step(block, 3, state) == replace(steps[3], last=False)
    assert get_next_step(block, 4, state) is None  # the phase is closed: the block is done


def test_step_input_codec_is_strict() -> None:
    with pytest.raises(DecodeError):
        StepInput.decode(pack([1, 2, 3, 0, STEP_TRANSACTION, b"", 0, 0]))  # a tx step without its tx
    with pytest.raises(DecodeError):
        StepInput.decode(pack([1, 2, 3, 0, STEP_TRANSACTION, b"x", 1, 0]))  # a tx step with a chunk
    with pytest.raises(DecodeError):
        StepInput.decode(pack([1, 2, 3, 0, STEP_END_OF_BLOCK, b"x", 0, 1]))
    with pytest.raises(DecodeError):
        StepInput.decode(pack([1, 2, 3, 0, STEP_END_OF_BLOCK, b"", 0, 1]) + b"\x00")
    with pytest.raises(DecodeError):
        StepInput.decode(pack([1, 2, 3, 2, STEP_END_OF_BLOCK, b"", 3, 1]))  # chunk 3 cannot be step 2
    with pytest.raises(DecodeError):
        StepInput.decode(pack([1, 2, 3, 9, STEP_END_OF_BLOCK, b"", 0, 2]))  # the last flag is 0 or 1
    with pytest.raises(DecodeError):
        StepInput.decode(pack([1, 2, 3, 0, STEP_END_OF_BLOCK, b""]))  # the old six-field layout
    with pytest.raises(StepError):
        process_step(Overlay(DictState()), CONFIG, StepInput(1, 2, 3, 0, 7))  # no such kind


def test_end_of_block_hooks_and_new_step_kinds_extend_a_table() -> None:
    table = new_step_table()
    marker = account_key(FRESH[2])

    def bump(overlay: Overlay, config: ChainConfig, ctx: BlockContext) -> None:
        account = get_account(overlay, FRESH[2])
        set_account(overlay, FRESH[2], Account(account.balance + ctx.number, account.nonce))

    table.register_end_of_block_hook("bump", bump)
    with pytest.raises(ValueError):
        table.register_end_of_block_hook("bump", bump)
    with pytest.raises(ValueError):
        table.register_kind(STEP_END_OF_BLOCK, "again", lambda o, c, s: StepOutcome.APPLIED)
    table.register_kind(9, "noop", lambda o, c, s: StepOutcome.APPLIED)
    tree = MemoryTree({hash_key(marker): encode_account(Account(10, 0))})
    step = StepInput(4, 1, 1, 0, STEP_END_OF_BLOCK, last=True)
    witness = build_witness(tree, [hash_key(marker)])
    result = compute_step_result(tree.root(), step, witness, CONFIG, table)
    assert result.post_root == MemoryTree({hash_key(marker): encode_account(Account(14, 0))}).root()
    assert (
        compute_step_result(tree.root(), step, witness, CONFIG).post_root == tree.root()
    )  # the default table: no hooks
    assert compute_step_result(tree.root(), StepInput(4, 1, 1, 0, 9), witness, CONFIG, table).post_root == tree.root()


def _sample_tree() -> tuple[MemoryTree, list[bytes]]:
    keys = [hash_key(b"k%d" % i) for i in range(30)]
    return MemoryTree({k: b"v" + k[:2] for k in keys[:25]}), keys


def test_witness_codec_round_trip_and_strictness() -> None:
    tree, keys = _sample_tree()
    witness = build_witness(tree, keys[20:28], keys[20:23])
    raw = witness.encode()
    assert Witness.decode(raw) == witness
    assert witness.key_hashes() == tuple(sorted(keys[20:28]))
    with pytest.raises(MalformedWitness):
        Witness.decode(raw + b"\x00")
    with pytest.raises(MalformedWitness):
        Witness.decode(pack([2, [], []]))  # unknown version
    with pytest.raises(MalformedWitness):
        Witness.decode(b"\xc4" + b"\x00" * (MAX_WITNESS_BYTES + 1))
    fields = witness.to_fields()
    with pytest.raises(MalformedWitness):  # unsorted entries
        Witness.decode(pack([fields[0], list(reversed(fields[1])), fields[2]]))
    with pytest.raises(MalformedWitness):  # repeated entry
        Witness.decode(pack([fields[0], [fields[1][0], fields[1][0]], fields[2]]))
    with pytest.raises(MalformedWitness):
        Witness.decode(pack([fields[0], [[b"\x00" * 31, None, fields[1][0][2]]], []]))
    with pytest.raises(MalformedWitness):
        Witness.decode(pack([fields[0], [], [[1, 0]]]))  # an internal opening with no child
    with pytest.raises(MalformedWitness):
        Witness.decode(pack([fields[0], [], [[2, b"", b""]]]))
    leaf = LeafOpening(keys[0], hash_value(b"x"))
    internal = InternalOpening((EMPTY,) * 15 + (keys[1],))
    both = Witness((), tuple(sorted((leaf, internal), key=lambda o: o.node_hash())))
    assert Witness.decode(both.encode()) == both


def test_witness_state_and_recording_state() -> None:
    accounts = {account_key(k.address): encode_account(Account(100 + i, 0)) for i, k in enumerate(KEYS)}
    tree = MemoryTree({hash_key(k): v for k, v in accounts.items()})
    recorder = RecordingState(DictState(accounts))
    overlay = Overlay(recorder)
    assert get_account(overlay, KEYS[0].address) == Account(100, 0)
    set_account(overlay, FRESH[0], Account(1, 0))  # written without being read
    touched = recorder.get_touched_keys(overlay.writes)
    assert touched == {account_key(KEYS[0].address), account_key(FRESH[0])}
    witness = build_witness(tree, [hash_key(k) for k in touched])
    state = WitnessState(witness.open(tree.root()))
    assert get_account(state, KEYS[0].address) == Account(100, 0)
    assert get_account(state, FRESH[0]) == Account(0, 0)
    with pytest.raises(MissingWitness):
        get_account(state, KEYS[3].address)
