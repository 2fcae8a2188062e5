"""Web3 Secret Storage v3 keystore files (the format geth, clef and foundry use).

    derived = KDF(password)                 scrypt or pbkdf2-hmac-sha256, 32 bytes
    ciphertext = AES-128-CTR(derived[:16], iv, private_key)
    mac = keccak256(derived[16:32] || ciphertext)

Decryption validates every field before running the KDF, and refuses KDF
parameters that would make a hostile file burn minutes of CPU or gigabytes of
memory (scrypt n <= 2^20, bounded r/p and memory, bounded pbkdf2 rounds).

scrypt runs on hashlib (OpenSSL); parameters OpenSSL refuses because they
break RFC 7914's N < 2^(16r) (e.g. r=1, n=2^18, as in the official test
vector) run on pycryptodome's implementation instead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from Crypto.Cipher import AES
from Crypto.Protocol.KDF import scrypt as _pycryptodome_scrypt

from node.crypto import PRIVATE_KEY_LEN, CryptoError, PrivateKey, keccak256

KEYSTORE_VERSION = 3
CIPHER = "aes-128-ctr"
PBKDF2_PRF = "hmac-sha256"
DKLEN = 32
IV_LEN = 16
MAC_LEN = 32
SALT_LEN = 32

SCRYPT_N = 262144  # geth's StandardScryptN
SCRYPT_R = 8
SCRYPT_P = 1
LIGHT_SCRYPT_N = 4096  # geth's LightScryptN: fast, weak; for tests and throwaway keys
PBKDF2_ROUNDS = 262144
LIGHT_PBKDF2_ROUNDS = 4096

MAX_SCRYPT_N = 2**20
MAX_SCRYPT_R = 32
MAX_SCRYPT_P = 16
MAX_SCRYPT_MEMORY = 2**30  # bytes: 128 * r * n
MAX_SCRYPT_WORK = 2**24  # n * r * p; geth's standard params are 2^21
MAX_PBKDF2_ROUNDS = 10_000_000
MAX_SALT_LEN = 1024
MAX_KEYSTORE_FILE_BYTES = 1 << 20

SUPPORTED_KDFS = ("scrypt", "pbkdf2")


class KeystoreError(ValueError):
    """A keystore document or file is malformed, unsupported or unreadable."""


class WrongPasswordError(KeystoreError):
    """The MAC does not match: wrong password (or a corrupted file)."""


@dataclass(frozen=True)
class ScryptParams:
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P


# ---------------------------------------------------------------- encryption


def encrypt_keystore(
    key: PrivateKey,
    password: str,
    kdf: str = "scrypt",
    *,
    light: bool = False,
    scrypt_params: ScryptParams | None = None,
    pbkdf2_rounds: int | None = None,
    salt: bytes | None = None,
    iv: bytes | None = None,
    key_id: str | None = None,
) -> dict[str, Any]:
    """Encrypt `key` into a v3 keystore document (a JSON-ready dict).

    `light=True` selects cheap KDF parameters (scrypt n=4096, or 4096 pbkdf2
    rounds) for tests and scripts; explicit `scrypt_params`/`pbkdf2_rounds`
    override both. `salt`, `iv` and `key_id` are random unless given.
    """
    if not isinstance(password, str):
        raise KeystoreError("password must be a string")
    salt = os.urandom(SALT_LEN) if salt is None else salt
    iv = os.urandom(IV_LEN) if iv is None else iv
    if len(iv) != IV_LEN:
        raise KeystoreError(f"iv must be {IV_LEN} bytes, got {len(iv)}")
    kdfparams = _new_kdfparams(kdf, salt, light, scrypt_params, pbkdf2_rounds)
    derived = _derive_key(parse_kdfparams(kdf, kdfparams), password)
    ciphertext = _aes_ctr(derived[:16], iv, key.secret)
    return {
        "address": key.address.hex(),
        "crypto": {
            "cipher": CIPHER,
            "cipherparams": {"iv": iv.hex()},
            "ciphertext": ciphertext.hex(),
            "kdf": kdf,
            "kdfparams": kdfparams,
            "mac": _mac(derived, ciphertext).hex(),
        },
        "id": key_id if key_id is not None else str(uuid.uuid4()),
        "version": KEYSTORE_VERSION,
    }


def _new_kdfparams(
    kdf: str,
    salt: bytes,
    light: bool,
    scrypt_params: ScryptParams | None,
    pbkdf2_rounds: int | None,
) -> dict[str, Any]:
    if kdf == "scrypt":
        params = scrypt_params or (ScryptParams(n=LIGHT_SCRYPT_N) if light else ScryptParams())
        return {"dklen": DKLEN, "n": params.n, "r": params.r, "p": params.p, "salt": salt.hex()}
    if kdf == "pbkdf2":
        default = LIGHT_PBKDF2_ROUNDS if light else PBKDF2_ROUNDS
        rounds = default if pbkdf2_rounds is None else pbkdf2_rounds
        return {"c": rounds, "dklen": DKLEN, "prf": PBKDF2_PRF, "salt": salt.hex()}
    raise KeystoreError(f"unsupported kdf {kdf!r} (supported: {', '.join(SUPPORTED_KDFS)})")


# ---------------------------------------------------------------- decryption


def decrypt_keystore(doc: Mapping[str, Any], password: str) -> PrivateKey:
    """Decrypt a v3 keystore document; WrongPasswordError if the MAC does not match."""
    if not isinstance(password, str):
        raise KeystoreError("password must be a string")
    crypto = _crypto_section(doc)
    kdf = _expect_str(crypto, "kdf", "crypto")
    if kdf not in SUPPORTED_KDFS:
        raise KeystoreError(f"unsupported kdf {kdf!r} (supported: {', '.join(SUPPORTED_KDFS)})")
    cipher = _expect_str(crypto, "cipher", "crypto")
    if cipher != CIPHER:
        raise KeystoreError(f"unsupported cipher {cipher!r} (supported: {CIPHER})")
    iv = _expect_hex(_expect_dict(crypto, "cipherparams", "crypto"), "iv", "crypto.cipherparams", IV_LEN)
    ciphertext = _expect_hex(crypto, "ciphertext", "crypto", PRIVATE_KEY_LEN)
    mac = _expect_hex(crypto, "mac", "crypto", MAC_LEN)
    spec = parse_kdfparams(kdf, _expect_dict(crypto, "kdfparams", "crypto"))
    derived = _derive_key(spec, password)
    if not hmac.compare_digest(_mac(derived, ciphertext), mac):
        raise WrongPasswordError("wrong password (keystore MAC mismatch)")
    return _key_from_plaintext(_aes_ctr(derived[:16], iv, ciphertext), doc)


def _crypto_section(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise KeystoreError("keystore must be a JSON object")
    if "version" not in doc:
        raise KeystoreError("keystore is missing 'version'")
    version = doc["version"]
    if isinstance(version, bool) or version != KEYSTORE_VERSION:
        raise KeystoreError(f"unsupported keystore version {version!r} (supported: {KEYSTORE_VERSION})")
    if "crypto" in doc:
        return _expect_dict(doc, "crypto", "keystore")
    if "Crypto" in doc:  # capitalised by some old geth/mist versions
        return _expect_dict(doc, "Crypto", "keystore")
    raise KeystoreError("keystore is missing 'crypto'")


def _key_from_plaintext(plaintext: bytes, doc: Mapping[str, Any]) -> PrivateKey:
    try:
        key = PrivateKey(plaintext)
    except CryptoError:
        raise KeystoreError("keystore decrypts to an invalid private key") from None
    stated = doc.get("address")
    if stated is not None and keystore_address(doc) != key.address:
        raise KeystoreError("keystore 'address' does not match the decrypted key")
    return key


def keystore_address(doc: Mapping[str, Any]) -> bytes | None:
    """The 20-byte address stated in the (unencrypted) 'address' field, if any."""
    if not isinstance(doc, Mapping) or doc.get("address") is None:
        return None
    return _expect_hex(doc, "address", "keystore", 20)


# ---------------------------------------------------------------- KDF


@dataclass(frozen=True)
class KdfSpec:
    """Validated KDF parameters, ready to run."""

    kdf: str
    salt: bytes
    dklen: int
    n: int = 0
    r: int = 0
    p: int = 0
    rounds: int = 0

    def __repr__(self) -> str:
        return f"KdfSpec(kdf={self.kdf!r}, n={self.n}, r={self.r}, p={self.p}, rounds={self.rounds})"


def parse_kdfparams(kdf: str, params: Mapping[str, Any]) -> KdfSpec:
    """Validate `kdfparams` for `kdf`, rejecting DoS-sized parameters."""
    where = "crypto.kdfparams"
    dklen = _expect_int(params, "dklen", where)
    if dklen < DKLEN:
        raise KeystoreError(f"{where}.dklen must be at least {DKLEN}, got {dklen}")
    if dklen > DKLEN:
        raise KeystoreError(f"{where}.dklen {dklen} exceeds the supported maximum of {DKLEN}")
    salt = _expect_hex(params, "salt", where)
    if not 0 < len(salt) <= MAX_SALT_LEN:
        raise KeystoreError(f"{where}.salt must be 1 to {MAX_SALT_LEN} bytes, got {len(salt)}")
    if kdf == "scrypt":
        n, r, p = _parse_scrypt(params, where)
        return KdfSpec(kdf, salt, dklen, n=n, r=r, p=p)
    if kdf == "pbkdf2":
        return KdfSpec(kdf, salt, dklen, rounds=_parse_pbkdf2(params, where))
    raise KeystoreError(f"unsupported kdf {kdf!r} (supported: {', '.join(SUPPORTED_KDFS)})")


def _parse_scrypt(params: Mapping[str, Any], where: str) -> tuple[int, int, int]:
    n = _expect_int(params, "n", where)
    r = _expect_int(params, "r", where)
    p = _expect_int(params, "p", where)
    if n < 2 or n & (n - 1):
        raise KeystoreError(f"{where}.n must be a power of two greater than 1, got {n}")
    if n > MAX_SCRYPT_N:
        raise KeystoreError(f"{where}.n {n} exceeds the supported maximum of 2^20")
    if not 1 <= r <= MAX_SCRYPT_R:
        raise KeystoreError(f"{where}.r must be 1 to {MAX_SCRYPT_R}, got {r}")
    if not 1 <= p <= MAX_SCRYPT_P:
        raise KeystoreError(f"{where}.p must be 1 to {MAX_SCRYPT_P}, got {p}")
    if 128 * r * n > MAX_SCRYPT_MEMORY:
        raise KeystoreError(f"{where} needs {128 * r * n} bytes of memory (max {MAX_SCRYPT_MEMORY})")
    if n * r * p > MAX_SCRYPT_WORK:
        raise KeystoreError(f"{where} cost n*r*p = {n * r * p} exceeds the maximum of 2^24")
    return n, r, p


def _parse_pbkdf2(params: Mapping[str, Any], where: str) -> int:
    prf = _expect_str(params, "prf", where)
    if prf != PBKDF2_PRF:
        raise KeystoreError(f"unsupported {where}.prf {prf!r} (supported: {PBKDF2_PRF})")
    rounds = _expect_int(params, "c", where)
    if not 1 <= rounds <= MAX_PBKDF2_ROUNDS:
        raise KeystoreError(f"{where}.c must be 1 to {MAX_PBKDF2_ROUNDS}, got {rounds}")
    return rounds


def _derive_key(spec: KdfSpec, password: str) -> bytes:
    secret = password.encode("utf-8")
    if spec.kdf == "pbkdf2":
        return hashlib.pbkdf2_hmac("sha256", secret, spec.salt, spec.rounds, spec.dklen)
    if spec.n >= 1 << (16 * spec.r):
        # OpenSSL enforces RFC 7914's N < 2^(16r) and rejects such files (the
        # official r=1 test vector among them); pycryptodome does not.
        return _pycryptodome_scrypt(secret, spec.salt, spec.dklen, N=spec.n, r=spec.r, p=spec.p)
    maxmem = 128 * spec.r * (spec.n + spec.p + 2) + (1 << 20)
    return hashlib.scrypt(secret, salt=spec.salt, n=spec.n, r=spec.r, p=spec.p, maxmem=maxmem, dklen=spec.dklen)


def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    return AES.new(key, AES.MODE_CTR, nonce=b"", initial_value=iv).encrypt(data)


def _mac(derived: bytes, ciphertext: bytes) -> bytes:
    return keccak256(derived[16:32] + ciphertext)


# ---------------------------------------------------------------- field access


def _field(obj: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in obj:
        raise KeystoreError(f"{where} is missing '{name}'")
    return obj[name]


def _expect_dict(obj: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = _field(obj, name, where)
    if not isinstance(value, Mapping):
        raise KeystoreError(f"{where}.{name} must be an object")
    return value


def _expect_str(obj: Mapping[str, Any], name: str, where: str) -> str:
    value = _field(obj, name, where)
    if not isinstance(value, str):
        raise KeystoreError(f"{where}.{name} must be a string")
    return value


def _expect_int(obj: Mapping[str, Any], name: str, where: str) -> int:
    value = _field(obj, name, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise KeystoreError(f"{where}.{name} must be an integer")
    return value


def _expect_hex(obj: Mapping[str, Any], name: str, where: str, length: int | None = None) -> bytes:
    text = _expect_str(obj, name, where)
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        raw = bytes.fromhex(body)
    except ValueError:
        raise KeystoreError(f"{where}.{name} is not valid hex") from None
    if not body.isascii() or any(c.isspace() for c in body):
        raise KeystoreError(f"{where}.{name} is not valid hex")
    if length is not None and len(raw) != length:
        raise KeystoreError(f"{where}.{name} must be {length} bytes, got {len(raw)}")
    return raw


# ---------------------------------------------------------------- files


def read_keystore_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and JSON-parse a keystore file (without decrypting it)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_KEYSTORE_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeystoreError(f"keystore file {path} does not exist") from None
    except IsADirectoryError:
        raise KeystoreError(f"keystore path {path} is a directory") from None
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore file {path}: {exc.strerror}") from None
    if len(raw) > MAX_KEYSTORE_FILE_BYTES:
        raise KeystoreError(f"keystore file {path} is larger than {MAX_KEYSTORE_FILE_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeystoreError(f"keystore file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise KeystoreError(f"keystore file {path} must contain a JSON object")
    return doc


def load_keystore_file(path: str | os.PathLike[str], password: str) -> PrivateKey:
    """Read and decrypt a keystore file."""
    return decrypt_keystore(read_keystore_file(path), password)


def write_keystore_file(
    path: str | os.PathLike[str],
    doc: Mapping[str, Any],
    *,
    overwrite: bool = False,
) -> Path:
    """Atomically write `doc` to `path` with mode 0600 (temp file + os.replace).

    Refuses to replace an existing file unless `overwrite` is set.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise KeystoreError(f"keystore file {path} already exists")
    data = (json.dumps(doc, indent=2) + "\n").encode("utf-8")
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise KeystoreError(f"cannot write keystore file {path}: {exc.strerror}") from None
    try:
        _write_all(fd, data)
        os.replace(tmp_name, path)
    except OSError as exc:
        _unlink_quietly(tmp_name)
        raise KeystoreError(f"cannot write keystore file {path}: {exc.strerror}") from None
    except BaseException:
        _unlink_quietly(tmp_name)
        raise
    return path


def _write_all(fd: int, data: bytes) -> None:
    """Write, fsync and close `fd` (mkstemp already created it with mode 0600)."""
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _unlink_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass
