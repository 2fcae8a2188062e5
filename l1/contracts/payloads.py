"""The payloads of every L1 transaction kind, and their table (PAYLOADS): the one place every kind is listed.

Each is a frozen dataclass with KIND, NAME, TAKES_VALUE, to_fields and
from_fields; it signs and encodes in the chain's envelope (l1.chain.tx):
`sign_l1_tx(key, chain_id, nonce, fee, value, payload)`.

| kind | payload            | value        | fields                                                                  |
|------|--------------------|--------------|-------------------------------------------------------------------------|
| 1    | L1Transfer         | amount       | to(20)                                                                  |
| 2    | PostBatch          | 0            | data (<= MAX_BATCH_DATA_BYTES)                                          |
| 3    | Deposit            | amount       | l2_to(20)                                                               |
| 4    | ForceTx            | 0            | l2_tx (<= MAX_FORCED_TX_BYTES)                                          |
| 5    | ProposeOutput      | bond         | l2_block_number, output_root(32)                                        |
| 6    | DisputeOutput      | counter-bond | output_index                                                            |
| 7    | GameMove           | 0            | game_id, move                                                           |
| 8    | ProveStepTx        | 0            | game_id, witness (node.fraud.witness encoding)                          |
| 9    | ResolveGame        | 0            | game_id                                                                 |
| 10   | ProveWithdrawal    | 0            | output_index, withdrawal_id(32), record, state_root(32), block_hash(32), proof |
| 11   | FinalizeWithdrawal | 0            | withdrawal_id(32)                                                       |
| 12   | DefendOutput       | bond         | output_index                                                            |

Nested fields are msgpack arrays inside the transaction array:

    move     = [0, side, root(32)]                                            Claim
             | [1, side, agree(bool)]                                         Respond
             | [2, side, lo_state_root(32), lo_block_hash(32), header, step_count]    OpenOutputs
               side: 0 defender, 1 challenger; header = node.block.BlockHeader.to_fields()
               The opened header must be the L2 block the L1 derived from its own
               inbox at that height (l1.contracts.l2_blocks), else UnderivableOpening; the
               one-step proof rebuilds its transactions from there too.
    record   = [l2_sender(20), l1_recipient(20), amount_bytes, l2_block_number]   (node.state.schema)
    proof    = node.smt.proof.Proof.encode() of withdrawal_key(withdrawal_id) under state_root

The codec checks shapes and sizes only (a DecodeError keeps the transaction
out of the L1 mempool); witness and proof bytes are decoded by the contracts,
so a bad one is an included status-0 transaction with its own error code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Union

from node.block import BlockHeader
from node.crypto import ADDRESS_LEN, Address, Hash32
from node.encoding import DecodeError, decode_uint, encode_uint, expect_bytes, expect_int, expect_list
from node.fraud.game import Claim, OpenOutputs, Respond, Side
from node.fraud.witness import MAX_WITNESS_BYTES
from node.smt.proof import MAX_PROOF_BYTES
from node.state.schema import WITHDRAWAL_ID_LEN, WithdrawalRecord
from l1.chain.tx import HASH_LEN, MAX_BATCH_DATA_BYTES, MAX_FORCED_TX_BYTES, payload_table

KIND_TRANSFER = 1
KIND_POST_BATCH = 2
KIND_DEPOSIT = 3
KIND_FORCE_TX = 4
KIND_PROPOSE_OUTPUT = 5
KIND_DISPUTE_OUTPUT = 6
KIND_GAME_MOVE = 7
KIND_PROVE_STEP = 8
KIND_RESOLVE_GAME = 9
KIND_PROVE_WITHDRAWAL = 10
KIND_FINALIZE_WITHDRAWAL = 11

KIND_DEFEND_OUTPUT = 12

MOVE_CLAIM = 0
MOVE_RESPOND = 1
MOVE_OPEN_OUTPUTS = 2
SIDE_CODES = {Side.DEFENDER: 0, Side.CHALLENGER: 1}
SIDES_BY_CODE = {code: side for side, code in SIDE_CODES.items()}

GameMoveKind = Union[Claim, Respond, OpenOutputs]


def _hash(value: Any, what: str) -> Hash32:
    return Hash32(expect_bytes(value, what, HASH_LEN))


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise DecodeError(f"{what} must be a boolean")
    return value


# -- moves --


def encode_move(move: GameMoveKind) -> list[Any]:
    side = SIDE_CODES[move.side]
    if isinstance(move, Claim):
        return [MOVE_CLAIM, side, bytes(move.root)]
    if isinstance(move, Respond):
        return [MOVE_RESPOND, side, bool(move.agree)]
    if isinstance(move, OpenOutputs):
        return [
            MOVE_OPEN_OUTPUTS, side, bytes(move.lo_state_root), bytes(move.lo_block_hash),
            move.hi_header.to_fields(), move.step_count,
        ]
    raise TypeError(f"{type(move).__name__} is not a game_move (a one-step proof is kind {KIND_PROVE_STEP})")


def decode_move(value: Any) -> GameMoveKind:
    fields = expect_list(value, None, "move")
    if len(fields) < 2:
        raise DecodeError("move must be [tag, side, ...]")
    tag = expect_int(fields[0], "move tag", MOVE_OPEN_OUTPUTS)
    side = SIDES_BY_CODE[expect_int(fields[1], "move side", 1)]
    if tag == MOVE_CLAIM:
        expect_list(fields, 3, "claim move")
        return Claim(side, _hash(fields[2], "claim root"))
    if tag == MOVE_RESPOND:
        expect_list(fields, 3, "respond move")
        return Respond(side, _bool(fields[2], "agree"))
    expect_list(fields, 6, "open_outputs move")
    return OpenOutputs(
        side,
        _hash(fields[2], "lo_state_root"),
        _hash(fields[3], "lo_block_hash"),
        BlockHeader.from_fields(fields[4]),
        expect_int(fields[5], "step_count"),
    )


# -- payloads --


def _address(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, ADDRESS_LEN))


@dataclass(frozen=True, slots=True)
class L1Transfer:
    """Move `value` from the sender to `to`."""

    KIND: ClassVar[int] = KIND_TRANSFER
    NAME: ClassVar[str] = "transfer"
    TAKES_VALUE: ClassVar[bool] = True
    to: Address

    def to_fields(self) -> list[Any]:
        return [self.to]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "L1Transfer":
        expect_list(fields, 1, "transfer payload")
        return cls(_address(fields[0], "to"))


@dataclass(frozen=True, slots=True)
class PostBatch:
    """The batcher posts L2 batch data to the inbox (value must be 0)."""

    KIND: ClassVar[int] = KIND_POST_BATCH
    NAME: ClassVar[str] = "post_batch"
    TAKES_VALUE: ClassVar[bool] = False
    data: bytes

    def to_fields(self) -> list[Any]:
        return [self.data]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "PostBatch":
        expect_list(fields, 1, "post_batch payload")
        return cls(expect_bytes(fields[0], "data", max_length=MAX_BATCH_DATA_BYTES))


@dataclass(frozen=True, slots=True)
class Deposit:
    """Lock `value` in the portal, to be minted to `l2_to` on L2."""

    KIND: ClassVar[int] = KIND_DEPOSIT
    NAME: ClassVar[str] = "deposit"
    TAKES_VALUE: ClassVar[bool] = True
    l2_to: Address

    def to_fields(self) -> list[Any]:
        return [self.l2_to]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "Deposit":
        expect_list(fields, 1, "deposit payload")
        return cls(_address(fields[0], "l2_to"))


@dataclass(frozen=True, slots=True)
class ForceTx:
    """Force an encoded signed L2 transaction into L2 (value must be 0)."""

    KIND: ClassVar[int] = KIND_FORCE_TX
    NAME: ClassVar[str] = "force_tx"
    TAKES_VALUE: ClassVar[bool] = False
    l2_tx: bytes

    def to_fields(self) -> list[Any]:
        return [self.l2_tx]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "ForceTx":
        expect_list(fields, 1, "force_tx payload")
        return cls(expect_bytes(fields[0], "l2_tx", max_length=MAX_FORCED_TX_BYTES))


@dataclass(frozen=True, slots=True)
class ProposeOutput:
    """Propose an L2 output root; `value` is the bond."""

    KIND: ClassVar[int] = KIND_PROPOSE_OUTPUT
    NAME: ClassVar[str] = "propose_output"
    TAKES_VALUE: ClassVar[bool] = True
    l2_block_number: int
    output_root: Hash32

    def to_fields(self) -> list[Any]:
        return [self.l2_block_number, self.output_root]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "ProposeOutput":
        expect_list(fields, 2, "propose_output payload")
        return cls(
            expect_int(fields[0], "l2_block_number"),
            Hash32(expect_bytes(fields[1], "output_root", HASH_LEN)),
        )




@dataclass(frozen=True, slots=True)
class DisputeOutput:
    """Dispute a pending output proposal; `value` is the counter-bond (>= proposer_bond)."""

    KIND: ClassVar[int] = KIND_DISPUTE_OUTPUT
    NAME: ClassVar[str] = "dispute_output"
    TAKES_VALUE: ClassVar[bool] = True
    output_index: int

    def to_fields(self) -> list[Any]:
        return [self.output_index]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "DisputeOutput":
        expect_list(fields, 1, "dispute_output payload")
        return cls(expect_int(fields[0], "output_index"))


@dataclass(frozen=True, slots=True)
class DefendOutput:
    """Join the defence of a disputed output; `value` is the bond (>= proposer_bond). The sender then plays
    the defender's side, and only it, in one game against each of the output's challengers."""

    KIND: ClassVar[int] = KIND_DEFEND_OUTPUT
    NAME: ClassVar[str] = "defend_output"
    TAKES_VALUE: ClassVar[bool] = True
    output_index: int

    def to_fields(self) -> list[Any]:
        return [self.output_index]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "DefendOutput":
        expect_list(fields, 1, "defend_output payload")
        return cls(expect_int(fields[0], "output_index"))


@dataclass(frozen=True, slots=True)
class GameMove:
    """A bisection move (Claim, Respond, OpenOutputs) in game `game_id`, by that game's player for the side."""

    KIND: ClassVar[int] = KIND_GAME_MOVE
    NAME: ClassVar[str] = "game_move"
    TAKES_VALUE: ClassVar[bool] = False
    game_id: int
    move: GameMoveKind

    def to_fields(self) -> list[Any]:
        return [self.game_id, encode_move(self.move)]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "GameMove":
        expect_list(fields, 2, "game_move payload")
        return cls(expect_int(fields[0], "game_id"), decode_move(fields[1]))


