"""The L1's one-step verifier replays the state-transition vectors (tests/stf/vectors/*.json).

For every step a vector states (each transaction of each block, then its end-of-block chunks), the
witness is built from the pre-state the vector loads and the steps before it (node.fraud.witness, the
prover's side), sent through its wire form with the step input (as the L1 receives them), and
node.fraud.onestep runs the step from the pre-root the file states: it must give the post-root, the
outcome (applied, or skipped_invalid with the root unchanged) and, for a state no honest chain reaches,
the refusal (UnreachablePreState) the file states. The state-transition replay of the same files is
tests/stf/test_stf_vectors.py; the format and the fill/check tool are described there.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.stf.vector_format import iter_vectors
from tests.stf.vector_replay import replay_onestep

VECTORS = list(iter_vectors())


@pytest.mark.parametrize("doc", [doc for _, doc in VECTORS], ids=[vector_id for vector_id, _ in VECTORS])
def test_the_one_step_verifier_gives_the_roots_the_vector_states(doc: dict[str, Any]) -> None:
    checks = replay_onestep(doc)
    assert [(c.where, c.computed) for c in checks] == [(c.where, c.stated) for c in checks]


def test_every_vector_with_a_runnable_block_has_steps() -> None:
    for vector_id, doc in VECTORS:
        runnable = [b for b in doc["blocks"] if "expect_error" not in b or b["expect_error"].get("stage")]
        assert all(b["steps"] for b in runnable), vector_id
