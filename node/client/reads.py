"""Read operations on an L2 node (sans-IO, see node.client.sansio): chain, accounts, blocks, receipts, proofs.

Arguments are checked (node.client.inputs) when the operation is built,
before any request; replies are parsed into node.client.models.
"""

from __future__ import annotations

from typing import Any

from node.client.errors import ProofError, ResponseError
from node.client.inputs import AddressLike, BlockLike, to_address, to_block, to_hash, to_level
from node.client.models import AccountProof, Block, Receipt, SyncStatus, TxStatus
from node.client.sansio import Call, Op, reply_int
from node.crypto import to_checksum_address
from node.devnet.proofcheck import check_account_proof


def chain_id(url: str) -> Op[int]:
    return reply_int((yield Call(url, "rollup_chainId")), "rollup_chainId")


def sync_status(url: str, timeout: float | None = None) -> Op[SyncStatus]:
    return SyncStatus.from_json((yield Call(url, "rollup_syncStatus", (), timeout)))


def block_number(url: str, level: str = "latest") -> Op[int]:
    """The number of the node's latest (= unsafe), safe or finalized head."""
    if level != "latest":
        to_level(level)
    status = yield from sync_status(url)
    return status.head(level).number


def balance(url: str, address: AddressLike, block: BlockLike = "latest") -> Op[int]:
    args = (to_checksum_address(to_address(address)), to_block(block))
    return reply_int((yield Call(url, "rollup_getBalance", args)), "rollup_getBalance")


def nonce(url: str, address: AddressLike, block: BlockLike = "latest") -> Op[int]:
    args = (to_checksum_address(to_address(address)), to_block(block))
    return reply_int((yield Call(url, "rollup_getNonce", args)), "rollup_getNonce")


def block(url: str, number_or_tag: BlockLike, full: bool = False) -> Op[Block | None]:
    """The block, or None when the node does not have it (yet)."""
    args = (to_block(number_or_tag), bool(full))
    reply = yield Call(url, "rollup_getBlockByNumber", args)
    return None if reply is None else Block.from_json(reply)


def chain_time_ms(url: str) -> Op[int]:
    """Chain time: the timestamp (ms) of the node's latest block; ahead of the wall clock on a devnet whose
    time was moved forward (devnet_increaseTime), so time rules (funding intervals) are judged by it."""
    reply = yield Call(url, "rollup_getBlockByNumber", ("latest", False))
    if reply is None:
        raise ResponseError("rollup_getBlockByNumber: the node has no latest block")
    return Block.from_json(reply).timestamp_ms


def transaction(url: str, tx_hash: str | bytes) -> Op[dict[str, Any] | None]:
    """The decoded transaction (kind, from, nonce, fee, payload fields, blockNumber), or None."""
    reply = yield Call(url, "rollup_getTransactionByHash", (to_hash(tx_hash),))
    if reply is not None and not isinstance(reply, dict):
        raise ResponseError(f"rollup_getTransactionByHash: expected an object, got {type(reply).__name__}")
    return reply


def receipt(url: str, tx_hash: str | bytes) -> Op[Receipt | None]:
    reply = yield Call(url, "rollup_getTransactionReceipt", (to_hash(tx_hash),))
    return None if reply is None else Receipt.from_json(reply, "rollup_getTransactionReceipt")


def transaction_status(url: str, tx_hash: str | bytes) -> Op[TxStatus]:
    return TxStatus.from_json((yield Call(url, "rollup_getTransactionStatus", (to_hash(tx_hash),))))


def proof(url: str, address: AddressLike, block_tag: BlockLike = "latest", verify: bool = True) -> Op[AccountProof]:
    """rollup_getProof, verified against the state root of the block's header (fetched separately).

    With verify=True a proof that does not verify raises ProofError (its `.proof` says why).
    """
    addr = to_address(address)
    tag = to_block(block_tag)
    reply = yield Call(url, "rollup_getProof", (to_checksum_address(addr), tag))
    if not isinstance(reply, dict) or "blockNumber" not in reply:
        raise ResponseError(f"rollup_getProof: expected an object with blockNumber, got {reply!r:.80}")
    number = reply_int(reply["blockNumber"], "rollup_getProof.blockNumber")
    header = yield Call(url, "rollup_getBlockByNumber", (number, False))
    if header is None:
        raise ProofError(f"block {number} of the proof is not available")
    state_root = str(Block.from_json(header).state_root)
    check = check_account_proof(addr, reply, state_root)
    result = AccountProof(
        address=to_checksum_address(addr),
        block_number=number,
        state_root=state_root,
        balance=reply_int(reply.get("balance", 0), "rollup_getProof.balance"),
        nonce=reply_int(reply.get("nonce", 0), "rollup_getProof.nonce"),
        verified=check.verified,
        detail=check.reason,
        raw=reply,
    )
    if verify and not check.verified:
        raise ProofError(f"the proof of {result.address} at block {number} does not verify: {check.reason}", result)
    return result