@dataclass(frozen=True, slots=True)
class ProveStepTx:
    """The one-step proof of game `game_id`: the witness of the step's pre-state (anyone may send it).

    The step's input is not sent: the L1 rebuilds the opened block from its own inbox."""

    KIND: ClassVar[int] = KIND_PROVE_STEP
    NAME: ClassVar[str] = "prove_step"
    TAKES_VALUE: ClassVar[bool] = False
    game_id: int
    witness: bytes

    def to_fields(self) -> list[Any]:
        return [self.game_id, self.witness]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "ProveStepTx":
        expect_list(fields, 2, "prove_step payload")
        return cls(
            expect_int(fields[0], "game_id"),
            expect_bytes(fields[1], "witness", max_length=MAX_WITNESS_BYTES),
        )


@dataclass(frozen=True, slots=True)
class ResolveGame:
    """End game `game_id` against the side on turn whose clock has run out (anyone may send it)."""

    KIND: ClassVar[int] = KIND_RESOLVE_GAME
    NAME: ClassVar[str] = "resolve_game"
    TAKES_VALUE: ClassVar[bool] = False
    game_id: int

    def to_fields(self) -> list[Any]:
        return [self.game_id]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "ResolveGame":
        expect_list(fields, 1, "resolve_game payload")
        return cls(expect_int(fields[0], "game_id"))


