"""Typed access to the dispute games and withdrawals in the L1 state (next to l1.contracts.state's keys, under `S`).

| key                       | value                                                               |
|---------------------------|---------------------------------------------------------------------|
| S g count                 | msgpack int: number of games                                        |
| S g i game_id(8)          | msgpack [output_index, challenger, defender, challenger_bond, defender_bond, created_at, resolved_at or nil, game, challenger_slot, defender_slot] |
| S o n output_index(8)     | msgpack [challengers, defenders, games, open_games]: counts of the output's dispute |
| S o p output_index(8) side(1) slot(4) | msgpack [address, bond_bytes, wins, beaten_by or nil]: a party (side 0 defender, 1 challenger) |
| S o a output_index(8) address(20)     | msgpack [side, slot]: who already plays in this output's dispute |
| S o g output_index(8) j(4)            | msgpack int: the output's j-th game |
| S w count                 | msgpack int: number of withdrawals ever proven                      |
| S w i seq(8)              | withdrawal_id (the order of first proof, for listing)               |
| S w d withdrawal_id(32)   | msgpack [seq, status, output_index, l2_sender, recipient, amount_bytes, l2_block_number, proven_at, finalized_at or nil] |

Each value is a node.records @record (GameRecord, Party, DisputeCounts,
WithdrawalClaim; the game through its Schema, GAME): the fields declared
once give the stored array, with the id or index held in the key.
`game` is node.fraud.game.Game as msgpack [start_block, end_block,
clock_blocks, phase, status, lo, hi, lo_claim, hi_claim, mid_claim or nil,
turn, turn_started_at, defender_used, challenger_used, header or nil,
step_count, moves] with phase / status / turn as small ints (tables below).
Bonds locked in disputes are counted in `S bonds` like proposal bonds, so
the conservation rule of l1.contracts.state still holds.

A disputed output's parties: defender slot 0 is its proposer (bond: the
proposal's); every other party joined with its own bond. Each challenger
plays one game against each defender, with fixed players (l1.contracts.disputes).
"""

from __future__ import annotations

from dataclasses import replace
from enum import IntEnum, StrEnum
from typing import Any

from l1.contracts.errors import OutputNotFound
from l1.contracts.state import OutputProposal, get_output
from node.block import BlockHeader
from node.crypto import Address, Hash32
from node.encoding import expect_int, expect_list, pack, unpack
from node.fraud.game import Game, Phase, Side, Status
from node.records import (
    ADDRESS,
    AMOUNT,
    HASH,
    UINT,
    Codec,
    Coded,
    Field,
    JsonFieldError,
    Nested,
    Nullable,
    Schema,
    TupleOf,
    field,
    from_wire,
    record,
    to_hex,
    to_wire,
)
from node.state.view import Overlay, StateReader

GAME_COUNT_KEY = b"Sgcount"
GAME_PREFIX = b"Sgi"
OUTPUT_GAME_PREFIX = b"Sog"
DISPUTE_COUNTS_PREFIX = b"Son"
PARTY_PREFIX = b"Sop"
PARTY_INDEX_PREFIX = b"Soa"
MAX_PARTY_BYTES = 128
WITHDRAWAL_COUNT_KEY = b"Swcount"
WITHDRAWAL_SEQ_PREFIX = b"Swi"
WITHDRAWAL_PREFIX = b"Swd"
MAX_GAME_BYTES = 1024
MAX_WITHDRAWAL_BYTES = 256

PHASE_CODES = {Phase.BLOCKS: 0, Phase.OPENING: 1, Phase.STEPS: 2, Phase.ONE_STEP: 3, Phase.OVER: 4}
STATUS_CODES = {Status.IN_PROGRESS: 0, Status.CHALLENGER_WON: 1, Status.DEFENDER_WON: 2}
SIDE_CODES = {Side.DEFENDER: 0, Side.CHALLENGER: 1}


def _num(n: int) -> bytes:
    return n.to_bytes(8, "big")


def load_output(reader: StateReader, index: int) -> OutputProposal:
    """Output proposal `index`, or OutputNotFound (a status-0 receipt)."""
    proposal = get_output(reader, index)
    if proposal is None:
        raise OutputNotFound(f"no output proposal with index {index}")
    return proposal


def _get_counter(reader: StateReader, key: bytes) -> int:
    raw = reader.get(key)
    return 0 if raw is None else expect_int(unpack(raw, 16), key.decode())


# -- games --


