"""The client's typed results: frozen dataclasses parsed from the JSON-RPC replies.

Each keeps the reply it was parsed from in `raw` (the node's own JSON, what
the CLI prints with --json); a reply without the documented fields raises
node.client.errors.ResponseError naming the method and the field. Venue
reads (markets, book, positions, orders, insurance) stay plain dicts, as
README "JSON-RPC" documents them; L1 records (outputs, games, withdrawals)
are l1.contracts.reports records, parsed by the L1 client's schemas.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from node.client.errors import ResponseError

T = TypeVar("T")


def _field(obj: Any, name: str, convert: Callable[[Any], T], what: str) -> T:
    if not isinstance(obj, dict):
        raise ResponseError(f"{what}: expected an object, got {type(obj).__name__}")
    if name not in obj:
        raise ResponseError(f"{what}: missing field {name!r}")
    try:
        return convert(obj[name])
    except (TypeError, ValueError) as exc:
        raise ResponseError(f"{what}: field {name!r} is malformed ({exc})") from None


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    return int(value)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _optional_int(obj: dict[str, Any], name: str) -> int | None:
    value = obj.get(name)
    return None if value is None else _int(value)


@dataclass(frozen=True, slots=True)
class Head:
    """A chain head: block number, hash and state root."""

    number: int
    hash: str
    state_root: str

    @classmethod
    def from_json(cls, obj: Any, what: str = "head") -> Head:
        return cls(
            _field(obj, "number", _int, what), _field(obj, "hash", _str, what), _field(obj, "stateRoot", _str, what)
        )


@dataclass(frozen=True, slots=True)
class SyncStatus:
    """rollup_syncStatus: the unsafe, safe and finalized heads and the L1 head the node has seen."""

    unsafe: Head
    safe: Head
    finalized: Head
    l1_head: int
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Any) -> SyncStatus:
        what = "rollup_syncStatus"
        return cls(
            Head.from_json(_field(obj, "unsafe", dict, what), f"{what}.unsafe"),
            Head.from_json(_field(obj, "safe", dict, what), f"{what}.safe"),
            Head.from_json(_field(obj, "finalized", dict, what), f"{what}.finalized"),
            _field(obj, "l1Head", _int, what),
            obj,
        )

    def head(self, level: str) -> Head:
        """The head of a level: unsafe (also "latest"), safe or finalized."""
        return {"latest": self.unsafe, "unsafe": self.unsafe, "safe": self.safe, "finalized": self.finalized}[level]


@dataclass(frozen=True, slots=True)
class Receipt:
    """An L2 receipt: `status` 1 applied, 0 skipped with `error` its code; `fee` paid in wei."""

    tx_hash: str
    block_number: int
    index: int
    status: int
    kind: str
    fee: int
    error: int | None
    block_hash: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == 1

    @classmethod
    def from_json(cls, obj: Any, what: str = "receipt") -> Receipt:
        return cls(
            tx_hash=_field(obj, "transactionHash", _str, what),
            block_number=_field(obj, "blockNumber", _int, what),
            index=_field(obj, "transactionIndex", _int, what),
            status=_field(obj, "status", _int, what),
            kind=str(obj.get("kind", "")),
            fee=_int(obj.get("fee", 0)),
            error=_optional_int(obj, "error"),
            block_hash=obj.get("blockHash"),
            raw=obj,
        )


@dataclass(frozen=True, slots=True)
class Block:
    """An L2 block; `transactions` are hashes, or decoded transactions (dicts) when fetched with full=True."""

    number: int
    hash: str
    parent_hash: str
    timestamp_ms: int
    l1_origin_number: int
    l1_origin_hash: str
    transactions_root: str
    state_root: str
    transactions: tuple[Any, ...]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Any, what: str = "rollup_getBlockByNumber") -> Block:
        origin = _field(obj, "l1Origin", dict, what)
        return cls(
            number=_field(obj, "number", _int, what),
            hash=_field(obj, "hash", _str, what),
            parent_hash=_field(obj, "parentHash", _str, what),
            timestamp_ms=_field(obj, "timestamp", _int, what),
            l1_origin_number=_field(origin, "number", _int, f"{what}.l1Origin"),
            l1_origin_hash=_field(origin, "hash", _str, f"{what}.l1Origin"),
            transactions_root=_field(obj, "transactionsRoot", _str, what),
            state_root=_field(obj, "stateRoot", _str, what),
            transactions=tuple(_field(obj, "transactions", list, what)),
            raw=obj,
        )


@dataclass(frozen=True, slots=True)
class TxStatus:
    """rollup_getTransactionStatus: included (with its block), pending, queued, dropped (with reason) or unknown."""

    status: str
    block_number: int | None
    reason: str | None
    detail: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Any) -> TxStatus:
        what = "rollup_getTransactionStatus"
        status = _field(obj, "status", _str, what)
        return cls(status, _optional_int(obj, "blockNumber"), obj.get("reason"), obj.get("detail"), obj)


@dataclass(frozen=True, slots=True)
class AccountProof:
    """rollup_getProof, checked locally: `verified` against the state root of the block's header."""

    address: str
    block_number: int
    state_root: str
    balance: int
    nonce: int
    verified: bool
    detail: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class WaitResult:
    """The receipt per node: the node the transaction went to first, then each confirmer at `level`."""

    tx_hash: str
    level: str
    receipts: Mapping[str, Receipt]

    @property
    def receipt(self) -> Receipt:
        """The first node's receipt."""
        return next(iter(self.receipts.values()))

    @property
    def failed(self) -> bool:
        return any(not receipt.ok for receipt in self.receipts.values())

    def raw_receipts(self) -> dict[str, dict[str, Any]]:
        return {name: dict(receipt.raw) for name, receipt in self.receipts.items()}


@dataclass(frozen=True, slots=True)
class SentTx:
    """An L2 transaction the client signed and sent; `waited` is set when it was sent with a wait level."""

    hash: str
    sender: str
    nonce: int
    fee: int
    chain_id: int
    kind: str
    waited: WaitResult | None = None

    @property
    def receipt(self) -> Receipt | None:
        """The receipt of the node the transaction went to (None when sent without waiting)."""
        return None if self.waited is None else self.waited.receipt


@dataclass(frozen=True, slots=True)
class SentDeposit:
    """An L1 deposit: its L1 transaction, and (when waited for) the L2 deposit transaction crediting `to`."""

    l1_tx_hash: str
    sender: str
    to: str
    amount: int
    l1_block: int | None = None
    l2_tx_hash: str | None = None
    waited: WaitResult | None = None


@dataclass(frozen=True, slots=True)
class NewHead:
    """One `newHeads` notification: the head, its timestamp, transaction count and kind (unsafe...)."""

    number: int
    hash: str
    state_root: str
    timestamp_ms: int | None
    tx_count: int | None
    kind: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, obj: Any) -> NewHead:
        head = Head.from_json(obj, "newHeads")
        return cls(
            head.number,
            head.hash,
            head.state_root,
            _optional_int(obj, "timestamp"),
            _optional_int(obj, "txCount"),
            obj.get("kind"),
            obj,
        )