def record_to_fields(record: WithdrawalRecord) -> list[Any]:
    return [record.l2_sender, record.l1_recipient, encode_uint(record.amount), record.l2_block_number]


def record_from_fields(value: Any) -> WithdrawalRecord:
    fields = expect_list(value, 4, "withdrawal record")
    return WithdrawalRecord(
        l2_sender=Address(expect_bytes(fields[0], "l2_sender", ADDRESS_LEN)),
        l1_recipient=Address(expect_bytes(fields[1], "l1_recipient", ADDRESS_LEN)),
        amount=decode_uint(fields[2], "amount"),
        l2_block_number=expect_int(fields[3], "l2_block_number"),
    )


@dataclass(frozen=True, slots=True)
class ProveWithdrawal:
    """Prove an L2 withdrawal record against output proposal `output_index` (anyone may send it)."""

    KIND: ClassVar[int] = KIND_PROVE_WITHDRAWAL
    NAME: ClassVar[str] = "prove_withdrawal"
    TAKES_VALUE: ClassVar[bool] = False
    output_index: int
    withdrawal_id: Hash32
    record: WithdrawalRecord
    state_root: Hash32
    block_hash: Hash32
    proof: bytes

    def to_fields(self) -> list[Any]:
        return [
            self.output_index, self.withdrawal_id, record_to_fields(self.record),
            self.state_root, self.block_hash, self.proof,
        ]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "ProveWithdrawal":
        expect_list(fields, 6, "prove_withdrawal payload")
        return cls(
            expect_int(fields[0], "output_index"),
            Hash32(expect_bytes(fields[1], "withdrawal_id", WITHDRAWAL_ID_LEN)),
            record_from_fields(fields[2]),
            _hash(fields[3], "state_root"),
            _hash(fields[4], "block_hash"),
            expect_bytes(fields[5], "proof", max_length=MAX_PROOF_BYTES),
        )


