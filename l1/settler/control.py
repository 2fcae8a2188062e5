"""The settler's devnet control method (node.rpc.control gates it on `[node] devnet = true`).

    devnet_setFaultyProposer(mode)   mode: "tx" | "garbage" | null -> {"mode": ..., "fromBlock": n}

From the next output proposal on, the settler proposes wrong output roots
("tx": one transaction's post-state is wrong, "garbage": a random root, as
`--faulty-proposer N --fault-mode` does from a fixed block) until set back
to null; `fromBlock` is the L2 block it applies from. The switch runs
between two rounds of the output duty (the settler's outputs lock), so a
round never mixes the two modes.

The faults themselves are test-only code (l1.faults.proposer) that the
production settler never imports: the switch works when the settler runs as
`python -m l1.faults.settler` (a devnet runs it so, with faults off until
switched on) and is refused (ControlRefused) by `python -m l1.settler`.
"""

from __future__ import annotations

from typing import Any

from node.rpc.errors import InvalidParams

FAULT_MODES = ("tx", "garbage")


def parse_fault_mode(value: Any) -> str | None:
    """A fault mode name, or None for honest proposals."""
    if value is None or (isinstance(value, str) and value in FAULT_MODES):
        return value
    shown = repr(value)[:40] if isinstance(value, str) else type(value).__name__
    raise InvalidParams(f'mode must be "tx", "garbage" or null, got {shown}')


__all__ = ["FAULT_MODES", "parse_fault_mode"]
