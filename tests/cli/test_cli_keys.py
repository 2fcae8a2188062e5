"""`rollup keys ...` (in-process and via the console script) and `resolve_key`."""

from __future__ import annotations

import getpass
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.cli import common as cli_common
from node.cli.main import main
from node.crypto import PrivateKey, to_checksum_address
from node.keys.hd import dev_account
from node.keys.keystore import WrongPasswordError, encrypt_keystore, load_keystore_file, write_keystore_file
from node.keys.resolve import (
    KeyResolutionError,
    PasswordRequiredError,
    default_keys_dir,
    describe_key,
    resolve_key,
    validate_key_name,
)

PASSWORD = "hunter2 with spaces"
DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
OTHER_KEY = "0x" + "11" * 32


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch ~/.rollup: the default keys dir points into tmp_path."""
    keys_dir = tmp_path / "keys"
    monkeypatch.setenv("ROLLUP_KEYS_DIR", str(keys_dir))
    monkeypatch.delenv("ROLLUP_PASSWORD", raising=False)
    return keys_dir


@pytest.fixture
def keys_dir(isolated_env: Path) -> Path:
    return isolated_env


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text(PASSWORD + "\n")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def new_key(capsys: pytest.CaptureFixture[str], pwfile: Path, *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = run_json(capsys, "keys", "new", "--light", "--password-file", str(pwfile), *extra)
    return data


# ---------------------------------------------------------------- new


def test_new_creates_encrypted_keystore(capsys: pytest.CaptureFixture[str], pwfile: Path, keys_dir: Path) -> None:
    data = new_key(capsys, pwfile, "--name", "alice")
    path = Path(data["file"])
    assert data["name"] == "alice" and path == keys_dir / "alice.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
    key = load_keystore_file(path, PASSWORD)  # password file's trailing newline is not part of it
    assert to_checksum_address(key.address) == data["address"]
    assert json.loads(path.read_text())["crypto"]["kdf"] == "scrypt"


def test_new_human_output_and_default_name(capsys: pytest.CaptureFixture[str], pwfile: Path, keys_dir: Path) -> None:
    code, out, _ = run(capsys, "keys", "new", "--light", "--password-file", str(pwfile))
    assert code == 0
    address = out.split("address:")[1].split()[0]
    name = f"key-{address[2:10].lower()}"
    assert f"created key {name!r}" in out
    assert (keys_dir / f"{name}.json").is_file()


def test_new_duplicate_name(capsys: pytest.CaptureFixture[str], pwfile: Path) -> None:
    new_key(capsys, pwfile, "--name", "alice")
    code, _, err = run(capsys, "keys", "new", "--light", "--password-file", str(pwfile), "--name", "alice")
    assert code == 1 and "a key named 'alice' already exists" in err


@pytest.mark.parametrize(
    "name, message",
    [
        ("dev3", "reserved for the public dev accounts"),
        ("../evil", "may only contain"),
        ("0xabc", "must not look like a hex key"),
        ("a" * 65, "at most 64 characters"),
        ("k.json", "must not end in"),
        ("", "must not be empty"),
    ],
)
def test_new_rejects_bad_names(capsys: pytest.CaptureFixture[str], pwfile: Path, name: str, message: str) -> None:
    code, _, err = run(capsys, "keys", "new", "--light", "--password-file", str(pwfile), "--name", name)
    assert code == 1 and message in err


def test_new_rejects_empty_password(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    code, _, err = run(capsys, "keys", "new", "--light", "--password-file", str(empty))
    assert code == 1 and "password must not be empty" in err


def test_missing_password_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "keys", "new", "--light", "--password-file", str(tmp_path / "nope"))
    assert code == 1 and "cannot read password file" in err


def test_no_password_source_without_tty_fails(capsys: pytest.CaptureFixture[str], keys_dir: Path) -> None:
    code, _, err = run(capsys, "keys", "new", "--light")
    assert code == 1
    assert "stdin is not a terminal" in err and "--password-file" in err and "ROLLUP_PASSWORD" in err
    assert not keys_dir.exists()


def test_password_from_env(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLUP_PASSWORD", "from-env")
    data = run_json(capsys, "keys", "new", "--light", "--name", "envkey")
    assert load_keystore_file(data["file"], "from-env").address.hex() == data["address"][2:].lower()


def _fake_tty(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[str]:
    prompts: list[str] = []
    replies: Iterator[str] = iter(answers)

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(cli_common, "stdin_is_tty", lambda: True)  # password prompts live in node.cli.common
    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    return prompts


def test_interactive_password_is_confirmed(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = _fake_tty(monkeypatch, ["typed", "typed"])
    data = run_json(capsys, "keys", "new", "--light", "--name", "typed")
    assert len(prompts) == 2
    assert load_keystore_file(data["file"], "typed")


def test_interactive_password_mismatch(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tty(monkeypatch, ["one", "two"])
    code, _, err = run(capsys, "keys", "new", "--light")
    assert code == 1 and "passwords do not match" in err


# ---------------------------------------------------------------- list


def test_list_shows_stored_and_dev_accounts(capsys: pytest.CaptureFixture[str], pwfile: Path, keys_dir: Path) -> None:
    alice = new_key(capsys, pwfile, "--name", "alice")
    data = run_json(capsys, "keys", "list")
    assert data["keys_dir"] == str(keys_dir)
    assert data["keys"] == [{"name": "alice", "address": alice["address"], "file": alice["file"]}]
    assert [d["name"] for d in data["dev_accounts"]] == [f"dev{i}" for i in range(10)]
    assert data["dev_accounts"][0] == {"name": "dev0", "address": DEV0, "public": True}
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and "alice" in out and alice["address"] in out and DEV0 in out
    assert "never use them for real funds" in out


def test_list_empty_and_unreadable(capsys: pytest.CaptureFixture[str], keys_dir: Path) -> None:
    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and "(none)" in out
    keys_dir.mkdir()
    (keys_dir / "broken.json").write_text("{oops")
    data = run_json(capsys, "keys", "list")
    assert data["keys"] == [{"name": "broken", "address": None, "file": str(keys_dir / "broken.json")}]


def test_keys_dir_flag_overrides_env(capsys: pytest.CaptureFixture[str], pwfile: Path, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    data = new_key(capsys, pwfile, "--name", "x", "--keys-dir", str(other))
    assert Path(data["file"]).parent == other
    assert run_json(capsys, "keys", "list")["keys"] == []
    assert [k["name"] for k in run_json(capsys, "keys", "list", "--keys-dir", str(other))["keys"]] == ["x"]


# ---------------------------------------------------------------- import


def test_import_private_key(capsys: pytest.CaptureFixture[str], pwfile: Path) -> None:
    data = run_json(
        capsys, "keys", "import", "--private-key", OTHER_KEY, "--name", "bob", "--light", "--password-file", str(pwfile)
    )
    expected = PrivateKey.from_hex(OTHER_KEY)
    assert data["address"] == to_checksum_address(expected.address)
    assert load_keystore_file(data["file"], PASSWORD).secret == expected.secret


@pytest.mark.parametrize(
    "bad, message",
    [
        ("0x" + "zz" * 32, "not valid hex"),
        ("0x" + "11" * 31, "must be 32 bytes"),
        ("0x" + "00" * 32, "out of the secp256k1 range"),
        ("11" * 32, "must be 0x-prefixed"),
    ],
)
def test_import_bad_private_key(capsys: pytest.CaptureFixture[str], pwfile: Path, bad: str, message: str) -> None:
    code, out, err = run(capsys, "keys", "import", "--private-key", bad, "--password-file", str(pwfile))
    assert code == 1 and message in err
    assert bad.removeprefix("0x") not in out + err


def test_import_duplicate_address(capsys: pytest.CaptureFixture[str], pwfile: Path) -> None:
    args = ("keys", "import", "--private-key", OTHER_KEY, "--light", "--password-file", str(pwfile))
    run_json(capsys, *args, "--name", "bob")
    code, _, err = run(capsys, *args, "--name", "bob2")
    assert code == 1 and "already stored as 'bob'" in err


def test_import_keystore_file(capsys: pytest.CaptureFixture[str], pwfile: Path, tmp_path: Path) -> None:
    key = PrivateKey.from_hex(OTHER_KEY)
    doc = encrypt_keystore(key, PASSWORD, "pbkdf2", light=True)
    del doc["address"]
    source = write_keystore_file(tmp_path / "geth-style.json", doc)
    data = run_json(
        capsys, "keys", "import", "--keystore", str(source), "--name", "imported", "--password-file", str(pwfile)
    )
    stored = json.loads(Path(data["file"]).read_text())
    assert stored["crypto"] == doc["crypto"]  # copied, not re-encrypted
    assert stored["address"] == key.address.hex()
    assert data["address"] == to_checksum_address(key.address)


def test_import_keystore_wrong_password(capsys: pytest.CaptureFixture[str], tmp_path: Path, keys_dir: Path) -> None:
    source = write_keystore_file(tmp_path / "k.json", encrypt_keystore(dev_account(5), "right", light=True))
    wrong = tmp_path / "wrong"
    wrong.write_text("wrong")
    code, _, err = run(capsys, "keys", "import", "--keystore", str(source), "--password-file", str(wrong))
    assert code == 1 and "wrong password" in err
    assert not keys_dir.exists() or not list(keys_dir.iterdir())


def test_import_malformed_keystore(capsys: pytest.CaptureFixture[str], tmp_path: Path, pwfile: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": 3, "crypto": {"kdf": "scrypt"')
    code, _, err = run(capsys, "keys", "import", "--keystore", str(bad), "--password-file", str(pwfile))
    assert code == 1 and "not valid JSON" in err
    bad.write_text(json.dumps({"version": 3, "crypto": {"kdf": "scrypt"}}))
    code, _, err = run(capsys, "keys", "import", "--keystore", str(bad), "--password-file", str(pwfile))
    assert code == 1 and "crypto is missing 'cipher'" in err


def test_import_requires_a_source(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["keys", "import"])
    with pytest.raises(SystemExit):
        main(["keys", "import", "--private-key", OTHER_KEY, "--keystore", "x.json"])


# ---------------------------------------------------------------- export


def test_export_variants(capsys: pytest.CaptureFixture[str], pwfile: Path, tmp_path: Path) -> None:
    alice = new_key(capsys, pwfile, "--name", "alice")
    code, out, _ = run(capsys, "keys", "export", "alice")
    assert code == 0 and json.loads(out) == json.loads(Path(alice["file"]).read_text())

    out_file = tmp_path / "exported.json"
    code, _, _ = run(capsys, "keys", "export", alice["address"], "--keystore", str(out_file))
    assert code == 0 and stat.S_IMODE(out_file.stat().st_mode) == 0o600
    assert to_checksum_address(load_keystore_file(out_file, PASSWORD).address) == alice["address"]
    code, _, err = run(capsys, "keys", "export", "alice", "--keystore", str(out_file))
    assert code == 1 and "already exists" in err

    code, out, err = run(capsys, "keys", "export", "alice", "--private-key", "--password-file", str(pwfile))
    assert code == 0 and "warning" in err and out.strip() not in err
    assert PrivateKey.from_hex(out.strip()).secret == load_keystore_file(alice["file"], PASSWORD).secret


def test_export_private_key_json_and_wrong_password(
    capsys: pytest.CaptureFixture[str], pwfile: Path, tmp_path: Path
) -> None:
    new_key(capsys, pwfile, "--name", "alice")
    data = run_json(capsys, "keys", "export", "alice", "--private-key", "--password-file", str(pwfile))
    assert data["name"] == "alice" and data["private_key"].startswith("0x")
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    code, out, err = run(capsys, "keys", "export", "alice", "--private-key", "--password-file", str(wrong))
    assert code == 1 and "wrong password" in err and out == ""


def test_export_unknown_and_dev(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "keys", "export", "nobody")
    assert code == 1 and "no key named 'nobody'" in err
    code, _, err = run(capsys, "keys", "export", "dev1")
    assert code == 1 and "public dev account" in err
    data = run_json(capsys, "keys", "export", "dev0", "--private-key")
    assert data["private_key"] == DEV0_KEY


# ---------------------------------------------------------------- show


def test_show(capsys: pytest.CaptureFixture[str], pwfile: Path) -> None:
    dev = run_json(capsys, "keys", "show", "dev0")
    assert dev["address"] == DEV0 and dev["private_key"] == DEV0_KEY and dev["kind"] == "dev"
    alice = new_key(capsys, pwfile, "--name", "alice")
    for spec in ("alice", alice["address"], alice["address"].lower(), alice["file"]):
        shown = run_json(capsys, "keys", "show", spec)
        assert shown["address"] == alice["address"] and "private_key" not in shown
    code, out, _ = run(capsys, "keys", "show", OTHER_KEY)
    assert code == 0 and to_checksum_address(PrivateKey.from_hex(OTHER_KEY).address) in out
    assert OTHER_KEY[2:] not in out
    code, out, _ = run(capsys, "keys", "show", DEV0)
    assert code == 0 and "dev0" in out


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nobody", "unknown key 'nobody'"),
        ("dev10", "unknown dev account 'dev10'"),
        ("0x1234", "neither a private key"),
        ("0x" + "ab" * 20, "no stored key or dev account has address"),
        ("0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "invalid EIP-55 checksum"),
        ("./missing.json", "does not exist"),
    ],
)
def test_show_errors(capsys: pytest.CaptureFixture[str], spec: str, message: str) -> None:
    code, _, err = run(capsys, "keys", "show", spec)
    assert code == 1 and message in err


def test_show_never_echoes_secret_like_input(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "ab" * 32
    for spec in (secret, "0x" + secret[:-1], "x" + secret):
        code, out, err = run(capsys, "keys", "show", spec)
        assert code == 1 and secret[:40] not in out + err


# ---------------------------------------------------------------- resolve_key


def test_resolve_dev_and_hex(keys_dir: Path) -> None:
    assert resolve_key("dev0").secret.hex() == DEV0_KEY[2:]
    assert resolve_key(" dev9 ").address == dev_account(9).address
    assert resolve_key(OTHER_KEY).secret == bytes.fromhex("11" * 32)
    assert resolve_key(DEV0).address == dev_account(0).address


def test_resolve_stored_by_name_address_and_path(tmp_path: Path) -> None:
    keys_dir = tmp_path / "store"
    keys_dir.mkdir()
    key = PrivateKey.from_hex(OTHER_KEY)
    path = write_keystore_file(keys_dir / "bob.json", encrypt_keystore(key, "pw", light=True))
    for spec in ("bob", to_checksum_address(key.address), str(path)):
        assert resolve_key(spec, "pw", keys_dir).secret == key.secret
    with pytest.raises(PasswordRequiredError, match="password is required"):
        resolve_key("bob", None, keys_dir)
    with pytest.raises(WrongPasswordError):
        resolve_key("bob", "wrong", keys_dir)
    assert describe_key("bob", keys_dir).address == key.address


def test_resolve_default_keys_dir_from_env(keys_dir: Path) -> None:
    assert default_keys_dir() == keys_dir
    assert default_keys_dir({}) == Path("~/.rollup/keys").expanduser()
    assert default_keys_dir({"ROLLUP_KEYS_DIR": "/x/y"}) == Path("/x/y")


def test_resolve_ambiguous_address(tmp_path: Path) -> None:
    key = PrivateKey.from_hex(OTHER_KEY)
    for name in ("a", "b"):
        write_keystore_file(tmp_path / f"{name}.json", encrypt_keystore(key, "pw", light=True))
    with pytest.raises(KeyResolutionError, match="matches several keys: a, b"):
        resolve_key(to_checksum_address(key.address), "pw", tmp_path)


@pytest.mark.parametrize(
    "spec",
    ["", "   ", "dev10", "nobody", "0x12", "ab" * 32, "0x" + "zz" * 32, "0x" + "00" * 32, "/no/such/file.json"],
)
def test_resolve_rejects(spec: str, tmp_path: Path) -> None:
    with pytest.raises(KeyResolutionError) as info:
        resolve_key(spec, "pw", tmp_path)
    if len(spec) >= 40:
        assert spec.removeprefix("0x")[:40] not in str(info.value)


def test_validate_key_name() -> None:
    assert validate_key_name("alice_1.v2-x") == "alice_1.v2-x"
    for bad in ("DEV0", ".hidden", "a/b", "a b", "ab" * 20):
        with pytest.raises(KeyResolutionError):
            validate_key_name(bad)


# ---------------------------------------------------------------- console script


def _rollup_script() -> str:
    script = Path(sys.executable).parent / "rollup"
    if not script.exists():
        pytest.skip("rollup console script is not installed")
    return str(script)


def test_console_script_new_list_show(tmp_path: Path, pwfile: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ROLLUP_PASSWORD"}
    env["ROLLUP_KEYS_DIR"] = str(tmp_path / "script-keys")
    rollup = _rollup_script()

    def call(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [rollup, *argv], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60
        )

    created = call("keys", "new", "--name", "ci", "--light", "--password-file", str(pwfile), "--json")
    assert created.returncode == 0, created.stderr
    address = json.loads(created.stdout)["address"]
    listed = call("keys", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)["keys"][0]["address"] == address
    shown = call("keys", "show", "ci")
    assert shown.returncode == 0 and address in shown.stdout
    no_password = call("keys", "export", "ci", "--private-key")
    assert no_password.returncode == 1
    assert "stdin is not a terminal" in no_password.stderr and no_password.stdout == ""
