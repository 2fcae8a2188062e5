"""Following the sequencer's gossiped blocks as the unsafe head (pure of networking).

`UnsafeFollower.accept(signed)` takes a block that already passed gossip
validation (node.gossip.validate_gossip) and decides:

- the next block on the unsafe head: executed, checked (state root) and
  committed, with its gossip signature stored beside it;
- a block further ahead: kept in a bounded buffer, and the gap is reported so
  the caller asks a peer for the missing range (range sync);
- a block at a height we have: a duplicate if identical; if it differs and we
  hold the sequencer's signature over ours too, that is equivocation: both
  signed blocks are kept as evidence (and shown in status). Blocks at or below
  the safe head are L1's business and never replace anything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from node.chain import Chain, ChainError, NotNextBlock
from node.encoding import pack, unpack
from node.gossip import SignedBlock
from node.safe_chain import SafeChain
from node.stf import InvalidBlock, InvalidTransaction
from node.stf.execute import recover_in_block

log = logging.getLogger(__name__)

SIGNATURE_PREFIX = b"G"  # G number(8) -> the sequencer's gossip signature over that block
EVIDENCE_PREFIX = b"E"  # E number(8) -> pack([signed block, conflicting signed block])
MAX_PENDING = 512


@dataclass
class Accepted:
    applied: list[int] = field(default_factory=list)
    gap: tuple[int, int] | None = None  # (first missing, last missing) to fetch by range sync
    duplicate: bool = False
    equivocation: int | None = None
    invalid: str | None = None


class UnsafeFollower:
    def __init__(self, chain: Chain, safe: SafeChain, max_pending: int = MAX_PENDING) -> None:
        self.chain = chain
        self.safe = safe
        self.max_pending = max_pending
        self._pending: dict[int, SignedBlock] = {}

    def accept(self, signed: SignedBlock) -> Accepted:
        result = Accepted()
        number = signed.block.number
        head = self.chain.head()
        if number <= head.number:
            self._check_known(signed, result)
            return result
        if len(self._pending) < self.max_pending or number in self._pending:
            self._pending[number] = signed
        self._apply_pending(result)
        head = self.chain.head()
        waiting = [n for n in self._pending if n > head.number]
        if waiting:
            result.gap = (head.number + 1, min(waiting) - 1) if min(waiting) > head.number + 1 else None
        return result

    def pending_count(self) -> int:
        return len(self._pending)

    def evidence(self) -> list[int]:
        """Heights with recorded equivocation evidence."""
        return [int.from_bytes(key[1:], "big") for key, _ in self.chain.store.kv.scan(EVIDENCE_PREFIX, b"F")]

    def signature_of(self, number: int) -> bytes | None:
        return self.chain.store.kv.get(SIGNATURE_PREFIX + number.to_bytes(8, "big"))

    def _apply_pending(self, result: Accepted) -> None:
        while True:
            head = self.chain.head()
            signed = self._pending.pop(head.number + 1, None)
            if signed is None:
                self._forget_below(head.number)
                return
            if signed.block.header.parent_hash != head.hash:
                result.invalid = f"block {signed.block.number} does not extend our unsafe head {head.number}"
                continue
            try:
                rtxs = [recover_in_block(raw) for raw in signed.block.transactions]
                key = SIGNATURE_PREFIX + signed.block.number.to_bytes(8, "big")
                self.chain.import_block(signed.block, rtxs, extra_puts={key: signed.signature})
            except (InvalidBlock, InvalidTransaction, NotNextBlock, ChainError) as exc:
                result.invalid = f"block {signed.block.number} is invalid: {exc}"
                log.warning("gossiped %s", result.invalid)
                continue
            result.applied.append(signed.block.number)

    def _check_known(self, signed: SignedBlock, result: Accepted) -> None:
        number = signed.block.number
        ours = self.chain.store.get_block(number)
        if ours is not None and ours.hash() == signed.block.hash():
            result.duplicate = True
            return
        our_signature = self.signature_of(number)
        if ours is None or our_signature is None:
            return  # ours came from L1 (or is gone): nothing signed to compare against
        evidence = pack([SignedBlock(signed.chain_id, ours, our_signature).encode(), signed.encode()])
        self.chain.store.kv.write({EVIDENCE_PREFIX + number.to_bytes(8, "big"): evidence})
        result.equivocation = number
        log.error("sequencer equivocation at L2 block %d: two different signed blocks (evidence kept)", number)

    def _forget_below(self, number: int) -> None:
        for old in [n for n in self._pending if n <= number]:
            del self._pending[old]


def decode_evidence(raw: bytes) -> tuple[bytes, bytes]:
    first, second = unpack(raw)
    return first, second
