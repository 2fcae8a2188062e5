"""Config value readers shared by the process configs; every error names `section.key`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from node.crypto import PrivateKey
from node.encoding import UINT256_MAX
from node.keys.keystore import KeystoreError
from node.keys.resolve import KeyResolutionError, resolve_key
from node.service import ConfigError


def read_url(table: Mapping[str, Any], section: str, key: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigError(f"{section}.{key} must be an http(s) URL (got {value!r})")
    return value


def read_optional_amount(table: Mapping[str, Any], section: str, key: str) -> int | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
        raise ConfigError(f"{section}.{key} must be a decimal amount string in [0, 2^256)")
    return value


def read_key_password(table: Mapping[str, Any], section: str) -> str | None:
    """The keystore password from the environment variable named by `key_password_env`, if any."""
    name = table.get("key_password_env")
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{section}.key_password_env must name an environment variable")
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"{section}.key_password_env: environment variable {name} is not set")
    return value


def read_signing_key(table: Mapping[str, Any], section: str, key: str, password: str | None) -> PrivateKey:
    spec = table.get(key)
    if not isinstance(spec, str) or not spec:
        raise ConfigError(f"{section}.{key} is required (a dev name, 0x private key, key name or keystore path)")
    try:
        return resolve_key(spec, password)
    except (KeyResolutionError, KeystoreError) as exc:
        raise ConfigError(f"{section}.{key}: {exc}") from None
