"""The wallet CLI without processes: input parsing, endpoint resolution, proof checking, error messages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from node.cli.main import main
from node.crypto import to_checksum_address
from node.devnet.endpoints import resolve_endpoints
from node.devnet.errors import DevnetError, InputError, NoDevnetError
from node.devnet.inputs import parse_address_arg, parse_amount, parse_block_tag, parse_tx_hash
from node.devnet.proofcheck import check_account_proof
from node.keys.hd import dev_account
from node.smt.hashing import hash_key
from node.smt.reference import MemoryTree
from node.state.schema import Account, account_key, encode_account

UINT256_MAX = 2**256 - 1
DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV3 = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
BAD_CHECKSUM = "0xf39fd6e51aad88F6F4ce6aB8827279cffFb92266"  # one letter's case flipped


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLLUP_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("ROLLUP_PASSWORD", raising=False)
    monkeypatch.chdir(tmp_path)  # the default --dir .devnet does not exist here


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1),
        ("1000000000000000000", 10**18),
        ("0x10", 16),
        ("0XfF", 255),
        ("1_000", 1000),
        (" 42 ", 42),
        (str(UINT256_MAX), UINT256_MAX),
        (hex(UINT256_MAX), UINT256_MAX),
    ],
)
def test_parse_amount_accepts_decimal_and_hex(text: str, value: int) -> None:
    assert parse_amount(text) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1", "must not be negative"),
        ("-0x1", "must not be negative"),
        (str(UINT256_MAX + 1), "larger than 2^256-1"),
        (hex(UINT256_MAX + 1), "larger than 2^256-1"),
        ("1" * 200, "too long"),
        ("1e18", "whole number"),
        ("1.5", "whole number"),
        ("abc", "whole number"),
        ("0x", "whole number"),
        ("", "whole number"),
        ("0", "at least 1"),
        ("٣", "whole number"),  # a non-ASCII digit that int() would accept
    ],
)
def test_parse_amount_rejects_bad_input(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_amount(text)


def test_parse_amount_zero_when_allowed() -> None:
    assert parse_amount("0", "--fee", allow_zero=True) == 0


# ---------------------------------------------------------------- addresses, tags, hashes


def test_addresses_and_dev_names() -> None:
    assert parse_address_arg(DEV0) == dev_account(0).address
    assert parse_address_arg(DEV0.lower()) == dev_account(0).address
    assert parse_address_arg("0x" + DEV0[2:].upper()) == dev_account(0).address
    assert parse_address_arg("dev3") == dev_account(3).address
    assert parse_address_arg("DEV3") == dev_account(3).address
    assert to_checksum_address(parse_address_arg("dev3")) == DEV3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BAD_CHECKSUM, "invalid EIP-55 checksum"),
        ("dev10", "unknown dev account"),
        ("0x1234", "40 hex digits"),
        ("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "40 hex digits"),
        ("0x" + "g" * 40, "40 hex digits"),
        ("alice", "40 hex digits"),
        ("", "empty"),
    ],
)
def test_bad_addresses(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_address_arg(text)


def test_block_tags() -> None:
    assert parse_block_tag("latest") == "latest"
    assert parse_block_tag("SAFE") == "safe"
    assert parse_block_tag("finalized") == "finalized"
    assert parse_block_tag("12") == 12
    assert parse_block_tag("0x10") == 16
    for bad in ("-1", "newest", "1.0", str(2**63)):
        with pytest.raises(InputError):
            parse_block_tag(bad)


def test_tx_hashes() -> None:
    good = "0x" + "Ab" * 32
    assert parse_tx_hash(good) == good.lower()
    for bad in ("0x1234", "ab" * 32, "0x" + "zz" * 32):
        with pytest.raises(InputError, match="64 hex digits"):
            parse_tx_hash(bad)


# ---------------------------------------------------------------- endpoints


def _fake_devnet(directory: Path) -> None:
    directory.mkdir(parents=True)
    doc = {
        "sequencer": {"rpc": "http://127.0.0.1:9545/", "ws": "ws://127.0.0.1:9545/ws"},
        "l1": {"rpc": "http://127.0.0.1:8545/"},
        "executors": [
            {"name": "executor-0", "rpc": "http://127.0.0.1:9745/"},
            {"name": "executor-1", "rpc": "http://127.0.0.1:9746/"},
        ],
        "fees": {"l1_min_fee": "7", "l2_min_fee": "5"},
        "processes": [],
    }
    (directory / "devnet.json").write_text(json.dumps(doc))


def test_endpoints_from_devnet_json(tmp_path: Path) -> None:
    _fake_devnet(tmp_path / "net")
    endpoints = resolve_endpoints(tmp_path / "net", None, None)
    assert endpoints.require_l2().rpc == "http://127.0.0.1:9545/"
    assert endpoints.require_l1() == "http://127.0.0.1:8545/"
    assert [node.name for node in endpoints.confirmers] == ["executor-0", "executor-1"]
    assert (endpoints.l2_min_fee, endpoints.l1_min_fee) == (5, 7)
    assert [node.name for node in endpoints.all_l2_nodes()] == ["sequencer", "executor-0", "executor-1"]


def test_rpc_flags_override_devnet_json(tmp_path: Path) -> None:
    _fake_devnet(tmp_path / "net")
    endpoints = resolve_endpoints(tmp_path / "net", "http://10.0.0.1:1/", None)
    assert endpoints.require_l2().rpc == "http://10.0.0.1:1/"
    assert [node.rpc for node in endpoints.confirmers] == ["http://10.0.0.1:1/"]
    assert endpoints.require_l1() == "http://127.0.0.1:8545/"


def test_missing_devnet_messages(tmp_path: Path) -> None:
    endpoints = resolve_endpoints(Path(".devnet"), None, None)
    with pytest.raises(NoDevnetError, match=r"no devnet at \.devnet: run `rollup devnet up` or pass --rpc"):
        endpoints.require_l2()
    with pytest.raises(NoDevnetError, match="--l1-rpc"):
        endpoints.require_l1()
    only_rpc = resolve_endpoints(Path(".devnet"), "http://127.0.0.1:1/", None)
    assert only_rpc.require_l2().rpc == "http://127.0.0.1:1/"


def test_malformed_devnet_json(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "devnet.json").write_text("{not json")
    with pytest.raises(DevnetError, match="cannot read"):
        resolve_endpoints(tmp_path / "net", None, None)


# ---------------------------------------------------------------- proof checking


def _tree_with(address: bytes, account: Account) -> MemoryTree:
    other = dev_account(1).address
    return MemoryTree(
        {
            hash_key(account_key(address)): encode_account(account),
            hash_key(account_key(other)): encode_account(Account(5, 1)),
            hash_key(b"\x03"): b"\x01",
        }
    )


def _reply(tree: MemoryTree, address: bytes, value: bytes | None, balance: int, nonce: int) -> dict[str, object]:
    return {
        "proof": "0x" + tree.prove(hash_key(account_key(address))).encode().hex(),
        "value": None if value is None else "0x" + value.hex(),
        "balance": str(balance),
        "nonce": nonce,
    }


def test_proof_check_inclusion_and_absence() -> None:
    address = dev_account(0).address
    account = Account(10**22, 3)
    tree = _tree_with(address, account)
    root = "0x" + tree.root().hex()
    check = check_account_proof(address, _reply(tree, address, encode_account(account), 10**22, 3), root)
    assert check.verified, check.reason
    absent = dev_account(5).address
    check = check_account_proof(absent, _reply(tree, absent, None, 0, 0), root)
    assert check.verified, check.reason


def test_proof_check_rejects_lies() -> None:
    address = dev_account(0).address
    account = Account(10**22, 3)
    tree = _tree_with(address, account)
    root = "0x" + tree.root().hex()
    value = encode_account(account)
    # The reply claims another balance than the proven value encodes.
    assert not check_account_proof(address, _reply(tree, address, value, 10**23, 3), root).verified
    # A forged value with a matching claimed balance does not hash to the leaf.
    forged = encode_account(Account(10**23, 3))
    assert not check_account_proof(address, _reply(tree, address, forged, 10**23, 3), root).verified
    # A different root (another state).
    assert not check_account_proof(address, _reply(tree, address, value, 10**22, 3), "0x" + "11" * 32).verified
    # Claiming absence of a present account.
    assert not check_account_proof(address, _reply(tree, address, None, 0, 0), root).verified
    # Garbage proof bytes.
    reply = _reply(tree, address, value, 10**22, 3)
    reply["proof"] = "0x1234"
    assert not check_account_proof(address, reply, root).verified


# ---------------------------------------------------------------- the commands, offline


def test_send_without_devnet_says_how_to_start_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "send", "--to", "dev1", "--amount", "1")
    assert code == 1 and out == ""
    assert "error: no devnet at .devnet: run `rollup devnet up` or pass --rpc" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["balance", "dev1"],
        ["nonce", DEV0],
        ["block", "latest"],
        ["proof", "dev2"],
        ["status"],
        ["tx", "0x" + "ab" * 32],
        ["withdraw", "--amount", "1"],
    ],
)
def test_reads_without_devnet(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "no devnet at .devnet" in err


def test_deposit_without_devnet_names_l1_flag(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "deposit", "--amount", "5")
    assert code == 1 and "--l1-rpc" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["send", "--to", BAD_CHECKSUM, "--amount", "1"], "invalid EIP-55 checksum"),
        (["send", "--to", "dev1", "--amount", str(UINT256_MAX + 1)], "larger than 2^256-1"),
        (["send", "--to", "dev1", "--amount", "-5"], "must not be negative"),
        (["send", "--to", "dev1", "--amount", "ten"], "whole number"),
        (["send", "--to", "dev1", "--amount", "0"], "at least 1"),
        (["send", "--to", "dev1", "--amount", "1", "--fee", "-1"], "--fee must not be negative"),
        (["send", "--to", "dev1", "--amount", "1", "--nonce", str(2**64)], "--nonce"),
        (["send", "--to", "dev1", "--amount", "1", "--key", "nosuchkey"], "unknown key 'nosuchkey'"),
        (["send", "--to", "dev1", "--amount", "1", "--key", "dev11"], "unknown dev account"),
        (["send", "--to", "dev42", "--amount", "1"], "unknown dev account 'dev42'"),
        (["deposit", "--amount", "1", "--to", "0x12"], "40 hex digits"),
        (["withdraw", "--amount", hex(UINT256_MAX + 1)], "larger than 2^256-1"),
        (["balance", "nobody"], "0x address"),
        (["balance", "dev1", "--block", "soon"], "block must be a number"),
        (["tx", "0x12"], "64 hex digits"),
    ],
)
def test_bad_input_is_rejected_before_any_network_call(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    # --rpc points at a closed port: input validation must fail first, with its own message.
    code, out, err = run(capsys, *argv, "--rpc", "http://127.0.0.1:9/", "--l1-rpc", "http://127.0.0.1:9/")
    assert code == 1 and out == ""
    assert message in err
    assert "cannot reach" not in err


def test_private_key_spec_never_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "0x" + "00" * 32  # out of range: rejected without showing it
    code, _, err = run(capsys, "send", "--to", "dev1", "--amount", "1", "--key", secret, "--rpc", "http://127.0.0.1:9/")
    assert code == 1
    assert secret not in err


def test_unreachable_node_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "balance", "dev1", "--rpc", "http://127.0.0.1:9/")
    assert code == 1
    assert "cannot reach the node" in err


def test_wait_level_is_validated(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["send", "--to", "dev1", "--amount", "1", "--wait", "soonish"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_oracle_timestamps_stay_within_reach_of_a_lagging_l2_clock() -> None:
    """`rollup oracle set/path` stamp the wall clock, capped at the L2 head + ORACLE_FEED_AHEAD_MS (a block
    refuses updates more than ORACLE_MAX_AHEAD_MS ahead of it), and always after the market's last update."""
    import time

    from node.cli.venue import ORACLE_FEED_AHEAD_MS, _oracle_ms
    from node.venue.oracle import ORACLE_MAX_AHEAD_MS

    class Head:
        def __init__(self, timestamp: int) -> None:
            self.timestamp = timestamp

        def call(self, method: str, *params: object) -> object:
            assert (method, params) == ("rollup_getBlockByNumber", ("latest", False))
            return {"timestamp": self.timestamp}

    now = int(time.time() * 1000)
    lagging = now - 60_000
    assert _oracle_ms(Head(lagging), 0) == lagging + ORACLE_FEED_AHEAD_MS < lagging + ORACLE_MAX_AHEAD_MS  # type: ignore[arg-type]
    assert now <= _oracle_ms(Head(now), 0) <= int(time.time() * 1000)  # type: ignore[arg-type]
    assert _oracle_ms(Head(lagging), lagging + 9_999_999) == lagging + 10_000_000  # type: ignore[arg-type]
