"""A withdrawal's way to L1: wait for a finalized output covering it, prove it on L1, finalize it, get paid.

    complete_withdrawal(l1_rpc, proof_rpc, key, withdrawal_id, deadline, progress) -> dict

1. the withdrawal's L2 block, from the proof node's receipt (a node that
   derives from L1, e.g. the challenger: its receipt means the block is safe);
2. the first `finalized` output proposal at or above that block whose root
   equals the proof node's output root at that block (a finalized output
   never changes, so this waits for the challenge window, or a won dispute);
3. `rollup_getWithdrawalProof` from the proof node at the output's block,
   sent as prove_withdrawal (kind 10) unless the L1 already has it proven
   against a live output;
4. finalize_withdrawal (kind 11): the portal pays the L1 recipient.

Progress lines go to `progress`; failures raise DevnetError subclasses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from node.crypto import PrivateKey, parse_address, parse_hex, to_checksum_address
from node.devnet.errors import DevnetError
from node.devnet.waiting import Deadline, WaitTimeout, wait_l1_receipt
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from node.state.schema import WithdrawalRecord

POLL_S = 0.3
PROGRESS_EVERY_S = 2.0
PAGE = 256

Progress = Callable[[str], None]


class WithdrawalFailed(DevnetError):
    """The withdrawal cannot be completed (not found, failed, rejected by the L1)."""


def complete_withdrawal(
    l1_rpc: str, proof_rpc: str, key: PrivateKey, withdrawal_id: str, deadline: Deadline, progress: Progress
) -> dict[str, Any]:
    l1, node = SyncRpcClient(l1_rpc), SyncRpcClient(proof_rpc)
    block = wait_withdrawal_block(node, withdrawal_id, deadline, progress)
    progress(f"withdrawal {withdrawal_id[:18]}... is in L2 block {block} (derived from L1)")
    output, proof = wait_finalized_output(l1, node, withdrawal_id, block, deadline, progress)
    recipient = parse_address(proof["record"]["l1Recipient"])
    amount = int(proof["record"]["amount"])
    balance_before = int(l1.call("l1_getBalance", to_checksum_address(recipient)))
    result: dict[str, Any] = {
        "withdrawalId": withdrawal_id,
        "l2Block": block,
        "outputIndex": output["index"],
        "outputL2Block": output["l2BlockNumber"],
        "recipient": to_checksum_address(recipient),
        "amount": str(amount),
    }
    existing = l1.call("l1_getWithdrawal", withdrawal_id)
    if existing is None or existing.get("outputStatus") == "defeated":
        receipt = send_l1(l1, key, prove_payload(output, withdrawal_id, proof), deadline, progress)
        result["proveTx"], result["provenInL1Block"] = receipt["transactionHash"], receipt["blockNumber"]
        progress(f"proven on L1 against output {output['index']} in L1 block {receipt['blockNumber']}")
    existing = l1.call("l1_getWithdrawal", withdrawal_id)
    if existing is not None and existing.get("status") == "finalized":
        progress("already paid on L1")
        result.update(paid=True, finalizedInL1Block=existing.get("finalizedAt"))
        return result
    receipt = send_l1(l1, key, finalize_payload(withdrawal_id), deadline, progress)
    balance_after = int(l1.call("l1_getBalance", to_checksum_address(recipient)))
    result.update(
        finalizeTx=receipt["transactionHash"],
        finalizedInL1Block=receipt["blockNumber"],
        paid=True,
        l1BalanceBefore=str(balance_before),
        l1BalanceAfter=str(balance_after),
    )
    progress(f"finalized in L1 block {receipt['blockNumber']}: paid {amount} wei to {result['recipient']}")
    return result


def wait_withdrawal_block(node: SyncRpcClient, withdrawal_id: str, deadline: Deadline, progress: Progress) -> int:
    while True:
        receipt = _call(node, "rollup_getTransactionReceipt", withdrawal_id)
        if receipt is not None:
            if int(receipt.get("status", 0)) != 1:
                raise WithdrawalFailed(f"withdrawal transaction {withdrawal_id} failed on L2 (receipt status 0)")
            return int(receipt["blockNumber"])
        _tick(
            deadline,
            f"withdrawal {withdrawal_id} to be derived from L1",
            progress,
            f"waiting for {withdrawal_id[:18]}... to be derived from L1",
        )


def wait_finalized_output(
    l1: SyncRpcClient, node: SyncRpcClient, withdrawal_id: str, block: int, deadline: Deadline, progress: Progress
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first finalized output at or above `block` that equals the proof node's chain, and the proof under it."""
    while True:
        outputs = [o for o in list_outputs(l1) if int(o["l2BlockNumber"]) >= block]
        for output in outputs:
            if output["status"] != "finalized":
                continue
            proof = _call(node, "rollup_getWithdrawalProof", withdrawal_id, int(output["l2BlockNumber"]))
            if proof is not None and str(proof["outputRoot"]).lower() == str(output["outputRoot"]).lower():
                return output, proof
        head = _call(l1, "l1_blockNumber")
        waiting = next((o for o in outputs if o["status"] in ("pending", "disputed")), None)
        what = (
            (
                f"output {waiting['index']} (L2 block {waiting['l2BlockNumber']}) is {waiting['status']}, "
                f"finalizes at L1 block {waiting['finalizesAt']} (L1 head {head})"
            )
            if waiting
            else f"no output covers L2 block {block} yet (L1 head {head})"
        )
        _tick(deadline, f"an output covering L2 block {block} to finalize", progress, f"waiting: {what}")


