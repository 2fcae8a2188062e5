"""The JSON form of the state-transition vectors (tests/stf/vectors/*.json): the one loader, and readable renderings.

    load_vector(doc) -> Vector          the STF's inputs: ChainConfig, pre-state, blocks of RecoveredTx
    render_state(state) -> dict         a state as readable JSON (the form of `pre` and `post`)
    compute_state_root(state) -> bytes  the state root (the sparse Merkle tree over hash_key(key))
    encode_readable_tx(tx) -> bytes     the raw encoding a readable transaction describes (signing it)
    render_tx(raw) -> dict              the readable form of raw bytes (no secret key)

Scalars: addresses are EIP-55 hex, bytes are 0x-hex, amounts (balance,
supply, amount, fee, min_fee) are decimal strings, other integers are JSON
numbers unless they reach 2^53 (then decimal strings). The loader accepts
an int or a decimal string for any integer.

A state is {"accounts": {address: {"balance", "nonce"}}, "supply",
"withdrawals": {id: record}, "venue": {section: {name: record}}, "other":
{key hex: value hex}}. Every key of the state appears exactly once, so two
states render equal exactly when they are equal. A vector's `pre` loads
accounts, supply, withdrawals, the venue's genesis records (config and
markets) and raw `other` entries; orders, positions and the rest of a venue
state come from a vector's earlier blocks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import node.venue  # noqa: F401  the venue's kinds and end-of-block hook are part of the chain's rules
from node.block import ZERO_HASH, BlockHeader
from node.crypto import Address, Hash32, PrivateKey, parse_address, to_checksum_address
from node.smt.hashing import hash_key
from node.smt.reference import MemoryTree
from node.state.schema import (
    NS_VENUE_FIRST,
    NS_WITHDRAWAL,
    SUPPLY_KEY,
    Account,
    WithdrawalRecord,
    decode_account,
    decode_supply,
    decode_withdrawal,
    encode_withdrawal,
    is_account_key,
    set_account,
    set_supply,
    withdrawal_key,
)
from node.state.view import DictState, Overlay
from node.stf import BlockContext, ChainConfig, InvalidTransaction, recover_transaction
from node.stf.execute import recover_in_block
from node.tx import BalanceOverrideTx, DepositTx, RecoveredTx, SignedTx, Transfer, Withdrawal, decode_tx, sign_tx
from node.venue import CancelAll, CancelOrder, MarketParams, OracleUpdate, PlaceOrder, Side, genesis_writes

VECTOR_DIR = Path(__file__).resolve().parent / "vectors"
AMOUNT_NAMES = frozenset({"balance", "supply", "amount", "fee", "min_fee"})
JSON_SAFE_INT = 1 << 53
PAYLOAD_TYPES: dict[str, type] = {
    cls.NAME: cls for cls in (Transfer, Withdrawal, PlaceOrder, CancelOrder, CancelAll, OracleUpdate)
}
DEPOSIT_FIELDS = ("l1_block", "log_index", "l1_sender", "to", "amount")


class VectorFormatError(ValueError):
    """A vector file breaks the format (a field missing or of the wrong shape)."""


# -- files --


def iter_vector_files() -> list[Path]:
    return sorted(VECTOR_DIR.glob("*.json"))


def read_vector_file(path: Path) -> dict[str, Any]:
    doc = json.loads(path.read_text())
    if not isinstance(doc, dict) or not isinstance(doc.get("vectors"), list):
        raise VectorFormatError(f"{path.name}: a vector file is an object with a `vectors` list")
    return doc


JSON_WIDTH = 120


def dump_json(doc: Any) -> str:
    """The files' layout: indented by two, with any object or list that fits in JSON_WIDTH on one line."""
    return _dump(doc, 0) + "\n"


