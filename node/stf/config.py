"""What the state transition needs besides state and transactions.

`ChainConfig` is per network and fixed for the chain's life (a change is a
hard fork). `BlockContext` is per block; time and the L1 origin arrive here as
arguments, never from a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.block import MAX_BLOCK_TXS, BlockHeader
from node.crypto import ADDRESS_LEN, Address
from node.encoding import UINT64_MAX, UINT256_MAX


@dataclass(frozen=True, slots=True)
class ChainConfig:
    chain_id: int
    fee_recipient: Address
    min_fee: int
    max_block_txs: int = MAX_BLOCK_TXS

    def __post_init__(self) -> None:
        if not 0 <= self.chain_id <= UINT64_MAX:
            raise ValueError(f"chain_id {self.chain_id} is outside [0, 2^64)")
        if not isinstance(self.fee_recipient, bytes) or len(self.fee_recipient) != ADDRESS_LEN:
            raise ValueError(f"fee_recipient must be {ADDRESS_LEN} bytes")
        if not 0 <= self.min_fee <= UINT256_MAX:
            raise ValueError(f"min_fee {self.min_fee} is outside [0, 2^256)")
        if not 1 <= self.max_block_txs <= MAX_BLOCK_TXS:
            raise ValueError(f"max_block_txs {self.max_block_txs} is outside [1, {MAX_BLOCK_TXS}]")


@dataclass(frozen=True, slots=True)
class BlockContext:
    number: int
    timestamp_ms: int
    l1_origin_number: int

    @classmethod
    def from_header(cls, header: BlockHeader) -> BlockContext:
        return cls(header.number, header.timestamp_ms, header.l1_origin_number)
