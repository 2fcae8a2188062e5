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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from node.block import BlockHeader
from node.chain import Chain, ChainError, SealedBlock, decode_receipt
from node.encoding import pack, unpack
from node.stf.execute import recover_in_block
from node.store.chain import Head
from node.tx import RecoveredTx

log = logging.getLogger(__name__)

SAFE_KEY = b"Msafe"


def recover_all_in_block(raws: Sequence[bytes]) -> list[RecoveredTx]:
    return [recover_in_block(raw) for raw in raws]


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
        system: Sequence[RecoveredTx],
        user: Sequence[bytes],
        timestamp_ms: int,
        origin: tuple[int, bytes],
        recover: Callable[[Sequence[bytes]], list[RecoveredTx]] = recover_all_in_block,
    ) -> Derived:
        """Make the block derivation produced (`system` then the raw `user` transactions) the next safe block.

        An unsafe block that is exactly it becomes safe as it is: nothing is
        decoded or executed again. Otherwise the user transactions are
        recovered (`recover`, e.g. on a process pool) and the block executed.
        """
        number = self._safe.number + 1
        raws = tuple(r.raw for r in system) + tuple(user)
        reorged_from = None
        if self.unsafe_head().number >= number:
            existing = self._matching_unsafe(number, raws, timestamp_ms, origin)
            if existing is not None:
                return Derived(existing, promoted=True, reorged_from=None)
            reorged_from = self.unsafe_head().number
            self.chain.store.rewind_to(self._safe.number)
            self.reorgs += 1
            log.warning("L1 disagrees with unsafe block %d: reorged unsafe blocks %d..%d", number, number, reorged_from)
        prepared = self.chain.prepare_derived_block(system, recover(user), timestamp_ms, origin)
        head = Head(number, prepared.block.hash(), prepared.block.header.state_root)
        sealed = self.chain.commit(prepared, extra_puts={SAFE_KEY: _encode_head(head)})
        self._safe = head
        return Derived(sealed, promoted=False, reorged_from=reorged_from)

    def _matching_unsafe(
        self, number: int, raws: tuple[bytes, ...], timestamp_ms: int, origin: tuple[int, bytes]
    ) -> SealedBlock | None:
        """The unsafe block at `number` if it is exactly the derived block: same parent, placement and transactions.

        A block's execution is a function of its parent state, context and
        transactions, so an equal block needs no re-execution.
        """
        block = self.chain.store.get_block(number)
        if block is None:
            return None
        header = block.header
        same = (
            header.parent_hash == self._safe.hash
            and header.timestamp_ms == timestamp_ms
            and (header.l1_origin_number, header.l1_origin_hash) == (origin[0], bytes(origin[1]))
            and block.transactions == raws
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
