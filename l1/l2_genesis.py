"""The output root of L2 block 0, computed by the L1 from its own genesis block and the L2 genesis allocation.

Every L2 process creates L2 genesis as node.chain.Chain.init_genesis(alloc,
l1_genesis.timestamp_ms, (0, l1_genesis.hash)): it depends on the L1's block 0,
which is made when the L1 first starts, so a config written before the devnet
runs cannot hold the root. Given `[l1.rollup] genesis` (a copy of the L2's
`[rollup] genesis`), the L1 computes it instead, the same way:

    state      = every account (balance, nonce 0) of the allocation, and the supply
    state_root = root of that state (node.smt; the in-memory reference tree)
    header     = [0, ZERO_HASH, l1_genesis.timestamp_ms, 0, l1_genesis.hash, ZERO_HASH, state_root]
    root       = compute_output_root(0, state_root, header.hash())

tests/test_l1_disputes.py checks it equals what Chain.init_genesis builds.
"""

from __future__ import annotations

from typing import Iterable

from node.block import ZERO_HASH, BlockHeader
from node.crypto import Hash32
from node.output import compute_output_root
from node.smt.hashing import hash_key
from node.smt.reference import MemoryTree
from node.state.schema import Account, set_account, set_supply
from node.state.view import Overlay


class _EmptyState:
    def get(self, key: bytes) -> bytes | None:
        return None


def compute_l2_genesis_state_root(alloc: Iterable[tuple[bytes, int]]) -> Hash32:
    accounts = dict(alloc)
    overlay = Overlay(_EmptyState())
    for address, balance in sorted(accounts.items()):
        set_account(overlay, address, Account(balance, 0))
    set_supply(overlay, sum(accounts.values()))
    tree = MemoryTree({hash_key(key): value for key, value in overlay.writes.items() if value is not None})
    return Hash32(tree.root())


def compute_l2_genesis_output_root(alloc: Iterable[tuple[bytes, int]], l1_genesis_timestamp_ms: int, l1_genesis_hash: bytes) -> Hash32:
    state_root = compute_l2_genesis_state_root(alloc)
    header = BlockHeader(0, ZERO_HASH, l1_genesis_timestamp_ms, 0, Hash32(l1_genesis_hash), ZERO_HASH, state_root)
    return compute_output_root(0, state_root, header.hash())


__all__ = ["compute_l2_genesis_output_root", "compute_l2_genesis_state_root"]
