"""node.records: a schema covers exactly its class's fields, and every malformed input is refused naming the field."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from l1.chain.events import event_from_json
from l1.contracts.client import L1ResponseError, parse_game
from l1.contracts.events import EVENTS, DepositLocked
from l1.contracts.state import OUTPUT_STATUS_CODES, OutputStatus
from node.crypto import Address, Hash32, to_checksum_address
from node.encoding import DecodeError
from node.records import (
    ADDRESS,
    AMOUNT,
    HASH,
    INLINE,
    UINT,
    Coded,
    Field,
    JsonFieldError,
    Nested,
    Nullable,
    RecordSchemaError,
    Schema,
    field,
    from_json,
    from_wire,
    record,
    to_json,
    to_wire,
)

A = Address(b"\x0a" * 20)


@record
class Inner:
    amount: int = field(AMOUNT, "amount")
    owner: Address = field(ADDRESS, "owner")


@record
class Outer:
    index: int = field(UINT, "index", wire=False)
    root: Hash32 = field(HASH, ("claims", "root"))
    inner: Inner = field(Nested(Inner), INLINE)
    status: OutputStatus = field(Coded(OUTPUT_STATUS_CODES), "status")
    note: int | None = field(Nullable(UINT), "note", omit_none=True, default=None)


OUTER = Outer(7, Hash32(b"\x01" * 32), Inner(5, A), OutputStatus.DISPUTED)


def test_a_record_has_one_form_per_medium() -> None:
    assert to_wire(OUTER) == [b"\x01" * 32, [b"\x05", A], 2, None]
    assert to_json(OUTER) == {
        "index": 7,
        "claims": {"root": "0x" + "01" * 32},
        "amount": "5",
        "owner": to_checksum_address(A),
        "status": "disputed",
    }
    assert from_wire(Outer, to_wire(OUTER), index=7) == OUTER
    assert from_json(Outer, to_json(OUTER)) == OUTER
    assert "note" not in to_json(OUTER) and to_json(Outer(7, OUTER.root, OUTER.inner, OUTER.status, 3))["note"] == 3


@pytest.mark.parametrize(
    "obj, named",
    [
        (
            {"claims": {"root": "0x" + "01" * 32}, "amount": "5", "owner": "0x" + "0a" * 20, "status": "pending"},
            "index",
        ),
        (
            {
                "index": -1,
                "claims": {"root": "0x" + "01" * 32},
                "amount": "5",
                "owner": "0x" + "0a" * 20,
                "status": "pending",
            },
            "index",
        ),
        (
            {"index": 1, "claims": {"root": "0x01"}, "amount": "5", "owner": "0x" + "0a" * 20, "status": "pending"},
            "claims.root",
        ),
        (
            {
                "index": 1,
                "claims": {"root": "0x" + "01" * 32},
                "amount": 5,
                "owner": "0x" + "0a" * 20,
                "status": "pending",
            },
            "amount",
        ),
        (
            {"index": 1, "claims": {"root": "0x" + "01" * 32}, "amount": "5", "owner": "0xzz", "status": "pending"},
            "owner",
        ),
        (
            {
                "index": 1,
                "claims": {"root": "0x" + "01" * 32},
                "amount": "5",
                "owner": "0x" + "0a" * 20,
                "status": "won",
            },
            "status",
        ),
    ],
)
def test_malformed_json_names_its_field(obj: dict[str, object], named: str) -> None:
    with pytest.raises(JsonFieldError, match=named.replace(".", r"\.")):
        from_json(Outer, obj)


def test_malformed_msgpack_names_its_field() -> None:
    with pytest.raises(DecodeError, match="Outer must have 4 fields"):
        from_wire(Outer, [b"\x01" * 32], index=1)
    with pytest.raises(DecodeError, match="root"):
        from_wire(Outer, [b"\x01", [b"\x05", A], 2, None], index=1)
    with pytest.raises(DecodeError, match="status code 9 is unknown"):
        from_wire(Outer, [b"\x01" * 32, [b"\x05", A], 9, None], index=1)
    with pytest.raises(DecodeError, match="leading zero"):
        from_wire(Outer, [b"\x01" * 32, [b"\x00\x05", A], 2, None], index=1)


def test_a_schema_covers_exactly_its_class() -> None:
    with pytest.raises(RecordSchemaError, match="has no codec"):

        @record
        class Half:
            good: int = field(UINT, "good")
            bad: int = 0

    @dataclass(frozen=True)
    class Foreign:
        a: int
        b: int

    with pytest.raises(RecordSchemaError, match="lists"):
        Schema(Foreign, [Field("a", UINT, "a")])
    with pytest.raises(RecordSchemaError, match="only a Nested"):
        Schema(Foreign, [Field("a", UINT, INLINE), Field("b", UINT)])


def test_a_json_only_record_has_no_msgpack_form() -> None:
    @record(wire=False)
    class Report:
        n: int = field(UINT, "n")

    assert from_json(Report, to_json(Report(3))) == Report(3)
    with pytest.raises(RecordSchemaError, match="JSON form only"):
        to_wire(Report(3))


def test_events_parse_by_their_type_name() -> None:
    event = DepositLocked(0, None, A, A, 9)
    assert (
        event_from_json(
            {
                "type": "deposit",
                "log_index": 0,
                "transactionHash": None,
                "from": "0x" + "0a" * 20,
                "to": "0x" + "0a" * 20,
                "amount": "9",
            },
            EVENTS,
        )
        == event
    )
    with pytest.raises(JsonFieldError, match="unknown type 'nope'"):
        event_from_json({"type": "nope"}, EVENTS)


def test_the_client_refuses_replies_of_the_wrong_shape() -> None:
    with pytest.raises(L1ResponseError, match="lacks field 'gameId'"):
        parse_game({"outputIndex": 1})
    with pytest.raises(L1ResponseError, match="JSON object"):
        parse_game([1, 2])
