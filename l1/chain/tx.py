"""L1 transactions: the shared envelope (node.envelope) with the L1's format (docs/protocol.md section 1).

Wire format (canonical msgpack, see `node.encoding`):

    l1 tx = [kind, chain_id, nonce, fee, value, *payload_fields, signature(65)]

`fee` and `value` are amounts (minimal big-endian byte strings). The
signature is a recoverable secp256k1 signature over
keccak256(L1_TX_SIGNING_DOMAIN || pack([kind, chain_id, nonce, fee, value, *payload_fields])).
The domain differs from the L2 one, so a signed L2 transaction is never a
valid L1 transaction and the other way round. The sender is recovered from
the signature, never sent; the hash is keccak-256 of the whole encoding.
Signing, encoding, decoding and recovery are the envelope's, written once
for both chains; this module fixes the L1's format and its size bounds.

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
from typing import Any, ClassVar, Protocol

from node.crypto import Hash32, PrivateKey, keccak256
from node.envelope import EnvelopeFormat, PayloadTable, Recovered, SignedEnvelope, UnknownKindError, payload_table

L1_TX_SIGNING_DOMAIN = b"\x19rollup-devnet L1 transaction v1\x00"
MAX_BATCH_DATA_BYTES = 1_000_000  # the codec's bound; the chain's max_batch_bytes is at most this
MAX_FORCED_TX_BYTES = 4096  # an encoded signed L2 transaction (node.tx.MAX_TX_BYTES)
MAX_L1_TX_BYTES = MAX_BATCH_DATA_BYTES + 1024  # largest batch plus the envelope
HASH_LEN = 32

L1_FORMAT = EnvelopeFormat(
    L1_TX_SIGNING_DOMAIN, carries_value=True, noun="L1 transaction", signed_noun="L1 transaction"
)


class L1Payload(Protocol):
    KIND: ClassVar[int]
    NAME: ClassVar[str]
    TAKES_VALUE: ClassVar[bool]

    def to_fields(self) -> list[Any]: ...

    @classmethod
    def from_fields(cls, fields: list[Any]) -> L1Payload: ...


@dataclass(frozen=True, slots=True)
class L1Tx(SignedEnvelope):
    """A signed L1 transaction: L1Tx(chain_id, nonce, fee, payload, signature, value)."""

    FORMAT: ClassVar[EnvelopeFormat] = L1_FORMAT


@dataclass(frozen=True, slots=True)
class RecoveredL1Tx(Recovered[L1Tx]):
    """A decoded L1 transaction with its hash, recovered sender and raw bytes."""


def sign_l1_tx(key: PrivateKey, chain_id: int, nonce: int, fee: int, value: int, payload: Any) -> L1Tx:
    """Sign an L1 transaction; raises DecodeError if it could never decode (e.g. value on a no-value kind)."""
    return L1Tx.sign(key, chain_id, nonce, fee, payload, value)


def decode_l1_tx(raw: bytes, payloads: PayloadTable, max_size: int = MAX_L1_TX_BYTES) -> L1Tx:
    """Decode one canonical L1 transaction of a kind in `payloads`; raises DecodeError (UnknownKindError)."""
    return L1Tx.decode(raw, payloads, max_size)


def recover_l1_tx(raw: bytes, payloads: PayloadTable, max_size: int = MAX_L1_TX_BYTES) -> RecoveredL1Tx:
    """Decode and recover the sender; raises DecodeError or CryptoError."""
    tx = decode_l1_tx(raw, payloads, max_size)
    return RecoveredL1Tx(tx, Hash32(keccak256(raw)), tx.recover_sender(), bytes(raw))


__all__ = [
    "HASH_LEN",
    "L1Payload",
    "L1Tx",
    "L1_FORMAT",
    "L1_TX_SIGNING_DOMAIN",
    "MAX_BATCH_DATA_BYTES",
    "MAX_FORCED_TX_BYTES",
    "MAX_L1_TX_BYTES",
    "PayloadTable",
    "RecoveredL1Tx",
    "UnknownKindError",
    "decode_l1_tx",
    "payload_table",
    "recover_l1_tx",
    "sign_l1_tx",
]
