"""The signed-transaction envelope, written once for both chains (L2: node.tx, L1: l1.chain.tx).

Wire format (canonical msgpack, see `node.encoding`):

    envelope = [kind, chain_id, nonce, fee, value?, *payload_fields, signature(65)]

A chain's envelope is a subclass of `SignedEnvelope` whose `FORMAT` fixes
what differs between chains:

- the signing domain: the signature is a recoverable secp256k1 signature
  over keccak256(domain || pack(unsigned fields)), so a transaction signed
  for one chain never verifies on the other;
- whether a `value` amount follows the fee (the L1's does; the L2's carries
  no value field, and its `value` is always 0);
- how decoding errors name it (their messages are on the wire).

What a transaction does is its payload's business: a payload class has
`KIND`, `NAME`, `to_fields()` and `from_fields(fields)` (and `TAKES_VALUE`
where the envelope carries a value; a kind that takes none must have value 0).
Decoding looks the kind up in a payload table (kind -> class) that the caller
hands in. The sender is recovered from the signature, never sent; the hash
is keccak-256 of the whole encoding. `fee` and `value` are amounts (minimal
big-endian byte strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from node.crypto import SIGNATURE_LEN, Address, Hash32, PrivateKey, keccak256, recover_address
from node.encoding import DecodeError, decode_uint, encode_uint, expect_bytes, expect_int, pack, unpack


class Payload(Protocol):
    KIND: ClassVar[int]
    NAME: ClassVar[str]

    def to_fields(self) -> list[Any]: ...

    @classmethod
    def from_fields(cls, fields: list[Any]) -> Payload: ...


PayloadTable = Mapping[int, Any]  # kind -> payload class


class UnknownKindError(DecodeError):
    """The kind names no payload in the chain's table."""


@dataclass(frozen=True, slots=True)
class EnvelopeFormat:
    """What one chain's envelope fixes: its signing domain, a value field or not, and its name in errors."""

    domain: bytes
    carries_value: bool
    noun: str  # "unknown {noun} kind 7", "{noun} must be a non-empty array"
    signed_noun: str  # "{signed_noun} has too few fields"

    @property
    def payload_offset(self) -> int:
        """Index of the first payload field: after kind, chain_id, nonce, fee (and value)."""
        return 5 if self.carries_value else 4

    def compute_signing_hash(self, unsigned_fields: list[Any]) -> Hash32:
        return Hash32(keccak256(self.domain + pack(unsigned_fields)))


def add_payload(table: dict[int, Any], cls: Any, reserved: frozenset[int] = frozenset()) -> None:
    """Put a payload class into `table` under its KIND; kinds are unique, >= 1 and not `reserved`."""
    kind = cls.KIND
    if kind <= 0 or kind in reserved or kind in table:
        raise ValueError(f"transaction kind {kind} of {cls.__name__} is invalid or already taken")
    table[kind] = cls


def payload_table(*classes: Any) -> dict[int, Any]:
    """The table of payload classes by kind."""
    table: dict[int, Any] = {}
    for cls in classes:
        add_payload(table, cls)
    return table


def lookup_payload(fmt: EnvelopeFormat, payloads: PayloadTable, kind: int) -> Any:
    try:
        return payloads[kind]
    except KeyError:
        raise UnknownKindError(f"unknown {fmt.noun} kind {kind}") from None


def unpack_envelope(raw: bytes, max_size: int, noun: str) -> list[Any]:
    """The fields of one canonical encoding: a non-empty array (kind first)."""
    fields = unpack(raw, max_size)
    if not isinstance(fields, list) or not fields:
        raise DecodeError(f"{noun} must be a non-empty array")
    return fields


def validate_value_allowed(payload: Any, value: int) -> None:
    if value != 0 and not payload.TAKES_VALUE:
        raise DecodeError(f"a {payload.NAME} transaction must have value 0, got {value}")


@dataclass(frozen=True, slots=True)
class SignedEnvelope:
    """A signed transaction of the chain its subclass's FORMAT names."""

    FORMAT: ClassVar[EnvelopeFormat]

    chain_id: int
    nonce: int
    fee: int
    payload: Any  # a payload of the chain's table
    signature: bytes
    value: int = 0  # only where FORMAT.carries_value

    def __post_init__(self) -> None:
        if self.value and not self.FORMAT.carries_value:
            raise ValueError(f"{type(self).__name__} carries no value, got {self.value}")

    @property
    def kind(self) -> int:
        return int(self.payload.KIND)

    def unsigned_fields(self) -> list[Any]:
        head = [self.payload.KIND, self.chain_id, self.nonce, encode_uint(self.fee)]
        if self.FORMAT.carries_value:
            head.append(encode_uint(self.value))
        return [*head, *self.payload.to_fields()]

    def signing_hash(self) -> Hash32:
        return self.FORMAT.compute_signing_hash(self.unsigned_fields())

    def encode(self) -> bytes:
        return pack([*self.unsigned_fields(), self.signature])

    def hash(self) -> Hash32:
        return Hash32(keccak256(self.encode()))

    def recover_sender(self) -> Address:
        """The signer's address; raises CryptoError for a bad signature."""
        return recover_address(self.signing_hash(), self.signature)

    @classmethod
    def sign(cls, key: PrivateKey, chain_id: int, nonce: int, fee: int, payload: Any, value: int = 0) -> Self:
        """Sign a transaction; raises DecodeError if it could never decode (a value on a kind that takes none)."""
        unsigned = cls(chain_id, nonce, fee, payload, b"", value)
        if cls.FORMAT.carries_value:
            validate_value_allowed(payload, value)
        return cls(chain_id, nonce, fee, payload, key.sign_hash(unsigned.signing_hash()), value)

    @classmethod
    def from_fields(cls, fields: list[Any], payloads: PayloadTable) -> Self:
        """Decode an envelope's fields (kind first); raises DecodeError (UnknownKindError)."""
        fmt = cls.FORMAT
        payload_cls = lookup_payload(fmt, payloads, expect_int(fields[0], "kind"))
        offset = fmt.payload_offset
        if len(fields) <= offset:
            raise DecodeError(f"{fmt.signed_noun} has too few fields")
        chain_id = expect_int(fields[1], "chain_id")
        nonce = expect_int(fields[2], "nonce")
        fee = decode_uint(fields[3], "fee")
        value = decode_uint(fields[4], "value") if fmt.carries_value else 0
        signature = expect_bytes(fields[-1], "signature", SIGNATURE_LEN)
        payload = payload_cls.from_fields(fields[offset:-1])
        if fmt.carries_value:
            validate_value_allowed(payload, value)
        return cls(chain_id, nonce, fee, payload, signature, value)

    @classmethod
    def decode(cls, raw: bytes, payloads: PayloadTable, max_size: int) -> Self:
        """Decode one canonical encoding of a kind in `payloads`; raises DecodeError (UnknownKindError)."""
        return cls.from_fields(unpack_envelope(raw, max_size, cls.FORMAT.noun), payloads)


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Recovered(Generic[T]):
    """A decoded transaction with its hash (keccak-256 of `raw`), its sender and its raw bytes."""

    tx: T
    hash: Hash32
    sender: Address
    raw: bytes


__all__ = [
    "EnvelopeFormat",
    "Payload",
    "PayloadTable",
    "Recovered",
    "SignedEnvelope",
    "UnknownKindError",
    "add_payload",
    "lookup_payload",
    "payload_table",
    "unpack_envelope",
    "validate_value_allowed",
]
