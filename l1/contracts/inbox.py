"""The one-step verifier's input: an L2 block's transactions, rebuilt from the L1's own history.

    rebuild_block(reader, chain_id, header) -> Block        raises UnderivableOpening

The prover never hands the L1 a transaction, nor says where they are. The
L1 derived block `header.number` itself (l1.contracts.l2_blocks: timestamp, origin,
whether it opens its epoch, the batch event and position of its user
transactions) and reads its own stored blocks:

1. the header's timestamp and L1 origin must be the derived block's, and
   the origin hash this chain's block at that number;
2. when the block opens its epoch: every deposit of the origin block (a
   devnet's balance overrides among them, node.tx.BalanceOverrideTx), then
   every forced transaction of it, in log order (derivation includes them
   all; one invalid at its point is skipped when executed);
3. then the user transactions of the batch block the L1 derived it from;
4. the transaction root of that list (it binds the count) must equal the
   header's `tx_root`.

Blocks are read through the same StateReader the contracts get (the L1's
KV store holds blocks next to state), so this stays a pure function of the
chain's committed history.
"""

from __future__ import annotations

from l1.chain.store import L1StoredBlock, read_block
from l1.contracts.errors import UnderivableOpening
from l1.contracts.events import EVENTS, BatchPosted, DepositLocked, L2BalanceSet, TxForced
from l1.contracts.l2_blocks import L2BlockRecord, get_l2_block
from node.batch import BatchError, decode_batch
from node.block import MAX_BLOCK_TXS, Block, BlockHeader, compute_tx_root
from node.crypto import keccak256
from node.state.view import StateReader
from node.tx import BalanceOverrideTx, DepositTx


def rebuild_block(reader: StateReader, chain_id: int, header: BlockHeader) -> Block:
    """Block `header.number` with its transactions as this L1 derived them; UnderivableOpening if the header
    is not that block (timestamp, origin, transactions)."""
    record = get_l2_block(reader, header.number)
    if record is None:
        raise UnderivableOpening(f"L2 block {header.number} is not derived from this L1's inbox")
    if (header.timestamp_ms, header.l1_origin_number) != (record.timestamp_ms, record.l1_origin_number):
        raise UnderivableOpening(
            f"L2 block {header.number} is derived with timestamp {record.timestamp_ms} and L1 origin "
            f"{record.l1_origin_number}, the opened header has {header.timestamp_ms} and {header.l1_origin_number}"
        )
    origin = read_l1_block(reader, record.l1_origin_number, "the derived block's L1 origin")
    if origin.hash() != header.l1_origin_hash:
        raise UnderivableOpening(
            f"the opened header's L1 origin hash 0x{header.l1_origin_hash.hex()} is not L1 block "
            f"{record.l1_origin_number}'s 0x{origin.hash().hex()}"
        )
    txs = rebuild_transactions(reader, chain_id, record, origin)
    computed = compute_tx_root([keccak256(raw) for raw in txs])
    if computed != header.tx_root:
        raise UnderivableOpening(
            f"the {len(txs)} transactions of derived L2 block {header.number} have root 0x{computed.hex()}, "
            f"the opened header commits to 0x{header.tx_root.hex()}"
        )
    return Block(header, tuple(txs))


def rebuild_transactions(
    reader: StateReader, chain_id: int, record: L2BlockRecord, origin: L1StoredBlock
) -> list[bytes]:
    system = collect_system_transactions(origin) if record.opens_epoch else []
    txs = system + collect_user_transactions(reader, chain_id, record)
    if len(txs) > MAX_BLOCK_TXS:
        raise UnderivableOpening(
            f"derived L2 block {record.number} holds {len(txs)} transactions, more than a block can"
        )
    return txs


def read_l1_block(reader: StateReader, number: int, what: str) -> L1StoredBlock:
    block = read_block(reader, number, EVENTS)
    if block is None:
        raise UnderivableOpening(f"{what}, L1 block {number}, is not in the chain")
    return block


def collect_system_transactions(origin: L1StoredBlock) -> list[bytes]:
    """Every deposit (and balance override) of `origin` in log order, then every forced transaction of it in
    log order."""
    deposits: list[bytes] = []
    for e in origin.events:
        if isinstance(e, DepositLocked):
            deposits.append(DepositTx(origin.number, e.log_index, e.sender, e.l2_to, e.amount).encode())
        elif isinstance(e, L2BalanceSet):
            deposits.append(BalanceOverrideTx(origin.number, e.log_index, e.sender, e.l2_to, e.balance).encode())
    return deposits + [e.l2_tx for e in origin.events if isinstance(e, TxForced)]


def collect_user_transactions(reader: StateReader, chain_id: int, record: L2BlockRecord) -> list[bytes]:
    if record.batch is None:
        return []
    l1_number, log_index, position = record.batch.l1_block, record.batch.log_index, record.batch.position
    block = read_l1_block(reader, l1_number, "the derived block's batch")
    data = next((e.data for e in block.events if isinstance(e, BatchPosted) and e.log_index == log_index), None)
    if data is None:
        raise UnderivableOpening(f"L1 block {l1_number} has no batch event at log index {log_index}")
    try:
        batch_blocks = decode_batch(data, chain_id)
    except BatchError as exc:
        raise UnderivableOpening(f"the batch at L1 block {l1_number} log {log_index} does not decode: {exc}") from None
    if position >= len(batch_blocks) or batch_blocks[position].number != record.number:
        raise UnderivableOpening(
            f"the batch at L1 block {l1_number} log {log_index} does not hold L2 block {record.number}"
        )
    return list(batch_blocks[position].transactions)


__all__ = [
    "collect_system_transactions",
    "collect_user_transactions",
    "read_l1_block",
    "rebuild_block",
    "rebuild_transactions",
]
