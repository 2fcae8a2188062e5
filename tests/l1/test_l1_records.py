"""Every L1 record round-trips msgpack <-> record <-> JSON through its one schema (node.records), and the JSON
objects keep the fields the JSON-RPC has always answered with. Records with one form (a transaction payload,
an RPC report) round-trip through it.

Strategies are built from the schemas themselves (one per codec), so a field
added to a record is generated, encoded and parsed without touching this file;
`test_every_record_is_covered` fails if a new record is not listed here.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l1.chain import reports as chain_reports
from l1.chain.events import ErrorCode, EventCodec, L1Receipt, decode_event, encode_event, event_from_json, event_to_json
from l1.chain.reports import L1Block, L1TxReceipt, block_schema, receipt_schema
from l1.contracts import dispute_state, events, l2_blocks, payloads, reports, state
from l1.contracts.dispute_state import GAME, HEADER, HeaderCodec
from l1.contracts.events import EVENTS
from l1.contracts.reports import GameInfo, SideValues
from node.block import BlockHeader
from node.codecs import (
    AddressCodec,
    Amount,
    BoolCodec,
    Bytes,
    Coded,
    HashCodec,
    Nullable,
    SignedInt,
    Text,
    TupleOf,
    UInt,
)
from node.crypto import Address, Hash32
from node.encoding import UINT256_MAX, pack, unpack
from node.fraud.game import Claim, OpenOutputs, Respond, Side
from node.records import Codec, Nested, Schema, schema_of

# -- strategies from the schemas --


def strategy_for(codec: Codec[Any]) -> st.SearchStrategy[Any]:
    if isinstance(codec, UInt):
        return st.integers(0, codec.maximum)
    if isinstance(codec, SignedInt):
        return st.integers(-(2**62), 2**62)
    if isinstance(codec, Amount):
        return st.integers(0, UINT256_MAX)
    if isinstance(codec, AddressCodec):
        return st.binary(min_size=20, max_size=20).map(Address)
    if isinstance(codec, HashCodec):
        return st.binary(min_size=32, max_size=32).map(Hash32)
    if isinstance(codec, Bytes):
        return st.binary(max_size=min(codec.max_length or 48, 48))
    if isinstance(codec, Text):
        return st.text(max_size=12)
    if isinstance(codec, BoolCodec):
        return st.booleans()
    if isinstance(codec, Coded):
        return st.sampled_from(list(codec.codes))
    if isinstance(codec, Nullable):  # a value stored as the empty marker reads back as None: not generated
        values = strategy_for(codec.inner).filter(
            lambda v: codec.wire_none is None or codec.inner.to_wire(v) != codec.wire_none
        )
        return st.none() | values
    if isinstance(codec, TupleOf):
        return st.lists(strategy_for(codec.inner), max_size=3).map(tuple)
    if isinstance(codec, Nested):
        return record_strategy(codec.schema)
    if isinstance(codec, ErrorCode):
        return st.none() | st.integers(-(2**31), -1)
    if isinstance(codec, EventCodec):
        return st.one_of([record_strategy(schema_of(cls)) for cls in EVENTS])
    if isinstance(codec, SideValues):
        inner = strategy_for(codec.inner)
        return st.fixed_dictionaries({Side.CHALLENGER: inner, Side.DEFENDER: inner})
    if isinstance(codec, HeaderCodec):
        return record_strategy(HEADER)
    if isinstance(codec, payloads.MoveCodec):
        sides, roots = st.sampled_from(list(Side)), strategy_for(HASH_CODEC)
        return st.one_of(
            st.builds(Claim, sides, roots),
            st.builds(Respond, sides, st.booleans()),
            st.builds(OpenOutputs, sides, roots, roots, record_strategy(HEADER), st.integers(0, 2**32)),
        )
    raise AssertionError(f"no strategy for {codec!r}")


HASH_CODEC = HashCodec()


def record_strategy(schema: Schema[Any]) -> st.SearchStrategy[Any]:
    return st.builds(schema.cls, **{f.name: strategy_for(f.codec) for f in schema.fields})


# -- the records --

WIRE_CLASSES: tuple[type, ...] = (
    L1Receipt,
    state.OutputProposal,
    dispute_state.GameRecord,
    dispute_state.Party,
    dispute_state.DisputeCounts,
    dispute_state.WithdrawalClaim,
    l2_blocks.L2BlockRecord,
    l2_blocks.BatchRef,
    *payloads.PAYLOADS.values(),
)
WIRE_RECORDS: list[Schema[Any]] = [schema_of(cls) for cls in WIRE_CLASSES] + [
    GAME,
    HEADER,
    l2_blocks.L2_HEAD,
    payloads.WITHDRAWAL_RECORD,
]

JSON_RECORDS: list[Schema[Any]] = [
    schema_of(cls)
    for cls in (
        state.OutputProposal,
        dispute_state.Party,
        dispute_state.OutputDispute,
        l2_blocks.L2BlockRecord,
        l2_blocks.BatchRef,
        reports.DepositEvent,
        reports.ForcedTxEvent,
        reports.BatchEvent,
        reports.DerivationBlock,
        reports.OutputReport,
        reports.GameInfo,
        reports.WithdrawalInfo,
        reports.RollupInfo,
        reports.L1ChainInfo,
    )
] + [HEADER, l2_blocks.L2_HEAD, block_schema(EVENTS), receipt_schema(EVENTS)]


def _name(schema: Schema[Any]) -> str:
    return schema.cls.__name__


def _held(schema: Schema[Any], record: Any, form: str) -> dict[str, Any]:
    """The fields a form does not carry (a key's index, a listing order), handed to the decoder."""
    fields = schema.fields if form == "json" else schema.wire_fields
    carried = {f.name for f in fields if (f.json is not None if form == "json" else True)}
    return {f.name: getattr(record, f.name) for f in schema.fields if f.name not in carried}


@pytest.mark.parametrize("schema", WIRE_RECORDS, ids=_name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_msgpack_round_trip(schema: Schema[Any], data: st.DataObject) -> None:
    record = data.draw(record_strategy(schema))
    stored = unpack(pack(schema.to_wire(record)))
    assert schema.from_wire(stored, **_held(schema, record, "wire")) == record


@pytest.mark.parametrize("schema", JSON_RECORDS, ids=_name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_json_round_trip(schema: Schema[Any], data: st.DataObject) -> None:
    record = data.draw(record_strategy(schema))
    sent = json.loads(json.dumps(schema.to_json(record)))
    assert schema.from_json(sent, **_held(schema, record, "json")) == record


BOTH_FORMS = [s for s in WIRE_RECORDS if s.cls in {j.cls for j in JSON_RECORDS}]  # stored, and read over JSON-RPC


@pytest.mark.parametrize("schema", BOTH_FORMS, ids=_name)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_msgpack_to_record_to_json_and_back(schema: Schema[Any], data: st.DataObject) -> None:
    record = data.draw(record_strategy(schema))
    stored = schema.from_wire(unpack(pack(schema.to_wire(record))), **_held(schema, record, "wire"))
    assert schema.from_json(json.loads(json.dumps(schema.to_json(stored))), **_held(schema, record, "json")) == record


@settings(max_examples=80, deadline=None)
@given(event=st.one_of([record_strategy(schema_of(cls)) for cls in EVENTS]))
def test_every_event_round_trips_through_a_block_and_json(event: Any) -> None:
    assert decode_event(unpack(pack(encode_event(event))), EVENTS) == event
    as_json = event_to_json(event)
    assert as_json["type"] == event.NAME == event.type
    assert list(as_json)[:3] == ["type", "log_index", "transactionHash"]
    assert event_from_json(json.loads(json.dumps(as_json)), EVENTS) == event


@settings(max_examples=40, deadline=None)
@given(record=record_strategy(schema_of(dispute_state.GameRecord)), head=st.integers(0, 2**40))
def test_a_game_report_carries_the_whole_game(record: dispute_state.GameRecord, head: int) -> None:
    info = GameInfo.of(record, head)
    assert info.to_game() == record.game
    assert schema_of(GameInfo).from_json(json.loads(json.dumps(info.raw))) == info


@settings(max_examples=40, deadline=None)
@given(block=record_strategy(schema_of(reports.DerivationBlock)))
def test_derivation_blocks_become_derivation_input(block: reports.DerivationBlock) -> None:
    data = block.to_block_data()
    assert (data.number, data.hash, data.timestamp_ms) == (block.number, block.hash, block.timestamp_ms)
    assert [(d.l1_block, d.log_index, d.l1_sender, d.to, d.amount) for d in data.deposits] == [
        (block.number, d.log_index, d.sender, d.to, d.amount) for d in block.deposits
    ]
    assert data.forced_txs == tuple(f.tx for f in block.forced_txs) and data.batches == tuple(
        b.data for b in block.batches
    )


def test_every_record_is_covered() -> None:
    listed = {s.cls for s in WIRE_RECORDS + JSON_RECORDS} | set(EVENTS)
    declared = {
        value
        for module in (events, state, dispute_state, l2_blocks, reports, chain_reports)
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__dict__.get("__record_schema__") is not None
        and value.__module__ == module.__name__
        and not value.__name__.startswith("_")
    }
    assert declared - listed == set()
    assert {L1Receipt, L1Block, L1TxReceipt, BlockHeader} <= listed


# -- the JSON objects keep their fields --


def _keys(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_keys(v) for v in obj[:1]]
    return None


EXPECTED_KEYS = {
    reports.OutputReport: {
        "index",
        "l2BlockNumber",
        "outputRoot",
        "proposer",
        "bond",
        "proposedAt",
        "finalizesAt",
        "status",
        "dispute",
    },
    reports.GameInfo: {
        "gameId",
        "outputIndex",
        "challenger",
        "defender",
        "status",
        "phase",
        "startBlock",
        "endBlock",
        "lo",
        "hi",
        "claims",
        "turn",
        "turnStartedAt",
        "clockBlocks",
        "clocks",
        "clocksNow",
        "clocksAt",
        "bonds",
        "moves",
        "createdAt",
        "resolvedAt",
        "blockNumber",
        "stepCount",
        "disputedHeader",
        "winner",
    },
    reports.WithdrawalInfo: {
        "withdrawalId",
        "status",
        "outputIndex",
        "outputStatus",
        "l2Sender",
        "recipient",
        "amount",
        "l2BlockNumber",
        "provenAt",
        "finalizedAt",
    },
    reports.L1ChainInfo: {
        "chainId",
        "blockTimeMs",
        "batcher",
        "proposer",
        "proposerFallbackBlocks",
        "proposerBond",
        "challengeWindow",
        "minFee",
        "maxBatchBytes",
        "gameClockBlocks",
        "l2GenesisOutputRoot",
        "rollup",
        "devnetOverrides",
    },
    reports.RollupInfo: {"chainId", "feeRecipient", "minFee", "maxBlockTxs", "sequencingWindow", "maxSequencerDriftMs"},
    reports.DerivationBlock: {"number", "hash", "timestamp", "deposits", "forced_txs", "batches"},
    reports.DepositEvent: {"log_index", "from", "to", "amount", "override"},
    reports.ForcedTxEvent: {"log_index", "tx"},
    reports.BatchEvent: {"log_index", "data"},
    dispute_state.Party: {"address", "bond", "wins", "beatenBy"},
    dispute_state.OutputDispute: {"challengers", "defenders", "games", "openGames"},
    l2_blocks.L2BlockRecord: {"number", "timestamp", "l1OriginNumber", "opensEpoch", "batch"},
    l2_blocks.BatchRef: {"l1Block", "logIndex", "position"},
    L1Block: {"number", "hash", "parentHash", "timestamp", "transactions", "events"},
    L1TxReceipt: {
        "transactionHash",
        "blockNumber",
        "blockHash",
        "transactionIndex",
        "from",
        "kind",
        "status",
        "error",
        "errorCode",
        "events",
    },
}


@pytest.mark.parametrize("cls", list(EXPECTED_KEYS), ids=lambda c: c.__name__)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_json_objects_keep_their_fields(cls: type, data: st.DataObject) -> None:
    example = data.draw(record_strategy(schema_of(cls)))
    names = set(schema_of(cls).to_json(example))
    optional = {"dispute"} if cls is reports.OutputReport else set()
    assert names - optional == EXPECTED_KEYS[cls] - optional


@settings(max_examples=10, deadline=None)
@given(info=record_strategy(schema_of(GameInfo)).filter(lambda g: g.disputed_header is not None))
def test_game_json_nests_claims_clocks_bonds_and_the_header(info: GameInfo) -> None:
    obj = info.raw
    assert set(obj["claims"]) == {"lo", "hi", "mid"}
    assert set(obj["clocks"]) == set(obj["clocksNow"]) == set(obj["bonds"]) == {"challenger", "defender"}
    assert set(obj["disputedHeader"]) == {
        "number",
        "hash",
        "parentHash",
        "timestamp",
        "l1OriginNumber",
        "l1OriginHash",
        "txRoot",
        "stateRoot",
    }
    assert isinstance(obj["bonds"]["challenger"], str) and isinstance(obj["clocks"]["defender"], int)


EVENT_FIELDS = {
    "batch": {"from", "data"},
    "deposit": {"from", "to", "amount"},
    "forced_tx": {"from", "tx"},
    "output_proposed": {"index", "l2BlockNumber", "outputRoot", "proposer", "bond"},
    "output_finalized": {"index", "l2BlockNumber", "outputRoot", "proposer", "bond"},
    "output_disputed": {"gameId", "outputIndex", "challenger", "bond", "startBlock", "endBlock"},
    "game_move": {"gameId", "move", "side", "from", "phase", "lo", "hi"},
    "game_resolved": {"gameId", "outputIndex", "status", "winner", "payout", "outputStatus", "reason"},
    "output_defeated": {"index", "l2BlockNumber", "outputRoot", "challenger"},
    "withdrawal_proven": {"withdrawalId", "outputIndex", "recipient", "amount"},
    "withdrawal_finalized": {"withdrawalId", "outputIndex", "recipient", "amount"},
    "l2_balance_set": {"from", "to", "balance", "locked"},
}


@pytest.mark.parametrize("cls", list(EVENTS), ids=lambda c: c.NAME)
@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_event_json_keeps_its_fields(cls: type, data: st.DataObject) -> None:
    event = data.draw(record_strategy(schema_of(cls)))
    assert set(event_to_json(event)) == {"type", "log_index", "transactionHash"} | EVENT_FIELDS[cls.NAME]  # type: ignore[attr-defined]
