"""Read operations on the L1 (sans-IO, see node.client.sansio): balances, head, outputs, games, withdrawals.

Records are parsed by the L1 client's own schemas (l1.contracts.client):
outputs are OutputReports, games GameInfo, withdrawals WithdrawalInfo; a
reply of another shape raises node.client.errors.ResponseError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from node.client.errors import ResponseError
from node.client.inputs import AddressLike, to_address, to_hash, to_uint
from node.client.sansio import Call, Op, reply_int
from node.crypto import to_checksum_address

if TYPE_CHECKING:
    from l1.contracts.reports import GameInfo, OutputReport, WithdrawalInfo
    from node.records import Schema

R = TypeVar("R")
PAGE = 256  # the L1's limit per l1_getOutputs / l1_getGames / l1_getWithdrawals call


def balance(l1: str, address: AddressLike) -> Op[int]:
    return reply_int((yield Call(l1, "l1_getBalance", (to_checksum_address(to_address(address)),))), "l1_getBalance")


def nonce(l1: str, address: AddressLike) -> Op[int]:
    """The next nonce of `address`, counting its transactions in the L1 mempool."""
    return reply_int((yield Call(l1, "l1_getNonce", (to_checksum_address(to_address(address)),))), "l1_getNonce")


def block_number(l1: str) -> Op[int]:
    return reply_int((yield Call(l1, "l1_blockNumber")), "l1_blockNumber")


def _parse_list(schema: Schema[R], reply: Any, what: str) -> list[R]:
    from l1.contracts.client import L1ResponseError, parse_list

    try:
        return parse_list(schema, reply, what)
    except L1ResponseError as exc:
        raise ResponseError(str(exc)) from None


def _parse(schema: Schema[R], reply: Any) -> R:
    from l1.contracts.client import L1ResponseError, parse

    try:
        return parse(schema, reply)
    except L1ResponseError as exc:
        raise ResponseError(str(exc)) from None


def _paged(l1: str, method: str, schema: Schema[R], what: str) -> Op[list[R]]:
    items: list[R] = []
    while True:
        page = _parse_list(schema, (yield Call(l1, method, (len(items), PAGE))), what)
        items.extend(page)
        if len(page) < PAGE:
            return items


def outputs(l1: str) -> Op[list[OutputReport]]:
    """Every output proposal, by index: status, parties, games, finalization block."""
    from l1.contracts.client import OUTPUT

    return (yield from _paged(l1, "l1_getOutputs", OUTPUT, "outputs"))


def games(l1: str) -> Op[list[GameInfo]]:
    """Every dispute game, by id."""
    from l1.contracts.client import GAME_INFO

    return (yield from _paged(l1, "l1_getGames", GAME_INFO, "games"))


def withdrawals(l1: str) -> Op[list[WithdrawalInfo]]:
    """Every withdrawal proven on L1, in the order first proven."""
    from l1.contracts.client import WITHDRAWAL

    return (yield from _paged(l1, "l1_getWithdrawals", WITHDRAWAL, "withdrawals"))


def game(l1: str, game_id: int | str) -> Op[GameInfo | None]:
    from l1.contracts.client import GAME_INFO

    reply = yield Call(l1, "l1_getGame", (to_uint(game_id, "game id"),))
    return None if reply is None else _parse(GAME_INFO, reply)


def withdrawal(l1: str, withdrawal_id: str | bytes) -> Op[WithdrawalInfo | None]:
    from l1.contracts.client import WITHDRAWAL

    reply = yield Call(l1, "l1_getWithdrawal", (to_hash(withdrawal_id, "withdrawal id"),))
    return None if reply is None else _parse(WITHDRAWAL, reply)
