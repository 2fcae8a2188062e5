"""Helpers shared by the CLI's command modules: errors and output, passwords, common flags, signing and sending.

Every command module (keys, wallet, fraud, venue, devnet, roles) imports
what it shares from here and from no other command module, so node/cli has
no import cycle; this module imports no command module.

    CliError, emit, add_json_flag               a user-facing failure, --json or text output
    read_password, keystore_password            --password-file, $ROLLUP_PASSWORD, or a prompt
    net_parser, key_parser, wait_parser         --dir/--rpc/--l1-rpc/--json, --key..., --wait/--timeout
    add_command, guarded                        a subcommand whose input/key/devnet/RPC failures are CliErrors
    get_endpoints, client_for                   the devnet's endpoints, the Python client (node.client) over them
    load_key, l2_fee, parse_wei                 the signing key, the fee to pay, amounts (node.client.inputs)
    sign_l2, submit_l2, finish_tx               sign an L2 payload, send it, report it (and wait for --wait)
    wait_l2, receipt_lines, kv_lines, progress  waiting and the text forms of receipts and records
    finish_withdrawal, run_journey, proof_rpc   a withdrawal's L1 side (prove, finalize, paid)
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from node.client import RollupClient, errors
from node.client import sends as client_sends
from node.client import waits as client_waits
from node.client.config import from_devnet_endpoints, honest_challenger_rpc
from node.client.inputs import LEVELS, to_amount
from node.client.journey import complete_withdrawal
from node.crypto import CryptoError, PrivateKey
from node.devnet.endpoints import Endpoints, resolve_endpoints
from node.devnet.errors import DevnetError, InputError
from node.devnet.waiting import Deadline
from node.keys.hd import HDError
from node.keys.keystore import KeystoreError
from node.keys.resolve import KeyResolutionError, PasswordRequiredError, default_keys_dir, resolve_key
from node.rpc.client import RpcTransportError
from node.rpc.errors import RpcError
from node.tx import SignedTx
from node.units import format_amount

Handler = Callable[[argparse.Namespace], int]

DEFAULT_DIR = ".devnet"
DEFAULT_KEY = "dev0"
DEFAULT_WAIT_TIMEOUT_S = 120.0
PASSWORD_ENV = "ROLLUP_PASSWORD"
MAX_PASSWORD_FILE_BYTES = 64 * 1024


class CliError(Exception):
    """A user-facing failure: printed as `error: ...`, exit code 1 (or as given)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# ---------------------------------------------------------------- output


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def emit(args: Any, data: Any, human: str) -> None:
    """Print `data` as JSON when --json was given, else the human-readable text."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        print(human)


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def kv_lines(pairs: list[tuple[str, Any]]) -> str:
    width = max(len(key) for key, _ in pairs) + 1
    return "\n".join(f"{key + ':':<{width}} {value}" for key, value in pairs if value is not None)


# ---------------------------------------------------------------- passwords


def keystore_password(args: argparse.Namespace, prompt: str) -> str:
    """The password to unlock an existing keystore."""
    return read_password(args, prompt, confirm=False)


def read_password(args: argparse.Namespace, prompt: str, confirm: bool) -> str:
    """--password-file's first line, else $ROLLUP_PASSWORD, else a prompt (only on a terminal)."""
    password_file: Path | None = getattr(args, "password_file", None)
    if password_file is not None:
        return _password_from_file(password_file)
    from_env = os.environ.get(PASSWORD_ENV, "")
    if from_env:
        return from_env
    if not stdin_is_tty():
        raise CliError(
            f"a password is needed but stdin is not a terminal: use --password-file FILE or set {PASSWORD_ENV}"
        )
    return _prompt_password(prompt, confirm)


def _prompt_password(prompt: str, confirm: bool) -> str:
    try:
        password = getpass.getpass(prompt)
        if confirm and getpass.getpass("Repeat password: ") != password:
            raise CliError("passwords do not match")
    except EOFError:
        raise CliError("no password entered") from None
    return password


def _password_from_file(path: Path) -> str:
    try:
        with path.expanduser().open("rb") as fh:
            raw = fh.read(MAX_PASSWORD_FILE_BYTES + 1)
    except OSError as exc:
        raise CliError(f"cannot read password file {path}: {exc.strerror}") from None
    if len(raw) > MAX_PASSWORD_FILE_BYTES:
        raise CliError(f"password file {path} is larger than {MAX_PASSWORD_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"password file {path} is not valid UTF-8") from None
    lines = text.splitlines()
    return lines[0] if lines else ""


def stdin_is_tty() -> bool:
    stdin = sys.stdin
    return stdin is not None and stdin.isatty()


# ---------------------------------------------------------------- common flags and commands


def net_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--dir", type=Path, default=Path(DEFAULT_DIR), help=f"devnet directory (default {DEFAULT_DIR})")
    parser.add_argument("--rpc", metavar="URL", help="L2 node JSON-RPC URL (default: the devnet's sequencer)")
    parser.add_argument("--l1-rpc", metavar="URL", help="L1 JSON-RPC URL (default: the devnet's L1)")
    add_json_flag(parser)
    return parser


def key_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--key",
        default=DEFAULT_KEY,
        help="signing key: dev0..dev9, a 0x private key, a stored key name or a keystore file (default dev0)",
    )
    parser.add_argument("--keys-dir", type=Path, help="keys directory (default: $ROLLUP_KEYS_DIR or ~/.rollup/keys)")
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="keystore password from the first line of FILE (else $ROLLUP_PASSWORD, else a prompt)",
    )
    return parser