def list_outputs(l1: SyncRpcClient) -> list[dict[str, Any]]:
    outputs: list[dict[str, Any]] = []
    index = 0
    while True:
        page = l1.call("l1_getOutputs", index, PAGE)
        outputs.extend(page)
        if len(page) < PAGE:
            return outputs
        index += PAGE


def prove_payload(output: dict[str, Any], withdrawal_id: str, proof: dict[str, Any]) -> Any:
    from l1.contracts.payloads import ProveWithdrawal  # the L1 codec, only needed here

    record = proof["record"]
    return ProveWithdrawal(
        output_index=int(output["index"]),
        withdrawal_id=parse_hex(withdrawal_id, 32, "withdrawal id"),  # type: ignore[arg-type]
        record=WithdrawalRecord(
            l2_sender=parse_address(record["l2Sender"]),
            l1_recipient=parse_address(record["l1Recipient"]),
            amount=int(record["amount"]),
            l2_block_number=int(record["l2BlockNumber"]),
        ),
        state_root=parse_hex(proof["stateRoot"], 32, "state root"),  # type: ignore[arg-type]
        block_hash=parse_hex(proof["blockHash"], 32, "block hash"),  # type: ignore[arg-type]
        proof=parse_hex(proof["proof"], None, "proof"),
    )


def finalize_payload(withdrawal_id: str) -> Any:
    from l1.contracts.payloads import FinalizeWithdrawal

    return FinalizeWithdrawal(parse_hex(withdrawal_id, 32, "withdrawal id"))  # type: ignore[arg-type]


def send_l1(l1: SyncRpcClient, key: PrivateKey, payload: Any, deadline: Deadline, progress: Progress) -> dict[str, Any]:
    from l1.chain.tx import sign_l1_tx

    info = l1.call("l1_config")
    nonce = int(l1.call("l1_getNonce", to_checksum_address(key.address)))
    tx = sign_l1_tx(key, int(info["chainId"]), nonce, int(info["minFee"]), 0, payload)
    try:
        tx_hash = str(l1.call("l1_sendRawTransaction", "0x" + tx.encode().hex()))
    except RpcError as exc:
        raise WithdrawalFailed(
            f"the L1 rejected the {payload.NAME} transaction: {exc.message} (code {exc.code})"
        ) from None
    return wait_l1_receipt(l1.url, tx_hash, deadline, progress)


def _call(client: SyncRpcClient, method: str, *params: Any) -> Any:
    try:
        return client.call(method, *params)
    except RpcTransportError:
        return None
    except RpcError as exc:
        if exc.code == -32004:  # not found (yet)
            return None
        raise


_last_said: dict[str, float] = {}


def _tick(deadline: Deadline, what: str, progress: Progress, line: str) -> None:
    if deadline.expired():
        raise WaitTimeout(f"timed out after {deadline.seconds:.0f} s waiting for {what}")
    now = time.monotonic()
    if _last_said.get(what, 0.0) + PROGRESS_EVERY_S <= now:
        _last_said[what] = now
        progress(line)
    time.sleep(POLL_S)
