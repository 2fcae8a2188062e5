"""Chain rules fixed at genesis and kept in state: today one, `devnet_overrides`.

A chain rule is written into L2 genesis state (node.genesis, from the
rollup's `[rollup]` config; the L1 computes the same genesis from its
`[l1.rollup]` copy, l1.contracts.l2_genesis), so it is committed to by the
genesis state root and every output root after it. No transaction writes
its key: the state transition only reads it, through the same StateReader
as every other key, so the one-step verifier reads it from the witness too
(node.fraud.witness records every key a step reads).

| key                            | value | meaning                                                  |
|--------------------------------|-------|----------------------------------------------------------|
| 0x05 || b"devnet_overrides"    | 0x01  | balance overrides (node.tx.BalanceOverrideTx) may apply   |

Absent (every chain but a devnet's, the default) the rule is off, and an
override transaction is skipped as an unknown kind
(node.stf.errors.BalanceOverridesDisabled).
"""

from __future__ import annotations

from node.state.view import StateReader

NS_CHAIN_RULES = 0x05
DEVNET_OVERRIDES_KEY = bytes([NS_CHAIN_RULES]) + b"devnet_overrides"
RULE_ON = b"\x01"


def is_devnet_overrides_enabled(reader: StateReader) -> bool:
    """Whether this chain's genesis enabled balance overrides (a devnet's chain rule)."""
    return reader.get(DEVNET_OVERRIDES_KEY) == RULE_ON


def compute_chain_rule_writes(devnet_overrides: bool) -> dict[bytes, bytes]:
    """The genesis state writes of the chain rules: nothing for a chain with every rule off."""
    return {DEVNET_OVERRIDES_KEY: RULE_ON} if devnet_overrides else {}


__all__ = [
    "DEVNET_OVERRIDES_KEY",
    "NS_CHAIN_RULES",
    "RULE_ON",
    "compute_chain_rule_writes",
    "is_devnet_overrides_enabled",
]
