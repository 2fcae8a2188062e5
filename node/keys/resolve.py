"""Turn a user's key spec into a private key, and manage the keys directory.

A spec is one of, tried in this order:

    dev0 .. dev9          a public dev account (anvil/hardhat keys)
    0x + 64 hex digits    a raw private key
    0x + 40 hex digits    the address of a stored key (or of a dev account)
    a path to a file      a v3 keystore file (needs a password)
    a name                a key stored in the keys directory as <name>.json

The keys directory is `$ROLLUP_KEYS_DIR` or `~/.rollup/keys`. Error messages
never repeat a spec that could be a secret (anything hex-like).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from node.crypto import (
    ADDRESS_LEN,
    PRIVATE_KEY_LEN,
    Address,
    CryptoError,
    PrivateKey,
    parse_address,
    parse_hex,
    to_checksum_address,
)
from node.keys.hd import DEV_ACCOUNT_COUNT, DEV_ACCOUNT_PREFIX, dev_account, dev_accounts
from node.keys.keystore import KeystoreError, keystore_address, load_keystore_file, read_keystore_file

KEYS_DIR_ENV = "ROLLUP_KEYS_DIR"
DEFAULT_KEYS_DIR = Path("~/.rollup/keys")
KEY_FILE_SUFFIX = ".json"
MAX_NAME_LEN = 64

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DEV_RE = re.compile(r"dev([0-9]+)", re.IGNORECASE)
_LONG_HEX_RE = re.compile(r"(0[xX])?[0-9a-fA-F]{32,}")


class KeyResolutionError(ValueError):
    """A key spec does not name a usable key."""


class PasswordRequiredError(KeyResolutionError):
    """The key is an encrypted keystore and no password was given."""


@dataclass(frozen=True)
class StoredKey:
    """A keystore file in the keys directory. `address` is None if the file is unreadable."""

    name: str
    address: Address | None
    path: Path

    @property
    def checksum_address(self) -> str | None:
        return None if self.address is None else to_checksum_address(self.address)


# ---------------------------------------------------------------- keys directory


def default_keys_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$ROLLUP_KEYS_DIR` if set (and non-empty), else ~/.rollup/keys."""
    environ = os.environ if env is None else env
    configured = environ.get(KEYS_DIR_ENV, "")
    return Path(configured).expanduser() if configured else DEFAULT_KEYS_DIR.expanduser()


def validate_key_name(name: str) -> str:
    """Check that `name` can name a stored key; returns it unchanged."""
    if not isinstance(name, str) or not name:
        raise KeyResolutionError("key name must not be empty")
    if len(name) > MAX_NAME_LEN:
        raise KeyResolutionError(f"key name must be at most {MAX_NAME_LEN} characters")
    if not _NAME_RE.fullmatch(name):
        raise KeyResolutionError(
            "key name may only contain letters, digits, '_', '.' and '-', and must start with a letter or digit"
        )
    if _LONG_HEX_RE.fullmatch(name) or name[:2].lower() == "0x":
        raise KeyResolutionError("key name must not look like a hex key or address")
    if _DEV_RE.fullmatch(name):
        raise KeyResolutionError(f"key name {name!r} is reserved for the public dev accounts")
    if name.lower().endswith(KEY_FILE_SUFFIX):
        raise KeyResolutionError(f"key name must not end in {KEY_FILE_SUFFIX!r}")
    return name


def key_file_path(keys_dir: Path, name: str) -> Path:
    """Where the key called `name` is stored."""
    return keys_dir / (validate_key_name(name) + KEY_FILE_SUFFIX)


def list_stored_keys(keys_dir: Path) -> list[StoredKey]:
    """All `<name>.json` keystores in `keys_dir`, sorted by name (none if it does not exist)."""
    if not keys_dir.is_dir():
        return []
    entries = [_stored_key(path) for path in keys_dir.iterdir() if _is_key_file(path)]
    return sorted(entries, key=lambda entry: entry.name)


def _is_key_file(path: Path) -> bool:
    return path.suffix == KEY_FILE_SUFFIX and not path.name.startswith(".") and path.is_file()


