"""The per-kind handler table: how each signed payload class changes state, typed by that class.

The core (`node.stf.execute`) runs the steps every signed transaction shares
(chain id, fee, nonce, balance covering fee + cost, fee payment, nonce bump)
and then calls the handler of the payload's class. A handler is written for
one payload class: its functions take a `Signed[P]`, the transaction with its
payload typed as P, so they read `tx.payload.amount` without a cast:

    def apply_transfer(overlay, config, ctx, tx: Signed[Transfer]) -> None: ...

    CORE_HANDLERS = (
        TxHandler(Transfer, apply_transfer, validate_positive_amount, compute_amount_cost),
        ...
    )
    register_handlers(CORE_HANDLERS)

Each module that adds kinds builds its table in one place (node.stf.kinds,
node.venue) and registers it; `register_handler(cls, fn, check=, cost=)`
registers one. The table is write-once: a class is registered at most once,
so after imports it is effectively constant and every process running the
same code executes the same way.

Callers that hold a RecoveredTx (node.stf.execute, the sequencer's intake
and mempool) use the handler's `check`, `apply` and `cost`; they bind the
transaction to its typed form, checking at run time that the payload is of
the handler's class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from node.crypto import Address, Hash32
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.errors import UnknownKind
from node.tx import RecoveredTx, SignedTx

P = TypeVar("P")


@dataclass(frozen=True, slots=True)
class Signed(Generic[P]):
    """A recovered signed transaction as its kind's handler sees it: the payload typed as its class."""

    payload: P
    tx: SignedTx  # the envelope: chain id, nonce, fee, signature
    sender: Address
    hash: Hash32

    @property
    def fee(self) -> int:
        return self.tx.fee


ApplyFn = Callable[[Overlay, ChainConfig, BlockContext, Signed[P]], None]
CheckFn = Callable[[StateReader, ChainConfig, Signed[P]], None]
CostFn = Callable[[P], int]


def no_check(reader: StateReader, config: ChainConfig, tx: Signed[Any]) -> None:
    return None


def no_cost(payload: object) -> int:
    return 0


@dataclass(frozen=True, slots=True)
class TxHandler(Generic[P]):
    """How transactions of one payload class change state.

    `process` makes the payload's effects (may raise InvalidTransaction);
    `validate` is its read-only validation; `compute_cost` is what the sender
    must hold besides the fee (the core checks balance >= fee + cost before
    applying)."""

    payload_cls: type[P]
    process: ApplyFn[P]
    validate: CheckFn[P] = no_check
    compute_cost: CostFn[P] = no_cost

    def bind(self, rtx: RecoveredTx) -> Signed[P]:
        tx = rtx.tx
        if not isinstance(tx, SignedTx):
            raise TypeError(
                f"a {self.payload_cls.__name__} handler got a {type(tx).__name__}, not a signed transaction"
            )
        return Signed(self.expect_payload(tx.payload), tx, rtx.sender, rtx.hash)

    def expect_payload(self, payload: object) -> P:
        if not isinstance(payload, self.payload_cls):
            raise TypeError(f"a {self.payload_cls.__name__} handler got a {type(payload).__name__} payload")
        return payload

    def check(self, reader: StateReader, config: ChainConfig, rtx: RecoveredTx) -> None:
        self.validate(reader, config, self.bind(rtx))

    def apply(self, overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx) -> None:
        self.process(overlay, config, ctx, self.bind(rtx))

    def cost(self, payload: object) -> int:
        return self.compute_cost(self.expect_payload(payload))


_HANDLERS: dict[type, TxHandler[Any]] = {}


def register_handlers(handlers: Iterable[TxHandler[Any]]) -> None:
    """Register a table of handlers; each payload class at most once."""
    for handler in handlers:
        cls = handler.payload_cls
        if not hasattr(cls, "KIND") or not hasattr(cls, "NAME"):
            raise ValueError(f"{cls.__name__} is not a payload class (needs KIND and NAME)")
        if cls in _HANDLERS:
            raise ValueError(f"a handler for {cls.__name__} is already registered")
        _HANDLERS[cls] = handler


def register_handler(
    payload_cls: type[P],
    fn: ApplyFn[P],
    *,
    check: CheckFn[P] | None = None,
    cost: CostFn[P] | None = None,
) -> None:
    """Register how one payload class changes state; each class at most once."""
    register_handlers([TxHandler(payload_cls, fn, check or no_check, cost or no_cost)])


def get_handler(payload_cls: type) -> TxHandler[Any]:
    try:
        return _HANDLERS[payload_cls]
    except KeyError:
        kind = getattr(payload_cls, "KIND", "?")
        raise UnknownKind(f"no state transition for kind {kind} ({payload_cls.__name__})") from None
