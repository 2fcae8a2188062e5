"""The l1 role: `python -m l1.chain --config FILE` or `rollup l1 --config FILE` (node.lifecycle)."""

from __future__ import annotations

from l1.chain.config import load_l1_config
from l1.chain.process import L1Process
from node.lifecycle import Role

ROLE = Role(
    "l1", "run the L1 devnet chain with the rollup's settlement contracts", load_l1_config, L1Process, "l1.chain"
)
