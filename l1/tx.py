"""L1 transactions: the codec, signing and sender recovery (docs/protocol.md section 1).

Wire format (canonical msgpack, see `node.encoding`):

    l1 tx = [kind, chain_id, nonce, fee, value, *payload_fields, signature(65)]

`fee` and `value` are amounts (minimal big-endian byte strings). The
signature is a recoverable secp256k1 signature over
keccak256(L1_TX_SIGNING_DOMAIN || pack([kind, chain_id, nonce, fee, value, *payload_fields])).
The domain differs from the L2 one, so a signed L2 transaction is never a
valid L1 transaction and the other way round. The sender is recovered from
the signature, never sent; the hash is keccak-256 of the whole encoding.

| kind | payload       | fields                              |
|------|---------------|-------------------------------------|
| 1    | L1Transfer    | to(20)                              |
| 2    | PostBatch     | data (<= MAX_BATCH_DATA_BYTES)       |
| 3    | Deposit       | l2_to(20)                           |
| 4    | ForceTx       | l2_tx (<= MAX_FORCED_TX_BYTES)       |
| 5    | ProposeOutput | l2_block_number, output_root(32)    |

Kinds 6-11 (disputes and withdrawals) live in `l1.dispute_tx` and register
with `register_l1_payload` like the ones here; this module imports it at the
end, so decoding knows every kind whatever is imported first.

What the codec decides on its own (a decoding error, never a receipt):
field types and sizes, and `value == 0` for the kinds that take no value
(post_batch, force_tx). Rules that depend on the chain's configuration or
state (batcher, batch size limit, bond, proposal order) are the contracts'
business and give status-0 receipts (`l1.contracts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from node.crypto import ADDRESS_LEN, SIGNATURE_LEN, Address, CryptoError, Hash32, PrivateKey, keccak256, recover_address
from node.encoding import (
    DecodeError,
    decode_uint,
    encode_uint,
    expect_bytes,
    expect_int,
    expect_list,
    pack,
    unpack,
)

L1_TX_SIGNING_DOMAIN = b"\x19rollup-devnet L1 transaction v1\x00"
MAX_BATCH_DATA_BYTES = 1_000_000  # the codec's bound; the chain's max_batch_bytes is at most this
MAX_FORCED_TX_BYTES = 4096  # an encoded signed L2 transaction (node.tx.MAX_TX_BYTES)
MAX_L1_TX_BYTES = MAX_BATCH_DATA_BYTES + 1024  # largest batch plus the envelope
HASH_LEN = 32

KIND_TRANSFER = 1
KIND_POST_BATCH = 2
KIND_DEPOSIT = 3
KIND_FORCE_TX = 4
KIND_PROPOSE_OUTPUT = 5


class UnknownL1KindError(DecodeError):
    """The kind names no registered L1 transaction kind."""


class L1Payload(Protocol):
    KIND: ClassVar[int]
    NAME: ClassVar[str]
    TAKES_VALUE: ClassVar[bool]

    def to_fields(self) -> list[Any]: ...

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "L1Payload": ...


_PAYLOAD_TYPES: dict[int, type] = {}


def register_l1_payload(cls: type) -> type:
    """Class decorator: make an L1 payload kind decodable. Kinds are unique small ints."""
    kind = cls.KIND  # type: ignore[attr-defined]
    if kind <= 0 or kind in _PAYLOAD_TYPES:
        raise ValueError(f"L1 transaction kind {kind} is already taken or invalid")
    _PAYLOAD_TYPES[kind] = cls
    return cls


def l1_payload_type(kind: int) -> type:
    try:
        return _PAYLOAD_TYPES[kind]
    except KeyError:
        raise UnknownL1KindError(f"unknown L1 transaction kind {kind}") from None


def _address(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, ADDRESS_LEN))


@register_l1_payload
@dataclass(frozen=True, slots=True)
class L1Transfer:
    """Move `value` from the sender to `to`."""

    KIND: ClassVar[int] = KIND_TRANSFER
    NAME: ClassVar[str] = "transfer"
    TAKES_VALUE: ClassVar[bool] = True
    to: Address

    def to_fields(self) -> list[Any]:
        return [self.to]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "L1Transfer":
        expect_list(fields, 1, "transfer payload")
        return cls(_address(fields[0], "to"))


@register_l1_payload
@dataclass(frozen=True, slots=True)
class PostBatch:
    """The batcher posts L2 batch data to the inbox (value must be 0)."""

    KIND: ClassVar[int] = KIND_POST_BATCH
    NAME: ClassVar[str] = "post_batch"
    TAKES_VALUE: ClassVar[bool] = False
    data: bytes

    def to_fields(self) -> list[Any]:
        return [self.data]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "PostBatch":
        expect_list(fields, 1, "post_batch payload")
        return cls(expect_bytes(fields[0], "data", max_length=MAX_BATCH_DATA_BYTES))


@register_l1_payload
@dataclass(frozen=True, slots=True)
class Deposit:
    """Lock `value` in the portal, to be minted to `l2_to` on L2."""

    KIND: ClassVar[int] = KIND_DEPOSIT
    NAME: ClassVar[str] = "deposit"
    TAKES_VALUE: ClassVar[bool] = True
    l2_to: Address

    def to_fields(self) -> list[Any]:
        return [self.l2_to]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "Deposit":
        expect_list(fields, 1, "deposit payload")
        return cls(_address(fields[0], "l2_to"))


@register_l1_payload
@dataclass(frozen=True, slots=True)
class ForceTx:
    """Force an encoded signed L2 transaction into L2 (value must be 0)."""

    KIND: ClassVar[int] = KIND_FORCE_TX
    NAME: ClassVar[str] = "force_tx"
    TAKES_VALUE: ClassVar[bool] = False
    l2_tx: bytes

    def to_fields(self) -> list[Any]:
        return [self.l2_tx]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "ForceTx":
        expect_list(fields, 1, "force_tx payload")
        return cls(expect_bytes(fields[0], "l2_tx", max_length=MAX_FORCED_TX_BYTES))


@register_l1_payload
@dataclass(frozen=True, slots=True)
class ProposeOutput:
    """Propose an L2 output root; `value` is the bond."""

    KIND: ClassVar[int] = KIND_PROPOSE_OUTPUT
    NAME: ClassVar[str] = "propose_output"
    TAKES_VALUE: ClassVar[bool] = True
    l2_block_number: int
    output_root: Hash32

    def to_fields(self) -> list[Any]:
        return [self.l2_block_number, self.output_root]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "ProposeOutput":
        expect_list(fields, 2, "propose_output payload")
        return cls(
            expect_int(fields[0], "l2_block_number"),
            Hash32(expect_bytes(fields[1], "output_root", HASH_LEN)),
        )


@dataclass(frozen=True, slots=True)
class L1Tx:
    chain_id: int
    nonce: int
    fee: int
    value: int
    payload: Any  # a registered L1Payload
    signature: bytes

    @property
    def kind(self) -> int:
        return int(self.payload.KIND)

    def unsigned_fields(self) -> list[Any]:
        return [
            self.payload.KIND,
            self.chain_id,
            self.nonce,
            encode_uint(self.fee),
            encode_uint(self.value),
            *self.payload.to_fields(),
        ]

    def signing_hash(self) -> Hash32:
        return compute_l1_signing_hash(self.unsigned_fields())

    def encode(self) -> bytes:
        return pack([*self.unsigned_fields(), self.signature])

    def hash(self) -> Hash32:
        return Hash32(keccak256(self.encode()))

    def recover_sender(self) -> Address:
        """The signer's address; raises CryptoError for a bad signature."""
        return recover_address(self.signing_hash(), self.signature)


