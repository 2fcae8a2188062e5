"""The L1's devnet control methods (node.rpc.control gates them on `[node] devnet = true`).

    devnet_mine(n)                  1 <= n <= 10000 -> {"from": first, "to": last}
    devnet_setBalance(address, wei) wei: decimal string or integer, 0..2^256-1 -> {"block": n, "balance": "..."}

`devnet_mine` produces n real blocks at once through the process's one
block path (l1.chain.mining.BlockMaker), so every window counted in L1
blocks (challenge_window, game_clock_blocks, the sequencing window, the
proposer fallback) passes by mining.

`devnet_setBalance` is applied by producing a new block right away whose
state writes start with the new balance (the account's nonce is kept), all
in the block's one atomic RocksDB write: durable across a crash, visible to
l1_getBalance as soon as the call returns, and no past block changes. L1
block headers commit to transactions and events, not to a state root, so no
commitment is rewritten; the override is recorded beside the block (key
`Db number`, l1.chain.store.read_devnet_overrides) so that a dump or an
audit can tell minted balances from transfers.

Time: the L1's blocks are stamped by the process's chain clock (node.clock),
moved forward by devnet_setTimeOffset (node.rpc.control, registered for every
process). Moving L1 time alone would stall the L2 (its blocks may not drift
more than max_sequencer_drift_ms past an L1 origin no newer than the block),
so the devnet's control endpoint sets one offset in every process, the L1
first (devnet_increaseTime, node.devnet.controller).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from l1.chain.mining import MAX_MINE, BlockMaker
from node.crypto import Address
from node.rpc.errors import InvalidParams
from node.rpc.params import UINT256_MAX, address, positional
from node.rpc.params import uint as uint_param


class L1Control:
    """devnet_mine and devnet_setBalance over the process's BlockMaker."""

    def __init__(self, maker: BlockMaker, balance_of: Callable[[bytes], int]) -> None:
        self.maker = maker
        self.balance_of = balance_of

    def handlers(self) -> dict[str, Any]:
        return {"devnet_mine": self.devnet_mine, "devnet_setBalance": self.devnet_setBalance}

    async def devnet_mine(self, params: list[Any]) -> dict[str, int]:
        (value,) = positional(params, 1, 0, "devnet_mine")
        count = parse_block_count(value)
        first, last = await self.maker.mine(count)
        return {"from": first, "to": last}

    async def devnet_setBalance(self, params: list[Any]) -> dict[str, Any]:
        who, wei = positional(params, 2, 0, "devnet_setBalance")
        target = Address(address(who, "address"))
        amount = parse_wei(wei)
        produced = await self.maker.next_block({target: amount})
        return {"block": produced.block.number, "balance": str(self.balance_of(target))}


def parse_block_count(value: Any) -> int:
    """A block count for devnet_mine: a JSON integer in [1, MAX_MINE]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParams(f"count must be an integer in [1, {MAX_MINE}]")
    if not 1 <= value <= MAX_MINE:
        raise InvalidParams(f"count must be in [1, {MAX_MINE}], got {value}")
    return value


def parse_wei(value: Any) -> int:
    """An amount in wei: a JSON integer or a decimal string, 0..2^256-1."""
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        raise InvalidParams(f"wei must be a decimal string or an integer, got {value[:40]!r}")
    return uint_param(value, "wei", maximum=UINT256_MAX)


__all__ = ["L1Control", "parse_block_count", "parse_wei"]
