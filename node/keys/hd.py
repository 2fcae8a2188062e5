"""BIP-39 seeds and BIP-32 private-key derivation, plus the public dev accounts.

Only what a devnet needs: mnemonic -> seed (PBKDF2-HMAC-SHA512, 2048 rounds)
and private child derivation along paths like m/44'/60'/0'/0/i. The mnemonic
is not checked against the BIP-39 wordlist (no wordlist is bundled); any
phrase derives a seed, exactly as the seed formula defines.

The dev accounts are the ones anvil and hardhat print for the well-known
"test test ... junk" mnemonic. Their keys are public: never use them for
anything holding value.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import coincurve

from node.crypto import SECP256K1_N, Address, PrivateKey, to_checksum_address

DEV_MNEMONIC = "test test test test test test test test test test test junk"
DEV_ACCOUNT_COUNT = 10
DEV_ACCOUNT_PREFIX = "dev"
ETH_PATH_PREFIX = "m/44'/60'/0'/0"

HARDENED_OFFSET = 0x8000_0000
SEED_ROUNDS = 2048
MAX_PATH_DEPTH = 255
_MASTER_HMAC_KEY = b"Bitcoin seed"


class HDError(ValueError):
    """A mnemonic, derivation path or derived key is invalid."""


@dataclass(frozen=True)
class ExtendedKey:
    """A BIP-32 extended private key: 32-byte secret and 32-byte chain code."""

    secret: bytes
    chain_code: bytes

    def __repr__(self) -> str:  # never print the secret
        return "ExtendedKey(<secret>)"


@dataclass(frozen=True)
class DevAccount:
    """One public dev account: `dev{i}` with its address and (public!) key."""

    name: str
    address: Address
    private_key: PrivateKey

    @property
    def checksum_address(self) -> str:
        return to_checksum_address(self.address)


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKD", text)


def mnemonic_to_seed(mnemonic: str, passphrase: str = "") -> bytes:
    """The 64-byte BIP-39 seed of `mnemonic` (words joined by single spaces)."""
    if not isinstance(mnemonic, str) or not isinstance(passphrase, str):
        raise HDError("mnemonic and passphrase must be strings")
    words = _normalize(mnemonic).split()
    if not words:
        raise HDError("mnemonic is empty")
    phrase = " ".join(words).encode("utf-8")
    salt = ("mnemonic" + _normalize(passphrase)).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha512", phrase, salt, SEED_ROUNDS)


def parse_path(path: str) -> tuple[int, ...]:
    """Parse "m/44'/60'/0'/0/0" into child indices (hardened ones offset by 2^31).

    A hardened level is marked with ', h or H.
    """
    if not isinstance(path, str):
        raise HDError("derivation path must be a string")
    parts = path.strip().split("/")
    if parts[0] != "m":
        raise HDError(f"derivation path {path!r} must start with 'm'")
    levels = parts[1:]
    if len(levels) > MAX_PATH_DEPTH:
        raise HDError(f"derivation path is deeper than {MAX_PATH_DEPTH} levels")
    return tuple(_parse_level(level, path) for level in levels)


def _parse_level(level: str, path: str) -> int:
    hardened = level[-1:] in ("'", "h", "H")
    digits = level[:-1] if hardened else level
    if not digits.isdigit() or not digits.isascii():
        raise HDError(f"derivation path {path!r} has an invalid level {level!r}")
    index = int(digits)
    if index >= HARDENED_OFFSET:
        raise HDError(f"derivation path {path!r} has an index >= 2^31 in level {level!r}")
    return index + HARDENED_OFFSET if hardened else index


def master_key(seed: bytes) -> ExtendedKey:
    """The BIP-32 master key of a seed (16..64 bytes)."""
    if not 16 <= len(seed) <= 64:
        raise HDError(f"seed must be 16 to 64 bytes, got {len(seed)}")
    digest = hmac.new(_MASTER_HMAC_KEY, seed, hashlib.sha512).digest()
    secret = digest[:32]
    if not 0 < int.from_bytes(secret, "big") < SECP256K1_N:
        raise HDError("seed yields an invalid master key")
    return ExtendedKey(secret, digest[32:])


def derive_child(parent: ExtendedKey, index: int) -> ExtendedKey:
    """BIP-32 CKDpriv: the child private key at `index` (>= 2^31 means hardened)."""
    if not 0 <= index < 2**32:
        raise HDError(f"child index {index} is out of range")
    if index >= HARDENED_OFFSET:
        data = b"\x00" + parent.secret
    else:
        data = coincurve.PrivateKey(parent.secret).public_key.format(compressed=True)
    digest = hmac.new(parent.chain_code, data + index.to_bytes(4, "big"), hashlib.sha512).digest()
    tweak = int.from_bytes(digest[:32], "big")
    child = (tweak + int.from_bytes(parent.secret, "big")) % SECP256K1_N
    if tweak >= SECP256K1_N or child == 0:
        # Probability ~2^-127; BIP-32 says to skip to the next index.
        raise HDError(f"child index {index} yields an invalid key; use the next index")
    return ExtendedKey(child.to_bytes(32, "big"), digest[32:])


def derive_path(seed: bytes, path: str) -> ExtendedKey:
    """The extended private key at `path` below the master key of `seed`."""
    key = master_key(seed)
    for index in parse_path(path):
        key = derive_child(key, index)
    return key


def derive_private_key(mnemonic: str, path: str, passphrase: str = "") -> PrivateKey:
    """The secp256k1 private key at `path` for a BIP-39 mnemonic (not cached)."""
    return PrivateKey(derive_path(mnemonic_to_seed(mnemonic, passphrase), path).secret)


def eth_path(index: int) -> str:
    """The standard Ethereum path m/44'/60'/0'/0/index (as used by anvil/hardhat)."""
    if not 0 <= index < HARDENED_OFFSET:
        raise HDError(f"account index {index} is out of range")
    return f"{ETH_PATH_PREFIX}/{index}"


# Only the public dev keys are cached: once per process, pure functions of their input.
@lru_cache(maxsize=1)
def _dev_seed() -> bytes:
    return mnemonic_to_seed(DEV_MNEMONIC)


@lru_cache(maxsize=256)
def _dev_secret(index: int) -> bytes:
    return derive_path(_dev_seed(), eth_path(index)).secret


def dev_account(index: int) -> PrivateKey:
    """The private key of public dev account `index` (anvil/hardhat account #index)."""
    if isinstance(index, bool) or not isinstance(index, int):
        raise HDError("dev account index must be an integer")
    eth_path(index)  # range check before touching the cache
    return PrivateKey(_dev_secret(index))


def dev_accounts(n: int = DEV_ACCOUNT_COUNT) -> list[DevAccount]:
    """The first `n` public dev accounts, named dev0..dev{n-1}."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise HDError("number of dev accounts must be a non-negative integer")
    return [_dev(i) for i in range(n)]


def _dev(index: int) -> DevAccount:
    key = dev_account(index)
    return DevAccount(name=f"{DEV_ACCOUNT_PREFIX}{index}", address=key.address, private_key=key)
