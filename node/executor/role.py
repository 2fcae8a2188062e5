"""The executor role: `python -m node.executor --config FILE` or `rollup executor --config FILE` (node.lifecycle)."""

from __future__ import annotations

from node.executor.process import Executor, load_executor_config
from node.lifecycle import Role

ROLE = Role(
    "executor",
    "run an executor (replica): follows gossip, derives the L2 chain from L1, serves reads",
    load_executor_config,
    Executor,
    "node.executor",
)
