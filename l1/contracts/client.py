"""The one async client of the L1 devnet's JSON-RPC: the sequencer, settler, executors, challengers, CLI and tests.

    async with L1Client("http://127.0.0.1:8545/") as l1:
        tx_hash = await l1.send_tx(key, PostBatch(data))
        # disputes / withdrawals: payloads of l1.contracts.payloads, e.g. send_tx(key, DisputeOutput(i), value=bond),
        # then get_game(game_id), get_withdrawal(withdrawal_id)
        receipt = await l1.wait_receipt(tx_hash, timeout=10)
        for block in await l1.get_derivation_data(first, 64):
            ...

Every result is the record the L1 rendered it from, parsed through the same
node.records schema: blocks and receipts (l1.chain.reports) carry the
contracts' own event classes (l1.contracts.events), outputs are
OutputReports around the contracts' OutputProposal, games GameInfo with
node.fraud.game's enums (l1.contracts.reports). A reply that does not have
the documented shape raises L1ResponseError naming the field. Server-side
errors arrive as node.rpc.errors.RpcError subclasses (their `code` is the
spec's code), connection problems as RpcTransportError.

For derivation the client is a node.follower.L1Source: `get_block_data`
gives node.derivation.L1BlockData in pages of 64 blocks.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any, TypeVar

from l1.chain.reports import L1Block, L1TxReceipt, block_schema, receipt_schema
from l1.chain.tx import sign_l1_tx
from l1.contracts.events import EVENTS
from l1.contracts.l2_blocks import L2_HEAD
from l1.contracts.reports import (
    BatchEvent,
    DepositEvent,
    DerivationBlock,
    ForcedTxEvent,
    GameInfo,
    L1ChainInfo,
    OutputReport,
    WithdrawalInfo,
)
from node.crypto import Hash32, PrivateKey
from node.derivation import L1BlockData
from node.records import AMOUNT, HASH, UINT, Codec, JsonFieldError, Schema, schema_of, to_hex
from node.rpc.client import RpcClient

R = TypeVar("R")
T = TypeVar("T")

MAX_DERIVATION_BLOCKS = 64  # l1_getDerivationData's limit per call


class L1ResponseError(JsonFieldError):
    """The L1 node answered with something that is not the documented shape."""


class ReceiptTimeout(TimeoutError):
    """No receipt for the transaction within the timeout."""


BLOCK = block_schema(EVENTS)
RECEIPT = receipt_schema(EVENTS)
DERIVATION_BLOCK = schema_of(DerivationBlock)
OUTPUT = schema_of(OutputReport)
GAME_INFO = schema_of(GameInfo)
WITHDRAWAL = schema_of(WithdrawalInfo)
CHAIN_INFO = schema_of(L1ChainInfo)


def parse(schema: Schema[R], obj: Any) -> R:
    """`obj` as `schema`'s record, or L1ResponseError."""
    try:
        return schema.from_json(obj)
    except JsonFieldError as exc:
        raise L1ResponseError(f"L1 reply: {exc}") from None


def parse_list(schema: Schema[R], reply: Any, what: str) -> list[R]:
    if not isinstance(reply, list):
        raise L1ResponseError(f"L1 reply {what} must be an array, got {type(reply).__name__}")
    return [parse(schema, item) for item in reply]


def parse_value(codec: Codec[T], reply: Any, what: str) -> T:
    try:
        return codec.from_json(reply, what)
    except JsonFieldError as exc:
        raise L1ResponseError(f"L1 reply: {exc}") from None


def parse_receipt(obj: Any) -> L1TxReceipt:
    return parse(RECEIPT, obj)


def parse_game(obj: Any) -> GameInfo:
    return parse(GAME_INFO, obj)


