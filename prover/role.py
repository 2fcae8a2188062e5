"""The challenger role: `python -m prover --config FILE` or `rollup challenger --config FILE` (node.lifecycle)."""

from __future__ import annotations

from node.lifecycle import Role
from prover.challenger import Challenger
from prover.config import load_challenger_config

ROLE = Role(
    "challenger",
    "run the challenger: re-derives from L1 and disputes wrong output roots",
    load_challenger_config,
    Challenger,
    "prover",
)
