"""The sequencer's own JSON-RPC methods (the read methods come from node.l2rpc).

rollup_sendRawTransaction(hex) -> tx hash
    Checked and put in the mempool; the hash is returned once the
    admission is in the mempool journal (it survives a crash). The
    receipt (soft confirmation) follows once the block holding it is
    sealed, usually within one block time. In a batch request, the
    senders of all its rollup_sendRawTransaction entries are recovered
    as one group before the first is admitted (`prepare_send_batch`);
    the entries are then admitted strictly in batch order, each with its
    own answer, exactly as if sent one by one.
rollup_sendRawTransactionSync(hex, timeout_ms?) -> receipt
    The same, then waits for the receipt (default 5 s, at most 60 s);
    -32006 if it is not sealed in time or is dropped from the mempool,
    or the error that kept it out of the block.
rollup_mempoolStatus() -> {pending, queued, capacity, queuedCapacity}
rollup_getTransactionStatus(hash) -> {status, blockNumber?, reason?, detail?}
    status: "included" (with blockNumber), "pending", "queued",
    "dropped" (left the mempool without being included; reason is one of
    replaced, evicted, expired, unpayable, stale, rejected, invalid, and
    detail says more) or "unknown".
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from node.chain import Chain, receipt_to_json
from node.rpc.control import register_control
from node.rpc.dispatch import Handler
from node.rpc.errors import Unavailable
from node.rpc.params import hash32, positional, uint
from node.rpc.server import RpcServer
from node.stf.blocks import Rejection
from node.tx import RecoveredTx
from sequencer.intake import Recoverer, parse_raw_transaction
from sequencer.journal import JournalError
from sequencer.latency import SoftLatency
from sequencer.producer import BlockReport
from sequencer.txpool import DroppedTx, TxPool

DEFAULT_WAIT_MS = 5_000
MAX_WAIT_MS = 60_000


class ReceiptWaiters:
    """Submitters waiting for their transaction's receipt, resolved after each sealed block."""

    def __init__(self) -> None:
        self._waiting: dict[bytes, list[asyncio.Future[dict[str, Any]]]] = {}

    async def wait(self, tx_hash: bytes, timeout_s: float) -> dict[str, Any]:
        return await self.wait_for(tx_hash, self.expect(tx_hash), timeout_s)

    def expect(self, tx_hash: bytes) -> asyncio.Future[dict[str, Any]]:
        """Start waiting before the transaction can be sealed (admission awaits the journal)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tx_hash, []).append(future)
        return future

    async def wait_for(
        self, tx_hash: bytes, future: asyncio.Future[dict[str, Any]], timeout_s: float
    ) -> dict[str, Any]:
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            raise Unavailable(f"transaction 0x{tx_hash.hex()} was not sealed within {timeout_s:.1f} s") from None
        finally:
            self.forget(tx_hash, future)

    def forget(self, tx_hash: bytes, future: asyncio.Future[dict[str, Any]]) -> None:
        futures = self._waiting.get(tx_hash)
        if futures is not None and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiting[tx_hash]

    def resolve(self, report: BlockReport) -> None:
        if not self._waiting:
            return
        block_hash = "0x" + report.sealed.head.hash.hex()
        for receipt in report.sealed.receipts:
            for future in self._waiting.pop(receipt.tx_hash, []):
                if not future.done():
                    future.set_result({**receipt_to_json(receipt), "blockHash": block_hash})
        for rejection in report.build.rejected:
            self._fail(rejection)

    def _fail(self, rejection: Rejection) -> None:
        for future in self._waiting.pop(rejection.rtx.hash, []):
            if not future.done():
                future.set_exception(rejection.error)

    def dropped(self, tx_hash: bytes, dropped: DroppedTx) -> None:
        """The transaction left the mempool: its waiters learn why now rather than at their timeout."""
        if dropped.reason == "rejected":
            return  # `resolve` answers these with the block builder's own error
        for future in self._waiting.pop(tx_hash, []):
            if not future.done():
                future.set_exception(
                    Unavailable(f"transaction 0x{tx_hash.hex()} was dropped: {dropped.reason} ({dropped.detail})")
                )


class SequencerMethods:
    def __init__(
        self,
        chain: Chain,
        txpool: TxPool,
        recoverer: Recoverer,
        waiters: ReceiptWaiters,
        on_admitted: Callable[[RecoveredTx], None] = lambda rtx: None,
        latency: SoftLatency | None = None,
        ready_to_seal: Callable[[], bool] = lambda: False,
    ) -> None:
        self.chain = chain
        self.txpool = txpool
        self.mempool = txpool.mempool
        self.recoverer = recoverer
        self.waiters = waiters
        self.on_admitted = on_admitted
        self.latency = latency  # notes each submission's arrival, for tx_soft_confirm_seconds
        self.ready_to_seal = ready_to_seal  # the block loop waits with a block due (BlockProducer.ready_to_seal)

    def register(
        self,
        server: RpcServer,
        devnet: bool = False,
        data_dir: Path | None = None,
        control: Mapping[str, Handler] | None = None,
    ) -> None:
        """The sequencer's methods; `control`: devnet-only handlers (in-process snapshot and revert), served
        and listed in devnet_info beside the clock's only in devnet mode."""
        register_control(server, "sequencer", enabled=devnet, handlers=dict(control or {}), data_dir=data_dir)
        server.register("rollup_sendRawTransaction", self.send_raw_transaction)
        server.register_batch_prepare("rollup_sendRawTransaction", self.prepare_send_batch)
        server.register("rollup_sendRawTransactionSync", self.send_raw_transaction_sync)
        server.register("rollup_mempoolStatus", self.mempool_status)
        server.register("rollup_getTransactionStatus", self.get_transaction_status)

    async def send_raw_transaction(self, params: list[Any]) -> str:
        (value,) = positional(params, 1, 0, "rollup_sendRawTransaction")
        rtx = await self.admit(value)
        return "0x" + rtx.hash.hex()

    def prepare_send_batch(self, params_lists: list[list[Any]]) -> list[Callable[[], Awaitable[str]]]:
        """A batch's rollup_sendRawTransaction entries: parse them all and start recovering their senders
        as one group now; each entry's answer (awaited in batch order) admits its transaction then.
        Every entry arrived with the batch, so that is the arrival its soft confirmation is timed from."""
        arrived = self.latency.now() if self.latency is not None else 0.0
        parsed: list[bytes | Exception] = []
        for params in params_lists:
            try:
                (value,) = positional(params, 1, 0, "rollup_sendRawTransaction")
                parsed.append(parse_raw_transaction(value, self.mempool.limits.max_tx_bytes))
            except Exception as exc:  # noqa: BLE001 - the entry's own answer, raised when its turn comes
                parsed.append(exc)
        raws = [item for item in parsed if isinstance(item, bytes)]
        group = self.recoverer.recover_group(raws)
        pending = iter(group) if group is not None else None
        answers: list[Callable[[], Awaitable[str]]] = []
        for item in parsed:
            if isinstance(item, Exception):
                answers.append(functools.partial(_raise, item))
            else:
                future = next(pending) if pending is not None else None
                answers.append(functools.partial(self._send_prepared, item, future, arrived))
        return answers

    async def _send_prepared(self, raw: bytes, future: asyncio.Future[RecoveredTx] | None, arrived: float) -> str:
        rtx = await future if future is not None else await self.recoverer.recover(raw)
        if self.latency is not None:
            self.latency.arrived(rtx.hash, arrived)
        await self.admit_recovered(rtx)
        return "0x" + rtx.hash.hex()

    async def send_raw_transaction_sync(self, params: list[Any]) -> dict[str, Any]:
        args = positional(params, 1, 1, "rollup_sendRawTransactionSync")
        timeout = uint(args[1], "timeout_ms", maximum=MAX_WAIT_MS) if len(args) > 1 else DEFAULT_WAIT_MS
        rtx = await self.recover(args[0])
        future = self.waiters.expect(rtx.hash)
        try:
            await self.admit_recovered(rtx)
        except BaseException:
            self.waiters.forget(rtx.hash, future)
            raise
        return await self.waiters.wait_for(rtx.hash, future, timeout / 1000)

    async def admit(self, value: Any) -> RecoveredTx:
        rtx = await self.recover(value)
        await self.admit_recovered(rtx)
        return rtx

    async def recover(self, value: Any) -> RecoveredTx:
        arrived = self.latency.now() if self.latency is not None else 0.0
        rtx = await self.recoverer.recover(parse_raw_transaction(value, self.mempool.limits.max_tx_bytes))
        if self.latency is not None:
            self.latency.arrived(rtx.hash, arrived)
        return rtx

    async def admit_recovered(self, rtx: RecoveredTx) -> None:
        try:
            await self.txpool.admit(rtx)
        except JournalError as exc:
            self._refused(rtx)
            raise Unavailable(f"transaction not accepted: {exc}") from None
        except BaseException:
            self._refused(rtx)
            raise
        self.on_admitted(rtx)
        if self.ready_to_seal():
            # a block is due: give the loop a turn, so it seals what is admitted so far while the rest
            # of a batch request (whose entries are admitted one after another) is still being checked
            await asyncio.sleep(0)

    def _refused(self, rtx: RecoveredTx) -> None:
        if self.latency is not None and rtx.hash not in self.mempool:
            self.latency.forget(rtx.hash)

    def mempool_status(self, params: list[Any]) -> dict[str, int]:
        positional(params, 0, 0, "rollup_mempoolStatus")
        status = self.mempool.status()
        return {
            "pending": status.pending,
            "queued": status.queued,
            "capacity": status.capacity,
            "queuedCapacity": status.queued_capacity,
        }

    def get_transaction_status(self, params: list[Any]) -> dict[str, Any]:
        tx_hash = hash32(positional(params, 1, 0, "rollup_getTransactionStatus")[0], "hash")
        return self.txpool.status_of(tx_hash).to_json()


async def _raise(error: Exception) -> str:
    """A batch entry's answer when it could not even be parsed: the error its handler would raise."""
    raise error
