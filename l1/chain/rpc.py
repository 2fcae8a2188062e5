"""The chain's own l1_* JSON-RPC methods (docs/protocol.md section 1): blocks, accounts, transactions.

The contracts' reads (outputs, games, withdrawals, the L2 blocks the L1
derives, derivation data, the config) are l1.contracts.rpc's; the L1
process registers both.

Handlers are thin: validate params (node.rpc.params), call the chain, render
JSON through the schemas of l1.chain.reports (L1Block, L1TxReceipt), which the
client parses with. Amounts are decimal strings, bytes 0x-hex, addresses EIP-55, numbers
and timestamps JSON integers. Transaction rejections keep their own codes
(node.stf.errors, l1.chain.errors) through their `rpc_code`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from l1.chain.config import L1Config
from l1.chain.producer import IncludedReceipt, L1Chain
from l1.chain.reports import L1Block, L1TxReceipt
from l1.chain.store import L1StoredBlock
from node.records import to_hex, to_json
from node.rpc.errors import LimitExceeded
from node.rpc.params import address, block_tag, hash32, hex_bytes, positional, uint
from node.rpc.server import RpcServer

UINT64_MAX = 2**64 - 1


# -- JSON renderings --


def block_to_json(block: L1StoredBlock, with_events: bool = True) -> dict[str, Any]:
    """A block as l1_getBlockByNumber answers it; without `events` for the newHeads subscription."""
    report = L1Block.of(block)
    if with_events:
        return to_json(report)
    return {key: value for key, value in to_json(replace(report, events=())).items() if key != "events"}


def receipt_to_json(included: IncludedReceipt) -> dict[str, Any]:
    return to_json(L1TxReceipt.of(included))


# -- handlers --


class L1Rpc:
    """The l1_* handlers over one chain."""

    def __init__(self, chain: L1Chain, config: L1Config) -> None:
        self.chain = chain
        self.config = config

    def register(self, server: RpcServer) -> None:
        for name in (
            "l1_chainId",
            "l1_blockNumber",
            "l1_getBlockByNumber",
            "l1_getBlockByHash",
            "l1_getBalance",
            "l1_getNonce",
            "l1_sendRawTransaction",
            "l1_getTransactionReceipt",
        ):
            server.register(name, getattr(self, name))

    def l1_chainId(self, params: list[Any]) -> int:
        positional(params, 0, 0, "l1_chainId")
        return self.config.params.chain_id

    def l1_blockNumber(self, params: list[Any]) -> int:
        positional(params, 0, 0, "l1_blockNumber")
        return self.chain.head.number

    def l1_getBlockByNumber(self, params: list[Any]) -> dict[str, Any] | None:
        (tag,) = positional(params, 1, 0, "l1_getBlockByNumber")
        number = self.resolve_tag(block_tag(tag, "block"))
        block = self.chain.get_block(number)
        return None if block is None else block_to_json(block)

    def l1_getBlockByHash(self, params: list[Any]) -> dict[str, Any] | None:
        (block_hash,) = positional(params, 1, 0, "l1_getBlockByHash")
        block = self.chain.get_block_by_hash(hash32(block_hash, "block hash"))
        return None if block is None else block_to_json(block)

    def resolve_tag(self, tag: int | str) -> int:
        """The L1 is final at once: every named tag but "earliest" means the head."""
        if isinstance(tag, int):
            return tag
        return 0 if tag == "earliest" else self.chain.head.number

    def l1_getBalance(self, params: list[Any]) -> str:
        (who,) = positional(params, 1, 0, "l1_getBalance")
        return str(self.chain.get_balance(address(who, "address")))

    def l1_getNonce(self, params: list[Any]) -> int:
        (who,) = positional(params, 1, 0, "l1_getNonce")
        return self.chain.get_pending_nonce(address(who, "address"))

    def l1_sendRawTransaction(self, params: list[Any]) -> str:
        (raw,) = positional(params, 1, 0, "l1_sendRawTransaction")
        return to_hex(self.chain.submit(hex_bytes(raw, "transaction")))

    def l1_getTransactionReceipt(self, params: list[Any]) -> dict[str, Any] | None:
        (tx_hash,) = positional(params, 1, 0, "l1_getTransactionReceipt")
        included = self.chain.get_receipt(hash32(tx_hash, "transaction hash"))
        return None if included is None else receipt_to_json(included)


def _count(value: Any, limit: int) -> int:
    n = uint(value, "count", maximum=UINT64_MAX)
    if n > limit:
        raise LimitExceeded(f"count {n} exceeds the limit of {limit}")
    return n