class L1Client:
    """Async typed access to one L1 node."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.rpc = RpcClient(url, timeout)
        self._info: L1ChainInfo | None = None
        self._send_locks: dict[bytes, asyncio.Lock] = {}

    async def __aenter__(self) -> L1Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.rpc.close()

    async def _optional(self, schema: Schema[R], method: str, *params: Any) -> R | None:
        reply = await self.rpc.call(method, *params)
        return None if reply is None else parse(schema, reply)

    # -- the chain --

    async def chain_id(self) -> int:
        return parse_value(UINT, await self.rpc.call("l1_chainId"), "l1_chainId")

    async def block_number(self) -> int:
        return parse_value(UINT, await self.rpc.call("l1_blockNumber"), "l1_blockNumber")

    async def get_block(self, tag: int | str = "latest") -> L1Block | None:
        return await self._optional(BLOCK, "l1_getBlockByNumber", tag)

    async def get_block_by_hash(self, block_hash: bytes) -> L1Block | None:
        return await self._optional(BLOCK, "l1_getBlockByHash", to_hex(block_hash))

    async def get_balance(self, address: bytes) -> int:
        return parse_value(AMOUNT, await self.rpc.call("l1_getBalance", to_hex(address)), "l1_getBalance")

    async def get_nonce(self, address: bytes) -> int:
        """The next nonce for `address`, counting its transactions in the L1 mempool."""
        return parse_value(UINT, await self.rpc.call("l1_getNonce", to_hex(address)), "l1_getNonce")

    async def get_receipt(self, tx_hash: bytes) -> L1TxReceipt | None:
        return await self._optional(RECEIPT, "l1_getTransactionReceipt", to_hex(tx_hash))

    # -- derivation data --

    async def get_derivation_data(self, from_block: int, count: int) -> list[DerivationBlock]:
        """Derivation inputs of existing blocks from `from_block`, at most `count` (<= 64)."""
        reply = await self.rpc.call("l1_getDerivationData", from_block, count)
        return parse_list(DERIVATION_BLOCK, reply, "derivation data")

    async def get_block_data(self, first: int, count: int) -> list[L1BlockData]:
        """L1 blocks first..first+count-1 that exist, as derivation takes them (fetched in pages of 64)."""
        result: list[L1BlockData] = []
        while count > 0:
            page = min(count, MAX_DERIVATION_BLOCKS)
            blocks = await self.get_derivation_data(first, page)
            result.extend(block.to_block_data() for block in blocks)
            if len(blocks) < page:
                break
            first, count = first + page, count - page
        return result

    # -- the contracts --

    async def get_outputs(self, from_index: int, count: int) -> list[OutputReport]:
        """Output proposals from index `from_index`, at most `count` (<= 256)."""
        return parse_list(OUTPUT, await self.rpc.call("l1_getOutputs", from_index, count), "outputs")

    async def get_l2_head(self) -> int:
        """The newest L2 block the L1's inbox derives: outputs may only name blocks up to it."""
        return parse(L2_HEAD, await self.rpc.call("l1_getL2Head")).number

    async def get_games(self, from_id: int, count: int) -> list[GameInfo]:
        """Dispute games from id `from_id`, at most `count` (<= 256)."""
        return parse_list(GAME_INFO, await self.rpc.call("l1_getGames", from_id, count), "games")

    async def get_game(self, game_id: int) -> GameInfo | None:
        return await self._optional(GAME_INFO, "l1_getGame", game_id)

    async def get_withdrawal(self, withdrawal_id: bytes) -> WithdrawalInfo | None:
        return await self._optional(WITHDRAWAL, "l1_getWithdrawal", to_hex(withdrawal_id))

    async def get_withdrawals(self, from_index: int, count: int) -> list[WithdrawalInfo]:
        """Withdrawals in the order they were first proven, from `from_index`, at most `count` (<= 256)."""
        return parse_list(WITHDRAWAL, await self.rpc.call("l1_getWithdrawals", from_index, count), "withdrawals")

    async def config(self) -> L1ChainInfo:
        """The chain's parameters (fetched once, then cached)."""
        if self._info is None:
            self._info = parse(CHAIN_INFO, await self.rpc.call("l1_config"))
        return self._info

    # -- writes --

    async def send_raw_transaction(self, raw: bytes) -> Hash32:
        return parse_value(HASH, await self.rpc.call("l1_sendRawTransaction", to_hex(raw)), "transaction hash")

    async def send_tx(self, key: PrivateKey, payload: Any, value: int = 0, fee: int | None = None) -> Hash32:
        """Sign `payload` with the next nonce of `key` (min_fee unless `fee`) and submit it.

        Sends from one key through one client are serialized, so concurrent
        callers never reuse a nonce.
        """
        info = await self.config()
        lock = self._send_locks.setdefault(bytes(key.address), asyncio.Lock())
        async with lock:
            nonce = await self.get_nonce(key.address)
            tx = sign_l1_tx(key, info.chain_id, nonce, info.min_fee if fee is None else fee, value, payload)
            return await self.send_raw_transaction(tx.encode())

    async def wait_receipt(self, tx_hash: bytes, timeout: float = 30.0, poll_s: float = 0.1) -> L1TxReceipt:
        """Poll until the transaction is in a block; raise ReceiptTimeout after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            receipt = await self.get_receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise ReceiptTimeout(f"no L1 receipt for {to_hex(tx_hash)} within {timeout}s")
            await asyncio.sleep(poll_s)


__all__ = [
    "BatchEvent",
    "DepositEvent",
    "DerivationBlock",
    "ForcedTxEvent",
    "GameInfo",
    "L1Block",
    "L1ChainInfo",
    "L1Client",
    "L1ResponseError",
    "L1TxReceipt",
    "OutputReport",
    "ReceiptTimeout",
    "WithdrawalInfo",
    "parse",
    "parse_game",
    "parse_list",
    "parse_receipt",
    "parse_value",
]