def wait_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--wait",
        nargs="?",
        const="unsafe",
        choices=LEVELS,
        metavar="LEVEL",
        help="wait until the transaction is unsafe (included, the default), safe or finalized",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WAIT_TIMEOUT_S,
        metavar="S",
        help=f"how long --wait waits (default {DEFAULT_WAIT_TIMEOUT_S:.0f} s)",
    )
    return parser


def add_command(
    subparsers: Any,
    name: str,
    parents: list[argparse.ArgumentParser],
    help_text: str,
    command: Handler,
    arguments: Callable[[argparse.ArgumentParser], object],
) -> None:
    """A subcommand over net_parser()'s flags, run through guarded()."""
    parser = subparsers.add_parser(name, parents=parents, help=help_text, description=help_text)
    arguments(parser)
    parser.set_defaults(func=guarded(command))


def guarded(command: Handler) -> Handler:
    """Turn input, key, devnet and RPC failures into one-line CliErrors."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except (InputError, DevnetError, KeyResolutionError, KeystoreError, CryptoError, HDError) as exc:
            raise CliError(str(exc)) from None
        except RpcTransportError as exc:
            hint = (
                ""
                if args.rpc or args.l1_rpc
                else f" (is the devnet running? see `rollup devnet status --dir {args.dir}`)"
            )
            raise CliError(f"cannot reach the node: {exc}{hint}") from None
        except RpcError as exc:
            raise CliError(f"the node answered with an error: {exc.message} (code {exc.code})") from None
        except errors.ClientError as exc:  # waits that time out, replies of the wrong shape, failed proofs...
            raise CliError(str(exc)) from None

    return run


# ---------------------------------------------------------------- endpoints, keys, fees, the client


def get_endpoints(args: argparse.Namespace) -> Endpoints:
    return resolve_endpoints(args.dir, args.rpc, args.l1_rpc)


def client_for(
    endpoints: Endpoints, directory: Path | None = None, proof_rpc: str | None = None, timeout: float = 10.0
) -> RollupClient:
    """The Python client (node.client) of the resolved endpoints: their L2 node, confirmers and L1; the
    devnet in `directory`'s WebSocket and honest challenger."""
    resolved = from_devnet_endpoints(endpoints, directory, proof_rpc)
    return RollupClient(resolved.l2.rpc, timeout=timeout, endpoints=resolved)


def load_key(args: argparse.Namespace) -> PrivateKey:
    """--key (with --keys-dir), asking for a keystore's password only when it needs one."""
    keys_dir = args.keys_dir.expanduser() if args.keys_dir is not None else default_keys_dir()
    try:
        return resolve_key(args.key, None, keys_dir)
    except PasswordRequiredError:
        return resolve_key(args.key, keystore_password(args, f"Password for {args.key}: "), keys_dir)


def parse_wei(text: str, what: str, allow_zero: bool = False) -> int:
    """An amount of wei: a whole number in decimal or 0x hex (as before), or with a unit (1.5eth, 20gwei)."""
    return to_amount(text, what, allow_zero=allow_zero)


def wei_text(value: int | str) -> str:
    """`N wei`, with the readable form after it when that differs: `1500000000 wei (1.5 gwei)`."""
    wei = int(value)
    readable = format_amount(wei)
    return f"{wei} wei" if readable == f"{wei} wei" else f"{wei} wei ({readable})"


def optional_amount(text: str | None, what: str, allow_zero: bool = True) -> int | None:
    return None if text is None else parse_wei(text, what, allow_zero=allow_zero)


def l2_fee(args: argparse.Namespace, endpoints: Endpoints) -> int:
    """--fee, else the devnet's L2 minimum fee."""
    return client_sends.fee_or_minimum(optional_amount(args.fee, "--fee"), endpoints.l2_min_fee)


# ---------------------------------------------------------------- L2 transactions


def sign_l2(
    args: argparse.Namespace, endpoints: Endpoints, key: PrivateKey, payload: Any, fee: int, nonce: int | None
) -> SignedTx:
    """Sign `payload` for the L2's chain id, at the sender's latest nonce unless given."""
    client = client_for(endpoints)
    return client.run(client_sends.sign_l2(client.endpoints, key, payload, fee, nonce))


