"""The rollup's roles and the packages that run them: the one table `rollup <role>` and the devnet read.

Each package is started the same way, `python -m <package> --config FILE`
(node.lifecycle); the test-only fault modes are packages of their own that
production code never imports.
"""

from __future__ import annotations

ROLE_PACKAGES = {
    "l1": "l1.chain",
    "sequencer": "sequencer",
    "settler": "l1.settler",
    "executor": "node.executor",
    "challenger": "prover",
}
ROLE_DESCRIPTIONS = {
    "l1": "the L1 devnet chain with the rollup's settlement contracts",
    "sequencer": "the sequencer: orders, executes and seals L2 blocks",
    "settler": "the settler: posts batches and output roots to L1",
    "executor": "an executor (replica): derives the L2 chain from L1",
    "challenger": "the challenger: re-derives from L1 and disputes wrong output roots",
}
FAULTY_SETTLER_MODULE = "l1.faults.settler"  # the settler with a faulty proposer (test only)
FAULTY_CHALLENGER_MODULE = "l1.faults.challenger"  # a challenger that disputes every output (test only)

__all__ = ["FAULTY_CHALLENGER_MODULE", "FAULTY_SETTLER_MODULE", "ROLE_DESCRIPTIONS", "ROLE_PACKAGES"]
