"""State-transition vectors: JSON files of pre-state, blocks and post-state, replayed by the state transition.

The vectors live in tests/stf/vectors/, one file per area: transfers, deposits, withdrawals, errors
(one transaction per error type), skipped (invalid transactions inside a block), blocks (headers, block
errors), build (the sequencer building a block), venue_orders, venue_oracle, venue_errors,
venue_liquidation and end_of_block_chunks. A file is {"area", "about", "vectors": [...]}; a vector is

    {"name", "about", "config": {chain_id, fee_recipient, min_fee, max_block_txs},
     "pre": {"accounts": {address: {"balance", "nonce"}}, "supply", ["withdrawals"], ["venue": {config, markets}],
             "root"},
     "blocks": [{"context": {number, timestamp_ms, l1_origin_number}, ["tx_root"],
                 "transactions": [{"tx": readable, "raw": hex, "hash": hex}],
                 ["build": {deposits, forced, candidates, included, rejected, deferred, system_count, system_skipped}],
                 "receipts": [{index, tx_hash, status, kind, fee, block_number, [error: {name, code, stage}]}],
                 ["expect_error": {name, code, ...}],
                 "steps": [{index, kind, [chunk, last], outcome, post_root} | {index, kind, error}],
                 "state_root"}],
     "post": {the state after the last block, as `pre`, with every venue record, "root"}}

for example (hashes and roots shortened):

    {"name": "transfer", "config": {"chain_id": 901, "fee_recipient": "0xc48B...", "min_fee": "10", "max_block_txs": 16},
     "pre": {"accounts": {"0x1a64...": {"balance": "1000", "nonce": 0}}, "supply": "1000", "root": "0xa2b7..."},
     "blocks": [{"context": {"number": 7, "timestamp_ms": 1700000000000, "l1_origin_number": 3},
                 "transactions": [{"tx": {"type": "transfer", "from": "0x1a64...", "secret_key": "0x0101...",
                                          "chain_id": 901, "nonce": 0, "fee": "10", "to": "0x5050...", "amount": "300"},
                                   "raw": "0x9701cd0385...", "hash": "0x..."}],
                 "receipts": [{"index": 0, "tx_hash": "0x...", "status": 1, "kind": "transfer", "fee": "10", "block_number": 7}],
                 "steps": [{"index": 0, "kind": "transaction", "outcome": "applied", "post_root": "0x..."},
                           {"index": 1, "kind": "end_of_block", "chunk": 0, "last": true, "outcome": "applied", "post_root": "0x..."}],
                 "state_root": "0x..."}],
     "post": {"accounts": {"0x1a64...": {"balance": "690", "nonce": 1}, "0x5050...": {"balance": "300", "nonce": 0},
                           "0xc48B...": {"balance": "10", "nonce": 0}}, "supply": "1000", "root": "0x..."}}

A skipped transaction's receipt names its error and the stage that finds it: `recover` (the raw bytes),
`validate` (validate_transaction's read-only checks) or `apply`. Amounts are decimal strings, addresses
EIP-55; tests/stf/vector_format.py (the one loader) describes the readable forms.

Two replayers run over every vector (both in tests/stf/vector_replay.py). This module's: the state
transition (node.stf) executes each block (a built one through build_block_transactions first), then
again one transaction at a time in an overlay holding an earlier write, then its end-of-block chunks; the
receipts, block error, build outcome, every step's root, the state roots and the post-state must equal
the file's, each transaction alone must give the block's receipt, a failing one must leave the overlay
untouched and validate_transaction must agree with apply_transaction, and from a pre-state whose supply
is its balances' sum the post-state's is too. tests/fraud/test_fraud_vectors.py: the L1's one-step
verifier runs each step over a Merkle witness and must give the roots the file states.

Maintaining the files: write or edit a vector's readable form (config, pre, each block's context and
readable transactions: a signed one carries the test key that signs it, a bad one may be `"type": "raw"`
with its `raw` hex; optionally partial expectations such as a receipt's status and error name, or
`message_contains`), then

    .venv/bin/python scripts/stf_vectors.py fill     # computes raw bytes, hashes, roots, receipts, steps, post
    .venv/bin/python scripts/stf_vectors.py check    # exit 1 if a file is not filled or contradicts the replay

`fill` writes what is missing and never overwrites a stated value the replay contradicts (it reports a
conflict) unless given `--accept`, e.g. after changing a transaction's readable form (review the diff).
Error codes are always taken from the error classes: after a renumbering, `fill` rewrites them (and
test_error_codes_in_the_vectors_are_the_error_classes_codes fails until then).

Also here, in Python because they exercise Python APIs rather than data: registering a transaction
kind, a payload without a handler, and the error classes themselves.
"""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from node.crypto import PrivateKey
from node.state.schema import Account, decode_account, is_account_key, set_account, set_supply
from node.state.view import DictState, Overlay
from node.stf import (
    BadSignature,
    BlockContext,
    ChainConfig,
    InsufficientBalance,
    InvalidTransactionInBlock,
    NonceTooLow,
    StfError,
    UnknownKind,
    apply_transaction,
    execute_block,
    register_handler,
)
from node.stf.handlers import Signed
from node.tx import RecoveredTx, Transfer, sign_tx
from tests.stf.vector_fill import BUILD_INPUTS, iter_input_transactions, normalize_tx_entry, strip_annotations
from tests.stf.vector_format import iter_vectors, load_vector, parse_int
from tests.stf.vector_replay import BlockReplay, compute_sections, replay_stf

