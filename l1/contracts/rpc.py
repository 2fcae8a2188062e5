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
"""

from __future__ import annotations

from typing import Any

from node.block import BlockHeader
from node.crypto import to_checksum_address
from node.fraud.game import Side, get_remaining
from node.rpc.errors import LimitExceeded
from node.rpc.params import hash32, positional, uint
from node.rpc.server import RpcServer
from node.shape import RollupRules
from node.stf.config import ChainConfig
from l1.chain.config import L1Config
from l1.chain.producer import L1Chain
from l1.chain.store import L1StoredBlock
from l1.contracts.dispute_state import OutputDispute, Party
from l1.contracts.events import BatchPosted, DepositLocked, TxForced
from l1.contracts.l2_blocks import L2BlockRecord
from l1.contracts.params import L1ChainParams
from l1.contracts.reads import RollupReads
from l1.contracts.state import OutputProposal
from l1.contracts.dispute_state import GameRecord, WithdrawalClaim

MAX_DERIVATION_BLOCKS = 64
MAX_OUTPUTS = 256
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


def derivation_to_json(block: L1StoredBlock) -> dict[str, Any]:
    events = block.events
    return {
        "number": block.number,
        "hash": _hex(block.hash()),
        "timestamp": block.header.timestamp_ms,
        "deposits": [
            {"log_index": e.log_index, "from": to_checksum_address(e.sender), "to": to_checksum_address(e.l2_to), "amount": str(e.amount)}
            for e in events
            if isinstance(e, DepositLocked)
        ],
        "forced_txs": [{"log_index": e.log_index, "tx": _hex(e.l2_tx)} for e in events if isinstance(e, TxForced)],
        "batches": [{"log_index": e.log_index, "data": _hex(e.data)} for e in events if isinstance(e, BatchPosted)],
    }


def party_to_json(party: Party) -> dict[str, Any]:
    return {
        "address": to_checksum_address(party.address),
        "bond": str(party.bond),
        "wins": party.wins,
        "beatenBy": party.beaten_by,
    }


def output_to_json(proposal: OutputProposal, challenge_window: int, dispute: OutputDispute | None = None) -> dict[str, Any]:
    """`dispute` (its parties by slot, its games) is present only once the output has been disputed.

    Defender 0 is the proposer. `beatenBy` is the slot, on the other side, of the first party that beat it
    (who takes its bond if its side loses)."""
    result: dict[str, Any] = {
        "index": proposal.index,
        "l2BlockNumber": proposal.l2_block_number,
        "outputRoot": _hex(proposal.output_root),
        "proposer": to_checksum_address(proposal.proposer),
        "bond": str(proposal.bond),
        "proposedAt": proposal.proposed_at,
        "finalizesAt": proposal.finalizes_at(challenge_window),
        "status": proposal.status.label,
    }
    if dispute is not None:
        result["dispute"] = {
            "challengers": [party_to_json(p) for p in dispute.challengers],
            "defenders": [party_to_json(p) for p in dispute.defenders],
            "games": list(dispute.game_ids),
            "openGames": dispute.open_games,
        }
    return result


def l2_block_to_json(record: L2BlockRecord) -> dict[str, Any]:
    return {
        "number": record.number,
        "timestamp": record.timestamp_ms,
        "l1OriginNumber": record.l1_origin_number,
        "opensEpoch": record.opens_epoch,
        "batch": None if record.batch is None else {
            "l1Block": record.batch[0], "logIndex": record.batch[1], "position": record.batch[2],
        },
    }


def config_to_json(config: L1Config, params: L1ChainParams | None = None) -> dict[str, Any]:
    """`params`: the chain's own (the L2 genesis root may be computed at start-up), else the config's."""
    params = config.params if params is None else params
    return {
        "chainId": params.chain_id,
        "blockTimeMs": config.block_time_ms,
        "batcher": to_checksum_address(params.batcher),
        "proposer": None if params.proposer is None else to_checksum_address(params.proposer),
        "proposerFallbackBlocks": params.proposer_fallback_blocks,
        "proposerBond": str(params.proposer_bond),
        "challengeWindow": params.challenge_window,
        "minFee": str(params.min_fee),
        "maxBatchBytes": params.max_batch_bytes,
        "gameClockBlocks": params.disputes.game_clock_blocks,
        "l2GenesisOutputRoot": None if params.disputes.genesis_output_root is None else _hex(params.disputes.genesis_output_root),
        "rollup": rollup_to_json(params.disputes.rollup, params.disputes.rules),
    }


def rollup_to_json(rollup: ChainConfig | None, rules: RollupRules | None = None) -> dict[str, Any] | None:
    """The L2 ChainConfig the one-step verifier runs and the derivation rules the L1 follows; null when
    disputes are disabled."""
    if rollup is None:
        return None
    return {
        "chainId": rollup.chain_id,
        "feeRecipient": to_checksum_address(rollup.fee_recipient),
        "minFee": str(rollup.min_fee),
        "maxBlockTxs": rollup.max_block_txs,
        "sequencingWindow": None if rules is None else rules.sequencing_window,
        "maxSequencerDriftMs": None if rules is None else rules.max_sequencer_drift_ms,
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
        return [derivation_to_json(b) for b in self.chain.get_blocks(first_block, n)] if n else []

    def l1_getOutputs(self, params: list[Any]) -> list[dict[str, Any]]:
        first, count = positional(params, 2, 0, "l1_getOutputs")
        first_index = uint(first, "from_index", maximum=UINT64_MAX)
        n = _count(count, MAX_OUTPUTS)
        window = self.config.params.challenge_window
        return [output_to_json(p, window, self.reads.get_output_dispute(p.index)) for p in self.reads.get_outputs(first_index, n)]

    def l1_getL2Head(self, params: list[Any]) -> dict[str, Any]:
        """The newest L2 block this L1's inbox derives (outputs may only name blocks up to it)."""
        positional(params, 0, 0, "l1_getL2Head")
        head = self.reads.get_l2_head()
        return {"number": head.number, "timestamp": head.timestamp_ms, "l1OriginNumber": head.l1_origin_number}

    def l1_getL2Block(self, params: list[Any]) -> dict[str, Any] | None:
        """L2 block `number` as this L1 derived it from its inbox, or null if it is not derived (yet)."""
        (number,) = positional(params, 1, 0, "l1_getL2Block")
        record = self.reads.get_l2_block(uint(number, "number", maximum=UINT64_MAX))
        return None if record is None else l2_block_to_json(record)

    def l1_config(self, params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, "l1_config")
        return config_to_json(self.config, self.chain.params)


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
        return withdrawal_to_json(claim, None if output is None else output.status.label)


__all__ = ["DisputeRpc", "RollupRpc", "game_to_json", "header_to_json", "withdrawal_to_json"]
