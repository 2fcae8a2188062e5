"""The L2 genesis state: one pure function, used by every L2 process and by the L1.

The L1 computes the L2 genesis output root itself (so even the first output
can be disputed); it must get exactly the state the L2 nodes build, so both
call `compute_genesis_writes`.
"""

from __future__ import annotations

from collections.abc import Mapping

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


def compute_genesis_writes(
    alloc: Mapping[bytes, int], extra_writes: Mapping[bytes, bytes]
) -> dict[bytes, bytes | None]:
    """Application state of L2 block 0: `extra_writes` (e.g. the venue), balances and the supply."""
    overlay = Overlay(_EmptyState())
    for key, value in sorted(extra_writes.items()):
        overlay.set(key, value)
    for address, balance in sorted(alloc.items()):
        set_account(overlay, address, Account(balance, 0))
    set_supply(overlay, sum(alloc.values()))
    return dict(overlay.writes)


def compute_genesis_output_root(
    alloc: Mapping[bytes, int],
    extra_writes: Mapping[bytes, bytes],
    l1_genesis_timestamp_ms: int,
    l1_genesis_hash: bytes,
) -> Hash32:
    writes = compute_genesis_writes(alloc, extra_writes)
    state_root = Hash32(MemoryTree({hash_key(k): v for k, v in writes.items() if v is not None}).root())
    header = BlockHeader(0, ZERO_HASH, l1_genesis_timestamp_ms, 0, Hash32(l1_genesis_hash), ZERO_HASH, state_root)
    return compute_output_root(0, state_root, header.hash())
