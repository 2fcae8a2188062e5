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
import asyncio
from collections.abc import Callable
from typing import Any

from node.cli.common import (
    CliError,
    add_command,
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
from node.crypto import PrivateKey, to_checksum_address
from node.devnet.endpoints import Node
from node.devnet.errors import InputError
from node.devnet.inputs import parse_address_arg, parse_amount, parse_block_tag, parse_tx_hash
from node.devnet.params import L2_MIN_FEE
from node.devnet.proofcheck import check_account_proof
from node.devnet.waiting import Deadline, wait_l1_receipt
from node.records import to_hex
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from node.tx import DepositTx, Transfer, Withdrawal

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


def _submit_l1(l1_rpc: str, key: PrivateKey, payload: Any, value: int, fee: int | None) -> str:
    """Sign and send an L1 transaction through the L1 client (the L1's min fee unless `fee`); its hash."""
    from l1.contracts.client import L1Client, L1ResponseError  # the L1's client, only needed by --via-l1 and deposit

    async def send() -> str:
        async with L1Client(l1_rpc) as l1:
            return to_hex(await l1.send_tx(key, payload, value, fee))

    try:
        return asyncio.run(send())
    except RpcError as exc:
        raise CliError(f"the L1 rejected the transaction: {exc.message} (code {exc.code})") from None
    except L1ResponseError as exc:
        raise CliError(f"the L1 answered with something unexpected: {exc}") from None


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

        l1_rpc = endpoints.require_l1()
        endpoints.require_l2()
        data["l1TxHash"] = _submit_l1(l1_rpc, key, ForceTx(tx.encode()), 0, None)
        if args.wait:
            data["l1Receipt"] = wait_l1_receipt(l1_rpc, data["l1TxHash"], deadline, progress)
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
    l1_rpc = endpoints.require_l1()
    if args.wait:
        endpoints.require_l2()
    deadline = Deadline(args.timeout)
    to = recipient if recipient is not None else key.address
    l1_hash = _submit_l1(l1_rpc, key, Deposit(to), amount, fee)
    data: dict[str, Any] = {
        "l1TxHash": l1_hash,
        "from": to_checksum_address(key.address),
        "to": to_checksum_address(to),
        "amount": str(amount),
    }
    lines = [f"deposit sent on L1: {l1_hash}", f"{wei_text(amount)} from {data['from']} to {data['to']} on L2"]
    if args.wait:
        l1_receipt = wait_l1_receipt(l1_rpc, l1_hash, deadline, progress)
        l2_hash = _deposit_l2_hash(l1_receipt, key.address, to, amount)
        data["l1Block"] = l1_receipt["blockNumber"]
        data["l2TxHash"] = l2_hash
        lines.append(f"in L1 block {l1_receipt['blockNumber']}; L2 deposit transaction {l2_hash}")
        receipts = wait_l2(args, endpoints, l2_hash, deadline)
        data["wait"] = args.wait
        data["receipts"] = receipts
        data["l2Balance"] = str(
            SyncRpcClient(endpoints.require_l2().rpc).call("rollup_getBalance", to_checksum_address(to), "latest")
        )
        lines += receipt_lines(receipts, args.wait)
        lines.append(f"L2 balance of {data['to']}: {data['l2Balance']}")
    emit(args, data, "\n".join(lines))
    return 0


def _deposit_l2_hash(l1_receipt: dict[str, Any], sender: bytes, to: bytes, amount: int) -> str:
    """The hash of the L2 system transaction derivation makes from this deposit's L1 event."""
    from l1.contracts.client import L1ResponseError, parse_receipt
    from l1.contracts.events import DepositLocked

    try:
        receipt = parse_receipt(l1_receipt)
    except L1ResponseError as exc:
        raise CliError(f"the L1 receipt of {l1_receipt.get('transactionHash')} does not parse: {exc}") from None
    for event in receipt.events:
        if isinstance(event, DepositLocked):
            deposit = DepositTx(receipt.block_number, event.log_index, event.sender, event.l2_to, event.amount)
            if deposit.to == to and deposit.amount == amount and deposit.l1_sender == sender:
                return to_hex(deposit.hash())
    raise CliError(f"the L1 receipt of {to_hex(receipt.tx_hash)} has no matching deposit event")


# ---------------------------------------------------------------- reads


def cmd_balance(args: argparse.Namespace) -> int:
    return _account_read(args, "balance", "rollup_getBalance", "l1_getBalance", str)


def cmd_nonce(args: argparse.Namespace) -> int:
    return _account_read(args, "nonce", "rollup_getNonce", "l1_getNonce", int)


def _account_read(
    args: argparse.Namespace, field: str, l2_method: str, l1_method: str, convert: Callable[[Any], Any]
) -> int:
    address = to_checksum_address(parse_address_arg(args.address, "address"))
    tag = parse_block_tag(args.block)
    endpoints = get_endpoints(args)
    if args.l1:
        if tag != "latest":
            raise InputError("--block is only supported on L2 (the L1 answers at its head)")
        value = convert(SyncRpcClient(endpoints.require_l1()).call(l1_method, address))
    else:
        value = convert(SyncRpcClient(endpoints.require_l2().rpc).call(l2_method, address, tag))
    data = {"address": address, field: value, "block": tag, "chain": "l1" if args.l1 else "l2"}
    emit(args, data, str(value))
    return 0


def cmd_tx(args: argparse.Namespace) -> int:
    tx_hash = parse_tx_hash(args.hash)
    client = SyncRpcClient(get_endpoints(args).require_l2().rpc)
    tx = client.call("rollup_getTransactionByHash", tx_hash)
    receipt = client.call("rollup_getTransactionReceipt", tx_hash)
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
    block = SyncRpcClient(get_endpoints(args).require_l2().rpc).call("rollup_getBlockByNumber", tag, bool(args.full))
    if block is None:
        raise CliError(f"block {args.block} not found")
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
    client = SyncRpcClient(get_endpoints(args).require_l2().rpc)
    reply = client.call("rollup_getProof", to_checksum_address(address), tag)
    block = client.call("rollup_getBlockByNumber", int(reply["blockNumber"]), False)
    if block is None:
        raise CliError(f"block {reply['blockNumber']} of the proof is not available")
    check = check_account_proof(address, reply, str(block["stateRoot"]))
    data = {
        "address": to_checksum_address(address),
        "blockNumber": reply["blockNumber"],
        "stateRoot": block["stateRoot"],
        "balance": reply.get("balance"),
        "nonce": reply.get("nonce"),
        "verified": check.verified,
        "detail": check.reason,
    }
    verdict = "verified" if check.verified else "FAILED"
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
                ("proof", f"{verdict}: {check.reason}"),
            ]
        ),
    )
    return 0 if check.verified else 1


def cmd_status(args: argparse.Namespace) -> int:
    endpoints = get_endpoints(args)
    nodes: list[dict[str, Any]] = []
    for node in endpoints.all_l2_nodes():
        nodes.append(_node_status(node))
    l1: dict[str, Any] | None = None
    if endpoints.l1 is not None:
        l1 = {"rpc": endpoints.l1}
        try:
            l1["head"] = int(SyncRpcClient(endpoints.l1, timeout=3).call("l1_blockNumber"))
        except (RpcError, RpcTransportError) as exc:
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
    try:
        sync = SyncRpcClient(node.rpc, timeout=3).call("rollup_syncStatus")
        entry.update(
            unsafe=sync["unsafe"]["number"],
            safe=sync["safe"]["number"],
            finalized=sync["finalized"]["number"],
            l1Head=sync["l1Head"],
            safeStateRoot=sync["safe"]["stateRoot"],
        )
    except (RpcError, RpcTransportError, KeyError, TypeError) as exc:
        entry["error"] = str(exc)
    return entry
