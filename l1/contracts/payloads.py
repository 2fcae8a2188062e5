"""The payloads of every L1 transaction kind, and their table (PAYLOADS): the one place every kind is listed.

Each is a node.records @record with KIND, NAME and TAKES_VALUE: its fields,
declared once, are its msgpack fields in the chain's envelope (l1.chain.tx;
`to_fields`/`from_fields` come from RecordPayload):
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
| 13   | SetL2Balance       | locked       | l2_to(20), balance (devnet chains only: l1.contracts.devnet_overrides)  |

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

from typing import Any, ClassVar

from l1.chain.tx import MAX_BATCH_DATA_BYTES, MAX_FORCED_TX_BYTES, payload_table
from l1.contracts.dispute_state import HEADER
from node.crypto import Address, Hash32
from node.encoding import DecodeError, expect_int, expect_list
from node.fraud.game import Claim, OpenOutputs, Respond, Side
from node.fraud.witness import MAX_WITNESS_BYTES
from node.records import (
    ADDRESS,
    AMOUNT,
    BOOL,
    HASH,
    UINT,
    Bytes,
    Field,
    Nested,
    Schema,
    WireOnly,
    field,
    from_wire,
    record,
    to_wire,
)
from node.smt.proof import MAX_PROOF_BYTES
from node.state.schema import WithdrawalRecord

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
KIND_SET_L2_BALANCE = 13

MOVE_CLAIM = 0
MOVE_RESPOND = 1
MOVE_OPEN_OUTPUTS = 2
SIDE_CODES = {Side.DEFENDER: 0, Side.CHALLENGER: 1}
SIDES_BY_CODE = {code: side for side, code in SIDE_CODES.items()}

GameMoveKind = Claim | Respond | OpenOutputs


# -- moves --


def encode_move(move: GameMoveKind) -> list[Any]:
    side = SIDE_CODES[move.side]
    if isinstance(move, Claim):
        return [MOVE_CLAIM, side, HASH.to_wire(Hash32(move.root))]
    if isinstance(move, Respond):
        return [MOVE_RESPOND, side, BOOL.to_wire(move.agree)]
    if isinstance(move, OpenOutputs):
        return [
            MOVE_OPEN_OUTPUTS,
            side,
            HASH.to_wire(Hash32(move.lo_state_root)),
            HASH.to_wire(Hash32(move.lo_block_hash)),
            HEADER.to_wire(move.hi_header),
            move.step_count,
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
        return Claim(side, HASH.from_wire(fields[2], "claim root"))
    if tag == MOVE_RESPOND:
        expect_list(fields, 3, "respond move")
        return Respond(side, BOOL.from_wire(fields[2], "agree"))
    expect_list(fields, 6, "open_outputs move")
    return OpenOutputs(
        side,
        HASH.from_wire(fields[2], "lo_state_root"),
        HASH.from_wire(fields[3], "lo_block_hash"),
        HEADER.from_wire(fields[4]),
        expect_int(fields[5], "step_count"),
    )


class MoveCodec(WireOnly[GameMoveKind]):
    """A game move: a tagged msgpack array (the module docstring)."""

    def to_wire(self, value: GameMoveKind) -> list[Any]:
        return encode_move(value)

    def from_wire(self, raw: Any, what: str) -> GameMoveKind:
        return decode_move(raw)


WITHDRAWAL_RECORD = Schema(
    WithdrawalRecord,
    [  # node.state.schema.WithdrawalRecord, as a prove_withdrawal carries it
        Field("l2_sender", ADDRESS),
        Field("l1_recipient", ADDRESS),
        Field("amount", AMOUNT),
        Field("l2_block_number", UINT),
    ],
)


def record_to_fields(value: WithdrawalRecord) -> list[Any]:
    return WITHDRAWAL_RECORD.to_wire(value)


def record_from_fields(value: Any) -> WithdrawalRecord:
    return WITHDRAWAL_RECORD.from_wire(value)


# -- payloads --


class RecordPayload:
    """Base of every payload: a @record whose fields are its msgpack fields (l1.chain.tx.L1Payload)."""

    __slots__ = ()
    KIND: ClassVar[int]
    NAME: ClassVar[str]
    TAKES_VALUE: ClassVar[bool]

    def to_fields(self) -> list[Any]:
        return to_wire(self)

    @classmethod
    def from_fields(cls, fields: list[Any]) -> Any:
        return from_wire(cls, fields)


@record
class L1Transfer(RecordPayload):
    """Move `value` from the sender to `to`."""

    KIND: ClassVar[int] = KIND_TRANSFER
    NAME: ClassVar[str] = "transfer"
    TAKES_VALUE: ClassVar[bool] = True
    to: Address = field(ADDRESS)


@record
class PostBatch(RecordPayload):
    """The batcher posts L2 batch data to the inbox (value must be 0)."""

    KIND: ClassVar[int] = KIND_POST_BATCH
    NAME: ClassVar[str] = "post_batch"
    TAKES_VALUE: ClassVar[bool] = False
    data: bytes = field(Bytes(MAX_BATCH_DATA_BYTES))


@record
class Deposit(RecordPayload):
    """Lock `value` in the portal, to be minted to `l2_to` on L2."""

    KIND: ClassVar[int] = KIND_DEPOSIT
    NAME: ClassVar[str] = "deposit"
    TAKES_VALUE: ClassVar[bool] = True
    l2_to: Address = field(ADDRESS)


@record
class ForceTx(RecordPayload):
    """Force an encoded signed L2 transaction into L2 (value must be 0)."""

    KIND: ClassVar[int] = KIND_FORCE_TX
    NAME: ClassVar[str] = "force_tx"
    TAKES_VALUE: ClassVar[bool] = False
    l2_tx: bytes = field(Bytes(MAX_FORCED_TX_BYTES))


@record
class ProposeOutput(RecordPayload):
    """Propose an L2 output root; `value` is the bond."""

    KIND: ClassVar[int] = KIND_PROPOSE_OUTPUT
    NAME: ClassVar[str] = "propose_output"
    TAKES_VALUE: ClassVar[bool] = True
    l2_block_number: int = field(UINT)
    output_root: Hash32 = field(HASH)


@record
class DisputeOutput(RecordPayload):
    """Dispute a pending output proposal; `value` is the counter-bond (>= proposer_bond)."""

    KIND: ClassVar[int] = KIND_DISPUTE_OUTPUT
    NAME: ClassVar[str] = "dispute_output"
    TAKES_VALUE: ClassVar[bool] = True
    output_index: int = field(UINT)


@record
class DefendOutput(RecordPayload):
    """Join the defence of a disputed output; `value` is the bond (>= proposer_bond). The sender then plays
    the defender's side, and only it, in one game against each of the output's challengers."""

    KIND: ClassVar[int] = KIND_DEFEND_OUTPUT
    NAME: ClassVar[str] = "defend_output"
    TAKES_VALUE: ClassVar[bool] = True
    output_index: int = field(UINT)


@record
class GameMove(RecordPayload):
    """A bisection move (Claim, Respond, OpenOutputs) in game `game_id`, by that game's player for the side."""

    KIND: ClassVar[int] = KIND_GAME_MOVE
    NAME: ClassVar[str] = "game_move"
    TAKES_VALUE: ClassVar[bool] = False
    game_id: int = field(UINT)
    move: GameMoveKind = field(MoveCodec())


