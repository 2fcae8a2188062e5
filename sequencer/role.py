"""The sequencer role: `python -m sequencer --config FILE` or `rollup sequencer --config FILE` (node.lifecycle)."""

from __future__ import annotations

from node.lifecycle import Role
from sequencer.config import load_sequencer_config
from sequencer.process import SequencerNode

ROLE = Role(
    "sequencer",
    "run the sequencer: orders, executes and seals L2 blocks",
    load_sequencer_config,
    SequencerNode,
    "sequencer",
)
