"""Every client call as a sans-IO operation over one set of endpoints: what both client flavours run.

RollupClient (node.client.sync) and AsyncRollupClient (node.client.aio)
each run `Operations`' operations through their own transport, so a call
is described once: its method, its parameters built from typed arguments
(checked before any request), its result parsed into node.client.models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from node.client import devnet, l1reads, reads, sends, venue, waits
from node.client.inputs import (
    AddressLike,
    AmountLike,
    BlockLike,
    KeyLike,
    to_key,
    to_optional_level,
    to_timeout,
)
from node.client.models import AccountProof, Block, Receipt, SentDeposit, SentTx, SyncStatus, TxStatus, WaitResult
from node.client.sansio import Endpoints, Op
from node.client.venue import MarketLike, PriceLike, SizeLike
from node.client.waits import Progress

if TYPE_CHECKING:
    from l1.contracts.reports import GameInfo, OutputReport, WithdrawalInfo

DEFAULT_TIMEOUT_S = 120.0


class Operations:
    """The operations of a client of `endpoints`."""

    def __init__(self, endpoints: Endpoints) -> None:
        self.endpoints = endpoints

    @property
    def _l2(self) -> str:
        return self.endpoints.l2.rpc

    # -- L2 reads

    def chain_id(self) -> Op[int]:
        return reads.chain_id(self._l2)

    def sync_status(self) -> Op[SyncStatus]:
        return reads.sync_status(self._l2)

    def block_number(self, level: str = "latest") -> Op[int]:
        return reads.block_number(self._l2, level)

    def balance(self, address: AddressLike, block: BlockLike = "latest") -> Op[int]:
        return reads.balance(self._l2, address, block)

    def nonce(self, address: AddressLike, block: BlockLike = "latest") -> Op[int]:
        return reads.nonce(self._l2, address, block)

    def block(self, number_or_tag: BlockLike, full: bool = False) -> Op[Block | None]:
        return reads.block(self._l2, number_or_tag, full)

    def chain_time_ms(self) -> Op[int]:
        return reads.chain_time_ms(self._l2)

    # -- devnet control

    def increase_time(self, seconds: devnet.SecondsLike) -> Op[dict[str, Any]]:
        return devnet.increase_time(self.endpoints.require_control(), seconds)

    def set_l2_balance(self, address: AddressLike, wei: AmountLike) -> Op[dict[str, Any]]:
        return devnet.set_l2_balance(self.endpoints.require_control(), address, wei)

    def set_l1_balance(self, address: AddressLike, wei: AmountLike) -> Op[dict[str, Any]]:
        return devnet.set_l1_balance(self.endpoints.require_control(), address, wei)

    def transaction(self, tx_hash: str | bytes) -> Op[dict[str, Any] | None]:
        return reads.transaction(self._l2, tx_hash)

    def receipt(self, tx_hash: str | bytes) -> Op[Receipt | None]:
        return reads.receipt(self._l2, tx_hash)

    def transaction_status(self, tx_hash: str | bytes) -> Op[TxStatus]:
        return reads.transaction_status(self._l2, tx_hash)

    def proof(self, address: AddressLike, block: BlockLike = "latest", verify: bool = True) -> Op[AccountProof]:
        return reads.proof(self._l2, address, block, verify)

    # -- L1 reads

    def l1_balance(self, address: AddressLike) -> Op[int]:
        return l1reads.balance(self.endpoints.require_l1(), address)

    def l1_nonce(self, address: AddressLike) -> Op[int]:
        return l1reads.nonce(self.endpoints.require_l1(), address)

    def l1_block_number(self) -> Op[int]:
        return l1reads.block_number(self.endpoints.require_l1())

    def outputs(self) -> Op[list[OutputReport]]:
        return l1reads.outputs(self.endpoints.require_l1())

    def games(self) -> Op[list[GameInfo]]:
        return l1reads.games(self.endpoints.require_l1())

    def game(self, game_id: int | str) -> Op[GameInfo | None]:
        return l1reads.game(self.endpoints.require_l1(), game_id)

    def withdrawals(self) -> Op[list[WithdrawalInfo]]:
        return l1reads.withdrawals(self.endpoints.require_l1())

    def withdrawal(self, withdrawal_id: str | bytes) -> Op[WithdrawalInfo | None]:
        return l1reads.withdrawal(self.endpoints.require_l1(), withdrawal_id)

    # -- venue reads

    def markets(self) -> Op[list[dict[str, Any]]]:
        return venue.markets(self._l2)

    def market(self, market: MarketLike) -> Op[dict[str, Any]]:
        return venue.market(self._l2, market)

    def book(self, market: MarketLike, depth: int = 10, block: BlockLike = "latest") -> Op[dict[str, Any]]:
        return venue.book(self._l2, market, depth, block)

    def positions(self, address: AddressLike, block: BlockLike = "latest") -> Op[list[dict[str, Any]]]:
        return venue.positions(self._l2, address, block)

    def orders(self, address: AddressLike, block: BlockLike = "latest") -> Op[list[dict[str, Any]]]:
        return venue.orders(self._l2, address, block)

    def insurance(self) -> Op[dict[str, Any]]:
        return venue.insurance(self._l2)

    # -- waiting

    def wait(
        self,
        tx_hash: str | bytes,
        level: str = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
        check: bool = True,
        progress: Progress | None = None,
    ) -> Op[WaitResult]:
        return waits.wait(self.endpoints, tx_hash, level, timeout, check, progress)

    # -- L2 transactions

    def send(
        self,
        key: KeyLike,
        payload: Any,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Op[SentTx]:
        """Any L2 payload (node.tx, node.venue.payloads), signed and sent (and waited for)."""
        return sends.send_l2(self.endpoints, key, payload, fee, nonce, to_optional_level(wait), to_timeout(timeout))

    def transfer(
        self,
        key: KeyLike,
        to: AddressLike,
        amount: AmountLike,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Op[SentTx]:
        return self.send(key, sends.transfer_payload(to, amount), fee, nonce, wait, timeout)

    def withdraw(
        self,
        key: KeyLike,
        amount: AmountLike,
        to: AddressLike | None = None,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Op[SentTx]:
        return self.send(key, sends.withdrawal_payload(key, amount, to), fee, nonce, wait, timeout)

    def deposit(
        self,
        key: KeyLike,
        amount: AmountLike,
        to: AddressLike | None = None,
        fee: AmountLike | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Op[SentDeposit]:
        return sends.deposit(self.endpoints, key, amount, to, fee, to_optional_level(wait), to_timeout(timeout))

    # -- venue transactions

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
    ) -> Op[SentTx]:
        to_key(key)
        level, seconds = to_optional_level(wait), to_timeout(timeout)
        entry = yield from venue.market(self._l2, market)
        payload, _ = venue.order_payload(entry, side, size, price, type, reduce_only, client_id)
        return (yield from self.send(key, payload, fee, nonce, level, seconds))

    def cancel(
        self,
        key: KeyLike,
        order_id: int | str,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Op[SentTx]:
        return self.send(key, venue.cancel_payload(order_id), fee, nonce, wait, timeout)

    def cancel_all(
        self,
        key: KeyLike,
        market: MarketLike,
        fee: AmountLike | None = None,
        nonce: int | None = None,
        wait: str | None = "unsafe",
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> Op[SentTx]:
        to_key(key)
        level, seconds = to_optional_level(wait), to_timeout(timeout)
        entry = yield from venue.market(self._l2, market)
        return (yield from self.send(key, venue.cancel_all_payload(entry), fee, nonce, level, seconds))

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
    ) -> Op[SentTx]:
        """An oracle update signed by `key` (the venue refuses any key but the oracle's: -31084)."""
        to_key(key)
        level, seconds = to_optional_level(wait), to_timeout(timeout)
        entry = yield from venue.market(self._l2, market)
        payload = yield from venue.oracle_payload(self._l2, entry, price, timestamp_ms)
        return (yield from self.send(key, payload, fee, nonce, level, seconds))