@record
class ProveStepTx(RecordPayload):
    """The one-step proof of game `game_id`: the witness of the step's pre-state (anyone may send it).

    The step's input is not sent: the L1 rebuilds the opened block from its own inbox."""

    KIND: ClassVar[int] = KIND_PROVE_STEP
    NAME: ClassVar[str] = "prove_step"
    TAKES_VALUE: ClassVar[bool] = False
    game_id: int = field(UINT)
    witness: bytes = field(Bytes(MAX_WITNESS_BYTES))


@record
class ResolveGame(RecordPayload):
    """End game `game_id` against the side on turn whose clock has run out (anyone may send it)."""

    KIND: ClassVar[int] = KIND_RESOLVE_GAME
    NAME: ClassVar[str] = "resolve_game"
    TAKES_VALUE: ClassVar[bool] = False
    game_id: int = field(UINT)


@record
class ProveWithdrawal(RecordPayload):
    """Prove an L2 withdrawal record against output proposal `output_index` (anyone may send it)."""

    KIND: ClassVar[int] = KIND_PROVE_WITHDRAWAL
    NAME: ClassVar[str] = "prove_withdrawal"
    TAKES_VALUE: ClassVar[bool] = False
    output_index: int = field(UINT)
    withdrawal_id: Hash32 = field(HASH)
    record: WithdrawalRecord = field(Nested(WITHDRAWAL_RECORD))
    state_root: Hash32 = field(HASH)
    block_hash: Hash32 = field(HASH)
    proof: bytes = field(Bytes(MAX_PROOF_BYTES))


@record
class FinalizeWithdrawal(RecordPayload):
    """Pay a proven withdrawal whose output is finalized (anyone may send it; the recipient is paid)."""

    KIND: ClassVar[int] = KIND_FINALIZE_WITHDRAWAL
    NAME: ClassVar[str] = "finalize_withdrawal"
    TAKES_VALUE: ClassVar[bool] = False
    withdrawal_id: Hash32 = field(HASH)


@record
class SetL2Balance(RecordPayload):
    """Set `l2_to`'s L2 balance to exactly `balance` (a devnet's balance override); `value` is locked in the
    portal (the sender's share of an increase). Refused unless the chain rule devnet_overrides is on."""

    KIND: ClassVar[int] = KIND_SET_L2_BALANCE
    NAME: ClassVar[str] = "set_l2_balance"
    TAKES_VALUE: ClassVar[bool] = True
    l2_to: Address = field(ADDRESS)
    balance: int = field(AMOUNT)


PAYLOADS = payload_table(
    L1Transfer,
    PostBatch,
    Deposit,
    ForceTx,
    ProposeOutput,
    DisputeOutput,
    GameMove,
    ProveStepTx,
    ResolveGame,
    ProveWithdrawal,
    FinalizeWithdrawal,
    DefendOutput,
    SetL2Balance,
)

__all__ = [
    "PAYLOADS",
    "WITHDRAWAL_RECORD",
    "MoveCodec",
    "RecordPayload",
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
    "KIND_SET_L2_BALANCE",
    "SetL2Balance",
    "ProveStepTx",
    "ProveWithdrawal",
    "ResolveGame",
    "decode_move",
    "encode_move",
    "record_from_fields",
    "record_to_fields",
]
