"""L2 transactions: signed user transactions with pluggable payload kinds, deposits and balance overrides.

Wire format (canonical msgpack, see `node.encoding`):

    signed tx        = [kind, chain_id, nonce, fee, *payload_fields, signature(65)]
    deposit          = [KIND_DEPOSIT, l1_block, log_index, l1_sender(20), to(20), amount]
    balance override = [KIND_BALANCE_OVERRIDE, l1_block, log_index, l1_sender(20), to(20), balance]

Deposits and balance overrides are system transactions: derivation makes
them from L1 events (a balance override only on a devnet chain, whose
genesis enables it: node.stf.chain_rules), never a user. Neither fits a
batch (whose last field is always a 65-byte signature, node.batch), and
both are refused at submission.

A signed transaction is the shared envelope (node.envelope) with the L2's
format: no value field, signed over
keccak256(TX_SIGNING_DOMAIN || pack([kind, chain_id, nonce, fee, *payload_fields])).
The sender is recovered from the signature, never sent. The transaction hash
is the keccak-256 of the whole canonical encoding.

A payload kind is a frozen dataclass registered with `register_payload`; the
venue adds its order kinds that way without touching this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from node.crypto import (
    ADDRESS_LEN,
    SIGNATURE_LEN,
    Address,
    CryptoError,
    Hash32,
    PrivateKey,
    keccak256,
    recover_address,
)
from node.encoding import (
    UINT256_MAX,
    DecodeError,
    decode_uint,
    encode_uint,
    expect_bytes,
    expect_int,
    expect_list,
    pack,
)
from node.envelope import (
    EnvelopeFormat,
    Payload,
    Recovered,
    SignedEnvelope,
    UnknownKindError,
    add_payload,
    lookup_payload,
    unpack_envelope,
)

TX_SIGNING_DOMAIN = b"\x19rollup-devnet transaction v1\x00"
MAX_TX_BYTES = 4096
KIND_DEPOSIT = 0
KIND_TRANSFER = 1
KIND_WITHDRAWAL = 2
KIND_BALANCE_OVERRIDE = 15  # the last core kind (the venue's start at 16): a system transaction
SYSTEM_KINDS = frozenset({KIND_DEPOSIT, KIND_BALANCE_OVERRIDE})

L2_FORMAT = EnvelopeFormat(TX_SIGNING_DOMAIN, carries_value=False, noun="transaction", signed_noun="signed transaction")

_PAYLOAD_TYPES: dict[int, Any] = {}  # the L2's payload table, filled by register_payload


def register_payload(cls: type) -> type:
    """Class decorator: make a payload kind decodable. Kinds are unique small ints (SYSTEM_KINDS are taken)."""
    add_payload(_PAYLOAD_TYPES, cls, reserved=SYSTEM_KINDS)
    return cls


def payload_type(kind: int) -> Any:
    return lookup_payload(L2_FORMAT, _PAYLOAD_TYPES, kind)


def _amount(value: Any, what: str = "amount") -> int:
    return decode_uint(value, what)


@register_payload
@dataclass(frozen=True, slots=True)
class Transfer:
    KIND: ClassVar[int] = KIND_TRANSFER
    NAME: ClassVar[str] = "transfer"
    to: Address
    amount: int

    def to_fields(self) -> list[Any]:
        return [self.to, encode_uint(self.amount)]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> Transfer:
        expect_list(fields, 2, "transfer payload")
        return cls(Address(expect_bytes(fields[0], "to", ADDRESS_LEN)), _amount(fields[1]))


@register_payload
@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Burn `amount` on L2 and record it in state, payable to `l1_recipient` on L1."""

    KIND: ClassVar[int] = KIND_WITHDRAWAL
    NAME: ClassVar[str] = "withdrawal"
    l1_recipient: Address
    amount: int

    def to_fields(self) -> list[Any]:
        return [self.l1_recipient, encode_uint(self.amount)]

    @classmethod
    def from_fields(cls, fields: list[Any]) -> Withdrawal:
        expect_list(fields, 2, "withdrawal payload")
        return cls(Address(expect_bytes(fields[0], "l1_recipient", ADDRESS_LEN)), _amount(fields[1]))


@dataclass(frozen=True, slots=True)
class SignedTx(SignedEnvelope):
    """A signed L2 transaction: SignedTx(chain_id, nonce, fee, payload, signature); no value field."""

    FORMAT: ClassVar[EnvelopeFormat] = L2_FORMAT


@dataclass(frozen=True, slots=True)
class DepositTx:
    """A system transaction: derivation inserts it from an L1 deposit event. No signature."""

    l1_block: int
    log_index: int
    l1_sender: Address
    to: Address
    amount: int

    kind: ClassVar[int] = KIND_DEPOSIT

    def encode(self) -> bytes:
        return pack([KIND_DEPOSIT, self.l1_block, self.log_index, self.l1_sender, self.to, encode_uint(self.amount)])

    def hash(self) -> Hash32:
        return Hash32(keccak256(self.encode()))


@dataclass(frozen=True, slots=True)
class BalanceOverrideTx(DepositTx):
    """A devnet's system transaction: set `to`'s L2 balance to exactly `amount` (its nonce is kept).

    Derivation inserts it from an L1 balance override event
    (l1.contracts.devnet_overrides) in the same ordered queue as deposits, so
    it is a DepositTx wherever system transactions are told apart from user
    ones (first in its block, the L1 sender as its sender, refused at
    submission and as a forced transaction). Only its execution differs
    (node.stf.kinds.apply_balance_override): the difference to the old
    balance is minted or burnt, and on a chain whose genesis does not enable
    overrides (node.stf.chain_rules) it is skipped as an unknown kind.
    """

    kind: ClassVar[int] = KIND_BALANCE_OVERRIDE

    def encode(self) -> bytes:
        fields = [
            KIND_BALANCE_OVERRIDE,
            self.l1_block,
            self.log_index,
            self.l1_sender,
            self.to,
            encode_uint(self.amount),
        ]
        return pack(fields)


