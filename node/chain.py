"""A chain of L2 blocks on disk: genesis, sealing new blocks, importing others' blocks.

This is the one place where the pure state transition (node.stf) meets the
store (node.store.chain): execute over the latest state, turn the writes
into a tree update, put the root in the header, commit atomically. The
sequencer seals with it; executors and the challenger import with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import node.venue  # noqa: F401  the venue's transaction kinds and end-of-block hook are part of the chain's rules
from node.block import ZERO_HASH, Block, BlockHeader, compute_tx_root
from node.crypto import Hash32
from node.encoding import decode_uint, encode_uint, pack, unpack
from node.genesis import compute_genesis_writes
from node.smt.hashing import hash_key
from node.smt.versioned import TreeUpdate
from node.stf import (
    BlockBuild,
    BlockContext,
    ChainConfig,
    InvalidBlock,
    build_block_transactions,
    execute_block,
)
from node.stf.execute import Receipt
from node.store.chain import ChainStore, Head
from node.tx import DepositTx, RecoveredTx


class ChainError(Exception):
    """The chain cannot take this block (not an STF rule: position, root, genesis)."""


class NotNextBlock(ChainError):
    pass


class StateRootMismatch(InvalidBlock):
    rpc_code = -32044

    def __init__(self, number: int, claimed: bytes, computed: bytes) -> None:
        super().__init__(
            f"block {number} claims state root 0x{claimed.hex()} but executing it gives 0x{computed.hex()}"
        )
        self.number = number
        self.claimed = claimed
        self.computed = computed


class GenesisMismatch(ChainError):
    pass


@dataclass(frozen=True, slots=True)
class SealedBlock:
    block: Block
    receipts: tuple[Receipt, ...]
    head: Head


@dataclass(frozen=True, slots=True)
class PreparedBlock:
    block: Block
    build: BlockBuild
    update: TreeUpdate
    tx_hashes: tuple[bytes, ...]


def encode_receipt(receipt: Receipt) -> bytes:
    fields = [
        receipt.tx_hash,
        receipt.index,
        receipt.status,
        receipt.kind,
        encode_uint(receipt.fee),
        receipt.block_number,
    ]
    if receipt.error is not None:
        fields.append(receipt.error)
    return pack(fields)


def decode_receipt(raw: bytes) -> Receipt:
    fields = unpack(raw)
    tx_hash, index, status, kind, fee, block_number = fields[:6]
    error = fields[6] if len(fields) > 6 else None
    return Receipt(Hash32(tx_hash), index, status, kind, decode_uint(fee), block_number, error)


def receipt_to_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "transactionHash": "0x" + receipt.tx_hash.hex(),
        "transactionIndex": receipt.index,
        "blockNumber": receipt.block_number,
        "status": receipt.status,
        "kind": receipt.kind,
        "fee": str(receipt.fee),
        **({} if receipt.error is None else {"error": receipt.error}),
    }


class Chain:
    def __init__(self, store: ChainStore, config: ChainConfig) -> None:
        self.store = store
        self.config = config

    def head(self) -> Head:
        head = self.store.head()
        if head is None:
            raise ChainError("the chain has no genesis block yet")
        return head

    # -- genesis --------------------------------------------------------------

    def init_genesis(
        self,
        alloc: Mapping[bytes, int],
        timestamp_ms: int = 0,
        l1_origin: tuple[int, bytes] = (0, ZERO_HASH),
        extra_writes: Mapping[bytes, bytes] | None = None,
    ) -> Head:
        """Create block 0 holding `alloc` (address -> balance) and `extra_writes` (application
        state such as the venue's markets); idempotent for the same genesis."""
        block, update = self._genesis_block(alloc, timestamp_ms, l1_origin, extra_writes or {})
        existing = self.store.get_block(0)
        if existing is not None:
            if existing.hash() != block.hash():
                raise GenesisMismatch("the data directory holds a different genesis; use a fresh directory or --reset")
            return self.head()
        return self.store.commit_block(block, [], [], update)

    def _genesis_block(
        self,
        alloc: Mapping[bytes, int],
        timestamp_ms: int,
        l1_origin: tuple[int, bytes],
        extra_writes: Mapping[bytes, bytes],
    ) -> tuple[Block, Any]:
        writes = compute_genesis_writes(alloc, extra_writes)
        update = self.store.tree.compute_update(None, 0, {hash_key(k): v for k, v in writes.items()})
        header = BlockHeader(
            0, ZERO_HASH, timestamp_ms, l1_origin[0], Hash32(l1_origin[1]), ZERO_HASH, Hash32(update.root_hash)
        )
        return Block(header, ()), update

    # -- sealing (sequencer) --------------------------------------------------------

    def seal_block(
        self,
        candidates: Sequence[RecoveredTx],
        timestamp_ms: int,
        l1_origin: tuple[int, bytes],
        deposits: Sequence[DepositTx | RecoveredTx] = (),
        forced: Sequence[RecoveredTx] = (),
    ) -> tuple[SealedBlock, BlockBuild]:
        """Build the next block from `candidates` (invalid ones are left out) and commit it."""
        prepared = self.prepare_block(candidates, timestamp_ms, l1_origin, deposits, forced)
        return self.commit(prepared), prepared.build

    def prepare_block(
        self,
        candidates: Sequence[RecoveredTx],
        timestamp_ms: int,
        l1_origin: tuple[int, bytes],
        deposits: Sequence[DepositTx | RecoveredTx] = (),
        forced: Sequence[RecoveredTx] = (),
    ) -> PreparedBlock:
        """Build the next block (the sequencer) and compute its root, without writing anything.

        The block is: `deposits`, every one of `forced` (an invalid one is
        included and skipped), then the valid `candidates` that fit.
        """
        parent = self.head()
        ctx = BlockContext(parent.number + 1, timestamp_ms, l1_origin[0])
        reader = self.store.latest_state()
        build = build_block_transactions(reader, self.config, ctx, candidates, deposits, forced)
        return self._prepare(parent, ctx, l1_origin, build, reader)

    def prepare_derived_block(
        self,
        system: Sequence[RecoveredTx],
        user: Sequence[RecoveredTx],
        timestamp_ms: int,
        l1_origin: tuple[int, bytes],
    ) -> PreparedBlock:
        """Execute exactly the block derivation made (`system` then `user`), skipping invalid transactions.

        Raises TooManyTransactions if the block holds more than max_block_txs
        (derivation checks that from L1 data first, node.shape).
        """
        parent = self.head()
        ctx = BlockContext(parent.number + 1, timestamp_ms, l1_origin[0])
        reader = self.store.latest_state()
        rtxs = tuple(system) + tuple(user)
        execution = execute_block(reader, self.config, ctx, rtxs)
        build = BlockBuild(rtxs, tuple(user), (), (), execution, system_count=len(system))
        return self._prepare(parent, ctx, l1_origin, build, reader)

    def _prepare(
        self, parent: Head, ctx: BlockContext, l1_origin: tuple[int, bytes], build: BlockBuild, reader: Any
    ) -> PreparedBlock:
        update = self.store.compute_state_update(ctx.number, build.execution.writes, reader)
        tx_hashes = [rtx.hash for rtx in build.transactions]
        header = BlockHeader(
            ctx.number,
            Hash32(parent.hash),
            ctx.timestamp_ms,
            l1_origin[0],
            Hash32(l1_origin[1]),
            compute_tx_root(tx_hashes),
            Hash32(update.root_hash),
        )
        block = Block(header, tuple(rtx.raw for rtx in build.transactions))
        return PreparedBlock(block, build, update, tuple(tx_hashes))

    def system_count(self, number: int) -> int:
        """How many of block `number`'s transactions came from L1 (deposits, forced)."""
        return self.store.get_system_count(number)

    def commit(self, prepared: PreparedBlock, extra_puts: Mapping[bytes, bytes] | None = None) -> SealedBlock:
        """Write a prepared block atomically; acknowledge its transactions only after this.

        `extra_puts` ride in the same write batch (e.g. a derivation cursor).
        """
        receipts = prepared.build.execution.receipts
        head = self.store.commit_block(
            prepared.block,
            [encode_receipt(r) for r in receipts],
            list(prepared.tx_hashes),
            prepared.update,
            extra_puts=extra_puts,
            system_count=prepared.build.system_count,
        )
        return SealedBlock(prepared.block, receipts, head)

    # -- importing (executors, challenger) -----------------------------------------

    def import_block(
        self, block: Block, rtxs: Sequence[RecoveredTx], extra_puts: Mapping[bytes, bytes] | None = None
    ) -> SealedBlock:
        """Execute someone else's block, check its state root and commit it.

        `rtxs` are the block's transactions, decoded with senders recovered
        (see node.recovery). Raises NotNextBlock or an InvalidBlock subclass.
        """
        parent = self.head()
        header = block.header
        if header.number != parent.number + 1 or header.parent_hash != parent.hash:
            raise NotNextBlock(
                f"block {header.number} (parent 0x{header.parent_hash.hex()[:16]}) does not extend head "
                f"{parent.number} (0x{parent.hash.hex()[:16]})"
            )
        if tuple(rtx.raw for rtx in rtxs) != block.transactions:
            raise ValueError("import_block: `rtxs` must be the block's own transactions, in order")
        reader = self.store.latest_state()
        execution = execute_block(reader, self.config, header, rtxs)
        update = self.store.compute_state_update(header.number, execution.writes, reader)
        if update.root_hash != header.state_root:
            raise StateRootMismatch(header.number, header.state_root, update.root_hash)
        receipts = execution.receipts
        # Leading deposits are the block's known system part; forced transactions cannot be told apart here.
        deposits = next((i for i, r in enumerate(rtxs) if not isinstance(r.tx, DepositTx)), len(rtxs))
        head = self.store.commit_block(
            block,
            [encode_receipt(r) for r in receipts],
            [r.hash for r in rtxs],
            update,
            extra_puts=extra_puts,
            system_count=deposits,
        )
        return SealedBlock(block, receipts, head)