def _dump(value: Any, indent: int, used: int = 0) -> str:
    """`value` laid out at `indent`, on a line where `used` characters (a key) precede it."""
    flat = json.dumps(value, ensure_ascii=False)
    if indent + used + len(flat) <= JSON_WIDTH or not isinstance(value, (dict, list)) or not value:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            key = json.dumps(k, ensure_ascii=False) + ": "
            items.append(pad + key + _dump(v, indent + 2, len(key)))
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    return "[\n" + ",\n".join(pad + _dump(v, indent + 2) for v in value) + "\n" + " " * indent + "]"


def iter_vectors() -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, vector) for every vector of every file; the id is `<file stem>/<vector name>`."""
    for path in iter_vector_files():
        for vector in read_vector_file(path)["vectors"]:
            yield f"{path.stem}/{vector['name']}", vector


# -- scalars --


def parse_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise VectorFormatError(f"{value!r} is not an integer or a decimal string")
    return int(value)


def show_int(value: int, name: str = "") -> int | str:
    if name in AMOUNT_NAMES or abs(value) >= JSON_SAFE_INT:
        return str(value)
    return value


def parse_bytes(text: Any) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise VectorFormatError(f"{text!r} is not 0x-prefixed hex")
    return bytes.fromhex(text[2:])


def show_bytes(raw: bytes) -> str:
    return "0x" + raw.hex()


def parse_addr(text: Any) -> Address:
    if not isinstance(text, str):
        raise VectorFormatError(f"{text!r} is not an address")
    return parse_address(text)


def show_addr(raw: bytes) -> str:
    return to_checksum_address(raw)


def show_value(value: Any, name: str = "") -> Any:
    """Any record value as readable JSON: dataclasses by field name, addresses EIP-55, bytes hex."""
    if isinstance(value, Enum):
        return show_value(value.value, name)
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return show_int(value, name)
    if isinstance(value, bytes):
        return show_addr(value) if len(value) == 20 else show_bytes(value)
    if isinstance(value, (tuple, list)):
        return [show_value(item) for item in value]
    if is_dataclass(value):
        return {f.name: show_value(getattr(value, f.name), f.name) for f in fields(value)}
    raise VectorFormatError(f"cannot render {type(value).__name__}")


# -- config and blocks --


def load_config(doc: dict[str, Any]) -> ChainConfig:
    return ChainConfig(
        chain_id=parse_int(doc["chain_id"]),
        fee_recipient=parse_addr(doc["fee_recipient"]),
        min_fee=parse_int(doc["min_fee"]),
        max_block_txs=parse_int(doc["max_block_txs"]),
    )


def load_context(doc: dict[str, Any]) -> BlockContext:
    return BlockContext(parse_int(doc["number"]), parse_int(doc["timestamp_ms"]), parse_int(doc["l1_origin_number"]))


def make_header(ctx: BlockContext, tx_root: bytes) -> BlockHeader:
    """A header carrying the block context and `tx_root` (the other fields do not enter execution)."""
    return BlockHeader(
        ctx.number, ZERO_HASH, ctx.timestamp_ms, ctx.l1_origin_number, ZERO_HASH, Hash32(tx_root), ZERO_HASH
    )


@dataclass(frozen=True)
class BuildInput:
    """What the sequencer builds a block from (node.stf.build_block_transactions)."""

    deposits: tuple[RecoveredTx, ...]
    forced: tuple[RecoveredTx, ...]
    candidates: tuple[RecoveredTx, ...]


@dataclass(frozen=True)
class BlockInput:
    context: BlockContext
    header: BlockHeader | None  # given when the vector states a tx_root: execution checks it
    raws: tuple[bytes, ...]  # the block body, as stored (for a built block: filled from the build)
    rtxs: tuple[RecoveredTx, ...]  # the body as execution takes it (node.stf.execute.recover_in_block)
    build: BuildInput | None


@dataclass(frozen=True)
class Vector:
    name: str
    config: ChainConfig
    pre: dict[str, Any]
    blocks: tuple[BlockInput, ...]

    def load_pre(self) -> DictState:
        """A fresh copy of the pre-state (callers mutate it)."""
        return load_state(self.pre)


def load_vector(doc: dict[str, Any]) -> Vector:
    """The STF's inputs for a vector: its config, pre-state and blocks (raw transactions recovered)."""
    return Vector(
        name=doc["name"],
        config=load_config(doc["config"]),
        pre=doc["pre"],
        blocks=tuple(load_block(block) for block in doc["blocks"]),
    )


