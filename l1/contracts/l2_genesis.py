"""The output root of L2 block 0, computed by the L1 from its own genesis block and the L2 genesis allocation.

Every L2 process creates L2 genesis as node.chain.Chain.init_genesis(alloc,
l1_genesis.timestamp_ms, (0, l1_genesis.hash)): it depends on the L1's block 0,
which is made when the L1 first starts, so a config written before the devnet
runs cannot hold the root. Given `[l1.rollup] genesis` (a copy of the L2's
`[rollup] genesis`), the L1 computes it instead, the same way:

    state      = node.genesis.compute_genesis_writes(alloc, venue writes): accounts, supply, venue
    state_root = root of that state (node.smt; the in-memory reference tree)
    header     = [0, ZERO_HASH, l1_genesis.timestamp_ms, 0, l1_genesis.hash, ZERO_HASH, state_root]
    root       = compute_output_root(0, state_root, header.hash())

tests/l1/test_l1_disputes.py checks it equals what Chain.init_genesis builds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from node.crypto import Hash32
from node.genesis import compute_genesis_output_root


def compute_l2_genesis_output_root(
    alloc: Iterable[tuple[bytes, int]],
    l1_genesis_timestamp_ms: int,
    l1_genesis_hash: bytes,
    extra_writes: Mapping[bytes, bytes] | None = None,
) -> Hash32:
    """The L2 genesis output root, built exactly as the L2 nodes build block 0 (node.genesis)."""
    return compute_genesis_output_root(dict(alloc), extra_writes or {}, l1_genesis_timestamp_ms, l1_genesis_hash)


__all__ = ["compute_l2_genesis_output_root"]
