"""Output roots: the L2 state commitment the settler proposes on L1.

    output_root = keccak256(pack([OUTPUT_VERSION, l2_block_number, state_root, block_hash]))

As in the OP Stack, it binds a block number to both the state root (what
withdrawals are proven against) and the block hash (what derivation agrees on).
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import Hash32, keccak256
from node.encoding import pack

OUTPUT_VERSION = 0


@dataclass(frozen=True, slots=True)
class Output:
    l2_block_number: int
    state_root: bytes
    block_hash: bytes

    def root(self) -> Hash32:
        return compute_output_root(self.l2_block_number, self.state_root, self.block_hash)


def compute_output_root(l2_block_number: int, state_root: bytes, block_hash: bytes) -> Hash32:
    return Hash32(keccak256(pack([OUTPUT_VERSION, l2_block_number, state_root, block_hash])))