def _stored_key(path: Path) -> StoredKey:
    try:
        address = keystore_address(read_keystore_file(path))
    except KeystoreError:
        address = None
    return StoredKey(name=path.stem, address=None if address is None else Address(address), path=path)


def find_stored_key(name_or_address: str, keys_dir: Path) -> StoredKey:
    """The stored key with this name or (0x) address."""
    if _is_hex_like(name_or_address):
        address = _parse_lookup_address(name_or_address)
        return _find_by_address(address, keys_dir)
    validate_key_name(name_or_address)
    path = key_file_path(keys_dir, name_or_address)
    if not path.is_file():
        raise KeyResolutionError(f"no key named {name_or_address!r} in {keys_dir}")
    return _stored_key(path)


def find_stored_keys_by_address(address: bytes, keys_dir: Path) -> list[StoredKey]:
    return [entry for entry in list_stored_keys(keys_dir) if entry.address == address]


def _find_by_address(address: Address, keys_dir: Path) -> StoredKey:
    matches = find_stored_keys_by_address(address, keys_dir)
    if not matches:
        raise KeyResolutionError(f"no stored key has address {to_checksum_address(address)} in {keys_dir}")
    if len(matches) > 1:
        names = ", ".join(entry.name for entry in matches)
        raise KeyResolutionError(f"address {to_checksum_address(address)} matches several keys: {names}")
    return matches[0]


@dataclass(frozen=True)
class KeyInfo:
    """What a spec refers to, found without decrypting anything.

    kind is "dev", "stored", "file" or "raw" (a 0x private key given inline).
    """

    kind: str
    address: Address | None
    name: str | None = None
    path: Path | None = None


# ---------------------------------------------------------------- resolution


def dev_index(spec: str) -> int | None:
    """The index of a `devN` spec (0..9), None if `spec` is not of that form."""
    match = _DEV_RE.fullmatch(spec.strip())
    if match is None:
        return None
    index = int(match.group(1))
    if index >= DEV_ACCOUNT_COUNT:
        raise KeyResolutionError(f"unknown dev account {spec.strip()!r} (there are dev0..dev{DEV_ACCOUNT_COUNT - 1})")
    return index


def resolve_key(spec: str, password: str | None = None, keys_dir: Path | None = None) -> PrivateKey:
    """The private key named by `spec` (see the module docstring).

    Raises KeyResolutionError (PasswordRequiredError when a keystore needs a
    password that was not given) or KeystoreError (WrongPasswordError for a
    wrong password, or a malformed keystore).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise KeyResolutionError("key spec is empty")
    spec = spec.strip()
    keys_dir = default_keys_dir() if keys_dir is None else keys_dir
    index = dev_index(spec)
    if index is not None:
        return dev_account(index)
    if _is_hex_like(spec):
        return _resolve_hex(spec, password, keys_dir)
    stored = _stored_path(spec, keys_dir)
    if stored is not None:
        return _load_file(stored, password, f"key {spec!r}")
    return _load_file(_keystore_path(spec, keys_dir), password, f"keystore file {spec}")


def describe_key(spec: str, keys_dir: Path | None = None) -> KeyInfo:
    """Identify the key `spec` names (and its address) without needing a password."""
    if not isinstance(spec, str) or not spec.strip():
        raise KeyResolutionError("key spec is empty")
    spec = spec.strip()
    keys_dir = default_keys_dir() if keys_dir is None else keys_dir
    index = dev_index(spec)
    if index is not None:
        return KeyInfo("dev", dev_account(index).address, name=f"{DEV_ACCOUNT_PREFIX}{index}")
    if _is_hex_like(spec):
        return _describe_hex(spec, keys_dir)
    stored = _stored_path(spec, keys_dir)
    if stored is not None:
        entry = _stored_key(stored)
        return KeyInfo("stored", entry.address, name=entry.name, path=entry.path)
    path = _keystore_path(spec, keys_dir)
    address = keystore_address(read_keystore_file(path))
    return KeyInfo("file", None if address is None else Address(address), path=path)


def _describe_hex(spec: str, keys_dir: Path) -> KeyInfo:
    if spec[:2].lower() == "0x" and len(spec) == 2 + 2 * ADDRESS_LEN:
        return _describe_address(_parse_lookup_address(spec), keys_dir)
    return KeyInfo("raw", _resolve_hex(spec, None, keys_dir).address)


def _describe_address(address: Address, keys_dir: Path) -> KeyInfo:
    if find_stored_keys_by_address(address, keys_dir):
        entry = _find_by_address(address, keys_dir)
        return KeyInfo("stored", entry.address, name=entry.name, path=entry.path)
    for account in dev_accounts():
        if account.address == address:
            return KeyInfo("dev", account.address, name=account.name)
    raise KeyResolutionError(f"no stored key or dev account has address {to_checksum_address(address)}")


def _stored_path(spec: str, keys_dir: Path) -> Path | None:
    """The keys-dir file of a key called `spec`, None if there is none (or spec is a path)."""
    if _looks_like_path(spec) or not _NAME_RE.fullmatch(spec):
        return None
    path = keys_dir / (spec + KEY_FILE_SUFFIX)
    return path if path.is_file() else None


def _keystore_path(spec: str, keys_dir: Path) -> Path:
    """`spec` as a path to an existing keystore file, else an 'unknown key' error."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if _looks_like_path(spec):
        raise KeyResolutionError(f"keystore file {spec} does not exist")
    raise KeyResolutionError(
        f"unknown key {_safe_label(spec)}: expected dev0..dev{DEV_ACCOUNT_COUNT - 1}, a 0x private key, "
        f"a keystore file, or the name or address of a key in {keys_dir}"
    )


