"""Web3 Secret Storage v3 keystores: official vectors, round trips, hostile input."""

from __future__ import annotations

import copy
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from node.crypto import PrivateKey
from node.keys.keystore import (
    KeystoreError,
    ScryptParams,
    WrongPasswordError,
    decrypt_keystore,
    encrypt_keystore,
    keystore_address,
    load_keystore_file,
    read_keystore_file,
    write_keystore_file,
)

VECTOR_KEY = "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d"
VECTOR_PASSWORD = "testpassword"

# Test vectors from the Web3 Secret Storage Definition.
PBKDF2_VECTOR: dict[str, Any] = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {
            "c": 262144,
            "dklen": 32,
            "prf": "hmac-sha256",
            "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
        },
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
SCRYPT_VECTOR: dict[str, Any] = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
        "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
        "kdf": "scrypt",
        "kdfparams": {
            "dklen": 32,
            "n": 262144,
            "p": 8,
            "r": 1,
            "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19",
        },
        "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey(bytes.fromhex(VECTOR_KEY))


@pytest.fixture(scope="module")
def light_doc(key: PrivateKey) -> dict[str, Any]:
    return encrypt_keystore(key, "pw", light=True)


def test_pbkdf2_vector() -> None:
    assert decrypt_keystore(PBKDF2_VECTOR, VECTOR_PASSWORD).secret.hex() == VECTOR_KEY


def test_scrypt_vector() -> None:
    # The only test paying for full-cost scrypt (n=2^18); r=1 also exercises the
    # fallback for parameters OpenSSL refuses (N >= 2^(16r)).
    assert decrypt_keystore(SCRYPT_VECTOR, VECTOR_PASSWORD).secret.hex() == VECTOR_KEY


def test_vector_reencrypts_identically(key: PrivateKey) -> None:
    params = PBKDF2_VECTOR["crypto"]["kdfparams"]
    doc = encrypt_keystore(
        key,
        VECTOR_PASSWORD,
        "pbkdf2",
        pbkdf2_rounds=params["c"],
        salt=bytes.fromhex(params["salt"]),
        iv=bytes.fromhex(PBKDF2_VECTOR["crypto"]["cipherparams"]["iv"]),
        key_id=PBKDF2_VECTOR["id"],
    )
    assert doc["crypto"] == PBKDF2_VECTOR["crypto"]
    assert doc["address"] == key.address.hex()


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_round_trip(key: PrivateKey, kdf: str) -> None:
    doc = encrypt_keystore(key, "correct horse", kdf, light=True)
    assert doc["version"] == 3 and doc["crypto"]["kdf"] == kdf
    assert decrypt_keystore(json.loads(json.dumps(doc)), "correct horse").secret == key.secret


def test_scrypt_params_in_document(key: PrivateKey) -> None:
    doc = encrypt_keystore(key, "pw", scrypt_params=ScryptParams(n=2048))
    assert doc["crypto"]["kdfparams"] | {"salt": ""} == {"dklen": 32, "n": 2048, "r": 8, "p": 1, "salt": ""}
    assert ScryptParams() == ScryptParams(n=262144, r=8, p=1)


def test_unicode_password(key: PrivateKey) -> None:
    doc = encrypt_keystore(key, "pässwörd 🔑", light=True)
    assert decrypt_keystore(doc, "pässwörd 🔑").address == key.address


def test_wrong_password(light_doc: dict[str, Any]) -> None:
    with pytest.raises(WrongPasswordError, match="wrong password"):
        decrypt_keystore(light_doc, "not it")