@dataclass(frozen=True, slots=True)
class UnrecoverableTx:
    """Bytes in a block that are no valid transaction: they do not decode, or the signature does not recover.

    A block may carry them, because what goes into a block is decided by L1
    data alone (a batch's transactions, every forced transaction), never by
    state. Executing one is a no-op that fails with `error`
    (docs/protocol.md section 4: skipped transactions).
    """

    error: Exception


Transaction = SignedTx | DepositTx | UnrecoverableTx


@dataclass(frozen=True, slots=True)
class RecoveredTx(Recovered[Transaction]):
    """A decoded L2 transaction with its hash and (for signed ones) its recovered sender."""


def compute_signing_hash(unsigned_fields: list[Any]) -> Hash32:
    return L2_FORMAT.compute_signing_hash(unsigned_fields)


def sign_tx(key: PrivateKey, chain_id: int, nonce: int, fee: int, payload: Any) -> SignedTx:
    return SignedTx.sign(key, chain_id, nonce, fee, payload)


def decode_tx(raw: bytes, max_size: int = MAX_TX_BYTES) -> Transaction:
    """Decode one canonical transaction encoding (signed, deposit or balance override)."""
    fields = unpack_envelope(raw, max_size, L2_FORMAT.noun)
    kind = expect_int(fields[0], "kind")
    if kind in SYSTEM_KINDS:
        return _decode_system(fields, BalanceOverrideTx if kind == KIND_BALANCE_OVERRIDE else DepositTx)
    return SignedTx.from_fields(fields, _PAYLOAD_TYPES)


def decode_signed_tx(raw: bytes, max_size: int = MAX_TX_BYTES) -> SignedTx:
    """Decode a user transaction; deposits are rejected (only derivation makes them)."""
    tx = decode_tx(raw, max_size)
    if not isinstance(tx, SignedTx):
        raise DecodeError("deposits and balance overrides are system transactions and cannot be submitted")
    return tx


def _decode_system(fields: list[Any], cls: type[DepositTx]) -> DepositTx:
    what = "balance override" if cls is BalanceOverrideTx else "deposit"
    expect_list(fields, 6, what)
    return cls(
        l1_block=expect_int(fields[1], "l1_block"),
        log_index=expect_int(fields[2], "log_index"),
        l1_sender=Address(expect_bytes(fields[3], "l1_sender", ADDRESS_LEN)),
        to=Address(expect_bytes(fields[4], "to", ADDRESS_LEN)),
        amount=_amount(fields[5], "balance" if cls is BalanceOverrideTx else "amount"),
    )


def recover(raw: bytes, max_size: int = MAX_TX_BYTES) -> RecoveredTx:
    """Decode and recover the sender; raises DecodeError or CryptoError."""
    tx = decode_tx(raw, max_size)
    if isinstance(tx, SignedTx):
        sender = recover_address(compute_signing_hash_of_raw(tx, raw), tx.signature)
    else:
        sender = tx.l1_sender  # type: ignore[union-attr]
    return RecoveredTx(tx, Hash32(keccak256(raw)), sender, raw)


# Payload classes whose from_fields/to_fields round trip exactly (every field has one encoding and
# decoding keeps it): for them the unsigned fields' encoding is a slice of the canonical raw bytes.
RAW_PREIMAGE_PAYLOADS: frozenset[type] = frozenset({Transfer, Withdrawal})
_SIGNATURE_TAIL = 2 + SIGNATURE_LEN  # the signature's msgpack encoding: bin8 tag, length, 65 bytes
_FIXARRAY = 0x90
_FIXARRAY_MAX = 15


def compute_signing_hash_of_raw(tx: SignedTx, raw: bytes) -> Hash32:
    """`tx.signing_hash()`, read off `raw`, the canonical encoding `tx` was decoded from.

    `raw` is pack([*unsigned fields, signature]) (decoding rejects any other
    bytes), so for a payload in RAW_PREIMAGE_PAYLOADS pack(unsigned fields) is
    the array header for one field fewer followed by `raw` between its header
    and its signature: no re-encoding of the payload. Any other shape (another
    payload class, an array longer than a fixarray) re-encodes as before.
    tests/stf/test_raw_preimage.py checks both give the same hash.
    """
    count = raw[0] - _FIXARRAY  # the array's length when it is a fixarray
    if type(tx.payload) in RAW_PREIMAGE_PAYLOADS and 1 < count <= _FIXARRAY_MAX:
        preimage = bytes((_FIXARRAY + count - 1,)) + raw[1:-_SIGNATURE_TAIL]
        return Hash32(keccak256(TX_SIGNING_DOMAIN + preimage))
    return tx.signing_hash()


__all__ = [
    "BalanceOverrideTx",
    "CryptoError",
    "DecodeError",
    "DepositTx",
    "KIND_BALANCE_OVERRIDE",
    "KIND_DEPOSIT",
    "SYSTEM_KINDS",
    "KIND_TRANSFER",
    "KIND_WITHDRAWAL",
    "L2_FORMAT",
    "MAX_TX_BYTES",
    "Payload",
    "RecoveredTx",
    "SignedTx",
    "TX_SIGNING_DOMAIN",
    "Transaction",
    "Transfer",
    "UINT256_MAX",
    "UnknownKindError",
    "UnrecoverableTx",
    "Withdrawal",
    "compute_signing_hash",
    "decode_signed_tx",
    "decode_tx",
    "payload_type",
    "recover",
    "register_payload",
    "sign_tx",
]