HEADER = Schema(
    BlockHeader,
    [  # node.block.BlockHeader: its own field order; JSON as in the game object
        Field("number", UINT, "number"),
        Field("parent_hash", HASH, "parentHash"),
        Field("timestamp_ms", UINT, "timestamp"),
        Field("l1_origin_number", UINT, "l1OriginNumber"),
        Field("l1_origin_hash", HASH, "l1OriginHash"),
        Field("tx_root", HASH, "txRoot"),
        Field("state_root", HASH, "stateRoot"),
    ],
)


class HeaderCodec(Codec[BlockHeader]):
    """An L2 block header: its own msgpack fields; in JSON also its `hash` (checked when parsed)."""

    def to_wire(self, value: BlockHeader) -> list[Any]:
        return HEADER.to_wire(value)

    def from_wire(self, raw: Any, what: str) -> BlockHeader:
        return HEADER.from_wire(raw)

    def to_json(self, value: BlockHeader) -> dict[str, Any]:
        return {"number": value.number, "hash": to_hex(value.hash()), **HEADER.to_json(value)}

    def from_json(self, raw: Any, what: str) -> BlockHeader:
        header = HEADER.from_json(raw)
        if raw.get("hash") != to_hex(header.hash()):
            raise JsonFieldError(f"field {what!r}: hash {raw.get('hash')!r} is not the header's hash")
        return header


BLOCK_HEADER = HeaderCodec()
GAME = Schema(
    Game,
    [  # node.fraud.game.Game, stored inside its GameRecord (its JSON view: l1.contracts.reports.GameInfo)
        Field("start_block", UINT),
        Field("end_block", UINT),
        Field("clock_blocks", UINT),
        Field("phase", Coded(PHASE_CODES)),
        Field("status", Coded(STATUS_CODES)),
        Field("lo", UINT),
        Field("hi", UINT),
        Field("lo_claim", HASH),
        Field("hi_claim", HASH),
        Field("mid_claim", Nullable(HASH)),
        Field("turn", Coded(SIDE_CODES)),
        Field("turn_started_at", UINT),
        Field("defender_used", UINT),
        Field("challenger_used", UINT),
        Field("disputed_header", Nullable(BLOCK_HEADER)),
        Field("step_count", UINT),
        Field("moves", UINT),
    ],
)


@record
class GameRecord:
    """A dispute game on L1: who plays, the bonds at stake and the game itself (stored: the id is in its key)."""

    game_id: int = field(UINT, wire=False)
    output_index: int = field(UINT)
    challenger: Address = field(ADDRESS)  # the only address that may make challenger moves
    defender: Address = field(ADDRESS)  # the only address that may make defender moves
    challenger_bond: int = field(
        AMOUNT
    )  # the players' bonds (each bonded once per output, whatever its number of games)
    defender_bond: int = field(AMOUNT)
    created_at: int = field(UINT)  # L1 block the game started in
    resolved_at: int | None = field(Nullable(UINT))
    game: Game = field(Nested(GAME))
    challenger_slot: int = field(UINT, default=0)
    defender_slot: int = field(UINT, default=0)

    @property
    def in_progress(self) -> bool:
        return self.game.in_progress


def game_key(game_id: int) -> bytes:
    return GAME_PREFIX + _num(game_id)


def get_game_count(reader: StateReader) -> int:
    return _get_counter(reader, GAME_COUNT_KEY)


def get_game(reader: StateReader, game_id: int) -> GameRecord | None:
    if not 0 <= game_id < 2**64:
        return None
    raw = reader.get(game_key(game_id))
    return None if raw is None else from_wire(GameRecord, unpack(raw, MAX_GAME_BYTES), game_id=game_id)


def set_game(overlay: Overlay, record: GameRecord) -> None:
    overlay.set(game_key(record.game_id), pack(to_wire(record)))


def append_game(overlay: Overlay, record: GameRecord) -> None:
    """Store `record` at the next game id (its `game_id` must be get_game_count()) and list it under its output."""
    count = get_game_count(overlay)
    if record.game_id != count:
        raise ValueError(f"new game must have id {count}, got {record.game_id}")
    set_game(overlay, record)
    overlay.set(GAME_COUNT_KEY, pack(count + 1))
    counts = get_dispute_counts(overlay, record.output_index)
    overlay.set(OUTPUT_GAME_PREFIX + _num(record.output_index) + _slot(counts.games), pack(record.game_id))
    set_dispute_counts(
        overlay, record.output_index, replace(counts, games=counts.games + 1, open_games=counts.open_games + 1)
    )


