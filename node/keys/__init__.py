"""Keys and accounts: HD dev accounts, v3 keystore files, and key-spec resolution."""

from node.keys.hd import DEV_MNEMONIC, DevAccount, HDError, dev_account, dev_accounts
from node.keys.keystore import (
    KeystoreError,
    WrongPasswordError,
    decrypt_keystore,
    encrypt_keystore,
    load_keystore_file,
    write_keystore_file,
)
from node.keys.resolve import KeyResolutionError, PasswordRequiredError, default_keys_dir, resolve_key

__all__ = [
    "DEV_MNEMONIC",
    "DevAccount",
    "HDError",
    "KeyResolutionError",
    "KeystoreError",
    "PasswordRequiredError",
    "WrongPasswordError",
    "decrypt_keystore",
    "default_keys_dir",
    "dev_account",
    "dev_accounts",
    "encrypt_keystore",
    "load_keystore_file",
    "resolve_key",
    "write_keystore_file",
]
