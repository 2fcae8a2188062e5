"""Withdrawal inclusion proofs from the challenger's own (L1-derived) chain, for proving on L1.

    rollup_getWithdrawalProof [withdrawal_id, block]  ->
        {withdrawalId, blockNumber, stateRoot, blockHash, outputRoot, key, value, record: {...}, proof}

`block` is the L2 block of the (finalized) output the withdrawal is proven
under; the record must exist in the state after that block.
"""

from __future__ import annotations

from typing import Any

from node.crypto import to_checksum_address
from node.output import compute_output_root
from node.rpc.errors import ResourceNotFound
from node.rpc.params import hash32, positional, uint
from node.smt.versioned import MissingVersionError
from node.state.schema import decode_withdrawal, withdrawal_key
from node.store.chain import ChainStore


def get_withdrawal_proof(store: ChainStore, withdrawal_id: bytes, number: int) -> dict[str, Any]:
    block = store.get_block(number)
    if block is None:
        raise ResourceNotFound(f"L2 block {number} is not derived yet")
    key = withdrawal_key(withdrawal_id)
    try:
        value, proof = store.prove(key, number)
    except MissingVersionError:
        raise ResourceNotFound(f"state at L2 block {number} is pruned") from None
    if value is None:
        raise ResourceNotFound(f"withdrawal 0x{withdrawal_id.hex()} is not in the state after L2 block {number}")
    record = decode_withdrawal(value)
    header = block.header
    return {
        "withdrawalId": "0x" + withdrawal_id.hex(),
        "blockNumber": number,
        "stateRoot": "0x" + header.state_root.hex(),
        "blockHash": "0x" + header.hash().hex(),
        "outputRoot": "0x" + compute_output_root(number, header.state_root, header.hash()).hex(),
        "key": "0x" + key.hex(),
        "value": "0x" + value.hex(),
        "record": {
            "l2Sender": to_checksum_address(record.l2_sender),
            "l1Recipient": to_checksum_address(record.l1_recipient),
            "amount": str(record.amount),
            "l2BlockNumber": record.l2_block_number,
        },
        "proof": "0x" + proof.encode().hex(),
    }


def make_rpc_method(store_of: Any) -> Any:
    """The JSON-RPC handler; `store_of()` returns the ChainStore to read."""

    def rollup_getWithdrawalProof(params: list[Any]) -> dict[str, Any]:
        args = positional(params, 2, 0, "rollup_getWithdrawalProof")
        return get_withdrawal_proof(store_of(), hash32(args[0], "withdrawal id"), uint(args[1], "block", 2**63))

    return rollup_getWithdrawalProof