def get_output_game_ids(reader: StateReader, output_index: int) -> list[int]:
    """The games over output `output_index`, in the order they started."""
    counts = get_dispute_counts(reader, output_index)
    prefix = OUTPUT_GAME_PREFIX + _num(output_index)
    ids = []
    for j in range(counts.games):
        raw = reader.get(prefix + _slot(j))
        if raw is not None:
            ids.append(expect_int(unpack(raw, 16), "output game id"))
    return ids


# -- the parties of a disputed output --


class PartySide(IntEnum):
    DEFENDER = 0
    CHALLENGER = 1

    @property
    def label(self) -> str:
        return self.name.lower()


@record
class Party:
    """A bonded player of one output's dispute, and how its games went so far (stored and in l1_getOutputs)."""

    address: Address = field(ADDRESS, "address")
    bond: int = field(AMOUNT, "bond")
    wins: int = field(UINT, "wins", default=0)
    beaten_by: int | None = field(
        Nullable(UINT), "beatenBy", default=None
    )  # slot (other side) of the first that beat it


@record
class DisputeCounts:
    challengers: int = field(UINT, default=0)
    defenders: int = field(UINT, default=0)
    games: int = field(UINT, default=0)
    open_games: int = field(UINT, default=0)


def _slot(n: int) -> bytes:
    return n.to_bytes(4, "big")


def get_dispute_counts(reader: StateReader, output_index: int) -> DisputeCounts:
    raw = reader.get(DISPUTE_COUNTS_PREFIX + _num(output_index))
    return DisputeCounts() if raw is None else from_wire(DisputeCounts, unpack(raw, 64))


def set_dispute_counts(overlay: Overlay, output_index: int, counts: DisputeCounts) -> None:
    overlay.set(DISPUTE_COUNTS_PREFIX + _num(output_index), pack(to_wire(counts)))


def get_party(reader: StateReader, output_index: int, side: PartySide, slot: int) -> Party | None:
    raw = reader.get(PARTY_PREFIX + _num(output_index) + bytes((int(side),)) + _slot(slot))
    return None if raw is None else from_wire(Party, unpack(raw, MAX_PARTY_BYTES))


def set_party(overlay: Overlay, output_index: int, side: PartySide, slot: int, party: Party) -> None:
    overlay.set(PARTY_PREFIX + _num(output_index) + bytes((int(side),)) + _slot(slot), pack(to_wire(party)))


def list_parties(reader: StateReader, output_index: int, side: PartySide) -> list[Party]:
    counts = get_dispute_counts(reader, output_index)
    n = counts.defenders if side is PartySide.DEFENDER else counts.challengers
    parties = [get_party(reader, output_index, side, slot) for slot in range(n)]
    return [p for p in parties if p is not None]


def find_party(reader: StateReader, output_index: int, address: bytes) -> tuple[PartySide, int] | None:
    """(side, slot) of `address` in this output's dispute, if it plays in it."""
    raw = reader.get(PARTY_INDEX_PREFIX + _num(output_index) + bytes(address))
    if raw is None:
        return None
    f = expect_list(unpack(raw, 32), 2, "party index")
    return PartySide(expect_int(f[0], "side", 1)), expect_int(f[1], "slot")


@record(wire=False)
class OutputDispute:
    """Everything about one output's dispute: its parties (by slot) and its games (gathered from several keys;
    JSON: the `dispute` object of l1_getOutputs)."""

    challengers: tuple[Party, ...] = field(TupleOf(Nested(Party)), "challengers")
    defenders: tuple[Party, ...] = field(TupleOf(Nested(Party)), "defenders")  # defender 0 is the proposer
    game_ids: tuple[int, ...] = field(TupleOf(UINT), "games")
    open_games: int = field(UINT, "openGames")


def load_output_dispute(reader: StateReader, output_index: int) -> OutputDispute | None:
    """The output's dispute, or None if it was never disputed."""
    counts = get_dispute_counts(reader, output_index)
    if counts.defenders == 0:
        return None
    return OutputDispute(
        tuple(list_parties(reader, output_index, PartySide.CHALLENGER)),
        tuple(list_parties(reader, output_index, PartySide.DEFENDER)),
        tuple(get_output_game_ids(reader, output_index)),
        counts.open_games,
    )


