"""Rule errors of the dispute and withdrawal contracts (kinds 6-12): status-0 receipts, each with its code.

KindRuleError (l1.chain.errors)
├── OutputNotFound           -32064  no output proposal with that index
├── OutputNotDisputable      -32065  the proposal is settled, or its challenge window has passed (a defence:
│                                    and none of its games is running)
├── NoAgreedOutput           -32066  nothing agreed to start the game from (no l2_genesis_output_root)
├── DisputesDisabled         -32067  the L1 has no [l1.rollup] config: it could not verify a step
├── GameNotFound             -32068
├── GameAlreadyOver          -32069
├── NotYourTurn              -32070  the move's side is not the side on turn
├── NotThePlayer             -32071  a move for a side from another address than that game's player for it
├── ClockExpired             -32072  the mover's (side on turn) clock has run out: only resolve_game is left
├── ClockNotExpired          -32073  resolve_game while the side on turn still has time
├── IllegalMove              -32074  the game's rules refuse the move (phase, opening, root shape)
├── StepInputMismatch        -32075  the step the L1 rebuilds is not the one the game disputes
├── InvalidWitness           -32076  the witness is malformed, incomplete or does not verify against the pre-root
├── UnprovableStep           -32077  the proven pre-state cannot be run by the state transition
├── UnderivableOpening       -32078  the opened header is not the L2 block the L1 derived from its inbox
├── OutputMismatch           -32080  state root and block hash do not open the output root
├── InvalidWithdrawalProof   -32081  the record is not proven under the state root
├── WithdrawalAlreadyProven  -32082  proven against an output that is not defeated
├── WithdrawalNotProven      -32083
├── OutputNotFinalized       -32084  the withdrawal's output is pending or disputed
├── WithdrawalAlreadyFinalized -32085  paid already
├── OutputDefeated           -32086  the output is defeated: prove again against a finalized one
├── PortalInsufficient       -32087  the portal holds less than the withdrawal (cannot happen with honest outputs)
├── AlreadyAParty            -32090  the address already plays in this output's dispute (either side)
├── NotDisputed              -32091  a defence of an output no challenger disputes
└── BalanceOverridesDisabled -32092  a set_l2_balance on a chain whose [l1.rollup] devnet_overrides is off
"""

from __future__ import annotations

from l1.chain.errors import KindRuleError
from node.crypto import to_checksum_address


class NotBatcher(KindRuleError):
    rpc_code = -32060

    def __init__(self, sender: bytes, batcher: bytes) -> None:
        self.sender, self.batcher = sender, batcher
        super().__init__(
            f"not the batcher: {to_checksum_address(sender)} may not post batches, "
            f"the batcher is {to_checksum_address(batcher)}"
        )


class BondTooLow(KindRuleError):
    rpc_code = -32061

    def __init__(self, bond: int, required: int) -> None:
        self.bond, self.required = bond, required
        super().__init__(f"bond too low: proposal carries {bond}, the proposer bond is {required}")


class BatchTooLarge(KindRuleError):
    rpc_code = -32063

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"batch too large: {size} bytes, limit is {limit}")


class NotProposer(KindRuleError):
    rpc_code = -32088

    def __init__(self, sender: bytes, proposer: bytes, opens_at: int) -> None:
        self.sender, self.proposer, self.opens_at = sender, proposer, opens_at
        super().__init__(
            f"not the proposer: {to_checksum_address(sender)} may not propose outputs, the proposer is "
            f"{to_checksum_address(proposer)}; anyone may from L1 block {opens_at} if no output finalizes before"
        )


class L2BlockNotDerived(KindRuleError):
    rpc_code = -32089

    def __init__(self, l2_block_number: int, l2_head: int) -> None:
        self.l2_block_number, self.l2_head = l2_block_number, l2_head
        super().__init__(
            f"L2 block {l2_block_number} is not derived from this L1's inbox yet (derived head: {l2_head}): "
            "an output can only name a block that exists"
        )


class ForcedDeposit(KindRuleError):
    rpc_code = -32093

    def __init__(self) -> None:
        super().__init__(
            "a forced transaction may not be a deposit or a balance override: they come only from the portal"
        )


class BalanceOverridesDisabled(KindRuleError):
    """set_l2_balance on a chain whose rule devnet_overrides is off (every chain but a devnet's)."""

    rpc_code = -32092

    def __init__(self) -> None:
        super().__init__(
            "set_l2_balance refused: balance overrides are a devnet-only chain rule, and this chain's "
            "[l1.rollup] devnet_overrides is off"
        )


class OutputNotFound(KindRuleError):
    rpc_code = -32064


class OutputNotDisputable(KindRuleError):
    rpc_code = -32065


class NoAgreedOutput(KindRuleError):
    rpc_code = -32066


class DisputesDisabled(KindRuleError):
    rpc_code = -32067


class GameNotFound(KindRuleError):
    rpc_code = -32068


class GameAlreadyOver(KindRuleError):
    rpc_code = -32069


class NotYourTurn(KindRuleError):
    rpc_code = -32070


class NotThePlayer(KindRuleError):
    rpc_code = -32071


class ClockExpired(KindRuleError):
    rpc_code = -32072


class ClockNotExpired(KindRuleError):
    rpc_code = -32073


class IllegalMove(KindRuleError):
    rpc_code = -32074


class StepInputMismatch(KindRuleError):
    rpc_code = -32075


class InvalidWitness(KindRuleError):
    rpc_code = -32076


class UnprovableStep(KindRuleError):
    rpc_code = -32077


class UnderivableOpening(KindRuleError):
    rpc_code = -32078


class OutputMismatch(KindRuleError):
    rpc_code = -32080


class InvalidWithdrawalProof(KindRuleError):
    rpc_code = -32081


class WithdrawalAlreadyProven(KindRuleError):
    rpc_code = -32082


class WithdrawalNotProven(KindRuleError):
    rpc_code = -32083


class OutputNotFinalized(KindRuleError):
    rpc_code = -32084


class WithdrawalAlreadyFinalized(KindRuleError):
    rpc_code = -32085


class OutputDefeated(KindRuleError):
    rpc_code = -32086


class PortalInsufficient(KindRuleError):
    rpc_code = -32087


class AlreadyAParty(KindRuleError):
    rpc_code = -32090


class NotDisputed(KindRuleError):
    rpc_code = -32091


__all__ = [
    "NotBatcher",
    "BondTooLow",
    "BatchTooLarge",
    "NotProposer",
    "L2BlockNotDerived",
    "ForcedDeposit",
    "BalanceOverridesDisabled",
    "AlreadyAParty",
    "ClockExpired",
    "ClockNotExpired",
    "DisputesDisabled",
    "GameAlreadyOver",
    "GameNotFound",
    "IllegalMove",
    "InvalidWithdrawalProof",
    "InvalidWitness",
    "NoAgreedOutput",
    "NotDisputed",
    "NotThePlayer",
    "NotYourTurn",
    "OutputDefeated",
    "OutputMismatch",
    "OutputNotDisputable",
    "OutputNotFinalized",
    "OutputNotFound",
    "PortalInsufficient",
    "StepInputMismatch",
    "UnderivableOpening",
    "UnprovableStep",
    "WithdrawalAlreadyFinalized",
    "WithdrawalAlreadyProven",
    "WithdrawalNotProven",
]