VECTORS = list(iter_vectors())
VECTOR_IDS = [vector_id for vector_id, _ in VECTORS]
VECTOR_DOCS = [doc for _, doc in VECTORS]
ABSTRACT_ERRORS = {"StfError", "InvalidTransaction", "InvalidBlock", "VenueError"}


def get_error_classes() -> dict[str, list[type[StfError]]]:
    """The node's error classes (state transition, venue, chain) by name."""
    found: dict[str, list[type[StfError]]] = {}
    pending: list[type[StfError]] = [StfError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("node.") and cls not in found.get(cls.__name__, []):
            found.setdefault(cls.__name__, []).append(cls)
    return found


def get_error_class(name: str) -> type[StfError]:
    classes = get_error_classes().get(name, [])
    assert len(classes) == 1, f"a vector names error {name}: {len(classes)} classes have that name"
    return classes[0]


def with_class_codes(value: Any) -> Any:
    """A stated value with each error's code replaced by its class's (the file's codes are checked once, below)."""
    if isinstance(value, dict):
        out = {k: with_class_codes(v) for k, v in value.items()}
        if "name" in value and "code" in value:
            out["code"] = get_error_class(value["name"]).rpc_code
        return out
    if isinstance(value, list):
        return [with_class_codes(v) for v in value]
    return value


def iter_stated_errors(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        own = [value] if "name" in value and "code" in value else []
        return own + [e for v in value.values() for e in iter_stated_errors(v)]
    if isinstance(value, list):
        return [e for v in value for e in iter_stated_errors(v)]
    return []


# -- the state-transition replay --


@pytest.mark.parametrize("doc", VECTOR_DOCS, ids=VECTOR_IDS)
def test_the_state_transition_gives_what_the_vector_states(doc: dict[str, Any]) -> None:
    replay = replay_stf(load_vector(doc))
    computed = compute_sections(replay)
    assert doc["pre"]["root"] == computed["pre_root"]
    assert len(doc["blocks"]) == len(replay.blocks), "no block may follow one that raises"
    for number, (stated, block, sections) in enumerate(zip(doc["blocks"], replay.blocks, computed["blocks"])):
        for key in ("receipts", "expect_error", "steps", "state_root"):
            assert with_class_codes(strip_annotations(stated.get(key))) == sections.get(key), f"block {number}: {key}"
        if "build" in stated:
            outputs = {k: v for k, v in stated["build"].items() if k not in BUILD_INPUTS}
            assert with_class_codes(outputs) == sections["build"], f"block {number}: build"
            assert stated["transactions"] == sections["transactions"], f"block {number}: the built body"
        if "receipts" in stated:
            assert [r["tx_hash"] for r in stated["receipts"]] == [t["hash"] for t in stated["transactions"]]
        assert block.header_agrees is not False, "executing the header and the context differ"
        check_transactions_alone(stated, block)
    assert strip_annotations(doc["post"]) == computed["post"]
    check_supply_conserved(doc)


def check_transactions_alone(stated: dict[str, Any], block: BlockReplay) -> None:
    """Each transaction applied alone: the block's receipt; an error from the stage the vector states, with the
    overlay (an earlier write in it) untouched; validate_transaction agreeing with apply_transaction."""
    notes = [r.get("message_contains") for r in stated.get("receipts", [])]
    for index, tx in enumerate(block.txs):
        if block.receipts is not None:
            assert tx.receipt == block.receipts[index]
        if tx.error is None:
            assert tx.validate_error is None, f"transaction {index}: validate_transaction refuses what applies"
            continue
        assert tx.untouched, f"transaction {index}: a failing transaction changed the overlay"
        if tx.stage == "validate":
            assert type(tx.validate_error) is type(tx.error)
        elif tx.stage == "apply":
            assert tx.validate_error is None
        if index < len(notes) and notes[index]:
            assert notes[index] in str(tx.error)
    note = stated.get("expect_error", {}).get("message_contains")
    if note:
        assert note in str(block.error)


def check_supply_conserved(doc: dict[str, Any]) -> None:
    """From a pre-state whose supply is its balances' sum, the post-state's is too (venue PnL pool included)."""

    def balances(state: dict[str, Any]) -> int:
        return sum(parse_int(account["balance"]) for account in state["accounts"].values())

    if balances(doc["pre"]) == parse_int(doc["pre"]["supply"]):
        assert balances(doc["post"]) == parse_int(doc["post"]["supply"])


@pytest.mark.parametrize("doc", VECTOR_DOCS, ids=VECTOR_IDS)
def test_raw_transactions_are_their_readable_form(doc: dict[str, Any]) -> None:
    """raw = the readable transaction encoded (and signed with its key), hash = keccak(raw), readable form canonical."""
    for where, entry in iter_input_transactions(doc):
        normalized = copy.deepcopy(entry)
        assert normalize_tx_entry(normalized) == [], where
        assert normalized == entry, where


def test_error_codes_in_the_vectors_are_the_error_classes_codes() -> None:
    stale = [
        (vector_id, error["name"], error["code"], get_error_class(error["name"]).rpc_code)
        for vector_id, doc in VECTORS
        for error in iter_stated_errors(doc["blocks"])
        if error["code"] != get_error_class(error["name"]).rpc_code
    ]
    assert not stale, f"error codes changed: run `.venv/bin/python scripts/stf_vectors.py fill` ({stale[:3]}...)"


def test_every_error_class_has_a_vector() -> None:
    """Every error the state transition (core and venue) can raise is stated by some vector."""
    stated = {error["name"] for doc in VECTOR_DOCS for error in iter_stated_errors(doc["blocks"])}
    not_raised_by_execution = {"InvalidTransactionInBlock"}  # a wrapper for callers that reject a whole block
    concrete = (
        {
            name
            for name, classes in get_error_classes().items()
            if any(cls.__module__.startswith(("node.stf.", "node.venue.")) for cls in classes)
        }
        - ABSTRACT_ERRORS
        - not_raised_by_execution
    )
    assert len(concrete) > 30, "the state transition's error classes moved: update this test's packages"
    assert concrete - stated == set()


# -- Python APIs: a payload without a handler, registering a kind --


ALICE_KEY = PrivateKey(bytes([1]) * 32)
SEQ_KEY = PrivateKey(bytes([4]) * 32)
ALICE, SEQ = ALICE_KEY.address, SEQ_KEY.address
CHAIN_ID = 901
FEE = 10
CONFIG = ChainConfig(chain_id=CHAIN_ID, fee_recipient=SEQ, min_fee=FEE, max_block_txs=16)
CTX = BlockContext(number=7, timestamp_ms=1_700_000_000_000, l1_origin_number=3)


def make_state(accounts: dict[bytes, tuple[int, int]]) -> DictState:
    state = DictState()
    overlay = Overlay(state)
    for address, (balance, nonce) in accounts.items():
        set_account(overlay, address, Account(balance, nonce))
    set_supply(overlay, sum(b for b, _ in accounts.values()))
    state.apply(overlay.writes)
    return state


def read_accounts(state: DictState) -> dict[bytes, tuple[int, int]]:
    return {
        key[1:]: (a.balance, a.nonce)
        for key, value in state.items.items()
        if is_account_key(key)
        for a in [decode_account(value)]
    }


def assert_rejected(
    pre: dict[bytes, tuple[int, int]], rtx: RecoveredTx, error_cls: type[StfError], rpc_code: int
) -> None:
    state = make_state(pre)
    snapshot = dict(state.items)
    overlay = Overlay(state)
    overlay.set(b"\x7fmarker", b"earlier write in this block")
    before = dict(overlay.writes)
    with pytest.raises(StfError) as info:
        apply_transaction(overlay, CONFIG, CTX, rtx)
    assert type(info.value) is error_cls
    assert info.value.rpc_code == rpc_code
    assert overlay.writes == before
    assert state.items == snapshot


@dataclass(frozen=True, slots=True)
class Unhandled:
    KIND: ClassVar[int] = 126
    NAME: ClassVar[str] = "test-unhandled"
    data: bytes

    def to_fields(self) -> list[Any]:
        return [self.data]


def test_payload_without_handler_is_unknown_kind() -> None:
    tx = sign_tx(ALICE_KEY, CHAIN_ID, 0, FEE, Unhandled(b"hi"))
    rtx = RecoveredTx(tx, tx.hash(), ALICE, tx.encode())
    assert_rejected({ALICE: (1000, 0)}, rtx, UnknownKind, -32017)


@dataclass(frozen=True, slots=True)
class Tip:
    """Test-only kind: pays `amount` to the fee recipient."""

    KIND: ClassVar[int] = 125
    NAME: ClassVar[str] = "test-tip"
    amount: int

    def to_fields(self) -> list[Any]:
        return [self.amount]


def apply_tip(overlay: Overlay, config: ChainConfig, ctx: BlockContext, tx: Signed[Tip]) -> None:
    from node.stf.ledger import process_credit, process_debit

    process_debit(overlay, tx.sender, tx.payload.amount)
    process_credit(overlay, config.fee_recipient, tx.payload.amount)


register_handler(Tip, apply_tip, cost=lambda payload: payload.amount)


def test_registered_handler_runs_after_common_steps() -> None:
    tx = sign_tx(ALICE_KEY, CHAIN_ID, 0, FEE, Tip(5))
    rtx = RecoveredTx(tx, tx.hash(), ALICE, tx.encode())
    state = make_state({ALICE: (100, 0)})
    execution = execute_block(state, CONFIG, CTX, [rtx])
    state.apply(execution.writes)
    assert read_accounts(state) == {ALICE: (85, 1), SEQ: (15, 0)}
    assert execution.receipts[0].kind == "test-tip"
    assert_rejected({ALICE: (14, 0)}, rtx, InsufficientBalance, -32014)


def test_handlers_register_once() -> None:
    with pytest.raises(ValueError):
        register_handler(Tip, apply_tip)
    with pytest.raises(ValueError):
        register_handler(Transfer, apply_tip)  # type: ignore[arg-type]


# -- the error classes themselves --


def all_error_classes() -> list[type[StfError]]:
    """The state transition's own errors (other packages subclass them with their own codes)."""
    return [cls for classes in get_error_classes().values() for cls in classes if cls.__module__ == "node.stf.errors"]


def test_rpc_codes_are_distinct_and_leave_the_mempool_range_free() -> None:
    """Each code defined once; a subclass that narrows its base without a code of its own (a balance override
    on a chain without the rule is an UnknownKind) carries its base's, as node.error_codes lists it."""
    codes = [cls.rpc_code for cls in all_error_classes() if "rpc_code" in vars(cls)]
    assert len(codes) == len(set(codes))
    assert all(-32099 <= code <= -32000 for code in codes)
    assert not any(-32029 <= code <= -32020 for code in codes)


def test_errors_pickle_with_their_fields() -> None:
    error = InvalidTransactionInBlock(3, NonceTooLow(ALICE, 5, 3))
    copy_ = pickle.loads(pickle.dumps(error))
    assert type(copy_) is InvalidTransactionInBlock
    assert str(copy_) == str(error)
    assert copy_.index == 3 and isinstance(copy_.cause, NonceTooLow) and copy_.cause.tx_nonce == 3
    assert str(pickle.loads(pickle.dumps(BadSignature("x")))) == "bad signature: x"
