"""User commands against a devnet: send, balance, nonce, tx, block, proof, deposit, withdraw, status.

Every command talks to the devnet in `--dir DIR` (default .devnet, through
DIR/devnet.json) unless given `--rpc URL` (an L2 node) / `--l1-rpc URL`.
Transactions go to the sequencer; `--wait safe|finalized` then polls every
executor of the devnet (or the --rpc node) until the transaction's block is
safe (derived from L1) or finalized (under a finalized output root).

Inputs are checked before anything is signed or sent: amounts are whole
numbers of wei in decimal or 0x hex, or decimals with a unit (1.5eth, 20 gwei,
see node.units), up to 2^256-1 wei; addresses are 0x addresses
(EIP-55 checksum checked when mixed case) or dev0..dev9; keys are dev0..dev9,
a 0x private key, a stored key name or a keystore file (see `rollup keys`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from node.cli.common import (
    CliError,
    add_command,
    client_for,
    emit,
    finish_tx,
    finish_withdrawal,
    get_endpoints,
    key_parser,
    kv_lines,
    l2_fee,
    load_key,
    net_parser,
    optional_amount,
    parse_wei,
    progress,
    receipt_lines,
    sign_l2,
    submit_l2,
    wait_l2,
    wait_parser,
    wei_text,
)
from node.client import RollupClient, errors
from node.client import sends as client_sends
from node.client.sansio import Endpoints as ClientEndpoints
from node.client.sansio import NodeRef
from node.client.sends import deposit_l2_hash
from node.crypto import PrivateKey, to_checksum_address
from node.devnet.endpoints import Endpoints, Node
from node.devnet.errors import InputError
from node.devnet.inputs import parse_address_arg, parse_amount, parse_block_tag, parse_tx_hash
from node.devnet.params import L2_MIN_FEE
from node.devnet.waiting import Deadline
from node.rpc.client import RpcTransportError
from node.rpc.errors import RpcError
from node.tx import Transfer, Withdrawal

WITHDRAWAL_NOTE = (
    "the withdrawal is recorded in L2 state; it is paid on L1 once an output covering it is finalized: "
    "use --wait finalized for the whole journey, or `rollup complete-withdrawal ID` later"
)


# ---------------------------------------------------------------- registration


def register(subparsers: Any) -> None:
    net, key, wait = net_parser(), key_parser(), wait_parser()
    add_command(subparsers, "send", [net, key, wait], "sign and send an L2 transfer", cmd_send, _send_args)
    add_command(subparsers, "balance", [net], "an account's L2 (or --l1) balance", cmd_balance, _account_args)
    add_command(subparsers, "nonce", [net], "an account's L2 (or --l1) nonce", cmd_nonce, _account_args)
    add_command(subparsers, "tx", [net], "an L2 transaction and its receipt", cmd_tx, _tx_args)
    add_command(subparsers, "block", [net], "an L2 block", cmd_block, _block_args)
    add_command(subparsers, "proof", [net], "fetch an account proof and verify it locally", cmd_proof, _proof_args)
    add_command(
        subparsers, "deposit", [net, key, wait], "deposit from L1 to L2 through the portal", cmd_deposit, _deposit_args
    )
    add_command(
        subparsers,
        "withdraw",
        [net, key, wait],
        "withdraw from L2 to L1 (--wait finalized: through to the L1 payout)",
        cmd_withdraw,
        _withdraw_args,
    )
    add_command(subparsers, "status", [net], "sync status of every L2 node and the L1 head", cmd_status, lambda p: None)


def _send_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, metavar="ADDR", help="recipient: 0x address or devN")
    parser.add_argument(
        "--amount", required=True, help="amount: wei (decimal or 0x hex) or with a unit (1.5eth, 20gwei)"
    )
    parser.add_argument(
        "--fee", help=f"fee in wei or with a unit, e.g. 2gwei (default: the devnet's min fee, {L2_MIN_FEE})"
    )
    parser.add_argument("--nonce", help="nonce (default: the sender's nonce at the latest block)")
    parser.add_argument(
        "--via-l1",
        action="store_true",
        help="force the transaction in through the L1 portal (force_tx) instead of the sequencer",
    )


def _account_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="ADDR", help="0x address or devN")
    parser.add_argument("--block", default="latest", metavar="B", help="block number or latest/safe/finalized")
    parser.add_argument("--l1", action="store_true", help="read the L1 instead of the L2")


def _tx_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hash", metavar="HASH", help="0x transaction hash")


def _block_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("block", metavar="N|latest|safe|finalized")
    parser.add_argument("--full", action="store_true", help="include decoded transactions")


def _proof_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="ADDR", help="0x address or devN")
    parser.add_argument("--block", default="latest", metavar="B", help="block number or latest/safe/finalized")


def _deposit_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--amount", required=True, help="amount: wei (decimal or 0x hex) or with a unit (1.5eth, 20gwei)"
    )
    parser.add_argument("--to", metavar="ADDR", help="L2 recipient (default: the sender)")
    parser.add_argument("--fee", help="L1 fee in wei or with a unit (default: the L1's min fee)")


def _withdraw_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--amount", required=True, help="amount: wei (decimal or 0x hex) or with a unit (1.5eth, 20gwei)"
    )
    parser.add_argument("--to", metavar="L1ADDR", help="L1 recipient (default: the sender)")
    parser.add_argument(
        "--fee", help=f"fee in wei or with a unit, e.g. 2gwei (default: the devnet's min fee, {L2_MIN_FEE})"
    )
    parser.add_argument("--nonce", help="nonce (default: the sender's nonce at the latest block)")


# ---------------------------------------------------------------- helpers


def _optional_nonce(text: str | None) -> int | None:
    if text is None:
        return None
    value = parse_amount(text, "--nonce", allow_zero=True)
    if value >= 2**64:
        raise InputError(f"--nonce {text} is larger than 2^64-1")
    return value


def _submit_l1(client: RollupClient, key: PrivateKey, payload: Any, value: int, fee: int | None) -> str:
    """Sign and send an L1 transaction through the client (the L1's min fee unless `fee`); its hash."""
    try:
        return client.run(client_sends.send_l1(client.endpoints.require_l1(), key, payload, value, fee))
    except errors.RpcCallError as exc:
        raise CliError(f"the L1 rejected the transaction: {exc.message} (code {exc.code})") from None
    except errors.ResponseError as exc:
        raise CliError(f"the L1 answered with something unexpected: {exc}") from None


def _wait_l1(client: RollupClient, tx_hash: str, deadline: Deadline) -> dict[str, Any]:
    """The L1 receipt; one with status 0 fails the command with the receipt's error."""
    l1 = client.endpoints.require_l1()
    try:
        return client.run(client_sends.wait_l1_receipt(l1, tx_hash, deadline.end, deadline.seconds, progress))
    except errors.RpcCallError as exc:
        if exc.method != client_sends.L1_RECEIPT:
            raise
        raise CliError(exc.message) from None


# ---------------------------------------------------------------- transactions


def cmd_send(args: argparse.Namespace) -> int:
    to = parse_address_arg(args.to, "--to")
    amount = parse_wei(args.amount, "--amount")
    optional_amount(args.fee, "--fee")
    nonce = _optional_nonce(args.nonce)
    key = load_key(args)
    endpoints = get_endpoints(args)
    deadline = Deadline(args.timeout)
    tx = sign_l2(args, endpoints, key, Transfer(to, amount), l2_fee(args, endpoints), nonce)
    tx_hash = "0x" + tx.hash().hex()
    data: dict[str, Any] = {
        "hash": tx_hash,
        "from": to_checksum_address(key.address),
        "to": to_checksum_address(to),
        "amount": str(amount),
        "fee": str(tx.fee),
        "nonce": tx.nonce,
        "chainId": tx.chain_id,
        "via": "l1" if args.via_l1 else "sequencer",
    }
    if args.via_l1:
        from l1.contracts.payloads import ForceTx

        endpoints.require_l1()
        client = client_for(endpoints)
        data["l1TxHash"] = _submit_l1(client, key, ForceTx(tx.encode()), 0, None)
        if args.wait:
            data["l1Receipt"] = _wait_l1(client, data["l1TxHash"], deadline)
    else:
        returned = submit_l2(endpoints, tx)
        if returned.lower() != tx_hash:
            raise CliError(f"the node returned hash {returned}, expected {tx_hash}")
    return finish_tx(args, endpoints, data, deadline, "sent" if not args.via_l1 else "forced through L1")


def cmd_withdraw(args: argparse.Namespace) -> int:
    amount = parse_wei(args.amount, "--amount")
    recipient = parse_address_arg(args.to, "--to") if args.to is not None else None
    optional_amount(args.fee, "--fee")
    nonce = _optional_nonce(args.nonce)
    key = load_key(args)
    endpoints = get_endpoints(args)
    deadline = Deadline(args.timeout)
    l1_recipient = recipient if recipient is not None else key.address
    tx = sign_l2(args, endpoints, key, Withdrawal(l1_recipient, amount), l2_fee(args, endpoints), nonce)
    tx_hash = submit_l2(endpoints, tx)
    data: dict[str, Any] = {
        "hash": tx_hash,
        "from": to_checksum_address(key.address),
        "l1Recipient": to_checksum_address(l1_recipient),
        "amount": str(amount),
        "fee": str(tx.fee),
        "nonce": tx.nonce,
        "chainId": tx.chain_id,
        "withdrawalId": tx_hash,
        "note": WITHDRAWAL_NOTE,
    }
    if args.wait == "finalized":  # the whole journey: finalized output, prove and finalize on L1, paid
        return finish_withdrawal(args, endpoints, key, data, deadline)
    return finish_tx(args, endpoints, data, deadline, "withdrawal sent")


def cmd_deposit(args: argparse.Namespace) -> int:
    from l1.contracts.payloads import Deposit

    amount = parse_wei(args.amount, "--amount")
    recipient = parse_address_arg(args.to, "--to") if args.to is not None else None
    fee = optional_amount(args.fee, "--fee")
    key = load_key(args)
    endpoints = get_endpoints(args)
    endpoints.require_l1()
    if args.wait:
        endpoints.require_l2()
    deadline = Deadline(args.timeout)
    to = recipient if recipient is not None else key.address
    client = client_for(endpoints) if endpoints.l2 is not None else _l1_only_client(endpoints)
    l1_hash = _submit_l1(client, key, Deposit(to), amount, fee)
    data: dict[str, Any] = {
        "l1TxHash": l1_hash,
        "from": to_checksum_address(key.address),
        "to": to_checksum_address(to),
        "amount": str(amount),
    }
    lines = [f"deposit sent on L1: {l1_hash}", f"{wei_text(amount)} from {data['from']} to {data['to']} on L2"]
    if args.wait:
        l1_receipt = _wait_l1(client, l1_hash, deadline)
        l2_hash = deposit_l2_hash(l1_receipt, key.address, to, amount)
        data["l1Block"] = l1_receipt["blockNumber"]
        data["l2TxHash"] = l2_hash
        lines.append(f"in L1 block {l1_receipt['blockNumber']}; L2 deposit transaction {l2_hash}")
        receipts = wait_l2(args, endpoints, l2_hash, deadline)
        data["wait"] = args.wait
        data["receipts"] = receipts
        data["l2Balance"] = str(client.balance(to, "latest"))
        lines += receipt_lines(receipts, args.wait)
        lines.append(f"L2 balance of {data['to']}: {data['l2Balance']}")
    emit(args, data, "\n".join(lines))
    return 0


def _l1_only_client(endpoints: Endpoints, timeout: float = 10.0) -> RollupClient:
    """A client for L1 calls when no L2 node is needed (a deposit without --wait, an L1 read)."""
    l1 = endpoints.require_l1()
    return RollupClient(l1, timeout=timeout, endpoints=ClientEndpoints(NodeRef("l1", l1), (), l1))


# ---------------------------------------------------------------- reads


def cmd_balance(args: argparse.Namespace) -> int:
    return _account_read(args, "balance", RollupClient.balance, RollupClient.l1_balance, str)


def cmd_nonce(args: argparse.Namespace) -> int:
    return _account_read(args, "nonce", RollupClient.nonce, RollupClient.l1_nonce, int)


def _account_read(
    args: argparse.Namespace,
    field: str,
    l2_read: Callable[[RollupClient, bytes, int | str], int],
    l1_read: Callable[[RollupClient, bytes], int],
    convert: Callable[[Any], Any],
) -> int:
    address = to_checksum_address(parse_address_arg(args.address, "address"))
    tag = parse_block_tag(args.block)
    endpoints = get_endpoints(args)
    if args.l1:
        if tag != "latest":
            raise InputError("--block is only supported on L2 (the L1 answers at its head)")
        endpoints.require_l1()
        client = client_for(endpoints) if endpoints.l2 is not None else _l1_only_client(endpoints)
        value = convert(l1_read(client, parse_address_arg(address)))
    else:
        value = convert(l2_read(client_for(endpoints), parse_address_arg(address), tag))
    data = {"address": address, field: value, "block": tag, "chain": "l1" if args.l1 else "l2"}
    emit(args, data, str(value))
    return 0


def cmd_tx(args: argparse.Namespace) -> int:
    tx_hash = parse_tx_hash(args.hash)
    client = client_for(get_endpoints(args))
    tx = client.transaction(tx_hash)
    found = client.receipt(tx_hash)
    receipt = None if found is None else dict(found.raw)
    if tx is None and receipt is None:
        raise CliError(f"transaction {tx_hash} not found")
    data = {"transaction": tx, "receipt": receipt}
    pairs = [(key, value) for key, value in (tx or {}).items() if key != "raw"]
    if receipt is not None:
        pairs += [
            ("status", receipt.get("status")),
            ("blockHash", receipt.get("blockHash")),
            ("paidFee", receipt.get("fee")),
        ]
    emit(args, data, kv_lines(pairs))
    return 0


def cmd_block(args: argparse.Namespace) -> int:
    tag = parse_block_tag(args.block)
    found = client_for(get_endpoints(args)).block(tag, bool(args.full))
    if found is None:
        raise CliError(f"block {args.block} not found")
    block = dict(found.raw)
    pairs = [(key, value) for key, value in block.items() if key not in ("transactions", "l1Origin")]
    pairs.append(("l1Origin", f"{block['l1Origin']['number']} ({block['l1Origin']['hash']})"))
    text = kv_lines(pairs) + f"\ntransactions: {len(block['transactions'])}"
    for tx in block["transactions"]:
        if isinstance(tx, dict):
            detail = {k: v for k, v in tx.items() if k not in ("raw", "hash")}
            text += f"\n  {tx['hash']} " + " ".join(f"{k}={v}" for k, v in detail.items())
        else:
            text += f"\n  {tx}"
    emit(args, block, text)
    return 0


def cmd_proof(args: argparse.Namespace) -> int:
    address = parse_address_arg(args.address, "address")
    tag = parse_block_tag(args.block)
    checked = client_for(get_endpoints(args)).proof(address, tag, verify=False)
    reply = checked.raw
    data = {
        "address": checked.address,
        "blockNumber": reply["blockNumber"],
        "stateRoot": checked.state_root,
        "balance": reply.get("balance"),
        "nonce": reply.get("nonce"),
        "verified": checked.verified,
        "detail": checked.detail,
    }
    verdict = "verified" if checked.verified else "FAILED"
    emit(
        args,
        data,
        kv_lines(
            [
                ("address", data["address"]),
                ("block", data["blockNumber"]),
                ("stateRoot", data["stateRoot"]),
                ("balance", data["balance"]),
                ("nonce", data["nonce"]),
                ("proof", f"{verdict}: {checked.detail}"),
            ]
        ),
    )
    return 0 if checked.verified else 1


def cmd_status(args: argparse.Namespace) -> int:
    endpoints = get_endpoints(args)
    nodes: list[dict[str, Any]] = []
    for node in endpoints.all_l2_nodes():
        nodes.append(_node_status(node))
    l1: dict[str, Any] | None = None
    if endpoints.l1 is not None:
        l1 = {"rpc": endpoints.l1}
        try:
            l1["head"] = _l1_only_client(endpoints, timeout=3).l1_block_number()
        except (RpcError, RpcTransportError, errors.ClientError) as exc:
            l1["error"] = str(exc)
    data = {"l1": l1, "nodes": nodes}
    lines = [f"L1 {l1['rpc']}: head {l1.get('head', l1.get('error'))}"] if l1 is not None else []
    lines.append(f"{'NODE':<12} {'UNSAFE':>7} {'SAFE':>7} {'FINAL':>7} {'L1':>6}  RPC")
    for entry in nodes:
        if "error" in entry:
            lines.append(f"{entry['name']:<12} unreachable: {entry['error']}")
        else:
            lines.append(
                f"{entry['name']:<12} {entry['unsafe']:>7} {entry['safe']:>7} {entry['finalized']:>7} "
                f"{entry['l1Head']:>6}  {entry['rpc']}"
            )
    emit(args, data, "\n".join(lines))
    return 0 if all("error" not in entry for entry in nodes) else 1


def _node_status(node: Node) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": node.name, "rpc": node.rpc}
    ref = NodeRef(node.name, node.rpc)
    try:
        sync = RollupClient(node.rpc, timeout=3, endpoints=ClientEndpoints(ref, (ref,))).sync_status()
        entry.update(
            unsafe=sync.unsafe.number,
            safe=sync.safe.number,
            finalized=sync.finalized.number,
            l1Head=sync.l1_head,
            safeStateRoot=sync.safe.state_root,
        )
    except (RpcError, RpcTransportError, errors.ClientError) as exc:
        entry["error"] = exc.message if isinstance(exc, RpcError) else str(exc)
    return entry
