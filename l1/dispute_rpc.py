"""JSON-RPC of the dispute games and withdrawals: l1_getGames, l1_getGame, l1_getWithdrawal, l1_getWithdrawals.

Game object (amounts decimal strings, roots 0x-hex, addresses EIP-55):

    {gameId, outputIndex, challenger, defender (the proposer), status, phase,
     startBlock, endBlock, lo, hi, claims: {lo, hi, mid (null when none pending)},
     turn, turnStartedAt, clockBlocks,
     clocks: {challenger, defender}     L1 blocks left on each clock, not counting the running turn
     clocksNow: {challenger, defender}  the same at L1 block `clocksAt` (the head), the running turn charged
     clocksAt, bonds: {challenger, defender}, moves (count), createdAt, resolvedAt (null while running),
     blockNumber (the opened L2 block, null before the opening), stepCount (0 before it),
     disputedHeader (null before the opening), winner (null while running)}

A move included in L1 block b is legal only while the mover's clock at b is
>= 0, i.e. clocks[side] - (b - turnStartedAt) >= 0 for the side on turn.
status: in_progress | challenger_won | defender_won;
phase: blocks | opening | steps | one_step | over (node.fraud.game).

Withdrawal object: {withdrawalId, status (proven | finalized), outputIndex,
outputStatus, l2Sender, recipient, amount, l2BlockNumber, provenAt, finalizedAt (null until paid)}.
"""

from __future__ import annotations

from typing import Any

from node.block import BlockHeader
from node.crypto import to_checksum_address
from node.fraud.game import Side, get_remaining
from node.rpc.errors import LimitExceeded
from node.rpc.params import hash32, positional, uint
from node.rpc.server import RpcServer
from l1.chain import L1Chain
from l1.dispute_state import GameRecord, WithdrawalClaim

MAX_GAMES = 256
MAX_WITHDRAWALS = 256
UINT64_MAX = 2**64 - 1


def _hex(data: bytes | None) -> str | None:
    return None if data is None else "0x" + bytes(data).hex()


def header_to_json(header: BlockHeader) -> dict[str, Any]:
    return {
        "number": header.number,
        "hash": _hex(header.hash()),
        "parentHash": _hex(header.parent_hash),
        "timestamp": header.timestamp_ms,
        "l1OriginNumber": header.l1_origin_number,
        "l1OriginHash": _hex(header.l1_origin_hash),
        "txRoot": _hex(header.tx_root),
        "stateRoot": _hex(header.state_root),
    }


def game_to_json(record: GameRecord, head: int) -> dict[str, Any]:
    game = record.game
    header = game.disputed_header
    at_turn_start = {
        Side.CHALLENGER.value: game.clock_blocks - game.challenger_used,
        Side.DEFENDER.value: game.clock_blocks - game.defender_used,
    }
    now = max(head, game.turn_started_at)
    clocks_now = (
        {side.value: get_remaining(game, side, now) for side in Side} if game.in_progress else dict(at_turn_start)
    )
    winner = None
    if game.challenger_won:
        winner = to_checksum_address(record.challenger)
    elif game.defender_won:
        winner = to_checksum_address(record.defender)
    return {
        "gameId": record.game_id,
        "outputIndex": record.output_index,
        "challenger": to_checksum_address(record.challenger),
        "defender": to_checksum_address(record.defender),
        "status": game.status.value,
        "phase": game.phase.value,
        "startBlock": game.start_block,
        "endBlock": game.end_block,
        "lo": game.lo,
        "hi": game.hi,
        "claims": {"lo": _hex(game.lo_claim), "hi": _hex(game.hi_claim), "mid": _hex(game.mid_claim)},
        "turn": game.turn.value,
        "turnStartedAt": game.turn_started_at,
        "clockBlocks": game.clock_blocks,
        "clocks": at_turn_start,
        "clocksNow": clocks_now,
        "clocksAt": now,
        "bonds": {"challenger": str(record.challenger_bond), "defender": str(record.defender_bond)},
        "moves": game.moves,
        "createdAt": record.created_at,
        "resolvedAt": record.resolved_at,
        "blockNumber": None if header is None else header.number,
        "stepCount": game.step_count,
        "disputedHeader": None if header is None else header_to_json(header),
        "winner": winner,
    }


def withdrawal_to_json(claim: WithdrawalClaim, output_status: str | None) -> dict[str, Any]:
    return {
        "withdrawalId": _hex(claim.withdrawal_id),
        "status": claim.status.label,
        "outputIndex": claim.output_index,
        "outputStatus": output_status,
        "l2Sender": to_checksum_address(claim.l2_sender),
        "recipient": to_checksum_address(claim.recipient),
        "amount": str(claim.amount),
        "l2BlockNumber": claim.l2_block_number,
        "provenAt": claim.proven_at,
        "finalizedAt": claim.finalized_at,
    }


def _count(value: Any, limit: int) -> int:
    n = uint(value, "count", maximum=UINT64_MAX)
    if n > limit:
        raise LimitExceeded(f"count {n} exceeds the limit of {limit}")
    return n


class DisputeRpc:
    """The dispute and withdrawal read methods over one chain."""

    METHODS = ("l1_getGames", "l1_getGame", "l1_getWithdrawal", "l1_getWithdrawals")

    def __init__(self, chain: L1Chain) -> None:
        self.chain = chain

    def register(self, server: RpcServer) -> None:
        for name in self.METHODS:
            server.register(name, getattr(self, name))

    def l1_getGames(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getGames")
        first_id = uint(first, "from_index", maximum=UINT64_MAX)
        n = _count(count, MAX_GAMES)
        head = self.chain.head.number
        return [game_to_json(g, head) for g in self.chain.get_games(first_id, n)] if n else []

    def l1_getGame(self, params: list[Any]) -> dict[str, Any] | None:
        (game_id,) = positional(params, 1, 0, "l1_getGame")
        record = self.chain.get_game(uint(game_id, "game_id", maximum=UINT64_MAX))
        return None if record is None else game_to_json(record, self.chain.head.number)

    def l1_getWithdrawal(self, params: list[Any]) -> dict[str, Any] | None:
        (withdrawal_id,) = positional(params, 1, 0, "l1_getWithdrawal")
        claim = self.chain.get_withdrawal(hash32(withdrawal_id, "withdrawal_id"))
        return None if claim is None else self.render_withdrawal(claim)

    def l1_getWithdrawals(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getWithdrawals")
        first_seq = uint(first, "from_index", maximum=UINT64_MAX)
        n = _count(count, MAX_WITHDRAWALS)
        return [self.render_withdrawal(c) for c in self.chain.get_withdrawals(first_seq, n)] if n else []

    def render_withdrawal(self, claim: WithdrawalClaim) -> dict[str, Any]:
        output = self.chain.get_output(claim.output_index)
        return withdrawal_to_json(claim, None if output is None else output.status.label)


__all__ = ["DisputeRpc", "game_to_json", "header_to_json", "withdrawal_to_json"]
