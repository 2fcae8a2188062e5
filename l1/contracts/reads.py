"""The contracts' state as JSON-RPC and tests read it, over the L1 chain's store."""

from __future__ import annotations

from l1.contracts.dispute_state import (
    GameRecord,
    OutputDispute,
    WithdrawalClaim,
    get_game,
    get_withdrawal_claim,
    list_games,
    list_withdrawal_claims,
    load_output_dispute,
)
from l1.contracts.l2_blocks import L2BlockRecord, get_l2_block, get_l2_head
from l1.contracts.state import OutputProposal, get_output, list_outputs
from node.shape import ShapeHead
from node.state.view import StateReader


class RollupReads:
    def __init__(self, kv: StateReader) -> None:
        self.kv = kv

    def get_outputs(self, from_index: int, count: int) -> list[OutputProposal]:
        return list_outputs(self.kv, from_index, count)

    def get_output(self, index: int) -> OutputProposal | None:
        return get_output(self.kv, index)

    def get_output_dispute(self, index: int) -> OutputDispute | None:
        """Output `index`'s dispute (parties and games), if it was ever disputed."""
        return load_output_dispute(self.kv, index)

    def get_l2_head(self) -> ShapeHead:
        """The newest L2 block derived from this L1's inbox (l1.contracts.l2_blocks)."""
        return get_l2_head(self.kv)

    def get_l2_block(self, number: int) -> L2BlockRecord | None:
        return get_l2_block(self.kv, number)

    def get_game(self, game_id: int) -> GameRecord | None:
        return get_game(self.kv, game_id)

    def get_games(self, from_id: int, count: int) -> list[GameRecord]:
        return list_games(self.kv, from_id, count)

    def get_withdrawal(self, withdrawal_id: bytes) -> WithdrawalClaim | None:
        return get_withdrawal_claim(self.kv, withdrawal_id)

    def get_withdrawals(self, from_seq: int, count: int) -> list[WithdrawalClaim]:
        return list_withdrawal_claims(self.kv, from_seq, count)


__all__ = ["RollupReads"]
