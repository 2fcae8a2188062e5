"""The L1 chain: genesis, transaction admission, block production and reads, over one KVStore.

Synchronous and single-threaded; the process calls it from its event loop.
`produce_block(timestamp_ms)` selects the mempool's executable transactions,
runs them through its runtime, the contracts (l1.chain.execution) and commits the block, its
receipts, events, indexes, the head and all state writes in one atomic
`KVStore.write`. A process killed at any moment reopens at the last committed
block; transactions only in the mempool are lost (see l1.chain.mempool).

Devnet balance overrides (`devnet_setBalance`, l1.chain.control) are part of
producing a block: `produce_block(t, balances={address: wei})` sets those
balances first (nonces kept), then runs the block as usual over that state,
and commits the overrides, their record (l1.chain.store DEVNET_PREFIX) and
the block in the same atomic write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from l1.chain.accounts import get_account, get_balance, get_nonce, set_account
from l1.chain.config import L1Config, MempoolLimits
from l1.chain.errors import ChainConfigMismatch, L1ChainError, TimestampNotIncreasing
from l1.chain.events import Event, L1Receipt
from l1.chain.execution import Dropped, compute_genesis_writes, execute_l1_block, recover_l1_transaction
from l1.chain.mempool import open_l1_mempool
from l1.chain.runtime import ChainParams, L1BlockEnv, Runtime
from l1.chain.store import (
    GENESIS_KEY,
    L1Head,
    L1StoredBlock,
    build_block,
    commit_block_puts,
    compute_genesis_identity,
    devnet_override_puts,
    read_block,
    read_block_number,
    read_genesis_identity,
    read_head,
    read_receipts,
    read_tx_location,
)
from l1.chain.tx import RecoveredL1Tx
from node.crypto import Address, Hash32, to_checksum_address
from node.encoding import UINT64_MAX
from node.state.schema import Account
from node.state.view import Overlay
from node.stf.errors import NonceOverflow, NonceTooLow
from node.stf.ledger import compute_envelope_cost, validate_balance, validate_chain_id, validate_fee
from node.store.kv import KVStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProducedBlock:
    block: L1StoredBlock
    receipts: tuple[L1Receipt, ...]
    dropped: tuple[Dropped, ...]


@dataclass(frozen=True, slots=True)
class IncludedReceipt:
    """A receipt with where it is: block number and hash, and its events."""

    receipt: L1Receipt
    block_number: int
    block_hash: Hash32
    events: tuple[Event, ...]


class L1Chain:
    def __init__(
        self,
        kv: KVStore,
        params: ChainParams,
        genesis: tuple[tuple[Address, int], ...],
        runtime: Runtime,
        mempool_limits: MempoolLimits = MempoolLimits(),
        max_block_txs: int = 2000,
    ) -> None:
        self.kv = kv
        self.params = params
        self.runtime = runtime
        self.genesis = genesis
        self.max_block_txs = max_block_txs
        self.mempool = open_l1_mempool(mempool_limits)
        self._head: L1Head | None = read_head(kv)

    # -- lifecycle --

    def ensure_genesis(self, timestamp_ms: int) -> bool:
        """Write block 0 and the genesis allocation if the store is empty; return True if it did.

        An existing chain must have been created with the same chain id and
        genesis allocation (ChainConfigMismatch otherwise).
        """
        identity = compute_genesis_identity(self.params.chain_id, self.genesis)
        if self._head is not None:
            if read_genesis_identity(self.kv) != identity:
                raise ChainConfigMismatch(str(getattr(self.kv, "path", "the store")))
            return False
        block = build_block(None, timestamp_ms, (), ())
        state_writes = compute_genesis_writes(self.genesis)
        puts = {k: v for k, v in state_writes.items() if v is not None}
        puts.update(commit_block_puts(block, ()))
        puts[GENESIS_KEY] = identity
        self.kv.write(puts)
        self._head = read_head(self.kv)
        log.info(
            "L1 genesis block 0x%s at %d ms with %d funded accounts",
            block.hash().hex(),
            timestamp_ms,
            len(self.genesis),
        )
        return True

    @property
    def head(self) -> L1Head:
        if self._head is None:
            raise L1ChainError("the L1 chain has no genesis block yet (call ensure_genesis)")
        return self._head

    # -- admission --

    def submit(self, raw: bytes) -> Hash32:
        """Validate a raw L1 transaction and add it to the mempool; raise a typed error with an rpc_code."""
        rtx = recover_l1_transaction(raw, self.runtime.payloads)
        account = self.validate_admission(rtx)
        replaced = self.mempool.add(rtx, account).replaced
        if replaced is not None:
            log.info("replaced pending L1 tx 0x%s with 0x%s (higher fee)", replaced.hash.hex(), rtx.hash.hex())
        return rtx.hash

    def validate_admission(self, rtx: RecoveredL1Tx) -> Account:
        """Block-independent checks against the head state (the ledger's); return the sender's account.

        Unlike block validation, a nonce above the account nonce is admitted
        (the mempool holds it until the gap fills, within its window).
        """
        validate_chain_id(self.params, rtx.tx)
        validate_fee(self.params, rtx.tx)
        account = get_account(self.kv, rtx.sender)
        if rtx.tx.nonce < account.nonce:
            raise NonceTooLow(rtx.sender, account.nonce, rtx.tx.nonce)
        if account.nonce == UINT64_MAX:
            raise NonceOverflow(rtx.sender, account.nonce)
        validate_balance(rtx.sender, account, compute_envelope_cost(rtx.tx))
        return account

    # -- production --

    def produce_block(self, timestamp_ms: int, balances: Mapping[Address, int] | None = None) -> ProducedBlock:
        """Execute the mempool's executable transactions into a new block and commit it atomically.

        `balances` (devnet only) are set before the block runs, in the same atomic write.
        """
        parent = self.head
        if timestamp_ms <= parent.timestamp_ms:
            raise TimestampNotIncreasing(parent.timestamp_ms, timestamp_ms)
        env = L1BlockEnv(parent.number + 1, timestamp_ms)
        base = Overlay(self.kv)
        for address, wei in (balances or {}).items():
            set_account(base, address, replace(get_account(base, address), balance=wei))
        candidates = self.mempool.take(self.max_block_txs, self.nonce_of)
        execution = execute_l1_block(base, self.params, env, candidates, self.runtime)
        block = build_block(parent, timestamp_ms, (rtx.raw for rtx in execution.included), execution.events)
        extra = devnet_override_puts(block.number, balances.items()) if balances else {}
        self.commit(block, execution.receipts, {**base.writes, **execution.writes}, extra)
        self.update_mempool(execution.included, execution.dropped)
        return ProducedBlock(block, execution.receipts, execution.dropped)

    def commit(
        self,
        block: L1StoredBlock,
        receipts: tuple[L1Receipt, ...],
        state_writes: dict[bytes, bytes | None],
        extra: Mapping[bytes, bytes] | None = None,
    ) -> None:
        puts = {k: v for k, v in state_writes.items() if v is not None}
        deletes = [k for k, v in state_writes.items() if v is None]
        puts.update(commit_block_puts(block, receipts))
        puts.update(extra or {})
        self.kv.write(puts, deletes)
        self._head = L1Head(block.number, block.hash(), block.header.timestamp_ms)

    def update_mempool(self, included: tuple[RecoveredL1Tx, ...], dropped: tuple[Dropped, ...]) -> None:
        for item in dropped:
            log.warning(
                "dropped L1 tx 0x%s from %s: %s", item.rtx.hash.hex(), to_checksum_address(item.rtx.sender), item.error
            )
        self.mempool.remove_hashes([rtx.hash for rtx in included] + [d.rtx.hash for d in dropped])
        self.mempool.drop_stale(self.nonce_of, {rtx.sender for rtx in included})
        self.mempool.take_drops()  # replaced and stale ones: logged when replaced, stale ones are no news

    def nonce_of(self, address: bytes) -> int:
        return get_nonce(self.kv, address)

    # -- reads --

    def get_balance(self, address: bytes) -> int:
        return get_balance(self.kv, address)

    def get_pending_nonce(self, address: bytes) -> int:
        return self.mempool.next_nonce(Address(address), get_nonce(self.kv, address))

    def get_block(self, number: int) -> L1StoredBlock | None:
        if number > self.head.number:
            return None
        return read_block(self.kv, number, self.runtime.events)

    def get_block_by_hash(self, block_hash: bytes) -> L1StoredBlock | None:
        number = read_block_number(self.kv, block_hash)
        return None if number is None else self.get_block(number)

    def get_blocks(self, from_number: int, count: int) -> list[L1StoredBlock]:
        """Existing blocks from `from_number`, at most `count`."""
        last = min(self.head.number, from_number + count - 1)
        return [
            b
            for b in (read_block(self.kv, n, self.runtime.events) for n in range(from_number, last + 1))
            if b is not None
        ]

    def get_receipt(self, tx_hash: bytes) -> IncludedReceipt | None:
        location = read_tx_location(self.kv, tx_hash)
        if location is None:
            return None
        number, index = location
        block = read_block(self.kv, number, self.runtime.events)
        receipts = read_receipts(self.kv, number)
        if block is None or index >= len(receipts):
            raise L1ChainError(f"tx index points at block {number} index {index}, which is not stored")
        receipt = receipts[index]
        by_index = {e.log_index: e for e in block.events}
        events = tuple(by_index[i] for i in receipt.log_indices)
        return IncludedReceipt(receipt, number, block.hash(), events)


def open_l1_chain(config: L1Config, genesis_timestamp_ms: int, runtime: Runtime) -> L1Chain:
    """Open (creating if needed) the chain in config.data_dir running `runtime`; the caller closes `chain.kv`."""
    kv = KVStore(Path(config.data_dir))
    try:
        chain = L1Chain(kv, config.params, config.genesis, runtime, config.mempool, config.max_block_txs)
        chain.ensure_genesis(genesis_timestamp_ms)
    except BaseException:
        kv.close()
        raise
    return chain