def _resolve_hex(spec: str, password: str | None, keys_dir: Path) -> PrivateKey:
    if spec[:2].lower() != "0x":
        raise KeyResolutionError("hex keys and addresses must start with 0x")
    body = spec[2:]
    if len(body) == 2 * PRIVATE_KEY_LEN:
        try:
            return PrivateKey(parse_hex(spec, PRIVATE_KEY_LEN, "private key"))
        except CryptoError as exc:
            raise KeyResolutionError(f"invalid private key: {exc}") from None
    if len(body) == 2 * ADDRESS_LEN:
        return _resolve_address(_parse_lookup_address(spec), password, keys_dir)
    raise KeyResolutionError("0x value is neither a private key (64 hex digits) nor an address (40 hex digits)")


def _resolve_address(address: Address, password: str | None, keys_dir: Path) -> PrivateKey:
    if find_stored_keys_by_address(address, keys_dir):
        entry = _find_by_address(address, keys_dir)  # raises if ambiguous
        return _load_file(entry.path, password, f"key {entry.name!r}")
    for account in dev_accounts():
        if account.address == address:
            return account.private_key
    raise KeyResolutionError(f"no stored key or dev account has address {to_checksum_address(address)}")


def _parse_lookup_address(text: str) -> Address:
    if len(text.removeprefix("0x").removeprefix("0X")) != 2 * ADDRESS_LEN:
        raise KeyResolutionError("expected a 0x address (40 hex digits)")
    try:
        return parse_address(text)
    except CryptoError as exc:
        raise KeyResolutionError(str(exc)) from None


def _load_file(path: Path, password: str | None, label: str) -> PrivateKey:
    if password is None:
        raise PasswordRequiredError(f"{label} is an encrypted keystore; a password is required")
    return load_keystore_file(path, password)


def _is_hex_like(spec: str) -> bool:
    if _looks_like_path(spec):
        return False
    return spec[:2].lower() == "0x" or bool(_LONG_HEX_RE.fullmatch(spec))


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or os.sep in spec or spec.startswith("~") or spec.lower().endswith(KEY_FILE_SUFFIX)


def _safe_label(spec: str) -> str:
    """`spec` quoted if it cannot be a secret, else a placeholder."""
    if len(spec) <= MAX_NAME_LEN and _NAME_RE.fullmatch(spec) and not _LONG_HEX_RE.search(spec):
        return repr(spec)
    return "(value not shown)"
