"""The events of the rollup's contracts, and their table (EVENTS): the one place every event type is listed.

JSON (every event also has `type`, `log_index`, `transactionHash`):

| type                 | fields                                                                        |
|----------------------|-------------------------------------------------------------------------------|
| batch                | from, data                                                                    |
| deposit              | from, to, amount                                                              |
| forced_tx            | from, tx                                                                      |
| output_proposed      | index, l2BlockNumber, outputRoot, proposer, bond                              |
| output_finalized     | index, l2BlockNumber, outputRoot, proposer, bond                              |
| output_disputed      | gameId, outputIndex, challenger, bond, startBlock, endBlock (one per game started: a new challenger against each defender, a new defender against each challenger) |
| game_move            | gameId, move (claim/respond/open_outputs/prove_step), side, from, phase, lo, hi |
| game_resolved        | gameId, outputIndex, status, winner, payout (0: bonds settle with the output), outputStatus, reason |
| output_defeated      | index, l2BlockNumber, outputRoot, challenger (the one that beat every defender) |
| withdrawal_proven    | withdrawalId, outputIndex, recipient, amount                                  |
| withdrawal_finalized | withdrawalId, outputIndex, recipient, amount                                  |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from node.crypto import ADDRESS_LEN, Address, Hash32, to_checksum_address
from node.encoding import decode_uint, encode_uint, expect_bytes, expect_int, expect_list
from l1.chain.events import event_table


def _hex(data: bytes) -> str:
    return "0x" + bytes(data).hex()


def _addr(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, ADDRESS_LEN))


def _text(value: Any, what: str) -> str:
    return expect_bytes(value, what, max_length=256).decode()


# -- the inbox and output proposals (kinds 2-5) --


@dataclass(frozen=True, slots=True)
class BatchPosted:
    TYPE: ClassVar[int] = 1
    NAME: ClassVar[str] = "batch"
    log_index: int
    tx_hash: Hash32 | None
    sender: Address
    data: bytes

    def fields(self) -> list[Any]:
        return [self.sender, self.data]

    def json_fields(self) -> dict[str, Any]:
        return {"from": to_checksum_address(self.sender), "data": _hex(self.data)}

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "BatchPosted":
        expect_list(rest, 2, "batch event")
        return cls(log_index, tx_hash, _addr(rest[0], "from"), expect_bytes(rest[1], "data"))


@dataclass(frozen=True, slots=True)
class DepositLocked:
    TYPE: ClassVar[int] = 2
    NAME: ClassVar[str] = "deposit"
    log_index: int
    tx_hash: Hash32 | None
    sender: Address
    l2_to: Address
    amount: int

    def fields(self) -> list[Any]:
        return [self.sender, self.l2_to, encode_uint(self.amount)]

    def json_fields(self) -> dict[str, Any]:
        return {
            "from": to_checksum_address(self.sender),
            "to": to_checksum_address(self.l2_to),
            "amount": str(self.amount),
        }

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "DepositLocked":
        expect_list(rest, 3, "deposit event")
        return cls(log_index, tx_hash, _addr(rest[0], "from"), _addr(rest[1], "to"), decode_uint(rest[2]))


@dataclass(frozen=True, slots=True)
class TxForced:
    TYPE: ClassVar[int] = 3
    NAME: ClassVar[str] = "forced_tx"
    log_index: int
    tx_hash: Hash32 | None
    sender: Address
    l2_tx: bytes

    def fields(self) -> list[Any]:
        return [self.sender, self.l2_tx]

    def json_fields(self) -> dict[str, Any]:
        return {"from": to_checksum_address(self.sender), "tx": _hex(self.l2_tx)}

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "TxForced":
        expect_list(rest, 2, "forced_tx event")
        return cls(log_index, tx_hash, _addr(rest[0], "from"), expect_bytes(rest[1], "l2_tx"))


@dataclass(frozen=True, slots=True)
class OutputProposed:
    TYPE: ClassVar[int] = 4
    NAME: ClassVar[str] = "output_proposed"
    log_index: int
    tx_hash: Hash32 | None
    index: int
    l2_block_number: int
    output_root: Hash32
    proposer: Address
    bond: int

    def fields(self) -> list[Any]:
        return [self.index, self.l2_block_number, self.output_root, self.proposer, encode_uint(self.bond)]

    def json_fields(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "l2BlockNumber": self.l2_block_number,
            "outputRoot": _hex(self.output_root),
            "proposer": to_checksum_address(self.proposer),
            "bond": str(self.bond),
        }

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "OutputProposed":
        expect_list(rest, 5, "output event")
        return cls(
            log_index, tx_hash, expect_int(rest[0], "index"), expect_int(rest[1], "l2_block_number"),
            Hash32(expect_bytes(rest[2], "output_root", 32)), _addr(rest[3], "proposer"), decode_uint(rest[4], "bond"),
        )


@dataclass(frozen=True, slots=True)
class OutputFinalized:
    TYPE: ClassVar[int] = 5
    NAME: ClassVar[str] = "output_finalized"
    log_index: int
    tx_hash: Hash32 | None
    index: int
    l2_block_number: int
    output_root: Hash32
    proposer: Address
    bond: int

    def fields(self) -> list[Any]:
        return [self.index, self.l2_block_number, self.output_root, self.proposer, encode_uint(self.bond)]

    def json_fields(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "l2BlockNumber": self.l2_block_number,
            "outputRoot": _hex(self.output_root),
            "proposer": to_checksum_address(self.proposer),
            "bond": str(self.bond),
        }

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "OutputFinalized":
        expect_list(rest, 5, "output event")
        return cls(
            log_index, tx_hash, expect_int(rest[0], "index"), expect_int(rest[1], "l2_block_number"),
            Hash32(expect_bytes(rest[2], "output_root", 32)), _addr(rest[3], "proposer"), decode_uint(rest[4], "bond"),
        )


# -- disputes and withdrawals (kinds 6-12) --




@dataclass(frozen=True, slots=True)
class OutputDisputed:
    TYPE: ClassVar[int] = 6
    NAME: ClassVar[str] = "output_disputed"
    log_index: int
    tx_hash: Hash32 | None
    game_id: int
    output_index: int
    challenger: Address
    bond: int
    start_block: int
    end_block: int

    def fields(self) -> list[Any]:
        return [self.game_id, self.output_index, self.challenger, encode_uint(self.bond), self.start_block, self.end_block]

    def json_fields(self) -> dict[str, Any]:
        return {
            "gameId": self.game_id,
            "outputIndex": self.output_index,
            "challenger": to_checksum_address(self.challenger),
            "bond": str(self.bond),
            "startBlock": self.start_block,
            "endBlock": self.end_block,
        }

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "OutputDisputed":
        expect_list(rest, 6, "output_disputed event")
        return cls(
            log_index, tx_hash, expect_int(rest[0], "game_id"), expect_int(rest[1], "output_index"),
            _addr(rest[2], "challenger"), decode_uint(rest[3], "bond"), expect_int(rest[4], "start_block"),
            expect_int(rest[5], "end_block"),
        )


@dataclass(frozen=True, slots=True)
class GameMoved:
    TYPE: ClassVar[int] = 7
    NAME: ClassVar[str] = "game_move"
    log_index: int
    tx_hash: Hash32 | None
    game_id: int
    move: str  # claim / respond / open_outputs / prove_step
    side: str
    sender: Address
    phase: str  # after the move
    lo: int
    hi: int

    def fields(self) -> list[Any]:
        return [self.game_id, self.move.encode(), self.side.encode(), self.sender, self.phase.encode(), self.lo, self.hi]

    def json_fields(self) -> dict[str, Any]:
        return {
            "gameId": self.game_id,
            "move": self.move,
            "side": self.side,
            "from": to_checksum_address(self.sender),
            "phase": self.phase,
            "lo": self.lo,
            "hi": self.hi,
        }

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "GameMoved":
        expect_list(rest, 7, "game_move event")
        return cls(
            log_index, tx_hash, expect_int(rest[0], "game_id"), _text(rest[1], "move"), _text(rest[2], "side"),
            _addr(rest[3], "from"), _text(rest[4], "phase"), expect_int(rest[5], "lo"), expect_int(rest[6], "hi"),
        )


@dataclass(frozen=True, slots=True)
class GameResolved:
    TYPE: ClassVar[int] = 8
    NAME: ClassVar[str] = "game_resolved"
    log_index: int
    tx_hash: Hash32 | None
    game_id: int
    output_index: int
    status: str  # challenger_won / defender_won
    winner: Address
    payout: int  # the loser's bond, credited to the winner now
    output_status: str  # the output's status after resolution
    reason: str  # one_step / timeout / bad_step_count / genesis

    def fields(self) -> list[Any]:
        return [
            self.game_id, self.output_index, self.status.encode(), self.winner, encode_uint(self.payout),
            self.output_status.encode(), self.reason.encode(),
        ]

    def json_fields(self) -> dict[str, Any]:
        return {
            "gameId": self.game_id,
            "outputIndex": self.output_index,
            "status": self.status,
            "winner": to_checksum_address(self.winner),
            "payout": str(self.payout),
            "outputStatus": self.output_status,
            "reason": self.reason,
        }

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "GameResolved":
        expect_list(rest, 7, "game_resolved event")
        return cls(
            log_index, tx_hash, expect_int(rest[0], "game_id"), expect_int(rest[1], "output_index"),
            _text(rest[2], "status"), _addr(rest[3], "winner"), decode_uint(rest[4], "payout"),
            _text(rest[5], "output_status"), _text(rest[6], "reason"),
        )


@dataclass(frozen=True, slots=True)
class _WithdrawalEvent:
    log_index: int
    tx_hash: Hash32 | None
    withdrawal_id: Hash32
    output_index: int
    recipient: Address
    amount: int

    def fields(self) -> list[Any]:
        return [self.withdrawal_id, self.output_index, self.recipient, encode_uint(self.amount)]

    def json_fields(self) -> dict[str, Any]:
        return {
            "withdrawalId": _hex(self.withdrawal_id),
            "outputIndex": self.output_index,
            "recipient": to_checksum_address(self.recipient),
            "amount": str(self.amount),
        }

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> Any:
        expect_list(rest, 4, "withdrawal event")
        return cls(
            log_index, tx_hash, Hash32(expect_bytes(rest[0], "withdrawal_id", 32)), expect_int(rest[1], "output_index"),
            _addr(rest[2], "recipient"), decode_uint(rest[3], "amount"),
        )


@dataclass(frozen=True, slots=True)
class WithdrawalProven(_WithdrawalEvent):
    TYPE: ClassVar[int] = 9
    NAME: ClassVar[str] = "withdrawal_proven"


@dataclass(frozen=True, slots=True)
class WithdrawalFinalized(_WithdrawalEvent):
    TYPE: ClassVar[int] = 10
    NAME: ClassVar[str] = "withdrawal_finalized"


@dataclass(frozen=True, slots=True)
class OutputDefeated:
    TYPE: ClassVar[int] = 11
    NAME: ClassVar[str] = "output_defeated"
    log_index: int
    tx_hash: Hash32 | None
    index: int
    l2_block_number: int
    output_root: Hash32
    challenger: Address

    def fields(self) -> list[Any]:
        return [self.index, self.l2_block_number, self.output_root, self.challenger]

    def json_fields(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "l2BlockNumber": self.l2_block_number,
            "outputRoot": _hex(self.output_root),
            "challenger": to_checksum_address(self.challenger),
        }

    @classmethod
    def from_stored(cls, log_index: int, tx_hash: Hash32 | None, rest: list[Any]) -> "OutputDefeated":
        expect_list(rest, 4, "output_defeated event")
        return cls(
            log_index, tx_hash, expect_int(rest[0], "index"), expect_int(rest[1], "l2_block_number"),
            Hash32(expect_bytes(rest[2], "output_root", 32)), _addr(rest[3], "challenger"),
        )


EVENTS = event_table(
    BatchPosted, DepositLocked, TxForced, OutputProposed, OutputFinalized,
    OutputDisputed, GameMoved, GameResolved, WithdrawalProven, WithdrawalFinalized, OutputDefeated,
)

__all__ = [
    "EVENTS", "BatchPosted", "DepositLocked", "GameMoved", "GameResolved", "OutputDefeated", "OutputDisputed",
    "OutputFinalized", "OutputProposed", "TxForced", "WithdrawalFinalized", "WithdrawalProven",
]