def submit_l2(endpoints: Endpoints, tx: SignedTx) -> str:
    node = endpoints.require_l2()
    client = client_for(endpoints)
    try:
        return client.run(client_sends.submit_l2(client.endpoints, tx))
    except errors.RpcCallError as exc:
        raise CliError(f"{node.name} rejected the transaction: {exc.message} (code {exc.code})") from None


def wait_l2(args: argparse.Namespace, endpoints: Endpoints, tx_hash: str, deadline: Deadline) -> dict[str, Any]:
    """The receipt per node once the transaction is --wait LEVEL (status 0 is reported, not raised)."""
    client = client_for(endpoints)
    waited = client.run(
        client_waits.wait(client.endpoints, tx_hash, args.wait, deadline.seconds, False, progress, deadline.end)
    )
    return waited.raw_receipts()


def receipt_lines(receipts: dict[str, dict[str, Any]], level: str) -> list[str]:
    """The first entry is the node the transaction went to (included), the others confirmed `level`."""
    lines = []
    for index, (name, receipt) in enumerate(receipts.items()):
        state = "ok" if int(receipt.get("status", 0)) == 1 else "FAILED (status 0)"
        what = "included" if index == 0 and level != "unsafe" else level
        lines.append(f"{what} on {name} in block {receipt['blockNumber']}: {state}")
    return lines


def _failed(receipts: dict[str, dict[str, Any]]) -> bool:
    return any(int(receipt.get("status", 0)) != 1 for receipt in receipts.values())


def finish_tx(
    args: argparse.Namespace, endpoints: Endpoints, data: dict[str, Any], deadline: Deadline, verb: str
) -> int:
    """Report a sent transaction, after waiting for --wait; exit 1 if a receipt has status 0."""
    lines = [f"{verb}: {data['hash']}"]
    if "l1TxHash" in data:
        lines.append(f"L1 force_tx: {data['l1TxHash']}")
    lines.append(f"from {data['from']} nonce {data['nonce']} fee {data['fee']}")
    failed = False
    if args.wait:
        receipts = wait_l2(args, endpoints, data["hash"], deadline)
        data["wait"] = args.wait
        data["receipts"] = receipts
        lines += receipt_lines(receipts, args.wait)
        failed = _failed(receipts)
    if "note" in data:
        lines.append(f"note: {data['note']}")
    emit(args, data, "\n".join(lines))
    if failed:
        print("error: the transaction was included but failed (receipt status 0)", file=sys.stderr)
    return 1 if failed else 0


# ---------------------------------------------------------------- a withdrawal's L1 side


def proof_rpc(directory: Path, given: str | None) -> str:
    """--proof-rpc, else the devnet's honest challenger (it derives from L1 only and serves the proofs)."""
    if given:
        return given
    found = honest_challenger_rpc(directory)
    if found is None:
        raise DevnetError(
            f"no honest challenger in {directory}/devnet.json to get withdrawal proofs from: pass --proof-rpc"
        )
    return found


def run_journey(
    args: argparse.Namespace,
    endpoints: Endpoints,
    key: PrivateKey,
    withdrawal_id: str,
    deadline: Deadline,
    report: Callable[[str], None],
) -> dict[str, Any]:
    """Wait for a finalized output covering the withdrawal, prove and finalize it on L1 (node.client.journey)."""
    endpoints.require_l1()
    client = client_for(endpoints, args.dir, proof_rpc(args.dir, getattr(args, "proof_rpc", None)))
    return complete_withdrawal(client.endpoints, key, withdrawal_id, deadline.seconds, report, deadline.end)


def finish_withdrawal(
    args: argparse.Namespace, endpoints: Endpoints, key: PrivateKey, data: dict[str, Any], deadline: Deadline
) -> int:
    """The `rollup withdraw --wait finalized` path: after the L2 transaction, the whole L1 side."""
    progress(f"withdrawal sent: {data['hash']} ({wei_text(data['amount'])} to {data['l1Recipient']} on L1)")
    journey = run_journey(args, endpoints, key, str(data["withdrawalId"]), deadline, progress)
    data = {**{k: v for k, v in data.items() if k != "note"}, "wait": "finalized", "journey": journey}
    emit(args, data, f"withdrawal {data['hash']}\n" + journey_text(journey))
    return 0


def journey_text(data: dict[str, Any]) -> str:
    lines = [
        f"L2 block:        {data['l2Block']}",
        f"output:          {data['outputIndex']} (L2 block {data['outputL2Block']}, finalized)",
    ]
    if "provenInL1Block" in data:
        lines.append(f"proven:          L1 block {data['provenInL1Block']} ({data['proveTx']})")
    lines.append(
        f"finalized:       L1 block {data.get('finalizedInL1Block')}"
        + (f" ({data['finalizeTx']})" if "finalizeTx" in data else "")
    )
    lines.append(f"paid:            {data['amount']} wei to {data['recipient']}")
    if "l1BalanceAfter" in data:
        lines.append(f"L1 balance:      {data['l1BalanceBefore']} -> {data['l1BalanceAfter']}")
    return "\n".join(lines)
