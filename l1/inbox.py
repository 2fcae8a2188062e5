"""The one-step verifier's input: an opened L2 block's transactions, rebuilt from the L1's own history.

    rebuild_block(reader, chain_id, header, ref) -> Block        raises StepInputMismatch

The prover never hands the L1 a transaction. It only says where they are
(`StepRef`): the `batch` event holding the block's user transactions, and
whether the block opens its epoch together with the `forced_tx` events
derivation included. The L1 then reads its own stored blocks:

1. the header's L1 origin must be this chain's block at that number (hash);
2. when the block opens its epoch: every deposit of the origin block in log
   order (the sequencer cannot skip one), then the listed forced transactions
   of that block (derivation leaves out those invalid at that point, which
   only state decides, hence the list);
3. the batch must hold block `header.number` with the header's timestamp and
   origin; its user transactions follow;
4. the transaction root of that list (it binds the count) must equal the
   header's `tx_root`.

Blocks are read through the same StateReader the contracts get (the L1's
KV store holds blocks next to state), so this stays a pure function of the
chain's committed history.
"""

from __future__ import annotations

from node.batch import BatchError, decode_batch
from node.block import MAX_BLOCK_TXS, Block, BlockHeader, compute_tx_root
from node.crypto import keccak256
from node.state.view import StateReader
from node.tx import DepositTx
from l1.dispute_errors import StepInputMismatch
from l1.dispute_tx import StepRef
from l1.events import BatchPosted, DepositLocked, TxForced
from l1.store import L1StoredBlock, read_block


def rebuild_block(reader: StateReader, chain_id: int, header: BlockHeader, ref: StepRef) -> Block:
    """Block `header.number` with its transactions taken from the L1 inbox; StepInputMismatch if they do not fit."""
    origin = read_l1_block(reader, header.l1_origin_number, "the header's L1 origin")
    if origin.hash() != header.l1_origin_hash:
        raise StepInputMismatch(
            f"the opened header's L1 origin hash 0x{header.l1_origin_hash.hex()} is not L1 block "
            f"{header.l1_origin_number}'s 0x{origin.hash().hex()}"
        )
    txs = collect_system_transactions(origin, ref.system) + collect_user_transactions(reader, chain_id, header, ref.batch)
    if len(txs) > MAX_BLOCK_TXS:
        raise StepInputMismatch(f"the referenced data holds {len(txs)} transactions, more than a block can")
    computed = compute_tx_root([keccak256(raw) for raw in txs])
    if computed != header.tx_root:
        raise StepInputMismatch(
            f"the {len(txs)} transactions the reference names have root 0x{computed.hex()}, "
            f"the opened header of block {header.number} commits to 0x{header.tx_root.hex()}"
        )
    return Block(header, tuple(txs))


def read_l1_block(reader: StateReader, number: int, what: str) -> L1StoredBlock:
    block = read_block(reader, number)
    if block is None:
        raise StepInputMismatch(f"{what}, L1 block {number}, is not in the chain")
    return block


def collect_system_transactions(origin: L1StoredBlock, forced_log_indices: tuple[int, ...] | None) -> list[bytes]:
    """Deposits of `origin` in log order and the listed forced transactions; none if the block does not open its epoch."""
    if forced_log_indices is None:
        return []
    deposits = [
        DepositTx(origin.number, e.log_index, e.sender, e.l2_to, e.amount).encode()
        for e in origin.events
        if isinstance(e, DepositLocked)
    ]
    forced = {e.log_index: e.l2_tx for e in origin.events if isinstance(e, TxForced)}
    missing = [i for i in forced_log_indices if i not in forced]
    if missing:
        raise StepInputMismatch(f"L1 block {origin.number} has no forced_tx event at log index {missing[0]}")
    return deposits + [forced[i] for i in forced_log_indices]


def collect_user_transactions(
    reader: StateReader, chain_id: int, header: BlockHeader, batch_ref: tuple[int, int] | None
) -> list[bytes]:
    if batch_ref is None:
        return []
    l1_number, log_index = batch_ref
    block = read_l1_block(reader, l1_number, "the referenced batch's block")
    data = next((e.data for e in block.events if isinstance(e, BatchPosted) and e.log_index == log_index), None)
    if data is None:
        raise StepInputMismatch(f"L1 block {l1_number} has no batch event at log index {log_index}")
    try:
        batch_blocks = decode_batch(data, chain_id)
    except BatchError as exc:
        raise StepInputMismatch(f"the batch at L1 block {l1_number} log {log_index} does not decode: {exc}") from None
    entry = next((b for b in batch_blocks if b.number == header.number), None)
    if entry is None:
        raise StepInputMismatch(f"the batch at L1 block {l1_number} log {log_index} does not hold L2 block {header.number}")
    if (entry.timestamp_ms, entry.l1_origin_number) != (header.timestamp_ms, header.l1_origin_number):
        raise StepInputMismatch(
            f"the batch's block {header.number} has timestamp {entry.timestamp_ms} and origin {entry.l1_origin_number}, "
            f"the opened header {header.timestamp_ms} and {header.l1_origin_number}"
        )
    return list(entry.transactions)


__all__ = ["collect_system_transactions", "collect_user_transactions", "read_l1_block", "rebuild_block"]
