"""The events of the rollup's contracts, and their table (EVENTS): the one place every event type is listed.

Each event is a node.records @record: its fields, written once, give its
msgpack fields (after [type, log_index, tx_hash], l1.chain.events), its
JSON object and the client's parsing of that JSON (l1.contracts.client).

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
| l2_balance_set       | from, to, balance, locked (a devnet's balance override: derivation sets `to`'s L2 balance) |
"""

from __future__ import annotations

from typing import ClassVar

from l1.chain.events import TX_HASH, ChainEvent, event_table
from node.crypto import Address, Hash32
from node.records import ADDRESS, AMOUNT, BYTES, HASH, UINT, Text, field, record

LABEL = Text(max_length=256)  # move, side, phase, status, reason


# -- the inbox and output proposals (kinds 2-5) --


@record
class BatchPosted(ChainEvent):
    TYPE: ClassVar[int] = 1
    NAME: ClassVar[str] = "batch"
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    sender: Address = field(ADDRESS, "from")
    data: bytes = field(BYTES, "data")


@record
class DepositLocked(ChainEvent):
    TYPE: ClassVar[int] = 2
    NAME: ClassVar[str] = "deposit"
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    sender: Address = field(ADDRESS, "from")
    l2_to: Address = field(ADDRESS, "to")
    amount: int = field(AMOUNT, "amount")


@record
class TxForced(ChainEvent):
    TYPE: ClassVar[int] = 3
    NAME: ClassVar[str] = "forced_tx"
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    sender: Address = field(ADDRESS, "from")
    l2_tx: bytes = field(BYTES, "tx")


@record
class _OutputEvent(ChainEvent):
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    index: int = field(UINT, "index")
    l2_block_number: int = field(UINT, "l2BlockNumber")
    output_root: Hash32 = field(HASH, "outputRoot")
    proposer: Address = field(ADDRESS, "proposer")
    bond: int = field(AMOUNT, "bond")


@record
class OutputProposed(_OutputEvent):
    TYPE: ClassVar[int] = 4
    NAME: ClassVar[str] = "output_proposed"


@record
class OutputFinalized(_OutputEvent):
    TYPE: ClassVar[int] = 5
    NAME: ClassVar[str] = "output_finalized"


# -- disputes and withdrawals (kinds 6-12) --


@record
class OutputDisputed(ChainEvent):
    TYPE: ClassVar[int] = 6
    NAME: ClassVar[str] = "output_disputed"
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    game_id: int = field(UINT, "gameId")
    output_index: int = field(UINT, "outputIndex")
    challenger: Address = field(ADDRESS, "challenger")
    bond: int = field(AMOUNT, "bond")
    start_block: int = field(UINT, "startBlock")
    end_block: int = field(UINT, "endBlock")


@record
class GameMoved(ChainEvent):
    TYPE: ClassVar[int] = 7
    NAME: ClassVar[str] = "game_move"
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    game_id: int = field(UINT, "gameId")
    move: str = field(LABEL, "move")  # claim / respond / open_outputs / prove_step
    side: str = field(LABEL, "side")
    sender: Address = field(ADDRESS, "from")
    phase: str = field(LABEL, "phase")  # after the move
    lo: int = field(UINT, "lo")
    hi: int = field(UINT, "hi")


@record
class GameResolved(ChainEvent):
    TYPE: ClassVar[int] = 8
    NAME: ClassVar[str] = "game_resolved"
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    game_id: int = field(UINT, "gameId")
    output_index: int = field(UINT, "outputIndex")
    status: str = field(LABEL, "status")  # challenger_won / defender_won
    winner: Address = field(ADDRESS, "winner")
    payout: int = field(AMOUNT, "payout")  # the loser's bond, credited to the winner now
    output_status: str = field(LABEL, "outputStatus")  # the output's status after resolution
    reason: str = field(LABEL, "reason")  # one_step / timeout / bad_step_count / genesis


@record
class _WithdrawalEvent(ChainEvent):
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    withdrawal_id: Hash32 = field(HASH, "withdrawalId")
    output_index: int = field(UINT, "outputIndex")
    recipient: Address = field(ADDRESS, "recipient")
    amount: int = field(AMOUNT, "amount")


@record
class WithdrawalProven(_WithdrawalEvent):
    TYPE: ClassVar[int] = 9
    NAME: ClassVar[str] = "withdrawal_proven"


@record
class WithdrawalFinalized(_WithdrawalEvent):
    TYPE: ClassVar[int] = 10
    NAME: ClassVar[str] = "withdrawal_finalized"


@record
class OutputDefeated(ChainEvent):
    TYPE: ClassVar[int] = 11
    NAME: ClassVar[str] = "output_defeated"
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    index: int = field(UINT, "index")
    l2_block_number: int = field(UINT, "l2BlockNumber")
    output_root: Hash32 = field(HASH, "outputRoot")
    challenger: Address = field(ADDRESS, "challenger")


# -- a devnet's balance overrides (kind 13) --


@record
class L2BalanceSet(ChainEvent):
    """A balance override queued for L2 (l1.contracts.devnet_overrides): derivation turns it into a
    node.tx.BalanceOverrideTx at its place among the block's deposits (log order)."""

    TYPE: ClassVar[int] = 12
    NAME: ClassVar[str] = "l2_balance_set"
    log_index: int = field(UINT, "log_index")
    tx_hash: Hash32 | None = field(TX_HASH, "transactionHash")
    sender: Address = field(ADDRESS, "from")
    l2_to: Address = field(ADDRESS, "to")
    balance: int = field(AMOUNT, "balance")
    locked: int = field(AMOUNT, "locked")  # the transaction's value, now in the portal


EVENTS = event_table(
    BatchPosted,
    DepositLocked,
    TxForced,
    OutputProposed,
    OutputFinalized,
    OutputDisputed,
    GameMoved,
    GameResolved,
    WithdrawalProven,
    WithdrawalFinalized,
    OutputDefeated,
    L2BalanceSet,
)

__all__ = [
    "EVENTS",
    "BatchPosted",
    "DepositLocked",
    "GameMoved",
    "GameResolved",
    "L2BalanceSet",
    "OutputDefeated",
    "OutputDisputed",
    "OutputFinalized",
    "OutputProposed",
    "TxForced",
    "WithdrawalFinalized",
    "WithdrawalProven",
]
