"""The contracts' JSON-RPC reads: derivation data, outputs, the L2 blocks the L1 derives, the config (RollupRpc),
and the dispute games and withdrawals: l1_getGames, l1_getGame, l1_getWithdrawal, l1_getWithdrawals (DisputeRpc).

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

Every answer is a record of l1.contracts.reports (or l1.contracts.l2_blocks)
rendered through its node.records schema, the one the client parses with.
"""

from __future__ import annotations

from typing import Any

from l1.chain.config import L1Config
from l1.chain.producer import L1Chain
from l1.contracts.dispute_state import GameRecord, WithdrawalClaim
from l1.contracts.l2_blocks import L2_HEAD
from l1.contracts.params import L1ChainParams
from l1.contracts.reads import RollupReads
from l1.contracts.reports import DerivationBlock, GameInfo, L1ChainInfo, OutputReport, WithdrawalInfo
from node.records import to_json
from node.rpc.errors import LimitExceeded
from node.rpc.params import hash32, positional, uint
from node.rpc.server import RpcServer

MAX_DERIVATION_BLOCKS = 64
MAX_OUTPUTS = 256
MAX_GAMES = 256
MAX_WITHDRAWALS = 256
UINT64_MAX = 2**64 - 1


def game_to_json(record: GameRecord, head: int) -> dict[str, Any]:
    """The game object of l1_getGame, with its clocks at L1 block `head`."""
    return to_json(GameInfo.of(record, head))


def _count(value: Any, limit: int) -> int:
    n = uint(value, "count", maximum=UINT64_MAX)
    if n > limit:
        raise LimitExceeded(f"count {n} exceeds the limit of {limit}")
    return n


class RollupRpc:
    """The contracts' reads over one chain: derivation data, outputs, the derived L2 blocks, the config."""

    METHODS = ("l1_getDerivationData", "l1_getOutputs", "l1_getL2Head", "l1_getL2Block", "l1_config")

    def __init__(self, chain: L1Chain, config: L1Config) -> None:
        self.chain = chain
        self.config = config
        self.reads = RollupReads(chain.kv)

    def register(self, server: RpcServer) -> None:
        for name in self.METHODS:
            server.register(name, getattr(self, name))
        DisputeRpc(self.chain).register(server)

    def l1_getDerivationData(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getDerivationData")
        first_block = uint(first, "from_block", maximum=UINT64_MAX)
        n = _count(count, MAX_DERIVATION_BLOCKS)
        return [to_json(DerivationBlock.of(b)) for b in self.chain.get_blocks(first_block, n)] if n else []

    def l1_getOutputs(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getOutputs")
        first_index = uint(first, "from_index", maximum=UINT64_MAX)
        n = _count(count, MAX_OUTPUTS)
        window = self.config.params.challenge_window
        return [
            to_json(OutputReport.of(p, window, self.reads.get_output_dispute(p.index)))
            for p in self.reads.get_outputs(first_index, n)
        ]

    def l1_getL2Head(self, params: list[Any]) -> dict[str, Any]:
        """The newest L2 block this L1's inbox derives (outputs may only name blocks up to it)."""
        positional(params, 0, 0, "l1_getL2Head")
        return L2_HEAD.to_json(self.reads.get_l2_head())

    def l1_getL2Block(self, params: list[Any]) -> dict[str, Any] | None:
        """L2 block `number` as this L1 derived it from its inbox, or null if it is not derived (yet)."""
        (number,) = positional(params, 1, 0, "l1_getL2Block")
        record = self.reads.get_l2_block(uint(number, "number", maximum=UINT64_MAX))
        return None if record is None else to_json(record)

    def l1_config(self, params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, "l1_config")
        chain_params = self.chain.params  # the chain's own: the L2 genesis output root may be computed at start-up
        if not isinstance(chain_params, L1ChainParams):
            raise TypeError(f"the rollup's reads need the contracts' parameters, not {type(chain_params).__name__}")
        return to_json(L1ChainInfo.of(self.config, chain_params))


class DisputeRpc:
    """The dispute and withdrawal read methods over one chain."""

    METHODS = ("l1_getGames", "l1_getGame", "l1_getWithdrawal", "l1_getWithdrawals")

    def __init__(self, chain: L1Chain) -> None:
        self.chain = chain
        self.reads = RollupReads(chain.kv)

    def register(self, server: RpcServer) -> None:
        for name in self.METHODS:
            server.register(name, getattr(self, name))

    def l1_getGames(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getGames")
        first_id = uint(first, "from_index", maximum=UINT64_MAX)
        n = _count(count, MAX_GAMES)
        head = self.chain.head.number
        return [game_to_json(g, head) for g in self.reads.get_games(first_id, n)] if n else []

    def l1_getGame(self, params: list[Any]) -> dict[str, Any] | None:
        (game_id,) = positional(params, 1, 0, "l1_getGame")
        record = self.reads.get_game(uint(game_id, "game_id", maximum=UINT64_MAX))
        return None if record is None else game_to_json(record, self.chain.head.number)

    def l1_getWithdrawal(self, params: list[Any]) -> dict[str, Any] | None:
        (withdrawal_id,) = positional(params, 1, 0, "l1_getWithdrawal")
        claim = self.reads.get_withdrawal(hash32(withdrawal_id, "withdrawal_id"))
        return None if claim is None else self.render_withdrawal(claim)

    def l1_getWithdrawals(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getWithdrawals")
        first_seq = uint(first, "from_index", maximum=UINT64_MAX)
        n = _count(count, MAX_WITHDRAWALS)
        return [self.render_withdrawal(c) for c in self.reads.get_withdrawals(first_seq, n)] if n else []

    def render_withdrawal(self, claim: WithdrawalClaim) -> dict[str, Any]:
        output = self.reads.get_output(claim.output_index)
        return to_json(WithdrawalInfo.of(claim, None if output is None else output.status))


__all__ = ["DisputeRpc", "RollupRpc", "game_to_json"]