def load_block(doc: dict[str, Any]) -> BlockInput:
    ctx = load_context(doc["context"])
    raws = tuple(load_raw(entry) for entry in doc.get("transactions", ()))
    header = make_header(ctx, parse_bytes(doc["tx_root"])) if "tx_root" in doc else None
    build = None
    if "build" in doc:
        spec = doc["build"]
        build = BuildInput(
            *(
                tuple(recover_transaction(load_raw(e)) for e in spec.get(part, ()))
                for part in ("deposits", "forced", "candidates")
            )
        )
    return BlockInput(ctx, header, raws, tuple(recover_in_block(raw) for raw in raws), build)


def load_raw(entry: dict[str, Any]) -> bytes:
    if "raw" not in entry:
        raise VectorFormatError("a transaction has no `raw` yet: run scripts/stf_vectors.py fill")
    return parse_bytes(entry["raw"])


# -- state --


def load_state(doc: dict[str, Any]) -> DictState:
    """A state from its readable form (accounts, supply, withdrawals, the venue's genesis records, raw others)."""
    state = DictState()
    overlay = Overlay(state)
    for address, account in doc.get("accounts", {}).items():
        set_account(overlay, parse_addr(address), Account(parse_int(account["balance"]), parse_int(account["nonce"])))
    set_supply(overlay, parse_int(doc.get("supply", "0")))
    for withdrawal_id, record in doc.get("withdrawals", {}).items():
        overlay.set(withdrawal_key(parse_bytes(withdrawal_id)), encode_withdrawal(load_withdrawal(record)))
    overlay.writes.update(load_venue_genesis(doc.get("venue", {})))
    for key, value in doc.get("other", {}).items():
        overlay.set(parse_bytes(key), parse_bytes(value))
    state.apply(overlay.writes)
    return state


def load_withdrawal(doc: dict[str, Any]) -> WithdrawalRecord:
    return WithdrawalRecord(
        parse_addr(doc["l2_sender"]),
        parse_addr(doc["l1_recipient"]),
        parse_int(doc["amount"]),
        parse_int(doc["l2_block_number"]),
    )


def load_venue_genesis(doc: dict[str, Any]) -> dict[bytes, bytes]:
    extra = sorted(set(doc) - {"config", "markets"})
    if extra:
        raise VectorFormatError(
            f"pre.venue holds the genesis records (config, markets) only, not {extra}: put them in blocks"
        )
    if not doc:
        return {}
    config = doc["config"]
    markets = [
        MarketParams(**{name: parse_market_field(name, value) for name, value in m.items()})
        for m in doc["markets"].values()
    ]
    writes = genesis_writes(tuple(markets), parse_addr(config["oracle"]), parse_addr(config["insurance_fund"]))
    if sorted(m.market_id for m in markets) != [parse_int(i) for i in config["market_ids"]]:
        raise VectorFormatError("pre.venue.config.market_ids must list the markets' ids")
    return writes


def parse_market_field(name: str, value: Any) -> Any:
    return value if name == "symbol" else parse_int(value)


def compute_state_root(state: DictState) -> bytes:
    return MemoryTree({hash_key(key): value for key, value in state.items.items()}).root()


def render_state(state: DictState) -> dict[str, Any]:
    """The readable form of every key of `state` (empty sections left out)."""
    out: dict[str, Any] = {"accounts": {}, "supply": "0", "withdrawals": {}, "venue": {}, "other": {}}
    for key, value in sorted(state.items.items()):
        if is_account_key(key):
            account = decode_account(value)
            out["accounts"][show_addr(key[1:])] = {"balance": str(account.balance), "nonce": show_int(account.nonce)}
        elif key == SUPPLY_KEY:
            out["supply"] = str(decode_supply(value))
        elif key[0] == NS_WITHDRAWAL:
            out["withdrawals"][show_bytes(key[1:])] = show_value(decode_withdrawal(value))
        elif key[0] >= NS_VENUE_FIRST and (entry := render_venue_entry(key, value)) is not None:
            section, name, record = entry
            if name is None:
                out["venue"][section] = record
            else:
                out["venue"].setdefault(section, {})[name] = record
        else:
            out["other"][show_bytes(key)] = show_bytes(value)
    return {name: section for name, section in out.items() if section or name in ("accounts", "supply")}


