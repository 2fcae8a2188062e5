"""`rollup keys`: create, list, import, export and show signing keys.

Keys live as v3 keystore files `<name>.json` in the keys directory
(`--keys-dir`, else `$ROLLUP_KEYS_DIR`, else ~/.rollup/keys). Passwords come
from `--password-file FILE` (its first line), else `$ROLLUP_PASSWORD`, else an
interactive prompt; without a terminal and without either source the command
fails instead of waiting for input.

The dev accounts dev0..dev9 are the public anvil/hardhat keys; they are
always available and never stored.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.cli.common import PASSWORD_ENV, CliError, add_json_flag, emit, keystore_password, read_password
from node.crypto import CryptoError, PrivateKey, to_checksum_address
from node.keys.hd import DEV_ACCOUNT_COUNT, HDError, dev_account, dev_accounts
from node.keys.keystore import (
    KeystoreError,
    decrypt_keystore,
    encrypt_keystore,
    load_keystore_file,
    read_keystore_file,
    write_keystore_file,
)
from node.keys.resolve import (
    KeyInfo,
    KeyResolutionError,
    StoredKey,
    default_keys_dir,
    describe_key,
    dev_index,
    find_stored_key,
    find_stored_keys_by_address,
    key_file_path,
    list_stored_keys,
    validate_key_name,
)

DEV_WARNING = "public dev key: known to everyone, never use it for real funds"
DEV_LIST_HEADER = "Public dev accounts (well-known keys, never use them for real funds):"
PRIVATE_KEY_WARNING = "warning: printing a plaintext private key; anyone who sees it controls the account"

Handler = Callable[[argparse.Namespace], int]


# ---------------------------------------------------------------- registration


def register(subparsers: Any) -> None:
    keys = subparsers.add_parser(
        "keys",
        help="create, list, import, export and show signing keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    sub.required = True
    common, password = _common_parser(), _password_parser()
    _register_new(sub, [common, password])
    _register_list(sub, [common])
    _register_import(sub, [common, password])
    _register_export(sub, [common, password])
    _register_show(sub, [common])


def _common_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--keys-dir", type=Path, help="keys directory (default: $ROLLUP_KEYS_DIR or ~/.rollup/keys)")
    add_json_flag(parser)
    return parser


def _password_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help=f"read the password from the first line of FILE (else ${PASSWORD_ENV}, else a prompt)",
    )
    return parser


def _register_new(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("new", parents=parents, help="create a new key (scrypt keystore)")
    parser.add_argument("--name", help="key name (default: key-<address prefix>)")
    _add_light_flag(parser)
    parser.set_defaults(func=_handler(cmd_new))


def _register_list(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("list", parents=parents, help="list stored keys and the public dev accounts")
    parser.set_defaults(func=_handler(cmd_list))


def _register_import(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("import", parents=parents, help="store an existing private key or keystore file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--private-key",
        metavar="HEX",
        help="0x-prefixed private key to encrypt and store (visible in shell history and ps)",
    )
    source.add_argument("--keystore", type=Path, metavar="FILE", help="v3 keystore file to verify and copy")
    parser.add_argument("--name", help="key name (default: key-<address prefix>)")
    _add_light_flag(parser)
    parser.set_defaults(func=_handler(cmd_import))


def _register_export(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "export",
        parents=parents,
        help="print a stored keystore, copy it to a file, or (explicitly) print its private key",
    )
    parser.add_argument("key", metavar="NAME_OR_ADDRESS")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--keystore", type=Path, metavar="OUT", dest="keystore_out", help="write the keystore to OUT")
    target.add_argument("--private-key", action="store_true", help="decrypt and print the plaintext private key")
    parser.set_defaults(func=_handler(cmd_export))


def _register_show(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("show", parents=parents, help="show a key's address (no password needed)")
    parser.add_argument("key", metavar="KEY", help="devN, a key name or address, a keystore file, or a 0x private key")
    parser.set_defaults(func=_handler(cmd_show))


def _add_light_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--light",
        action="store_true",
        help="cheap scrypt parameters (n=4096): fast but weak, for throwaway devnet keys",
    )


def _handler(command: Handler) -> Handler:
    """Turn key/keystore errors into user-facing CliErrors."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (KeystoreError, KeyResolutionError, CryptoError, HDError) as exc:
            raise CliError(str(exc)) from None

    return run


# ---------------------------------------------------------------- commands


