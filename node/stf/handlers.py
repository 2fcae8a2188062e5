"""The per-kind handler table: how each signed payload kind changes state.

The core (`node.stf.execute`) runs the steps every signed transaction shares
(chain id, fee, nonce, balance covering fee + cost, fee payment, nonce bump)
and then calls the handler registered for the payload's class. A new kind
(the venue's orders) registers a handler at import time, next to its
`node.tx.register_payload`, without editing the core:

    register_handler(PlaceOrder, apply_place_order, check=check_place_order)

The table is write-once: a class is registered at most once, so after
imports it is effectively constant and every process running the same code
executes the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.errors import UnknownKind
from node.tx import RecoveredTx

ApplyFn = Callable[[Overlay, ChainConfig, BlockContext, RecoveredTx], None]
CheckFn = Callable[[StateReader, ChainConfig, RecoveredTx], None]
CostFn = Callable[[Any], int]


def _no_check(reader: StateReader, config: ChainConfig, rtx: RecoveredTx) -> None:
    return None


def _no_cost(payload: Any) -> int:
    return 0


@dataclass(frozen=True, slots=True)
class TxHandler:
    """`apply` makes the payload's effects (may raise InvalidTransaction);
    `check` is its read-only validation; `cost` is what the sender must hold
    besides the fee (the core checks balance >= fee + cost before applying)."""

    apply: ApplyFn
    check: CheckFn = _no_check
    cost: CostFn = _no_cost


_HANDLERS: dict[type, TxHandler] = {}


def register_handler(
    payload_cls: type,
    fn: ApplyFn,
    *,
    check: CheckFn | None = None,
    cost: CostFn | None = None,
) -> None:
    """Register how a payload class changes state; each class at most once."""
    if not hasattr(payload_cls, "KIND") or not hasattr(payload_cls, "NAME"):
        raise ValueError(f"{payload_cls.__name__} is not a payload class (needs KIND and NAME)")
    if payload_cls in _HANDLERS:
        raise ValueError(f"a handler for {payload_cls.__name__} is already registered")
    _HANDLERS[payload_cls] = TxHandler(fn, check or _no_check, cost or _no_cost)


def get_handler(payload_cls: type) -> TxHandler:
    try:
        return _HANDLERS[payload_cls]
    except KeyError:
        kind = getattr(payload_cls, "KIND", "?")
        raise UnknownKind(f"no state transition for kind {kind} ({payload_cls.__name__})") from None
