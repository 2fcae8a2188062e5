"""RollupClient: the blocking client (urllib, no event loop), running node.client.api's operations.

    from node.client import RollupClient, errors
    c = RollupClient.from_devnet(".devnet")
    sent = c.transfer("0x<private key>", "0x<address>", "1.5eth", wait="safe")
    c.balance(sent.sender), c.receipt(sent.hash), c.proof(sent.sender)

See node.client (the package docstring) for every call.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from node.client import journey
from node.client.api import DEFAULT_TIMEOUT_S, Operations
from node.client.config import endpoints_for, endpoints_from_devnet
from node.client.devnet import SecondsLike
from node.client.inputs import AddressLike, AmountLike, BlockLike, KeyLike, to_timeout
from node.client.models import AccountProof, Block, Receipt, SentDeposit, SentTx, SyncStatus, TxStatus, WaitResult
from node.client.sansio import Call, Endpoints, Op, run_sync
from node.client.sansio import call as raw_call
from node.client.venue import MarketLike, PriceLike, SizeLike
from node.client.waits import Progress
from node.rpc.client import SyncRpcClient

if TYPE_CHECKING:
    from l1.contracts.reports import GameInfo, OutputReport, WithdrawalInfo

T = TypeVar("T")
DEFAULT_RPC_TIMEOUT_S = 10.0


class RollupClient:
    """A blocking client of one L2 node (and optionally the L1). Thread-compatible, not shared-state safe."""

    def __init__(
        self,
        rpc: str,
        l1_rpc: str | None = None,
        *,
        proof_rpc: str | None = None,
        timeout: float = DEFAULT_RPC_TIMEOUT_S,
        endpoints: Endpoints | None = None,
    ) -> None:
        """`rpc` an L2 node's JSON-RPC URL; `l1_rpc` the L1's (for deposits, L1 reads, withdrawals);
        `proof_rpc` a node serving withdrawal proofs; `timeout` per request in seconds.
        `endpoints` (node.client.sansio.Endpoints) replaces the URLs, e.g. with confirming nodes."""
        self.endpoints = endpoints if endpoints is not None else endpoints_for(rpc, l1_rpc, proof_rpc)
        self.timeout = to_timeout(timeout)
        self.ops = Operations(self.endpoints)
        self._transports: dict[tuple[str, float], SyncRpcClient] = {}

    @classmethod
    def from_devnet(
        cls,
        directory: str | Path = ".devnet",
        *,
        rpc: str | None = None,
        l1_rpc: str | None = None,
        proof_rpc: str | None = None,
        timeout: float = DEFAULT_RPC_TIMEOUT_S,
    ) -> RollupClient:
        """The devnet in `directory` (DIR/devnet.json): sends to its sequencer, waits for safe/finalized on
        every executor, withdrawal proofs from its honest challenger."""
        endpoints = endpoints_from_devnet(directory, rpc, l1_rpc, proof_rpc)
        return cls(endpoints.l2.rpc, timeout=timeout, endpoints=endpoints)

    def __enter__(self) -> RollupClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Forget the per-URL transports (urllib holds no connection between calls)."""
        self._transports.clear()

    # -- the driver

    def _send(self, call: Call) -> Any:
        timeout = call.timeout if call.timeout is not None else self.timeout
        transport = self._transports.get((call.url, timeout))
        if transport is None:
            transport = self._transports[(call.url, timeout)] = SyncRpcClient(call.url, timeout)
        return transport.call(call.method, *call.params)

    def run(self, op: Op[T]) -> T:
        """Run any operation of node.client.api / node.client.sansio through this client's transport."""
        return run_sync(op, self._send)

    def call(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call to the L2 node (errors typed as for every other call)."""
        return self.run(raw_call(self.endpoints.l2.rpc, method, *params))

    def l1_call(self, method: str, *params: Any) -> Any:
        """A raw JSON-RPC call to the L1."""
        return self.run(raw_call(self.endpoints.require_l1(), method, *params))

    # -- L2 reads

    def chain_id(self) -> int:
        return self.run(self.ops.chain_id())

    def sync_status(self) -> SyncStatus:
        return self.run(self.ops.sync_status())

    def block_number(self, level: str = "latest") -> int:
        """The node's latest (= unsafe), safe or finalized head number."""
        return self.run(self.ops.block_number(level))

    def chain_time_ms(self) -> int:
        """The latest block's timestamp in ms: chain time (ahead of the wall clock after a devnet time warp)."""
        return self.run(self.ops.chain_time_ms())

    def increase_time(self, seconds: SecondsLike) -> dict[str, Any]:
        """Move the whole devnet's time `seconds` forward (from_devnet clients; node.client.devnet); returns
        once an L1 and an L2 block carry the new time: {offsetMs, l1Block, l1Timestamp, l2Block, ...}."""
        return self.run(self.ops.increase_time(seconds))

    def set_l2_balance(self, address: AddressLike, wei: AmountLike) -> dict[str, Any]:
        """Set any account's L2 balance to exactly `wei`, up or down, no key (from_devnet clients;
        node.client.devnet): {address, before, balance, locked, l1Tx, l1Block, l2Tx, l2Block}."""
        return self.run(self.ops.set_l2_balance(address, wei))

    def set_l1_balance(self, address: AddressLike, wei: AmountLike) -> dict[str, Any]:
        """Set an account's L1 balance to exactly `wei` (from_devnet clients)."""
        return self.run(self.ops.set_l1_balance(address, wei))

    def balance(self, address: AddressLike, block: BlockLike = "latest") -> int:
        return self.run(self.ops.balance(address, block))

    def nonce(self, address: AddressLike, block: BlockLike = "latest") -> int:
        return self.run(self.ops.nonce(address, block))

    def block(self, number_or_tag: BlockLike, full: bool = False) -> Block | None:
        return self.run(self.ops.block(number_or_tag, full))

    def transaction(self, tx_hash: str | bytes) -> dict[str, Any] | None:
        return self.run(self.ops.transaction(tx_hash))

    def receipt(self, tx_hash: str | bytes) -> Receipt | None:
        return self.run(self.ops.receipt(tx_hash))

    def transaction_status(self, tx_hash: str | bytes) -> TxStatus:
        return self.run(self.ops.transaction_status(tx_hash))

    def proof(self, address: AddressLike, block: BlockLike = "latest", verify: bool = True) -> AccountProof:
        """The account proof, verified against the block's state root (errors.ProofError if it does not)."""
        return self.run(self.ops.proof(address, block, verify))

    # -- L1 reads

    def l1_balance(self, address: AddressLike) -> int:
        return self.run(self.ops.l1_balance(address))

    def l1_nonce(self, address: AddressLike) -> int:
        return self.run(self.ops.l1_nonce(address))

    def l1_block_number(self) -> int:
        return self.run(self.ops.l1_block_number())

    def outputs(self) -> list[OutputReport]:
        return self.run(self.ops.outputs())

    def games(self) -> list[GameInfo]:
        return self.run(self.ops.games())

    def game(self, game_id: int | str) -> GameInfo | None:
        return self.run(self.ops.game(game_id))

    def withdrawals(self) -> list[WithdrawalInfo]:
        return self.run(self.ops.withdrawals())

    def withdrawal(self, withdrawal_id: str | bytes) -> WithdrawalInfo | None:
        return self.run(self.ops.withdrawal(withdrawal_id))

    # -- venue reads

    def markets(self) -> list[dict[str, Any]]:
        return self.run(self.ops.markets())

    def market(self, market: MarketLike) -> dict[str, Any]:
        return self.run(self.ops.market(market))

    def book(self, market: MarketLike, depth: int = 10, block: BlockLike = "latest") -> dict[str, Any]:
        return self.run(self.ops.book(market, depth, block))

    def positions(self, address: AddressLike, block: BlockLike = "latest") -> list[dict[str, Any]]:
        return self.run(self.ops.positions(address, block))

    def orders(self, address: AddressLike, block: BlockLike = "latest") -> list[dict[str, Any]]:
        return self.run(self.ops.orders(address, block))

    def insurance(self) -> dict[str, Any]:
        return self.run(self.ops.insurance())

    # -- waiting

    def wait(
        self,
        tx_hash: str | bytes,
        level: str = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
        check: bool = True,
        progress: Progress | None = None,
    ) -> WaitResult:
        """Until the transaction is unsafe/safe/finalized on every node that must confirm it.

        errors.WaitTimeout on timeout; with check=True a status-0 receipt raises its code's class."""
        return self.run(self.ops.wait(tx_hash, level, timeout, check, progress))

    # -- transactions

    def send(
        self,
        key: KeyLike,
        payload: Any,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return self.run(self.ops.send(key, payload, fee, nonce, wait, timeout))

    def transfer(
        self,
        key: KeyLike,
        to: AddressLike,
        amount: AmountLike,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return self.run(self.ops.transfer(key, to, amount, fee, nonce, wait, timeout))

    def deposit(
        self,
        key: KeyLike,
        amount: AmountLike,
        to: AddressLike | None = None,
        fee: AmountLike | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentDeposit:
        return self.run(self.ops.deposit(key, amount, to, fee, wait, timeout))

    def withdraw(
        self,
        key: KeyLike,
        amount: AmountLike,
        to: AddressLike | None = None,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return self.run(self.ops.withdraw(key, amount, to, fee, nonce, wait, timeout))

    def complete_withdrawal(
        self,
        key: KeyLike,
        withdrawal_id: str | bytes,
        timeout: float = journey.DEFAULT_JOURNEY_TIMEOUT_S,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Wait for a finalized output covering the withdrawal, prove and finalize it on L1 (node.client.journey)."""
        return journey.complete_withdrawal(self.endpoints, key, withdrawal_id, timeout, progress)

    def order(
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
        return self.run(
            self.ops.order(key, market, side, size, price, type, reduce_only, client_id, fee, nonce, wait, timeout)
        )

    def cancel(
        self,
        key: KeyLike,
        order_id: int | str,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return self.run(self.ops.cancel(key, order_id, fee, nonce, wait, timeout))

    def cancel_all(
        self,
        key: KeyLike,
        market: MarketLike,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> SentTx:
        return self.run(self.ops.cancel_all(key, market, fee, nonce, wait, timeout))

    def set_oracle_price(
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
        return self.run(self.ops.set_oracle_price(key, market, price, timestamp_ms, fee, nonce, wait, timeout))
