"""AsyncRollupClient: the asyncio client (aiohttp), running the same node.client.api operations as RollupClient.

    from node.client import AsyncRollupClient
    async with AsyncRollupClient.from_devnet(".devnet") as c:
        sent = await c.transfer(key, to, "1gwei", wait="safe")
        async for head in c.subscribe_new_heads():
            print(head.number)

Every call of RollupClient, awaited; plus `subscribe_new_heads` over the
node's WebSocket (`rollup_subscribe ["newHeads"]`). Close the client (or use
it as an async context manager) to close its HTTP sessions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from node.client import journey
from node.client.api import DEFAULT_TIMEOUT_S, Operations
from node.client.config import endpoints_for, endpoints_from_devnet, ws_url
from node.client.devnet import SecondsLike
from node.client.errors import ResponseError, TransportError, from_code
from node.client.inputs import AddressLike, AmountLike, BlockLike, KeyLike, to_timeout
from node.client.models import (
    AccountProof,
    Block,
    NewHead,
    Receipt,
    SentDeposit,
    SentTx,
    SyncStatus,
    TxStatus,
    WaitResult,
)
from node.client.sansio import Call, Endpoints, Op, run_async
from node.client.sansio import call as raw_call
from node.client.venue import MarketLike, PriceLike, SizeLike
from node.client.waits import Progress
from node.rpc.client import RpcClient

if TYPE_CHECKING:
    from l1.contracts.reports import GameInfo, OutputReport, WithdrawalInfo

T = TypeVar("T")
DEFAULT_RPC_TIMEOUT_S = 10.0
SUBSCRIBE = "rollup_subscribe"
UNSUBSCRIBE = "rollup_unsubscribe"
NOTIFICATION = "rollup_subscription"


class AsyncRollupClient:
    """An asyncio client of one L2 node (and optionally the L1); use one per event loop."""

    def __init__(
        self,
        rpc: str,
        l1_rpc: str | None = None,
        *,
        proof_rpc: str | None = None,
        ws: str | None = None,
        timeout: float = DEFAULT_RPC_TIMEOUT_S,
        endpoints: Endpoints | None = None,
    ) -> None:
        """As RollupClient; `ws` the node's WebSocket URL (default: the RPC URL's host and port, path /ws)."""
        self.endpoints = endpoints if endpoints is not None else endpoints_for(rpc, l1_rpc, proof_rpc, ws)
        self.timeout = to_timeout(timeout)
        self.ops = Operations(self.endpoints)
        self._transports: dict[tuple[str, float], RpcClient] = {}

    @classmethod
    def from_devnet(
        cls,
        directory: str | Path = ".devnet",
        *,
        rpc: str | None = None,
        l1_rpc: str | None = None,
        proof_rpc: str | None = None,
        timeout: float = DEFAULT_RPC_TIMEOUT_S,
    ) -> AsyncRollupClient:
        """The devnet in `directory` (DIR/devnet.json), as RollupClient.from_devnet."""
        endpoints = endpoints_from_devnet(directory, rpc, l1_rpc, proof_rpc)
        return cls(endpoints.l2.rpc, timeout=timeout, endpoints=endpoints)

    async def __aenter__(self) -> AsyncRollupClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.close()

    # -- the driver

    async def _send(self, call: Call) -> Any:
        timeout = call.timeout if call.timeout is not None else self.timeout
        transport = self._transports.get((call.url, timeout))
        if transport is None:
            transport = self._transports[(call.url, timeout)] = RpcClient(call.url, timeout)
        return await transport.call(call.method, *call.params)

    async def run(self, op: Op[T]) -> T:
        """Run any operation of node.client.api / node.client.sansio through this client's transport."""
        return await run_async(op, self._send)

    async def call(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call to the L2 node (errors typed as for every other call)."""
        return await self.run(raw_call(self.endpoints.l2.rpc, method, *params))

    async def l1_call(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call to the L1."""
        return await self.run(raw_call(self.endpoints.require_l1(), method, *params))

    # -- subscriptions

    async def subscribe_new_heads(self) -> AsyncIterator[NewHead]:
        """Each new L2 head the node announces (`rollup_subscribe ["newHeads"]` over its WebSocket), until the
        loop stops; the subscription and the connection are closed when the iterator is."""
        url = self.endpoints.ws or ws_url(self.endpoints.l2.rpc)
        ids = itertools.count(1)
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=self.timeout), heartbeat=30) as ws,
            ):
                request_id = next(ids)
                await ws.send_str(
                    json.dumps({"jsonrpc": "2.0", "id": request_id, "method": SUBSCRIBE, "params": ["newHeads"]})
                )
                sub_id = await _subscription_id(ws, url, request_id, self.timeout)
                try:
                    async for message in ws:
                        if message.type != aiohttp.WSMsgType.TEXT:
                            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                                break
                            continue
                        doc = _json(message.data, url)
                        if isinstance(doc, dict) and doc.get("method") == NOTIFICATION:
                            params = doc.get("params") or {}
                            if params.get("subscription") == sub_id:
                                yield NewHead.from_json(params.get("result"))
                finally:
                    if not ws.closed:
                        request = {"jsonrpc": "2.0", "id": next(ids), "method": UNSUBSCRIBE, "params": [sub_id]}
                        try:
                            await ws.send_str(json.dumps(request))
                        except (aiohttp.ClientError, ConnectionError, RuntimeError):
                            pass
        except (aiohttp.ClientError, OSError) as exc:
            raise TransportError(url, f"WebSocket failed: {exc or type(exc).__name__}") from None
        raise TransportError(url, "the WebSocket closed")

    # -- L2 reads

    async def chain_id(self) -> int:
        return await self.run(self.ops.chain_id())

    async def sync_status(self) -> SyncStatus:
        return await self.run(self.ops.sync_status())

    async def block_number(self, level: str = "latest") -> int:
        """The node's latest (= unsafe), safe or finalized head number."""
        return await self.run(self.ops.block_number(level))

    async def chain_time_ms(self) -> int:
        """The latest block's timestamp in ms: chain time (ahead of the wall clock after a devnet time warp)."""
        return await self.run(self.ops.chain_time_ms())

    async def increase_time(self, seconds: SecondsLike) -> dict[str, Any]:
        """Move the whole devnet's time `seconds` forward (from_devnet clients; node.client.devnet)."""
        return await self.run(self.ops.increase_time(seconds))

    async def set_l2_balance(self, address: AddressLike, wei: AmountLike) -> dict[str, Any]:
        """Set any account's L2 balance to exactly `wei`, up or down, no key (from_devnet clients;
        node.client.devnet): {address, before, balance, locked, l1Tx, l1Block, l2Tx, l2Block}."""
        return await self.run(self.ops.set_l2_balance(address, wei))

    async def set_l1_balance(self, address: AddressLike, wei: AmountLike) -> dict[str, Any]:
        """Set an account's L1 balance to exactly `wei` (from_devnet clients)."""
        return await self.run(self.ops.set_l1_balance(address, wei))

    async def balance(self, address: AddressLike, block: BlockLike = "latest") -> int:
        return await self.run(self.ops.balance(address, block))

    async def nonce(self, address: AddressLike, block: BlockLike = "latest") -> int:
        return await self.run(self.ops.nonce(address, block))

    async def block(self, number_or_tag: BlockLike, full: bool = False) -> Block | None:
        return await self.run(self.ops.block(number_or_tag, full))

    async def transaction(self, tx_hash: str | bytes) -> dict[str, Any] | None:
        return await self.run(self.ops.transaction(tx_hash))

    async def receipt(self, tx_hash: str | bytes) -> Receipt | None:
        return await self.run(self.ops.receipt(tx_hash))

    async def transaction_status(self, tx_hash: str | bytes) -> TxStatus:
        return await self.run(self.ops.transaction_status(tx_hash))

    async def proof(self, address: AddressLike, block: BlockLike = "latest", verify: bool = True) -> AccountProof:
        """The account proof, verified against the block's state root (errors.ProofError if it does not)."""
        return await self.run(self.ops.proof(address, block, verify))

    # -- L1 reads

    async def l1_balance(self, address: AddressLike) -> int:
        return await self.run(self.ops.l1_balance(address))

    async def l1_nonce(self, address: AddressLike) -> int:
        return await self.run(self.ops.l1_nonce(address))

    async def l1_block_number(self) -> int:
        return await self.run(self.ops.l1_block_number())

    async def outputs(self) -> list[OutputReport]:
        return await self.run(self.ops.outputs())

    async def games(self) -> list[GameInfo]:
        return await self.run(self.ops.games())

    async def game(self, game_id: int | str) -> GameInfo | None:
        return await self.run(self.ops.game(game_id))

    async def withdrawals(self) -> list[WithdrawalInfo]:
        return await self.run(self.ops.withdrawals())

    async def withdrawal(self, withdrawal_id: str | bytes) -> WithdrawalInfo | None:
        return await self.run(self.ops.withdrawal(withdrawal_id))

    # -- venue reads

    async def markets(self) -> list[dict[str, Any]]:
        return await self.run(self.ops.markets())

    async def market(self, market: MarketLike) -> dict[str, Any]:
        return await self.run(self.ops.market(market))

    async def book(self, market: MarketLike, depth: int = 10, block: BlockLike = "latest") -> dict[str, Any]:
        return await self.run(self.ops.book(market, depth, block))

    async def positions(self, address: AddressLike, block: BlockLike = "latest") -> list[dict[str, Any]]:
        return await self.run(self.ops.positions(address, block))

    async def orders(self, address: AddressLike, block: BlockLike = "latest") -> list[dict[str, Any]]:
        return await self.run(self.ops.orders(address, block))

    async def insurance(self) -> dict[str, Any]:
        return await self.run(self.ops.insurance())

    # -- waiting

    async def wait(
        self,
        tx_hash: str | bytes,
        level: str = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
        check: bool = True,
        progress: Progress | None = None,
    ) -> WaitResult:
        """Until the transaction is unsafe/safe/finalized on every node that must confirm it.

        errors.WaitTimeout on timeout; with check=True a status-0 receipt raises its code's class."""
        return await self.run(self.ops.wait(tx_hash, level, timeout, check, progress))

    # -- transactions

    async def send(
        self,
        key: KeyLike,
        payload: Any,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return await self.run(self.ops.send(key, payload, fee, nonce, wait, timeout))

    async def transfer(
        self,
        key: KeyLike,
        to: AddressLike,
        amount: AmountLike,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return await self.run(self.ops.transfer(key, to, amount, fee, nonce, wait, timeout))

    async def deposit(
        self,
        key: KeyLike,
        amount: AmountLike,
        to: AddressLike | None = None,
        fee: AmountLike | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentDeposit:
        return await self.run(self.ops.deposit(key, amount, to, fee, wait, timeout))

    async def withdraw(
        self,
        key: KeyLike,
        amount: AmountLike,
        to: AddressLike | None = None,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return await self.run(self.ops.withdraw(key, amount, to, fee, nonce, wait, timeout))

    async def complete_withdrawal(
        self,
        key: KeyLike,
        withdrawal_id: str | bytes,
        timeout: float = journey.DEFAULT_JOURNEY_TIMEOUT_S,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Wait for a finalized output covering the withdrawal, prove and finalize it on L1 (node.client.journey)."""
        return await asyncio.to_thread(
            journey.complete_withdrawal, self.endpoints, key, withdrawal_id, timeout, progress
        )

    async def order(
        self,
        key: KeyLike,
        market: MarketLike,
        side: str,
        size: SizeLike,
        price: PriceLike | None = None,
        type: str | None = None,
        reduce_only: bool = False,
        client_id: int | str = 0,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        """Place an order: type "limit" (the default with a price), "ioc" or "post-only"; no price: IOC at the
        oracle price +/- 10 %."""
        return await self.run(
            self.ops.order(key, market, side, size, price, type, reduce_only, client_id, fee, nonce, wait, timeout)
        )

    async def cancel(
        self,
        key: KeyLike,
        order_id: int | str,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return await self.run(self.ops.cancel(key, order_id, fee, nonce, wait, timeout))

    async def cancel_all(
        self,
        key: KeyLike,
        market: MarketLike,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return await self.run(self.ops.cancel_all(key, market, fee, nonce, wait, timeout))

    async def set_oracle_price(
        self,
        key: KeyLike,
        market: MarketLike,
        price: PriceLike,
        timestamp_ms: int | None = None,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return await self.run(self.ops.set_oracle_price(key, market, price, timestamp_ms, fee, nonce, wait, timeout))


async def _subscription_id(ws: aiohttp.ClientWebSocketResponse, url: str, request_id: int, timeout: float) -> str:
    """The subscription id of the reply to our subscribe request (notifications before it are skipped)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise TransportError(
                        url, f"WebSocket closed before the subscription was confirmed ({message.type})"
                    )
                doc = _json(message.data, url)
                if not isinstance(doc, dict) or doc.get("id") != request_id:
                    continue
                error = doc.get("error")
                if isinstance(error, dict):
                    raise from_code(
                        int(error.get("code", 0)), str(error.get("message", "")), error.get("data"), SUBSCRIBE
                    )
                if not isinstance(doc.get("result"), str):
                    raise ResponseError(f"{SUBSCRIBE}: expected a subscription id, got {doc.get('result')!r:.80}")
                return str(doc["result"])
    except TimeoutError:
        raise TransportError(url, f"no answer to {SUBSCRIBE} within {timeout} s") from None


def _json(text: Any, url: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        raise TransportError(url, f"WebSocket message is not JSON: {str(text)[:80]!r}") from None