@dataclass(frozen=True, slots=True)
class FinalizeWithdrawal:
    """Pay a proven withdrawal whose output is finalized (anyone may send it; the recipient is paid)."""

    KIND: ClassVar[int] = KIND_FINALIZE_WITHDRAWAL
    NAME: ClassVar[str] = "finalize_withdrawal"
    TAKES_VALUE: ClassVar[bool] = False
    withdrawal_id: Hash32

    def to_fields(self) -> list[Any]:
        return [self.withdrawal_id]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "FinalizeWithdrawal":
        expect_list(fields, 1, "finalize_withdrawal payload")
        return cls(Hash32(expect_bytes(fields[0], "withdrawal_id", WITHDRAWAL_ID_LEN)))


PAYLOADS = payload_table(
    L1Transfer, PostBatch, Deposit, ForceTx, ProposeOutput,
    DisputeOutput, GameMove, ProveStepTx, ResolveGame, ProveWithdrawal, FinalizeWithdrawal, DefendOutput,
)

__all__ = [
    "PAYLOADS",
    "L1Transfer",
    "PostBatch",
    "Deposit",
    "ForceTx",
    "ProposeOutput",
    "KIND_TRANSFER",
    "KIND_POST_BATCH",
    "KIND_DEPOSIT",
    "KIND_FORCE_TX",
    "KIND_PROPOSE_OUTPUT",
    "DefendOutput",
    "DisputeOutput",
    "FinalizeWithdrawal",
    "GameMove",
    "GameMoveKind",
    "KIND_DEFEND_OUTPUT",
    "KIND_DISPUTE_OUTPUT",
    "KIND_FINALIZE_WITHDRAWAL",
    "KIND_GAME_MOVE",
    "KIND_PROVE_STEP",
    "KIND_PROVE_WITHDRAWAL",
    "KIND_RESOLVE_GAME",
    "ProveStepTx",
    "ProveWithdrawal",
    "ResolveGame",
    "decode_move",
    "encode_move",
    "record_from_fields",
    "record_to_fields",
]
