"""What L2 processes read from the L1 devnet, as derivation's `L1BlockData`.

A thin async adapter over the L1 JSON-RPC (docs/protocol.md section 1):
`l1_getDerivationData` gives deposits, forced transactions and batches per
L1 block; `l1_getOutputs` gives output proposals.
"""

from __future__ import annotations

from typing import Any

from node.crypto import Address, parse_address, parse_hex
from node.derivation import L1BlockData
from node.rpc.client import RpcClient
from node.tx import DepositTx

MAX_RANGE = 64


class L1DataError(ValueError):
    """The L1 answered with data that does not have the documented shape."""


class L1View:
    def __init__(self, l1_rpc_url: str, timeout: float = 10.0) -> None:
        self.url = l1_rpc_url
        self.client = RpcClient(l1_rpc_url, timeout=timeout)

    async def head(self) -> int:
        return int(await self.client.call("l1_blockNumber"))

    async def block_data(self, number: int) -> L1BlockData | None:
        blocks = await self.block_range(number, 1)
        return blocks[0] if blocks else None

    async def block_range(self, first: int, count: int) -> list[L1BlockData]:
        """L1 blocks first..first+count-1 that exist (fetched in chunks of 64)."""
        result: list[L1BlockData] = []
        while count > 0:
            chunk = min(count, MAX_RANGE)
            raw = await self.client.call("l1_getDerivationData", first, chunk)
            blocks = [parse_derivation_block(item) for item in raw]
            result.extend(blocks)
            if len(blocks) < chunk:
                break
            first, count = first + chunk, count - chunk
        return result

    async def outputs(self, from_index: int = 0, count: int = 256) -> list[dict[str, Any]]:
        return list(await self.client.call("l1_getOutputs", from_index, count))

    async def close(self) -> None:
        await self.client.close()


def parse_derivation_block(item: Any) -> L1BlockData:
    try:
        number = int(item["number"])
        return L1BlockData(
            number=number,
            hash=parse_hex(item["hash"], 32, "L1 block hash"),
            timestamp_ms=int(item["timestamp"]),
            deposits=tuple(_deposit(number, d) for d in item.get("deposits", [])),
            forced_txs=tuple(parse_hex(f["tx"], None, "forced tx") for f in item.get("forced_txs", [])),
            batches=tuple(parse_hex(b["data"], None, "batch") for b in item.get("batches", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise L1DataError(f"malformed L1 derivation data: {exc}") from None


def _deposit(l1_block: int, d: Any) -> DepositTx:
    return DepositTx(
        l1_block=l1_block,
        log_index=int(d["log_index"]),
        l1_sender=Address(parse_address(d["from"])),
        to=Address(parse_address(d["to"])),
        amount=int(d["amount"]),
    )