def test_tampered_ciphertext(light_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(light_doc)
    ciphertext = bytearray.fromhex(doc["crypto"]["ciphertext"])
    ciphertext[0] ^= 1
    doc["crypto"]["ciphertext"] = ciphertext.hex()
    with pytest.raises(WrongPasswordError):
        decrypt_keystore(doc, "pw")


def test_address_field_must_match(light_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(light_doc)
    doc["address"] = "00" * 20
    with pytest.raises(KeystoreError, match="does not match"):
        decrypt_keystore(doc, "pw")
    del doc["address"]
    assert decrypt_keystore(doc, "pw").secret.hex() == VECTOR_KEY


def test_accepts_capitalised_crypto_and_0x_hex(light_doc: dict[str, Any]) -> None:
    doc = copy.deepcopy(light_doc)
    doc["Crypto"] = doc.pop("crypto")
    doc["Crypto"]["mac"] = "0x" + doc["Crypto"]["mac"]
    assert decrypt_keystore(doc, "pw").secret.hex() == VECTOR_KEY


DELETE = object()


def _mutated(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Copy of `doc` with the dotted `path` set to `value` (or deleted if value is DELETE)."""
    result = copy.deepcopy(doc)
    *parents, last = path.split(".")
    target = result
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return result


MALFORMED = [
    ("version", DELETE, "missing 'version'"),
    ("version", 2, "unsupported keystore version 2"),
    ("version", "3", "unsupported keystore version '3'"),
    ("version", True, "unsupported keystore version True"),
    ("crypto", DELETE, "missing 'crypto'"),
    ("crypto", [], "crypto must be an object"),
    ("crypto.kdf", DELETE, "crypto is missing 'kdf'"),
    ("crypto.kdf", "argon2id", "unsupported kdf 'argon2id'"),
    ("crypto.kdf", 7, "crypto.kdf must be a string"),
    ("crypto.cipher", "aes-128-cbc", "unsupported cipher 'aes-128-cbc'"),
    ("crypto.cipher", DELETE, "crypto is missing 'cipher'"),
    ("crypto.cipherparams", DELETE, "crypto is missing 'cipherparams'"),
    ("crypto.cipherparams.iv", "zz" * 16, "crypto.cipherparams.iv is not valid hex"),
    ("crypto.cipherparams.iv", "00" * 15, "crypto.cipherparams.iv must be 16 bytes, got 15"),
    ("crypto.ciphertext", "abc", "crypto.ciphertext is not valid hex"),
    ("crypto.ciphertext", "00" * 31, "crypto.ciphertext must be 32 bytes, got 31"),
    ("crypto.ciphertext", 12, "crypto.ciphertext must be a string"),
    ("crypto.mac", DELETE, "crypto is missing 'mac'"),
    ("crypto.mac", "00" * 33, "crypto.mac must be 32 bytes, got 33"),
    ("crypto.mac", "0 " * 32, "crypto.mac is not valid hex"),
    ("crypto.kdfparams", DELETE, "crypto is missing 'kdfparams'"),
    ("crypto.kdfparams", "n=1", "crypto.kdfparams must be an object"),
    ("crypto.kdfparams.dklen", 16, "dklen must be at least 32, got 16"),
    ("crypto.kdfparams.dklen", 64, "dklen 64 exceeds the supported maximum of 32"),
    ("crypto.kdfparams.dklen", 32.0, "dklen must be an integer"),
    ("crypto.kdfparams.salt", "", "salt must be 1 to 1024 bytes, got 0"),
    ("crypto.kdfparams.salt", "xyz", "salt is not valid hex"),
    ("crypto.kdfparams.n", DELETE, "crypto.kdfparams is missing 'n'"),
    ("crypto.kdfparams.n", 1000, "n must be a power of two greater than 1, got 1000"),
    ("crypto.kdfparams.n", 1, "n must be a power of two greater than 1, got 1"),
    ("crypto.kdfparams.n", 2**21, "n 2097152 exceeds the supported maximum of 2^20"),
    ("crypto.kdfparams.n", 2**60, "exceeds the supported maximum of 2^20"),
    ("crypto.kdfparams.r", 0, "r must be 1 to 32, got 0"),
    ("crypto.kdfparams.r", 1000, "r must be 1 to 32, got 1000"),
    ("crypto.kdfparams.p", 10**9, "p must be 1 to 16, got 1000000000"),
    ("crypto.kdfparams.p", "1", "p must be an integer"),
]


@pytest.mark.parametrize("path, value, message", MALFORMED)
def test_malformed_fields(light_doc: dict[str, Any], path: str, value: Any, message: str) -> None:
    with pytest.raises(KeystoreError, match=re.escape(message)) as info:
        decrypt_keystore(_mutated(light_doc, path, value), "pw")
    assert not isinstance(info.value, WrongPasswordError)


def test_scrypt_memory_and_work_caps(light_doc: dict[str, Any]) -> None:
    heavy = _mutated(light_doc, "crypto.kdfparams.n", 2**20)
    heavy["crypto"]["kdfparams"]["r"] = 16
    with pytest.raises(KeystoreError, match="bytes of memory"):
        decrypt_keystore(heavy, "pw")
    slow = _mutated(light_doc, "crypto.kdfparams.n", 2**20)
    slow["crypto"]["kdfparams"].update(r=8, p=16)
    with pytest.raises(KeystoreError, match=r"cost n\*r\*p"):
        decrypt_keystore(slow, "pw")


def test_pbkdf2_param_checks() -> None:
    for field, value, message in [
        ("prf", "hmac-sha512", "unsupported crypto.kdfparams.prf 'hmac-sha512'"),
        ("c", 0, "c must be 1 to 10000000, got 0"),
        ("c", 10**12, "c must be 1 to 10000000"),
        ("c", DELETE, "crypto.kdfparams is missing 'c'"),
    ]:
        with pytest.raises(KeystoreError, match=re.escape(message)):
            decrypt_keystore(_mutated(PBKDF2_VECTOR, f"crypto.kdfparams.{field}", value), VECTOR_PASSWORD)


def test_not_an_object() -> None:
    with pytest.raises(KeystoreError, match="must be a JSON object"):
        decrypt_keystore([], "pw")  # type: ignore[arg-type]


def test_encrypt_rejects_bad_options(key: PrivateKey) -> None:
    with pytest.raises(KeystoreError, match="unsupported kdf"):
        encrypt_keystore(key, "pw", "bcrypt")
    with pytest.raises(KeystoreError, match="iv must be 16 bytes"):
        encrypt_keystore(key, "pw", light=True, iv=b"short")
    with pytest.raises(KeystoreError, match="n must be a power of two"):
        encrypt_keystore(key, "pw", scrypt_params=ScryptParams(n=1000))
    with pytest.raises(KeystoreError, match="password must be a string"):
        encrypt_keystore(key, None, light=True)  # type: ignore[arg-type]


def test_keystore_address(light_doc: dict[str, Any], key: PrivateKey) -> None:
    assert keystore_address(light_doc) == key.address
    assert keystore_address(PBKDF2_VECTOR) is None
    with pytest.raises(KeystoreError, match="address must be 20 bytes"):
        keystore_address({"address": "00"})


# ---------------------------------------------------------------- files


def test_write_and_load_file(tmp_path: Path, key: PrivateKey, light_doc: dict[str, Any]) -> None:
    path = write_keystore_file(tmp_path / "k.json", light_doc)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keystore_file(path, "pw").secret == key.secret
    assert read_keystore_file(path) == light_doc
    assert [p.name for p in tmp_path.iterdir()] == ["k.json"]  # no temp file left behind


def test_write_refuses_to_overwrite_unless_asked(tmp_path: Path, light_doc: dict[str, Any]) -> None:
    path = write_keystore_file(tmp_path / "k.json", light_doc)
    with pytest.raises(KeystoreError, match="already exists"):
        write_keystore_file(path, PBKDF2_VECTOR)
    write_keystore_file(path, PBKDF2_VECTOR, overwrite=True)
    assert read_keystore_file(path) == PBKDF2_VECTOR
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_into_missing_directory(tmp_path: Path, light_doc: dict[str, Any]) -> None:
    with pytest.raises(KeystoreError, match="cannot write keystore file"):
        write_keystore_file(tmp_path / "nope" / "k.json", light_doc)


def test_read_errors(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="does not exist"):
        read_keystore_file(tmp_path / "missing.json")
    with pytest.raises(KeystoreError, match="is a directory"):
        read_keystore_file(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(KeystoreError, match="not valid JSON"):
        read_keystore_file(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(KeystoreError, match="must contain a JSON object"):
        read_keystore_file(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(KeystoreError, match="not valid JSON"):
        read_keystore_file(bad)
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:
        fh.truncate((1 << 20) + 10)
    with pytest.raises(KeystoreError, match="larger than"):
        read_keystore_file(huge)


def test_load_wrong_password_from_file(tmp_path: Path, light_doc: dict[str, Any]) -> None:
    path = write_keystore_file(tmp_path / "k.json", light_doc)
    with pytest.raises(WrongPasswordError):
        load_keystore_file(os.fspath(path), "nope")


def test_explicit_pbkdf2_rounds_are_validated(key: PrivateKey) -> None:
    with pytest.raises(KeystoreError, match="c must be 1 to"):
        encrypt_keystore(key, "pw", "pbkdf2", pbkdf2_rounds=0)
