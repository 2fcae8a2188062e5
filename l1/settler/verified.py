"""Output roots from the sequencer's signed blocks the settler holds, for the blocks L1 derived (pure).

A signed block's header carries its state root, and its hash is the block
hash, so the output root of block k (node.output.compute_output_root) is
computed from the held block alone, the same bytes `rollup_outputAtBlock`
returns. But a root is only worth proposing for the block L1 derived at k
(the chain the challengers re-derive), and a held block is only the
sequencer's word. So the settler proposes from a *verified* chain:

- the inbox walk (l1.settler.inbox) records, for every L2 block it derives
  (from a batch or as a default block), a digest of its batch form (number,
  timestamp, L1 origin, user transactions) and how many system transactions
  it opens with (`Derived`);
- the chain's tip moves from block n to n+1 only if the held block n+1 is
  linked to the tip (its parent hash is the tip's hash) and its batch form
  is the one L1 derived at n+1 (the same digest). Its output root is then
  recorded.

The tip starts at a block whose root L1 already vouches for: the settler's
own newest live proposal (the held block at that height must give the
proposed root), or L2 genesis when it has none (block 1 may then have any
parent). What is still trusted is the sequencer's signature over the state
root (the settler does not execute); a held block that differs from what
L1 derived (a re-sealed height, an equivocation) stops the tip until the
right block arrives, and the reason is reported.

    chain = VerifiedChain()
    chain.anchor_genesis()   |   chain.anchor(block, proposed_root)
    chain.advance(store.blocks, walker.derived, walker.head_number)
    chain.root(k)            # the output root of block k, if verified

`first_replaced_held` says, once L1 derived default blocks, from which height the held blocks are stale.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from l1.settler.held import to_batch_block
from node.batch import BatchBlock
from node.block import Block
from node.crypto import Hash32, keccak256
from node.encoding import pack
from node.output import compute_output_root

MAX_ROOTS = 65_536  # verified roots kept (pruned below our newest live proposal every round)


@dataclass(frozen=True, slots=True)
class Derived:
    """What L1 derived at one L2 block: its batch form's digest, and its system transaction count."""

    digest: Hash32
    system_count: int


@dataclass(frozen=True, slots=True)
class Tip:
    number: int
    hash: Hash32 | None  # None: L2 genesis, whose hash the settler does not compute


def compute_batch_digest(block: BatchBlock) -> Hash32:
    return Hash32(keccak256(pack([block.number, block.timestamp_ms, block.l1_origin_number, list(block.transactions)])))


def matches_derived(block: Block, derived: Derived) -> bool:
    """Whether `block` is, in batch form, the block L1 derived at its height."""
    if derived.system_count > len(block.transactions):
        return False
    return compute_batch_digest(to_batch_block(block, derived.system_count)) == derived.digest


def first_replaced_held(held: Mapping[int, Block], derived: Mapping[int, Derived], upto: int) -> int | None:
    """The lowest height, up to `upto`, at which L1 derived something other than the held block: the held
    blocks from there up were built on a block L1 replaced (the sequencer re-seals them). A derived height
    the store does not hold, below held blocks, counts too (what is held above it cannot be checked). None
    when every derived height the store covers matches, e.g. default blocks the sequencer sealed itself
    (catch-up blocks): then nothing held is stale."""
    if not held:
        return None
    lowest, highest = min(held), max(held)
    for number in sorted(n for n in derived if lowest <= n <= upto):
        block = held.get(number)
        if block is None:
            if number < highest:
                return number
            continue
        if not matches_derived(block, derived[number]):
            return number
    return None


def compute_block_output_root(block: Block) -> Hash32:
    """The output root of a block, from its header (as rollup_outputAtBlock computes it)."""
    return compute_output_root(block.number, block.header.state_root, block.hash())


class VerifiedChain:
    def __init__(self, max_roots: int = MAX_ROOTS) -> None:
        self.tip: Tip | None = None
        self.roots: dict[int, Hash32] = {}
        self.max_roots = max_roots
        self.stalled: str | None = None  # why the tip does not move on, when a held block disagrees with L1

    @property
    def tip_number(self) -> int | None:
        return None if self.tip is None else self.tip.number

    def anchor_genesis(self) -> None:
        self.tip = Tip(0, None)

    def anchor(self, block: Block, proposed_root: Hash32) -> bool:
        """Start at `block` if its output root is `proposed_root` (our live proposal on L1)."""
        root = compute_block_output_root(block)
        if root != proposed_root:
            self.stalled = (
                f"held block {block.number} gives output root 0x{root.hex()[:16]}, "
                f"not our proposal's 0x{proposed_root.hex()[:16]}"
            )
            return False
        self.tip = Tip(block.number, block.hash())
        self.roots[block.number] = root
        self.stalled = None
        return True

    def advance(self, held: Mapping[int, Block], derived: Mapping[int, Derived], limit: int) -> int:
        """Move the tip over held blocks that are linked and equal to what L1 derived, up to `limit`."""
        moved = 0
        while self.tip is not None and self.tip.number < limit:
            number = self.tip.number + 1
            block, facts = held.get(number), derived.get(number)
            if block is None or facts is None:
                break
            why = self._disagreement(block, facts)
            if why is not None:
                self.stalled = why
                break
            self.tip = Tip(number, block.hash())
            self.roots[number] = compute_block_output_root(block)
            self.stalled = None
            moved += 1
        self._trim()
        return moved

    def _disagreement(self, block: Block, facts: Derived) -> str | None:
        tip = self.tip
        if tip is not None and tip.hash is not None and block.header.parent_hash != tip.hash:
            return f"held block {block.number} is not on the verified block {tip.number}"
        if facts.system_count > len(block.transactions):
            return f"held block {block.number} lacks its origin's {facts.system_count} system transactions"
        if compute_batch_digest(to_batch_block(block, facts.system_count)) != facts.digest:
            return f"held block {block.number} is not the block L1 derived at that height"
        return None

    def root(self, number: int) -> Hash32 | None:
        return self.roots.get(number)

    def prune_below(self, number: int) -> None:
        for old in [n for n in self.roots if n < number]:
            del self.roots[old]

    def _trim(self) -> None:
        if len(self.roots) > self.max_roots:
            for old in sorted(self.roots)[: len(self.roots) - self.max_roots]:
                del self.roots[old]

    def report(self) -> dict[str, object]:
        return {"tip": self.tip_number, "roots": len(self.roots), "stalled": self.stalled}
