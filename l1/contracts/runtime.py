"""The rollup's contracts as one runtime for the L1 chain: every kind, its rule and event, in one table.

    ROLLUP = Runtime(PAYLOADS, EVENTS, RULES, process_block_start)

Nothing registers itself on import: a kind exists when it is in PAYLOADS
(l1.contracts.payloads) and in RULES below, and the chain runs exactly this
(l1.chain.process assembles it).
"""

from __future__ import annotations

from l1.chain.runtime import KindRule, Runtime
from l1.contracts.core import (
    apply_deposit,
    apply_force_tx,
    apply_post_batch,
    apply_propose_output,
    apply_transfer,
    process_block_start,
)
from l1.contracts.devnet_overrides import apply_set_l2_balance
from l1.contracts.disputes import (
    apply_defend_output,
    apply_dispute_output,
    apply_game_move,
    apply_prove_step,
    apply_resolve_game,
)
from l1.contracts.events import EVENTS
from l1.contracts.payloads import (
    PAYLOADS,
    DefendOutput,
    Deposit,
    DisputeOutput,
    FinalizeWithdrawal,
    ForceTx,
    GameMove,
    L1Transfer,
    PostBatch,
    ProposeOutput,
    ProveStepTx,
    ProveWithdrawal,
    ResolveGame,
    SetL2Balance,
)
from l1.contracts.withdrawals import apply_finalize_withdrawal, apply_prove_withdrawal

RULES: dict[type, KindRule] = {
    L1Transfer: apply_transfer,
    PostBatch: apply_post_batch,
    Deposit: apply_deposit,
    ForceTx: apply_force_tx,
    ProposeOutput: apply_propose_output,
    DisputeOutput: apply_dispute_output,
    GameMove: apply_game_move,
    ProveStepTx: apply_prove_step,
    ResolveGame: apply_resolve_game,
    ProveWithdrawal: apply_prove_withdrawal,
    FinalizeWithdrawal: apply_finalize_withdrawal,
    DefendOutput: apply_defend_output,
    SetL2Balance: apply_set_l2_balance,
}

ROLLUP = Runtime(PAYLOADS, EVENTS, RULES, process_block_start)

__all__ = ["ROLLUP", "RULES"]
