"""What our own chain says at any position of a dispute game (synchronous, reads one ChainStore).

Positions are the game's: in the block phase an L2 block number (its output
root), in the step phase a step index k of the disputed block n (the
intermediate state root r(n, k)). Intermediate roots are computed with
node.fraud.trace over the versioned store and cached per block, since a
game asks for about log2(steps) of them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from node.block import BlockHeader
from node.fraud.steps import INVALID_ROOT, MAX_STEPS_PER_BLOCK
from node.fraud.trace import StepProof, TraceError, compute_intermediate_roots, compute_step_proof, get_block_output
from node.stf.config import ChainConfig
from node.store.chain import ChainStore

CACHED_BLOCKS = 8


class NotDerivedYet(TraceError):
    """Our chain has not derived that block yet (wait for L1 data to be processed)."""


@dataclass(frozen=True, slots=True)
class Opening:
    """What the defender reveals when the block range is one block: lo's output, hi's header, hi's steps."""

    lo_state_root: bytes
    lo_block_hash: bytes
    hi_header: BlockHeader
    step_count: int
    lo_header: BlockHeader | None = None  # sent with the opening: the L1 checks hi is derivable from it


class TraceOracle:
    def __init__(self, store: ChainStore, config: ChainConfig) -> None:
        self.store = store
        self.config = config
        self._roots: OrderedDict[int, tuple[bytes, ...]] = OrderedDict()

    def head_number(self) -> int:
        head = self.store.head()
        return head.number if head is not None else -1

    def has_block(self, number: int) -> bool:
        return 0 <= number <= self.head_number()

    def validate_derived(self, number: int) -> None:
        if not self.has_block(number):
            raise NotDerivedYet(f"L2 block {number} is not derived yet (our safe head is {self.head_number()})")

    # -- the block phase --

    def output_root(self, number: int) -> bytes:
        self.validate_derived(number)
        return get_block_output(self.store, number).output_root

    def header(self, number: int) -> BlockHeader:
        self.validate_derived(number)
        block = self.store.get_block(number)
        if block is None:
            raise TraceError(f"block {number} is missing from the store")
        return block.header

    def opening(self, lo: int, hi: int) -> Opening:
        lo_header, hi_header = self.header(lo), self.header(hi)
        return Opening(lo_header.state_root, lo_header.hash(), hi_header, self.step_count(hi), lo_header)

    # -- the step phase --

    def step_roots(self, number: int) -> tuple[bytes, ...]:
        """(r(n, 0), ..., r(n, count)): r(n, 0) is block n-1's root, the last is block n's."""
        self.validate_derived(number)
        cached = self._roots.get(number)
        if cached is None:
            cached = compute_intermediate_roots(self.store, self.config, number)
            self._roots[number] = cached
            while len(self._roots) > CACHED_BLOCKS:
                self._roots.popitem(last=False)
        else:
            self._roots.move_to_end(number)
        return cached

    def step_root(self, number: int, index: int) -> bytes:
        """r(n, index); past the block's own steps (a defender opened it with too many) INVALID_ROOT."""
        roots = self.step_roots(number)
        if index < 0 or index > MAX_STEPS_PER_BLOCK:
            raise TraceError(f"no intermediate root {index}: a block has at most {MAX_STEPS_PER_BLOCK} steps")
        return roots[index] if index < len(roots) else INVALID_ROOT

    def step_count(self, number: int) -> int:
        return len(self.step_roots(number)) - 1

    def step_proof(self, number: int, index: int, step_count: int | None = None) -> StepProof:
        """The proof of step `index` as the game's opening counts the steps (`step_count`)."""
        self.validate_derived(number)
        return compute_step_proof(self.store, self.config, number, index, step_count)
