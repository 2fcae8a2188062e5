"""The parameters the rollup's contracts run with (read from [l1] and [l1.rollup] by l1.chain.config)."""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import Address, Hash32
from node.shape import RollupRules
from node.stf.config import ChainConfig

DEFAULT_GAME_CLOCK_BLOCKS = 20
DEFAULT_PROPOSER_FALLBACK_BLOCKS = 300


@dataclass(frozen=True, slots=True)
class DisputeParams:
    """What the dispute and withdrawal contracts need (kinds 6-11).

    `rollup` is the L2's ChainConfig, which the one-step verifier runs the
    state transition with; None disables disputes. `genesis_output_root` is
    the output root of L2 block 0; None refuses disputes that would start there.
    `rules` are the L2's derivation rules: with them the L1 tracks the L2
    blocks its inbox derives (l1.contracts.l2_blocks) and refuses outputs for others.
    """

    game_clock_blocks: int = DEFAULT_GAME_CLOCK_BLOCKS
    genesis_output_root: Hash32 | None = None
    rollup: ChainConfig | None = None
    rules: RollupRules | None = None


@dataclass(frozen=True, slots=True)
class L1ChainParams:
    """What the contracts need: fixed for the chain's life except fee and limits."""

    chain_id: int
    min_fee: int
    batcher: Address
    proposer_bond: int
    challenge_window: int
    max_batch_bytes: int
    disputes: DisputeParams = DisputeParams()
    proposer: Address | None = None  # None: proposals are permissionless (bonded)
    proposer_fallback_blocks: int = DEFAULT_PROPOSER_FALLBACK_BLOCKS
    # [l1.rollup] devnet_overrides: a devnet's chain rule (node.stf.chain_rules); set_l2_balance is refused without it
    devnet_overrides: bool = False


__all__ = ["DEFAULT_GAME_CLOCK_BLOCKS", "DEFAULT_PROPOSER_FALLBACK_BLOCKS", "DisputeParams", "L1ChainParams"]