def add_party(overlay: Overlay, output_index: int, side: PartySide, party: Party) -> int:
    """Append `party` on `side`; return its slot."""
    counts = get_dispute_counts(overlay, output_index)
    if side is PartySide.DEFENDER:
        slot, counts = counts.defenders, replace(counts, defenders=counts.defenders + 1)
    else:
        slot, counts = counts.challengers, replace(counts, challengers=counts.challengers + 1)
    set_party(overlay, output_index, side, slot, party)
    overlay.set(PARTY_INDEX_PREFIX + _num(output_index) + bytes(party.address), pack([int(side), slot]))
    set_dispute_counts(overlay, output_index, counts)
    return slot


def list_games(reader: StateReader, from_id: int, count: int) -> list[GameRecord]:
    end = min(get_game_count(reader), from_id + count)
    return [g for g in (get_game(reader, i) for i in range(from_id, end)) if g is not None]


# -- withdrawals --


class WithdrawalStatus(StrEnum):
    PROVEN = "proven"
    FINALIZED = "finalized"

    @property
    def label(self) -> str:
        return self.value


WITHDRAWAL_STATUS_CODES = {WithdrawalStatus.PROVEN: 0, WithdrawalStatus.FINALIZED: 1}


@record
class WithdrawalClaim:
    """An L2 withdrawal as the L1 portal knows it: proven against an output, then paid once (stored: the id is
    in its key; its JSON view, without `seq` and with its output's status: l1.contracts.reports.WithdrawalInfo)."""

    withdrawal_id: Hash32 = field(HASH, wire=False)
    seq: int = field(UINT)
    status: WithdrawalStatus = field(Coded(WITHDRAWAL_STATUS_CODES))
    output_index: int = field(UINT)
    l2_sender: Address = field(ADDRESS)
    recipient: Address = field(ADDRESS)
    amount: int = field(AMOUNT)
    l2_block_number: int = field(UINT)
    proven_at: int = field(UINT)
    finalized_at: int | None = field(Nullable(UINT))


def withdrawal_claim_key(withdrawal_id: bytes) -> bytes:
    if len(withdrawal_id) != 32:
        raise ValueError("withdrawal id must be 32 bytes")
    return WITHDRAWAL_PREFIX + bytes(withdrawal_id)


def get_withdrawal_count(reader: StateReader) -> int:
    return _get_counter(reader, WITHDRAWAL_COUNT_KEY)


def get_withdrawal_claim(reader: StateReader, withdrawal_id: bytes) -> WithdrawalClaim | None:
    raw = reader.get(withdrawal_claim_key(withdrawal_id))
    return (
        None
        if raw is None
        else from_wire(WithdrawalClaim, unpack(raw, MAX_WITHDRAWAL_BYTES), withdrawal_id=Hash32(withdrawal_id))
    )


def set_withdrawal_claim(overlay: Overlay, claim: WithdrawalClaim) -> None:
    """Store `claim`; a new one (seq == count) is also appended to the listing order."""
    count = get_withdrawal_count(overlay)
    if claim.seq == count:
        overlay.set(WITHDRAWAL_SEQ_PREFIX + _num(count), bytes(claim.withdrawal_id))
        overlay.set(WITHDRAWAL_COUNT_KEY, pack(count + 1))
    elif claim.seq > count:
        raise ValueError(f"withdrawal seq {claim.seq} is beyond the next one, {count}")
    overlay.set(withdrawal_claim_key(claim.withdrawal_id), pack(to_wire(claim)))


def list_withdrawal_claims(reader: StateReader, from_seq: int, count: int) -> list[WithdrawalClaim]:
    end = min(get_withdrawal_count(reader), from_seq + count)
    claims = []
    for seq in range(from_seq, end):
        withdrawal_id = reader.get(WITHDRAWAL_SEQ_PREFIX + _num(seq))
        claim = None if withdrawal_id is None else get_withdrawal_claim(reader, withdrawal_id)
        if claim is not None:
            claims.append(claim)
    return claims


__all__ = [
    "GameRecord",
    "WithdrawalClaim",
    "WithdrawalStatus",
    "DisputeCounts",
    "OutputDispute",
    "load_output_dispute",
    "Party",
    "PartySide",
    "add_party",
    "append_game",
    "find_party",
    "get_dispute_counts",
    "get_output_game_ids",
    "get_party",
    "list_parties",
    "set_dispute_counts",
    "set_party",
    "BLOCK_HEADER",
    "GAME",
    "HEADER",
    "get_game",
    "get_game_count",
    "get_withdrawal_claim",
    "get_withdrawal_count",
    "list_games",
    "list_withdrawal_claims",
    "load_output",
    "set_game",
    "set_withdrawal_claim",
]
