"""Hashing, secp256k1 keys, Ethereum-style addresses and recoverable signatures.

keccak-256 comes from safe-pysha3 (a C binding, ~0.7 us per call) when it is
installed and from pycryptodome (~4.8 us per call) otherwise; both give the
same digests (tested). A transaction needs three keccaks (signing hash, tx
hash, sender address), so the faster binding is worth ~10% of throughput.
"""

from __future__ import annotations

import hashlib
from typing import NewType

import coincurve
from coincurve._libsecp256k1 import ffi as _ffi  # type: ignore[import-not-found]
from coincurve._libsecp256k1 import lib as _lib
from coincurve.context import GLOBAL_CONTEXT

try:  # pragma: no cover - exercised by whichever backend is installed
    from sha3 import keccak_256 as _keccak_256

    def keccak256(data: bytes) -> bytes:
        """keccak-256 (Ethereum's 'sha3') of `data`."""
        return _keccak_256(data).digest()

    KECCAK_BACKEND = "safe-pysha3"
except ImportError:  # pragma: no cover
    from Crypto.Hash import keccak as _keccak

    def keccak256(data: bytes) -> bytes:
        """keccak-256 (Ethereum's 'sha3') of `data`."""
        return _keccak.new(digest_bits=256, data=data).digest()

    KECCAK_BACKEND = "pycryptodome"

Address = NewType("Address", bytes)  # 20 bytes
Hash32 = NewType("Hash32", bytes)  # 32 bytes

ADDRESS_LEN = 20
SIGNATURE_LEN = 65
PRIVATE_KEY_LEN = 32
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ZERO_ADDRESS = Address(bytes(ADDRESS_LEN))
_CTX = GLOBAL_CONTEXT.ctx  # libsecp256k1 context (coincurve's own, read-only after creation)


class CryptoError(ValueError):
    """A key, address or signature is malformed or does not verify."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def validate_private_key(secret: bytes) -> None:
    if len(secret) != PRIVATE_KEY_LEN:
        raise CryptoError(f"private key must be {PRIVATE_KEY_LEN} bytes, got {len(secret)}")
    value = int.from_bytes(secret, "big")
    if not 0 < value < SECP256K1_N:
        raise CryptoError("private key is out of the secp256k1 range")


def address_from_public_key(public_key_uncompressed: bytes) -> Address:
    """Last 20 bytes of keccak-256 of the 64-byte public key (no 0x04 prefix)."""
    if len(public_key_uncompressed) == 65:
        public_key_uncompressed = public_key_uncompressed[1:]
    if len(public_key_uncompressed) != 64:
        raise CryptoError("uncompressed public key must be 64 or 65 bytes")
    return Address(keccak256(public_key_uncompressed)[12:])


class PrivateKey:
    """A secp256k1 private key with its Ethereum address."""

    __slots__ = ("_key", "address")

    def __init__(self, secret: bytes) -> None:
        validate_private_key(secret)
        self._key = coincurve.PrivateKey(secret)
        self.address: Address = address_from_public_key(self._key.public_key.format(compressed=False))

    @classmethod
    def generate(cls) -> PrivateKey:
        return cls(coincurve.PrivateKey().secret)

    @classmethod
    def from_hex(cls, text: str) -> PrivateKey:
        return cls(parse_hex(text, PRIVATE_KEY_LEN, "private key"))

    @property
    def secret(self) -> bytes:
        return self._key.secret

    @property
    def public_key(self) -> bytes:
        """Uncompressed public key, 65 bytes with the 0x04 prefix."""
        return self._key.public_key.format(compressed=False)

    def sign_hash(self, message_hash: bytes) -> bytes:
        """65-byte recoverable signature r || s || v (v in {0, 1}) over a 32-byte hash."""
        if len(message_hash) != 32:
            raise CryptoError("can only sign a 32-byte hash")
        return self._key.sign_recoverable(message_hash, hasher=None)

    def __repr__(self) -> str:  # never print the secret
        return f"PrivateKey(address={to_checksum_address(self.address)})"


def recover_address(message_hash: bytes, signature: bytes) -> Address:
    """Recover the signer's address from a 65-byte recoverable signature.

    Rejects malleable (high-s) signatures so that one transaction has one
    valid signature, as Ethereum does since EIP-2.
    """
    if len(signature) != SIGNATURE_LEN:
        raise CryptoError(f"signature must be {SIGNATURE_LEN} bytes, got {len(signature)}")
    if signature[64] > 1:
        raise CryptoError("signature recovery id must be 0 or 1")
    s = int.from_bytes(signature[32:64], "big")
    if s == 0 or s > SECP256K1_N // 2:
        raise CryptoError("signature s value is zero or not in the lower half order")
    if len(message_hash) != 32:
        raise CryptoError("signature does not recover a public key: Message hash must be 32 bytes long.")
    return Address(keccak256(_recover_public_key(signature, message_hash))[12:])


def _recover_public_key(signature: bytes, message_hash: bytes) -> bytes:
    """The 64-byte public key (x || y) that signed `message_hash`: libsecp256k1 called directly.

    The same calls as coincurve.PublicKey.from_signature_and_message(...).format(compressed=False),
    with the same failure texts, without its wrapper objects (a few us per transaction).
    """
    recoverable = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
    if not _lib.secp256k1_ecdsa_recoverable_signature_parse_compact(_CTX, recoverable, signature, signature[64]):
        raise CryptoError("signature does not recover a public key: Failed to parse recoverable signature.")
    public = _ffi.new("secp256k1_pubkey *")
    if not _lib.secp256k1_ecdsa_recover(_CTX, public, recoverable, message_hash):
        raise CryptoError("signature does not recover a public key: failed to recover ECDSA public key")
    out = _ffi.new("unsigned char[65]")
    _lib.secp256k1_ec_pubkey_serialize(_CTX, out, _ffi.new("size_t *", 65), public, _lib.SECP256K1_EC_UNCOMPRESSED)
    return _ffi.buffer(out, 65)[1:]


def parse_hex(text: str, length: int | None = None, what: str = "value") -> bytes:
    """Decode 0x-prefixed (or bare) hex, optionally requiring an exact byte length."""
    if not isinstance(text, str):
        raise CryptoError(f"{what} must be a hex string")
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if len(body) % 2:
        raise CryptoError(f"{what} has an odd number of hex digits")
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raise CryptoError(f"{what} is not valid hex") from None
    if length is not None and len(raw) != length:
        raise CryptoError(f"{what} must be {length} bytes, got {len(raw)}")
    return raw


def to_checksum_address(address: bytes) -> str:
    """EIP-55 mixed-case checksum display of a 20-byte address."""
    if len(address) != ADDRESS_LEN:
        raise CryptoError(f"address must be {ADDRESS_LEN} bytes, got {len(address)}")
    lower = address.hex()
    digest = keccak256(lower.encode("ascii")).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(lower))


def parse_address(text: str) -> Address:
    """Parse a 0x address; a mixed-case address must carry a valid EIP-55 checksum."""
    raw = parse_hex(text, ADDRESS_LEN, "address")
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if body != body.lower() and body != body.upper() and to_checksum_address(raw)[2:] != body:
        raise CryptoError(f"address {text} has an invalid EIP-55 checksum")
    return Address(raw)