@dataclass(frozen=True, slots=True)
class RecoveredL1Tx:
    """A decoded L1 transaction with its hash, recovered sender and raw bytes."""

    tx: L1Tx
    hash: Hash32
    sender: Address
    raw: bytes


def compute_l1_signing_hash(unsigned_fields: list[Any]) -> Hash32:
    return Hash32(keccak256(L1_TX_SIGNING_DOMAIN + pack(unsigned_fields)))


def sign_l1_tx(key: PrivateKey, chain_id: int, nonce: int, fee: int, value: int, payload: Any) -> L1Tx:
    """Sign an L1 transaction; raises DecodeError if it could never decode (e.g. value on a no-value kind)."""
    unsigned = L1Tx(chain_id, nonce, fee, value, payload, b"")
    validate_value_allowed(payload, value)
    return L1Tx(chain_id, nonce, fee, value, payload, key.sign_hash(unsigned.signing_hash()))


def validate_value_allowed(payload: Any, value: int) -> None:
    if value != 0 and not payload.TAKES_VALUE:
        raise DecodeError(f"a {payload.NAME} transaction must have value 0, got {value}")


def decode_l1_tx(raw: bytes, max_size: int = MAX_L1_TX_BYTES) -> L1Tx:
    """Decode one canonical L1 transaction; raises DecodeError (UnknownL1KindError for a bad kind)."""
    fields = unpack(raw, max_size)
    if not isinstance(fields, list) or not fields:
        raise DecodeError("L1 transaction must be a non-empty array")
    cls = l1_payload_type(expect_int(fields[0], "kind"))
    if len(fields) < 6:
        raise DecodeError("L1 transaction has too few fields")
    chain_id = expect_int(fields[1], "chain_id")
    nonce = expect_int(fields[2], "nonce")
    fee = decode_uint(fields[3], "fee")
    value = decode_uint(fields[4], "value")
    signature = expect_bytes(fields[-1], "signature", SIGNATURE_LEN)
    payload = cls.from_fields(fields[5:-1])
    validate_value_allowed(payload, value)
    return L1Tx(chain_id, nonce, fee, value, payload, signature)


def recover_l1_tx(raw: bytes, max_size: int = MAX_L1_TX_BYTES) -> RecoveredL1Tx:
    """Decode and recover the sender; raises DecodeError or CryptoError."""
    tx = decode_l1_tx(raw, max_size)
    return RecoveredL1Tx(tx, Hash32(keccak256(raw)), tx.recover_sender(), bytes(raw))


__all__ = [
    "CryptoError",
    "DecodeError",
    "Deposit",
    "ForceTx",
    "KIND_DEPOSIT",
    "KIND_FORCE_TX",
    "KIND_POST_BATCH",
    "KIND_PROPOSE_OUTPUT",
    "KIND_TRANSFER",
    "L1Transfer",
    "L1Tx",
    "L1_TX_SIGNING_DOMAIN",
    "MAX_BATCH_DATA_BYTES",
    "MAX_FORCED_TX_BYTES",
    "MAX_L1_TX_BYTES",
    "PostBatch",
    "ProposeOutput",
    "RecoveredL1Tx",
    "UnknownL1KindError",
    "decode_l1_tx",
    "recover_l1_tx",
    "register_l1_payload",
    "sign_l1_tx",
]

# Kinds 6-11 register themselves on import (after everything above exists: l1.dispute_tx imports this module).
from l1 import dispute_tx as _dispute_tx  # noqa: E402,F401
