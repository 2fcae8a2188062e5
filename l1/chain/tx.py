"""L1 transactions: the codec, signing and sender recovery (docs/protocol.md section 1).

Wire format (canonical msgpack, see `node.encoding`):

    l1 tx = [kind, chain_id, nonce, fee, value, *payload_fields, signature(65)]

`fee` and `value` are amounts (minimal big-endian byte strings). The
signature is a recoverable secp256k1 signature over
keccak256(L1_TX_SIGNING_DOMAIN || pack([kind, chain_id, nonce, fee, value, *payload_fields])).
The domain differs from the L2 one, so a signed L2 transaction is never a
valid L1 transaction and the other way round. The sender is recovered from
the signature, never sent; the hash is keccak-256 of the whole encoding.

The kinds and their payloads are the contracts' business: decoding takes a
`PayloadTable` (kind -> payload class), built once in l1.contracts.payloads
(PAYLOADS), where every kind is listed.

What the codec decides on its own (a decoding error, never a receipt):
field types and sizes, and `value == 0` for the kinds that take no value
(post_batch, force_tx). Rules that depend on the chain's configuration or
state (batcher, batch size limit, bond, proposal order) are the contracts'
business and give status-0 receipts (`l1.contracts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, Protocol

from node.crypto import SIGNATURE_LEN, Address, Hash32, PrivateKey, keccak256, recover_address
from node.encoding import (
    DecodeError,
    decode_uint,
    encode_uint,
    expect_bytes,
    expect_int,
    pack,
    unpack,
)

L1_TX_SIGNING_DOMAIN = b"\x19rollup-devnet L1 transaction v1\x00"
MAX_BATCH_DATA_BYTES = 1_000_000  # the codec's bound; the chain's max_batch_bytes is at most this
MAX_FORCED_TX_BYTES = 4096  # an encoded signed L2 transaction (node.tx.MAX_TX_BYTES)
MAX_L1_TX_BYTES = MAX_BATCH_DATA_BYTES + 1024  # largest batch plus the envelope
HASH_LEN = 32



class UnknownL1KindError(DecodeError):
    """The kind names no registered L1 transaction kind."""


class L1Payload(Protocol):
    KIND: ClassVar[int]
    NAME: ClassVar[str]
    TAKES_VALUE: ClassVar[bool]

    def to_fields(self) -> list[Any]: ...

    @classmethod
    def from_fields(cls, fields: list[Any]) -> "L1Payload": ...


PayloadTable = Mapping[int, Any]  # kind -> payload class (KIND, NAME, TAKES_VALUE, to_fields, from_fields)


def payload_table(*classes: Any) -> dict[int, Any]:
    """The table of payload classes by kind; each kind once, kinds >= 1."""
    table: dict[int, Any] = {}
    for cls in classes:
        if cls.KIND <= 0 or cls.KIND in table:
            raise ValueError(f"L1 transaction kind {cls.KIND} of {cls.__name__} is invalid or already taken")
        table[cls.KIND] = cls
    return table


def l1_payload_type(payloads: PayloadTable, kind: int) -> Any:
    try:
        return payloads[kind]
    except KeyError:
        raise UnknownL1KindError(f"unknown L1 transaction kind {kind}") from None


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


def decode_l1_tx(raw: bytes, payloads: PayloadTable, max_size: int = MAX_L1_TX_BYTES) -> L1Tx:
    """Decode one canonical L1 transaction of a kind in `payloads`; raises DecodeError (UnknownL1KindError)."""
    fields = unpack(raw, max_size)
    if not isinstance(fields, list) or not fields:
        raise DecodeError("L1 transaction must be a non-empty array")
    cls = l1_payload_type(payloads, expect_int(fields[0], "kind"))
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


def recover_l1_tx(raw: bytes, payloads: PayloadTable, max_size: int = MAX_L1_TX_BYTES) -> RecoveredL1Tx:
    """Decode and recover the sender; raises DecodeError or CryptoError."""
    tx = decode_l1_tx(raw, payloads, max_size)
    return RecoveredL1Tx(tx, Hash32(keccak256(raw)), tx.recover_sender(), bytes(raw))


__all__ = [
    "HASH_LEN",
    "L1Payload",
    "L1Tx",
    "L1_TX_SIGNING_DOMAIN",
    "MAX_BATCH_DATA_BYTES",
    "MAX_FORCED_TX_BYTES",
    "MAX_L1_TX_BYTES",
    "PayloadTable",
    "RecoveredL1Tx",
    "UnknownL1KindError",
    "decode_l1_tx",
    "l1_payload_type",
    "payload_table",
    "recover_l1_tx",
    "sign_l1_tx",
]
