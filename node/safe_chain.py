"""The safe part of a chain and the unsafe blocks ahead of it.

An executor's store holds one chain: blocks it derived from L1 (safe) and,
above them, blocks it received over gossip (unsafe). `SafeChain` tracks the
boundary (persisted with each derived block in the same write batch) and
applies derivation's verdict to the unsafe blocks:

- the derived block equals the unsafe block at that height: it becomes safe
  without being executed again (the common case);
- it differs: L1 wins. The unsafe chain is rewound to the parent and the
  derived block is executed and committed in its place (a reorg).

Without gossip the store holds no unsafe blocks and every derived block is
simply executed on top.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

from node.block import BlockHeader
from node.chain import Chain, ChainError, SealedBlock, decode_receipt
from node.encoding import pack, unpack
from node.store.chain import Head
from node.tx import DepositTx, RecoveredTx

log = logging.getLogger(__name__)

SAFE_KEY = b"Msafe"


@dataclass(frozen=True, slots=True)
class Derived:
    sealed: SealedBlock
    promoted: bool  # the unsafe block at this height was already this block
    reorged_from: int | None  # the unsafe head that was discarded, if L1 disagreed with it


class SafeChain:
    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.reorgs = 0
        self._safe = self._load_safe()

    def _load_safe(self) -> Head:
        raw = self.chain.store.kv.get(SAFE_KEY)
        if raw is None:
            return self.chain.head()  # a store written before unsafe blocks existed: all of it is derived
        number, block_hash, state_root = unpack(raw)
        return Head(number, block_hash, state_root)

    def safe_head(self) -> Head:
        return self._safe

    def unsafe_head(self) -> Head:
        return self.chain.head()

    def safe_header(self) -> BlockHeader:
        block = self.chain.store.get_block(self._safe.number)
        if block is None:
            raise ChainError(f"safe block {self._safe.number} is missing from the store")
        return block.header

    def append_derived(
        self,
        user_txs: Sequence[RecoveredTx],
        timestamp_ms: int,
        origin: tuple[int, bytes],
        deposits: Sequence[DepositTx] = (),
        forced: Sequence[RecoveredTx] = (),
        strict: bool = True,
    ) -> Derived:
        """Make the block derivation produced the next safe block."""
        number = self._safe.number + 1
        reorged_from = None
        if self.unsafe_head().number >= number:
            existing = self._matching_unsafe(number, user_txs, timestamp_ms, origin, deposits, forced)
            if existing is not None:
                return Derived(existing, promoted=True, reorged_from=None)
            reorged_from = self.unsafe_head().number
            self.chain.store.rewind_to(self._safe.number)
            self.reorgs += 1
            log.warning("L1 disagrees with unsafe block %d: reorged unsafe blocks %d..%d", number, number, reorged_from)
        prepared = self.chain.prepare_block(user_txs, timestamp_ms, origin, deposits, forced, strict=strict)
        head = Head(number, prepared.block.hash(), prepared.block.header.state_root)
        sealed = self.chain.commit(prepared, extra_puts={SAFE_KEY: _encode_head(head)})
        self._safe = head
        return Derived(sealed, promoted=False, reorged_from=reorged_from)

    def _matching_unsafe(
        self,
        number: int,
        user_txs: Sequence[RecoveredTx],
        timestamp_ms: int,
        origin: tuple[int, bytes],
        deposits: Sequence[DepositTx],
        forced: Sequence[RecoveredTx],
    ) -> SealedBlock | None:
        """The unsafe block at `number` if executing derivation's inputs would give exactly it.

        With forced transactions the included subset depends on execution, so
        that (rare) case is never promoted: it is re-executed instead.
        """
        block = self.chain.store.get_block(number)
        if block is None or forced:
            return None
        header = block.header
        expected = tuple(d.encode() for d in deposits) + tuple(r.raw for r in user_txs)
        same = (
            header.parent_hash == self._safe.hash
            and header.timestamp_ms == timestamp_ms
            and (header.l1_origin_number, header.l1_origin_hash) == (origin[0], bytes(origin[1]))
            and block.transactions == expected
        )
        if not same:
            return None
        head = Head(number, block.hash(), header.state_root)
        self.chain.store.kv.write({SAFE_KEY: _encode_head(head)})
        self._safe = head
        receipts = tuple(decode_receipt(r) for r in self.chain.store.get_receipts(number))
        return SealedBlock(block, receipts, head)


def _encode_head(head: Head) -> bytes:
    return pack([head.number, head.hash, head.state_root])