def cmd_new(args: argparse.Namespace) -> int:
    keys_dir = _keys_dir(args)
    if args.name is not None:
        _check_name_free(keys_dir, args.name)
    password = _new_password(args)
    key = PrivateKey.generate()
    name = args.name if args.name is not None else _default_name(keys_dir, key)
    path = _store(keys_dir, name, encrypt_keystore(key, password, "scrypt", light=args.light))
    _emit_stored(args, name, key, path, "created")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    keys_dir = _keys_dir(args)
    stored = [_stored_json(entry) for entry in list_stored_keys(keys_dir)]
    dev = [
        {"name": account.name, "address": account.checksum_address, "public": True}
        for account in dev_accounts(DEV_ACCOUNT_COUNT)
    ]
    data = {"keys_dir": str(keys_dir), "keys": stored, "dev_accounts": dev}
    emit(args, data, _list_text(keys_dir, stored, dev))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    keys_dir = _keys_dir(args)
    if args.name is not None:
        _check_name_free(keys_dir, args.name)
    if args.private_key is not None:
        key = _parse_private_key(args.private_key)
        _check_address_free(keys_dir, key)
        doc = encrypt_keystore(key, _new_password(args), "scrypt", light=args.light)
    else:
        key, doc = _verified_keystore(args)
        _check_address_free(keys_dir, key)
    name = args.name if args.name is not None else _default_name(keys_dir, key)
    path = _store(keys_dir, name, doc)
    _emit_stored(args, name, key, path, "imported")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    index = dev_index(args.key)
    if index is not None:
        return _export_dev(args, index)
    entry = find_stored_key(args.key, _keys_dir(args))
    if args.keystore_out is not None:
        path = write_keystore_file(args.keystore_out, read_keystore_file(entry.path))
        emit(
            args,
            {"name": entry.name, "address": entry.checksum_address, "file": str(path)},
            f"wrote keystore of {entry.name!r} to {path}",
        )
    elif args.private_key:
        key = load_keystore_file(entry.path, keystore_password(args, f"Password for {entry.name}: "))
        _emit_private_key(args, entry.name, key)
    else:
        doc = read_keystore_file(entry.path)
        emit(args, doc, json.dumps(doc, indent=2))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    info = describe_key(args.key, _keys_dir(args))
    data = _info_json(info)
    emit(args, data, "\n".join(f"{field + ':':<12} {value}" for field, value in data.items() if value is not None))
    return 0


# ---------------------------------------------------------------- command helpers


def _keys_dir(args: argparse.Namespace) -> Path:
    configured: Path | None = args.keys_dir
    return configured.expanduser() if configured is not None else default_keys_dir()


def _check_name_free(keys_dir: Path, name: str) -> None:
    if key_file_path(keys_dir, name).exists():
        raise CliError(f"a key named {name!r} already exists in {keys_dir}")


def _check_address_free(keys_dir: Path, key: PrivateKey) -> None:
    existing = find_stored_keys_by_address(key.address, keys_dir)
    if existing:
        address = to_checksum_address(key.address)
        raise CliError(f"address {address} is already stored as {existing[0].name!r}")


def _default_name(keys_dir: Path, key: PrivateKey) -> str:
    base = f"key-{key.address.hex()[:8]}"
    candidates = [base] + [f"{base}-{i}" for i in range(2, 100)]
    for name in candidates:
        if not key_file_path(keys_dir, name).exists():
            return name
    raise CliError(f"cannot find a free default name for {base}; pass --name")


def _store(keys_dir: Path, name: str, doc: dict[str, Any]) -> Path:
    validate_key_name(name)
    try:
        keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create keys directory {keys_dir}: {exc.strerror}") from None
    return write_keystore_file(key_file_path(keys_dir, name), doc)


def _parse_private_key(text: str) -> PrivateKey:
    if text.strip()[:2].lower() != "0x":
        raise CliError("--private-key must be 0x-prefixed hex")
    return PrivateKey.from_hex(text.strip())  # CryptoError messages never include the key


def _verified_keystore(args: argparse.Namespace) -> tuple[PrivateKey, dict[str, Any]]:
    """Read and decrypt the --keystore file; the copy gets an 'address' field if it lacked one."""
    doc = read_keystore_file(args.keystore)
    key = decrypt_keystore(doc, keystore_password(args, f"Password for {args.keystore}: "))
    return key, {**doc, "address": key.address.hex()}


def _export_dev(args: argparse.Namespace, index: int) -> int:
    if not args.private_key:
        raise CliError(f"dev{index} is a public dev account, not a stored key; see `rollup keys show dev{index}`")
    _emit_private_key(args, f"dev{index}", dev_account(index))
    return 0


def _emit_private_key(args: argparse.Namespace, name: str, key: PrivateKey) -> None:
    print(PRIVATE_KEY_WARNING, file=sys.stderr)
    secret = "0x" + key.secret.hex()
    emit(args, {"name": name, "address": to_checksum_address(key.address), "private_key": secret}, secret)


def _emit_stored(args: argparse.Namespace, name: str, key: PrivateKey, path: Path, verb: str) -> None:
    address = to_checksum_address(key.address)
    data = {"name": name, "address": address, "file": str(path)}
    emit(args, data, f"{verb} key {name!r}\naddress: {address}\nfile:    {path}")


def _stored_json(entry: StoredKey) -> dict[str, Any]:
    return {"name": entry.name, "address": entry.checksum_address, "file": str(entry.path)}


def _list_text(keys_dir: Path, stored: list[dict[str, Any]], dev: list[dict[str, Any]]) -> str:
    lines = [f"Stored keys in {keys_dir}:"]
    if not stored:
        lines.append("  (none)")
    width = max([len(entry["name"]) for entry in stored] + [4])
    for entry in stored:
        address = entry["address"] or "(unreadable keystore)"
        lines.append(f"  {entry['name']:<{width}}  {address:<42}  {entry['file']}")
    lines.append(DEV_LIST_HEADER)
    lines.extend(f"  {entry['name']:<5}  {entry['address']}" for entry in dev)
    return "\n".join(lines)


def _info_json(info: KeyInfo) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": info.kind,
        "name": info.name,
        "address": None if info.address is None else to_checksum_address(info.address),
        "file": None if info.path is None else str(info.path),
    }
    if info.kind == "dev":
        account = next(account for account in dev_accounts() if account.name == info.name)
        data["private_key"] = "0x" + account.private_key.secret.hex()
        data["note"] = DEV_WARNING
    return data


# ---------------------------------------------------------------- passwords


def _new_password(args: argparse.Namespace) -> str:
    """The password for a new keystore: confirmed when typed, never empty."""
    password = read_password(args, "New password: ", confirm=True)
    if not password:
        raise CliError("password must not be empty")
    return password
