"""`python -m l1.faults.settler --config FILE`: the settler with a faulty proposer (test only).

The config is a settler config plus

    [faults]
    proposer_from_block = 25          # the first output due at or after this L2 block is wrong
    proposer_mode = "tx_post_state"   # or "garbage" (a random root); see l1.faults.trace

and the settler runs with l1.faults.proposer.FaultyProposer injected as its
proposal policy: one wrong output, its dishonest defence, then the right root.

Without a [faults] table the faults are off: the settler proposes correct
roots until `devnet_setFaultyProposer` switches them on at run time (a
devnet runs its settler this way, so the production entry point,
`python -m l1.settler`, never imports this package).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l1.faults.proposer import FaultyProposer
from l1.faults.trace import FaultMode
from l1.settler.config import SettlerConfig, settler_config_from_dict
from l1.settler.journal import JournalError
from l1.settler.process import Settler, SettlerError
from node.lifecycle import Role, role_main
from node.service import ConfigError, load_toml

FAULT_KEYS = frozenset({"proposer_from_block", "proposer_mode"})


@dataclass(frozen=True, slots=True)
class FaultySettlerConfig:
    settler: SettlerConfig
    from_block: int | None  # None: faults off until devnet_setFaultyProposer
    mode: FaultMode

    @property
    def node(self) -> Any:
        return self.settler.node


def load_faulty_settler_config(path: str | Path) -> FaultySettlerConfig:
    doc = load_toml(path)
    faults = doc.get("faults")
    if faults is None:
        return FaultySettlerConfig(settler_config_from_dict(doc, Path(path).parent), None, FaultMode.TX_POST_STATE)
    if not isinstance(faults, Mapping):
        raise ConfigError("[faults] must be a table (proposer_from_block, proposer_mode)")
    unknown = sorted(set(faults) - FAULT_KEYS)
    if unknown:
        raise ConfigError(f"[faults] has unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(FAULT_KEYS))}")
    from_block = faults.get("proposer_from_block")
    if isinstance(from_block, bool) or not isinstance(from_block, int) or not 1 <= from_block < 2**63:
        raise ConfigError(f"faults.proposer_from_block must be an L2 block number >= 1, got {from_block!r}")
    try:
        mode = FaultMode(faults.get("proposer_mode", FaultMode.TX_POST_STATE.value))
    except ValueError:
        raise ConfigError(f"faults.proposer_mode must be one of {', '.join(m.value for m in FaultMode)}") from None
    return FaultySettlerConfig(settler_config_from_dict(doc, Path(path).parent), from_block, mode)


def make_faulty_settler(config: FaultySettlerConfig) -> Settler:
    def policy(settler_config: SettlerConfig, l1: Any, sequencer: Any) -> FaultyProposer:
        return FaultyProposer(settler_config, config.from_block, config.mode, l1, sequencer)

    return Settler(config.settler, proposal_policy=policy)


ROLE = Role(
    "settler",
    "run the settler with a faulty proposer (test only)",
    load_faulty_settler_config,
    make_faulty_settler,
    "l1.faults.settler",
    startup_errors=(SettlerError, JournalError),
)

if __name__ == "__main__":
    sys.exit(role_main(ROLE))