# -- the venue's records (node.venue.keys layout, node.venue.records codecs) --


def render_venue_entry(key: bytes, value: bytes) -> tuple[str, str | None, Any] | None:
    """(section, name within it or None for a single record, readable record); None: not a venue record."""
    from node.venue import keys as vk
    from node.venue import markets as vm
    from node.venue import records as vr

    ns, body = key[0], key[1:]
    mid = str(int.from_bytes(body[:2], "big")) if len(body) >= 2 else ""
    if ns == vk.NS_CONFIG and not body:
        return "config", None, show_value(vm.decode_venue_config(value))
    if ns == vk.NS_MARKET and len(body) == 2:
        # a market's optional decimals (node.venue.markets) appear only when declared, as in its record
        market = show_value(vm.decode_market(value))
        return "markets", mid, {k: v for k, v in market.items() if v is not None or k not in vm.DECIMAL_FIELDS}
    if ns == vk.NS_MARKET_STATE and len(body) == 2:
        return "market_states", mid, show_value(vr.decode_market_state(value))
    if ns == vk.NS_ORDER and len(body) == 8:
        return "orders", str(int.from_bytes(body, "big")), show_value(vr.decode_order(value))
    if ns == vk.NS_ACCOUNT and len(body) == 20:
        return "accounts", show_addr(body), show_value(vr.decode_venue_account(value))
    if ns == vk.NS_POSITION and len(body) == 22:
        return (
            "positions",
            f"{show_addr(body[:20])}/{int.from_bytes(body[20:], 'big')}",
            show_value(vr.decode_position(value)),
        )
    if ns == vk.NS_SCAN and not body:
        return "scan_cursor", None, show_value(vr.get_scan_cursor(DictState({key: value})))
    if ns in (vk.NS_BOOK, vk.NS_TRIGGER) and len(body) >= 4:
        return render_indexed_entry(ns, mid, body, value)
    return None


def render_indexed_entry(ns: int, mid: str, body: bytes, value: bytes) -> tuple[str, str | None, Any] | None:
    """Book levels, trigger buckets and entries; the bitmap trie nodes over them as raw hex (`index_nodes`)."""
    from node.venue import keys as vk
    from node.venue import records as vr

    side, tag, rest = body[2], body[3], body[4:]
    if ns == vk.NS_TRIGGER and side == vk.TAG_ENTRY and len(body) == 23:
        return "trigger_entries", f"{mid}/{show_addr(body[3:])}", show_value(vr.decode_trigger_entry(value))
    if side not in {int(code) for code in Side}:
        return None
    if tag == vk.TAG_TRIE:
        return "index_nodes", show_bytes(bytes([ns]) + body), show_bytes(value)
    if ns == vk.NS_BOOK and tag == vk.TAG_BUCKET and len(rest) == vk.PRICE_KEY_WIDTH:
        return "book_levels", f"{mid}/{side}/{int.from_bytes(rest, 'big')}", show_value(vr.decode_level(value))
    if ns == vk.NS_TRIGGER and tag == vk.TAG_BUCKET and len(rest) == vk.BUCKET_KEY_WIDTH:
        return "trigger_buckets", f"{mid}/{side}/{int.from_bytes(rest, 'big')}", show_value(vr.decode_bucket(value))
    return None


# -- transactions --


