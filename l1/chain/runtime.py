"""What an L1 chain runs: its contracts, handed to the chain explicitly (no registration on import).

    Runtime(payloads, events, rules, block_start)

The chain knows the transaction envelope, accounts, fees and nonces; a
runtime adds everything else: which kinds exist (payloads), which events
they emit (events), what each kind does (rules) and what happens at the
start of every block. The rollup's runtime is assembled in one place,
l1.contracts.runtime.ROLLUP.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from l1.chain.events import EventTable
from l1.chain.tx import PayloadTable, RecoveredL1Tx
from node.state.view import Overlay
from node.stf.errors import UnknownKind


class ChainParams(Protocol):
    """What the chain itself reads of its parameters (the contracts read more)."""

    @property
    def chain_id(self) -> int: ...

    @property
    def min_fee(self) -> int: ...


@dataclass(frozen=True, slots=True)
class L1BlockEnv:
    number: int
    timestamp_ms: int


# A kind's rule: (overlay, params, env, rtx, first log index) -> its events; raises KindRuleError (status 0).
KindRule = Callable[[Overlay, Any, L1BlockEnv, RecoveredL1Tx, int], list[Any]]
# What happens at the start of block `number`, before its transactions: its events (from log index 0).
BlockStart = Callable[[Overlay, Any, int], list[Any]]


@dataclass(frozen=True)
class Runtime:
    payloads: PayloadTable
    events: EventTable
    rules: Mapping[type, KindRule]
    block_start: BlockStart

    def __post_init__(self) -> None:
        missing = [cls.__name__ for cls in self.payloads.values() if cls not in self.rules]
        if missing:
            raise ValueError(f"the runtime has payloads without a rule: {', '.join(missing)}")

    def rule_for(self, payload_cls: type) -> KindRule:
        try:
            return self.rules[payload_cls]
        except KeyError:
            raise UnknownKind(f"no L1 contract for {payload_cls.__name__}") from None


__all__ = ["BlockStart", "ChainParams", "KindRule", "L1BlockEnv", "Runtime"]
