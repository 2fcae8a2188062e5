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

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from node.block import BlockHeader
from node.crypto import ADDRESS_LEN, Address, Hash32
from node.encoding import decode_uint, encode_uint, expect_bytes, expect_int, expect_list, pack, unpack
from node.fraud.game import Game, Phase, Side, Status
from node.state.view import Overlay, StateReader
from l1.contracts.errors import OutputNotFound
from l1.contracts.state import OutputProposal, get_output

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
_PHASES = {v: k for k, v in PHASE_CODES.items()}
_STATUSES = {v: k for k, v in STATUS_CODES.items()}
_SIDES = {v: k for k, v in SIDE_CODES.items()}


def _num(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _addr(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, ADDRESS_LEN))


def _root(value: Any, what: str) -> bytes:
    return expect_bytes(value, what, 32)


def _code(table: dict[int, Any], value: Any, what: str) -> Any:
    code = expect_int(value, what, 0xFF)
    if code not in table:
        raise ValueError(f"stored {what} {code} is unknown")
    return table[code]


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


def game_to_fields(game: Game) -> list[Any]:
    return [
        game.start_block, game.end_block, game.clock_blocks, PHASE_CODES[game.phase], STATUS_CODES[game.status],
        game.lo, game.hi, game.lo_claim, game.hi_claim, game.mid_claim, SIDE_CODES[game.turn],
        game.turn_started_at, game.defender_used, game.challenger_used,
        None if game.disputed_header is None else game.disputed_header.to_fields(),
        game.step_count, game.moves,
    ]


def game_from_fields(value: Any) -> Game:
    f = expect_list(value, 17, "game")
    return Game(
        start_block=expect_int(f[0], "start_block"),
        end_block=expect_int(f[1], "end_block"),
        clock_blocks=expect_int(f[2], "clock_blocks"),
        phase=_code(_PHASES, f[3], "phase"),
        status=_code(_STATUSES, f[4], "status"),
        lo=expect_int(f[5], "lo"),
        hi=expect_int(f[6], "hi"),
        lo_claim=_root(f[7], "lo_claim"),
        hi_claim=_root(f[8], "hi_claim"),
        mid_claim=None if f[9] is None else _root(f[9], "mid_claim"),
        turn=_code(_SIDES, f[10], "turn"),
        turn_started_at=expect_int(f[11], "turn_started_at"),
        defender_used=expect_int(f[12], "defender_used"),
        challenger_used=expect_int(f[13], "challenger_used"),
        disputed_header=None if f[14] is None else BlockHeader.from_fields(f[14]),
        step_count=expect_int(f[15], "step_count"),
        moves=expect_int(f[16], "moves"),
    )


@dataclass(frozen=True, slots=True)
class GameRecord:
    """A dispute game on L1: who plays, the bonds at stake and the game itself."""

    game_id: int
    output_index: int
    challenger: Address  # the only address that may make challenger moves
    defender: Address  # the only address that may make defender moves
    challenger_bond: int  # the players' bonds (each bonded once per output, whatever its number of games)
    defender_bond: int
    created_at: int  # L1 block the game started in
    resolved_at: int | None
    game: Game
    challenger_slot: int = 0
    defender_slot: int = 0

    @property
    def in_progress(self) -> bool:
        return self.game.in_progress

    def to_fields(self) -> list[Any]:
        return [
            self.output_index, self.challenger, self.defender, encode_uint(self.challenger_bond),
            encode_uint(self.defender_bond), self.created_at, self.resolved_at, game_to_fields(self.game),
            self.challenger_slot, self.defender_slot,
        ]

    @classmethod
    def from_fields(cls, game_id: int, value: Any) -> "GameRecord":
        f = expect_list(value, 10, "game record")
        return cls(
            game_id=game_id,
            output_index=expect_int(f[0], "output_index"),
            challenger=_addr(f[1], "challenger"),
            defender=_addr(f[2], "defender"),
            challenger_bond=decode_uint(f[3], "challenger_bond"),
            defender_bond=decode_uint(f[4], "defender_bond"),
            created_at=expect_int(f[5], "created_at"),
            resolved_at=None if f[6] is None else expect_int(f[6], "resolved_at"),
            game=game_from_fields(f[7]),
            challenger_slot=expect_int(f[8], "challenger_slot"),
            defender_slot=expect_int(f[9], "defender_slot"),
        )


def game_key(game_id: int) -> bytes:
    return GAME_PREFIX + _num(game_id)


def get_game_count(reader: StateReader) -> int:
    return _get_counter(reader, GAME_COUNT_KEY)


def get_game(reader: StateReader, game_id: int) -> GameRecord | None:
    if not 0 <= game_id < 2**64:
        return None
    raw = reader.get(game_key(game_id))
    return None if raw is None else GameRecord.from_fields(game_id, unpack(raw, MAX_GAME_BYTES))


def set_game(overlay: Overlay, record: GameRecord) -> None:
    overlay.set(game_key(record.game_id), pack(record.to_fields()))


def append_game(overlay: Overlay, record: GameRecord) -> None:
    """Store `record` at the next game id (its `game_id` must be get_game_count()) and list it under its output."""
    count = get_game_count(overlay)
    if record.game_id != count:
        raise ValueError(f"new game must have id {count}, got {record.game_id}")
    set_game(overlay, record)
    overlay.set(GAME_COUNT_KEY, pack(count + 1))
    counts = get_dispute_counts(overlay, record.output_index)
    overlay.set(OUTPUT_GAME_PREFIX + _num(record.output_index) + _slot(counts.games), pack(record.game_id))
    set_dispute_counts(overlay, record.output_index, replace(counts, games=counts.games + 1, open_games=counts.open_games + 1))


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


