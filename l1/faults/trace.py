"""The faulty proposer's wrong history (test mode): pure computation over the settler's block replica.

Two modes, for the first proposal at or after L2 block N (`faulty_from_block`):

- "garbage": the proposal's output root is random. Every earlier output is
  honest, so a dispute narrows to the last block and the proposer cannot
  open it (no header hashes to a random root): it loses on time.
- "tx_post_state": one step's post-state is wrong. The first transaction in
  blocks N..K (K the proposal's block) that credits an L2 account gets +1
  wei more for its recipient (if there is none, the first one after the
  previous proposal; if there is none either, block K's end-of-block step
  mints 1 wei to the fee recipient). Everything after it is executed on top
  of the wrong state with the real step code, so the wrong roots, headers
  (state root, parent hash) and outputs are consistent from there to K and
  a dispute goes down to a one-step proof on exactly that step.

`FaultyTrace` then answers a defender's questions (claims, opening) from
the wrong history, falling back to the honest store before the fault.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from enum import Enum

from node.block import Block, BlockHeader
from node.crypto import Hash32
from node.fraud.steps import STEP_TRANSACTION, StepInput, get_next_step, get_transaction_steps, process_step
from node.fraud.trace import SCRATCH_VERSION_BASE, LayeredStore, get_block_output
from node.output import compute_output_root
from node.smt.hashing import hash_key
from node.smt.versioned import VersionedTree
from node.state.schema import Account, get_account, set_account
from node.state.view import Overlay
from node.stf.config import ChainConfig
from node.store.chain import ChainStore
from node.tx import DepositTx, SignedTx, Transfer, decode_tx


class FaultMode(Enum):
    TX_POST_STATE = "tx_post_state"
    GARBAGE = "garbage"


class FaultError(Exception):
    """The wrong history cannot be computed (missing blocks or pruned state)."""


@dataclass(frozen=True, slots=True)
class FaultPoint:
    block: int
    step: int
    credited: bytes  # the L2 account that gets 1 wei too much


@dataclass
class FaultyTrace:
    """The wrong history from `first_bad` to `target` (the proposal's block), honest before it."""

    store: ChainStore
    target: int
    first_bad: int
    point: FaultPoint | None  # None in garbage mode
    headers: dict[int, BlockHeader] = field(default_factory=dict)  # wrong headers, first_bad..target
    step_roots: dict[int, tuple[bytes, ...]] = field(default_factory=dict)  # wrong r(n, k)
    garbage_root: bytes | None = None

    def output_root(self, number: int) -> bytes:
        if number == self.target and self.garbage_root is not None:
            return self.garbage_root
        header = self.headers.get(number)
        if header is None:
            return get_block_output(self.store, number).output_root
        return compute_output_root(number, header.state_root, header.hash())

    def header(self, number: int) -> BlockHeader:
        header = self.headers.get(number)
        if header is not None:
            return header
        block = self.store.get_block(number)
        if block is None:
            raise FaultError(f"block {number} is not in the settler's replica")
        return block.header

    def can_open(self, number: int) -> bool:
        return not (number == self.target and self.garbage_root is not None)

    def step_root(self, number: int, index: int) -> bytes:
        roots = self.step_roots.get(number)
        if roots is None:
            raise FaultError(f"no step roots of block {number} in the wrong history")
        return roots[index]

    def step_count(self, number: int) -> int:
        roots = self.step_roots.get(number)
        if roots is None:
            raise FaultError(f"no steps of block {number} in the wrong history")
        return len(roots) - 1


# -- building it --


def compute_faulty_trace(
    store: ChainStore, config: ChainConfig, mode: FaultMode, first: int, target: int, earliest: int | None = None
) -> FaultyTrace:
    """The wrong history for the proposal at `target`: the fault in blocks first..target if one credits an
    account, else in earliest..first-1 (still after the previous proposal)."""
    if mode is FaultMode.GARBAGE:
        return FaultyTrace(store, target, target, None, garbage_root=os.urandom(32))
    point = find_fault_point(store, config, first, target, earliest)
    trace = FaultyTrace(store, target, point.block, point)
    replay_wrong_history(store, config, trace)
    return trace


def find_fault_point(
    store: ChainStore, config: ChainConfig, first: int, target: int, earliest: int | None = None
) -> FaultPoint:
    """The first step in blocks first..target that credits an L2 account, else one in earliest..first-1
    (blocks after the previous proposal), else target's end-of-block step (it mints to the fee recipient)."""
    ranges = [range(max(1, first), target + 1)]
    if earliest is not None and earliest < first:
        ranges.append(range(max(1, earliest), first))
    for numbers in ranges:
        for number in numbers:
            block = get_replica_block(store, number)
            for step in get_transaction_steps(block):
                credited = get_credited_account(step)
                if credited is not None:
                    return FaultPoint(number, step.index, credited)
    block = get_replica_block(store, target)
    return FaultPoint(target, len(block.transactions), config.fee_recipient)


def get_credited_account(step: StepInput) -> bytes | None:
    if step.kind != STEP_TRANSACTION:
        return None
    try:
        tx = decode_tx(step.tx)
    except Exception:  # an undecodable transaction credits nobody
        return None
    if isinstance(tx, DepositTx):
        return tx.to if tx.amount > 0 else None
    if isinstance(tx, SignedTx) and isinstance(tx.payload, Transfer):
        return tx.payload.to
    return None


def get_replica_block(store: ChainStore, number: int) -> Block:
    block = store.get_block(number)
    if block is None:
        raise FaultError(f"block {number} is not in the settler's replica")
    return block


def replay_wrong_history(store: ChainStore, config: ChainConfig, trace: FaultyTrace) -> None:
    """Run blocks first_bad..target step by step over a scratch tree, adding the fault once."""
    point = trace.point
    if point is None:
        raise FaultError("a garbage root has no history to replay")
    start = point.block
    if not store.tree.has_version(start - 1):
        raise FaultError(f"the state after block {start - 1} is pruned from the settler's replica")
    state = Overlay(store.state_at(start - 1))
    layered = LayeredStore(store.kv)
    tree = VersionedTree(layered, 50_000)
    version, root, counter = start - 1, tree.root_hash(start - 1), 0
    parent_hash: Hash32 | None = None
    for number in range(start, trace.target + 1):
        block = get_replica_block(store, number)
        roots = [root]
        step = get_next_step(block, 0, state)
        while step is not None:
            scratch = Overlay(state)
            process_step(scratch, config, step)
            if (number, step.index) == (point.block, point.step):
                credit_one_wei(scratch, point.credited)
            writes = {hash_key(key): value for key, value in scratch.writes.items()}
            update = tree.compute_update(version, SCRATCH_VERSION_BASE + counter, writes)
            layered.add_update(update)
            tree.on_committed(update)
            version, root, counter = SCRATCH_VERSION_BASE + counter, update.root_hash, counter + 1
            state.writes.update(scratch.writes)
            roots.append(root)
            step = get_next_step(block, len(roots) - 1, state)
        header = block.header
        wrong = replace(header, state_root=Hash32(root), parent_hash=parent_hash or header.parent_hash)
        trace.headers[number] = wrong
        trace.step_roots[number] = tuple(roots)
        parent_hash = wrong.hash()


def credit_one_wei(overlay: Overlay, address: bytes) -> None:
    account = get_account(overlay, address)
    set_account(overlay, address, Account(account.balance + 1, account.nonce))