def encode_readable_tx(tx: dict[str, Any]) -> bytes:
    """The raw bytes a readable transaction stands for: a deposit's encoding, or the payload signed with
    `secret_key` (or carrying the stated `signature`, for vectors of bad signatures)."""
    kind = tx["type"]
    if kind in ("deposit", "balance_override"):
        return make_deposit(tx).encode()
    payload = make_payload(tx)
    chain_id, nonce, fee = parse_int(tx["chain_id"]), parse_int(tx["nonce"]), parse_int(tx["fee"])
    if "signature" in tx:
        return SignedTx(chain_id, nonce, fee, payload, parse_bytes(tx["signature"])).encode()
    key = PrivateKey(parse_bytes(tx["secret_key"]))
    if key.address != parse_addr(tx["from"]):
        raise VectorFormatError(f"secret_key signs for {show_addr(key.address)}, not {tx['from']}")
    return sign_tx(key, chain_id, nonce, fee, payload).encode()


def make_deposit(tx: dict[str, Any]) -> DepositTx:
    """A deposit, or a devnet's balance override (`"type": "balance_override"`, `amount` the balance it sets)."""
    cls = BalanceOverrideTx if tx["type"] == "balance_override" else DepositTx
    return cls(
        parse_int(tx["l1_block"]),
        parse_int(tx["log_index"]),
        parse_addr(tx["l1_sender"]),
        parse_addr(tx["to"]),
        parse_int(tx["amount"]),
    )


def make_payload(tx: dict[str, Any]) -> Any:
    """The payload of a readable transaction. Coded fields are their wire codes; a class with `from_codes`
    (place_order) builds from them, so a code that names nothing makes its miscoded form."""
    cls = PAYLOAD_TYPES.get(tx["type"])
    if cls is None:
        raise VectorFormatError(
            f"unknown transaction type {tx['type']!r} "
            f"(known: deposit, balance_override, raw, {', '.join(PAYLOAD_TYPES)})"
        )
    values = {f.name: parse_payload_field(tx[f.name]) for f in fields(cls)}
    return cls.from_codes(**values) if hasattr(cls, "from_codes") else cls(**values)


def parse_payload_field(value: Any) -> Any:
    if isinstance(value, bool):  # a flag written as true/false
        return int(value)
    if isinstance(value, str) and value.startswith("0x"):
        return parse_addr(value) if len(value) == 42 else parse_bytes(value)
    return parse_int(value)


def show_payload_field(value: Any, name: str) -> Any:
    """A payload field as its wire code: enums and flags as integers, amounts as decimal strings."""
    return show_value(int(value) if isinstance(value, bool) else value, name)


def render_tx(raw: bytes) -> dict[str, Any]:
    """The readable form of raw transaction bytes (a decodable one; the sender only if it recovers)."""
    tx = decode_tx(raw)
    if isinstance(tx, DepositTx):
        kind = "balance_override" if isinstance(tx, BalanceOverrideTx) else "deposit"
        return {"type": kind, **{name: show_value(getattr(tx, name), name) for name in DEPOSIT_FIELDS}}
    if not isinstance(tx, SignedTx):
        raise ValueError(f"{type(tx).__name__} has no readable form")
    out: dict[str, Any] = {"type": tx.payload.NAME}
    try:
        out["from"] = show_addr(recover_transaction(raw).sender)
    except InvalidTransaction:
        pass  # a bad signature: no sender
    out.update(chain_id=show_int(tx.chain_id), nonce=show_int(tx.nonce), fee=show_int(tx.fee, "fee"))
    out.update({f.name: show_payload_field(getattr(tx.payload, f.name), f.name) for f in fields(tx.payload)})
    return out


__all__ = [
    "PAYLOAD_TYPES",
    "VECTOR_DIR",
    "BlockInput",
    "BuildInput",
    "Vector",
    "VectorFormatError",
    "compute_state_root",
    "dump_json",
    "encode_readable_tx",
    "iter_vector_files",
    "iter_vectors",
    "load_state",
    "load_vector",
    "make_header",
    "parse_bytes",
    "parse_int",
    "read_vector_file",
    "render_state",
    "render_tx",
    "show_addr",
    "show_bytes",
    "show_int",
    "show_value",
]