@dataclass(frozen=True, slots=True)
class Party:
    """A bonded player of one output's dispute, and how its games went so far."""

    address: Address
    bond: int
    wins: int = 0
    beaten_by: int | None = None  # slot (on the other side) of the first opponent that beat it

    def to_fields(self) -> list[Any]:
        return [self.address, encode_uint(self.bond), self.wins, self.beaten_by]

    @classmethod
    def from_fields(cls, value: Any) -> "Party":
        f = expect_list(value, 4, "dispute party")
        return cls(
            _addr(f[0], "party address"), decode_uint(f[1], "party bond"), expect_int(f[2], "wins"),
            None if f[3] is None else expect_int(f[3], "beaten_by"),
        )


@dataclass(frozen=True, slots=True)
class DisputeCounts:
    challengers: int = 0
    defenders: int = 0
    games: int = 0
    open_games: int = 0


def _slot(n: int) -> bytes:
    return n.to_bytes(4, "big")


def get_dispute_counts(reader: StateReader, output_index: int) -> DisputeCounts:
    raw = reader.get(DISPUTE_COUNTS_PREFIX + _num(output_index))
    if raw is None:
        return DisputeCounts()
    f = expect_list(unpack(raw, 64), 4, "dispute counts")
    return DisputeCounts(*(expect_int(v, "dispute count") for v in f))


def set_dispute_counts(overlay: Overlay, output_index: int, counts: DisputeCounts) -> None:
    overlay.set(
        DISPUTE_COUNTS_PREFIX + _num(output_index),
        pack([counts.challengers, counts.defenders, counts.games, counts.open_games]),
    )


def get_party(reader: StateReader, output_index: int, side: PartySide, slot: int) -> Party | None:
    raw = reader.get(PARTY_PREFIX + _num(output_index) + bytes((int(side),)) + _slot(slot))
    return None if raw is None else Party.from_fields(unpack(raw, MAX_PARTY_BYTES))


def set_party(overlay: Overlay, output_index: int, side: PartySide, slot: int, party: Party) -> None:
    overlay.set(PARTY_PREFIX + _num(output_index) + bytes((int(side),)) + _slot(slot), pack(party.to_fields()))


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


@dataclass(frozen=True, slots=True)
class OutputDispute:
    """Everything about one output's dispute: its parties (by slot) and its games."""

    challengers: tuple[Party, ...]
    defenders: tuple[Party, ...]
    game_ids: tuple[int, ...]
    open_games: int


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


class WithdrawalStatus(IntEnum):
    PROVEN = 0
    FINALIZED = 1

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class WithdrawalClaim:
    """An L2 withdrawal as the L1 portal knows it: proven against an output, then paid once."""

    withdrawal_id: Hash32
    seq: int
    status: WithdrawalStatus
    output_index: int
    l2_sender: Address
    recipient: Address
    amount: int
    l2_block_number: int
    proven_at: int
    finalized_at: int | None

    def to_fields(self) -> list[Any]:
        return [
            self.seq, int(self.status), self.output_index, self.l2_sender, self.recipient,
            encode_uint(self.amount), self.l2_block_number, self.proven_at, self.finalized_at,
        ]

    @classmethod
    def from_fields(cls, withdrawal_id: bytes, value: Any) -> "WithdrawalClaim":
        f = expect_list(value, 9, "withdrawal")
        return cls(
            withdrawal_id=Hash32(withdrawal_id),
            seq=expect_int(f[0], "seq"),
            status=WithdrawalStatus(expect_int(f[1], "status", max(WithdrawalStatus))),
            output_index=expect_int(f[2], "output_index"),
            l2_sender=_addr(f[3], "l2_sender"),
            recipient=_addr(f[4], "recipient"),
            amount=decode_uint(f[5], "amount"),
            l2_block_number=expect_int(f[6], "l2_block_number"),
            proven_at=expect_int(f[7], "proven_at"),
            finalized_at=None if f[8] is None else expect_int(f[8], "finalized_at"),
        )


def withdrawal_claim_key(withdrawal_id: bytes) -> bytes:
    if len(withdrawal_id) != 32:
        raise ValueError("withdrawal id must be 32 bytes")
    return WITHDRAWAL_PREFIX + bytes(withdrawal_id)


def get_withdrawal_count(reader: StateReader) -> int:
    return _get_counter(reader, WITHDRAWAL_COUNT_KEY)


def get_withdrawal_claim(reader: StateReader, withdrawal_id: bytes) -> WithdrawalClaim | None:
    raw = reader.get(withdrawal_claim_key(withdrawal_id))
    return None if raw is None else WithdrawalClaim.from_fields(withdrawal_id, unpack(raw, MAX_WITHDRAWAL_BYTES))


def set_withdrawal_claim(overlay: Overlay, claim: WithdrawalClaim) -> None:
    """Store `claim`; a new one (seq == count) is also appended to the listing order."""
    count = get_withdrawal_count(overlay)
    if claim.seq == count:
        overlay.set(WITHDRAWAL_SEQ_PREFIX + _num(count), bytes(claim.withdrawal_id))
        overlay.set(WITHDRAWAL_COUNT_KEY, pack(count + 1))
    elif claim.seq > count:
        raise ValueError(f"withdrawal seq {claim.seq} is beyond the next one, {count}")
    overlay.set(withdrawal_claim_key(claim.withdrawal_id), pack(claim.to_fields()))


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
    "game_from_fields",
    "game_to_fields",
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
