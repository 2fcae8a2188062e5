"""Checking a submitted transaction before it enters the mempool.

    raw = parse_raw_transaction(param, max_tx_bytes)      # -32602 / -32025
    rtx = await recoverer.recover(raw)                    # -32018 / -32010 / -32017
    account = validate_submission(reader, config, rtx)    # -32011 / -32015 / -32012 / -32014 ...
    mempool.add(rtx, account, now_ms)                     # -32020..-32026, -32014

The next-nonce transaction is validated exactly as the block builder would
apply it on the current state; a future nonce gets the checks that do not
depend on the nonce (chain id, fee, the kind's own rules). Whether the
sender can pay for it together with its other pooled transactions is the
mempool's check, on the account returned here.

`Recoverer` recovers senders in this process (`workers=0`) or in a process
pool, so concurrent submitters use more than one core. Submissions are
grouped as a group commit does: with no group in the pool, those made in the
same event-loop turn go at once; while a group is in the pool, the next one
gathers and goes when it returns (or at MAX_GATHER). A lone submission never
waits for a timer. A JSON-RPC batch request's entries are admitted one after
another, so the sequencer's RPC layer starts their recovery first, all at
once (`recover_group`, through the dispatcher's batch preparer): a batch is
one group, split over the workers, not one round trip per entry.

If the pool breaks (a worker died), the group it held is recovered in this
process, so each submission still gets its own answer, and a new pool takes
the next groups.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from node.mempool_errors import TransactionTooLarge
from node.recovery import SenderRecovery, recover_senders, start_recovery_pool
from node.rpc.errors import InvalidParams
from node.state.schema import Account, get_account
from node.state.view import StateReader
from node.stf import ChainConfig, MalformedTransaction, NonceTooLow, validate_transaction
from node.stf.execute import expect_signed, recover_transaction
from node.stf.handlers import get_handler
from node.stf.ledger import validate_chain_id, validate_fee
from node.tx import RecoveredTx

_HEX = re.compile(r"0x[0-9a-fA-F]*")
MAX_GATHER = 512
log = logging.getLogger(__name__)

RecoverSenders = Callable[[Sequence[bytes]], list[bytes | None]]  # runs in a worker: node.recovery.recover_senders
Waiting = list[tuple[bytes, asyncio.Future[RecoveredTx]]]


def parse_raw_transaction(value: Any, max_tx_bytes: int) -> bytes:
    """The bytes of a `0x` hex transaction; size is checked before decoding anything."""
    if not isinstance(value, str):
        raise InvalidParams(f"transaction must be a 0x-prefixed hex string, got {type(value).__name__}")
    if len(value) > 2 + 2 * max_tx_bytes:
        raise TransactionTooLarge((len(value) - 2) // 2, max_tx_bytes)
    if not _HEX.fullmatch(value) or len(value) % 2:
        raise InvalidParams("transaction must be 0x followed by an even number of hex digits")
    if len(value) == 2:
        raise MalformedTransaction("empty transaction")
    return bytes.fromhex(value[2:])


def validate_submission(reader: StateReader, config: ChainConfig, rtx: RecoveredTx) -> Account:
    """Raise the InvalidTransaction that keeps `rtx` out of the mempool; return the sender's account."""
    tx = expect_signed(rtx.tx)
    validate_chain_id(config, tx)
    validate_fee(config, tx)
    account = get_account(reader, rtx.sender)
    if tx.nonce < account.nonce:
        raise NonceTooLow(rtx.sender, account.nonce, tx.nonce)
    if tx.nonce == account.nonce:
        validate_transaction(reader, config, rtx)
    else:
        get_handler(type(tx.payload)).check(reader, config, rtx)
    return account


class Recoverer:
    """Senders recovered in this process (`workers=0`) or in a pool, submissions grouped (module docstring)."""

    def __init__(self, workers: int = 0, recover_fn: RecoverSenders = recover_senders) -> None:
        self.workers = workers
        self._recover_fn = recover_fn  # module-level, so a worker can unpickle it
        self._pool = self._start_pool() if workers > 0 else None
        self._waiting: Waiting = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.groups = 0  # groups sent to the pool: submissions / groups = the grouping achieved
        self.pool_restarts = 0  # pools replaced after breaking

    def _start_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        pool = start_recovery_pool(self.workers)
        for _ in range(self.workers):  # start the workers now: the first submission should not wait for them
            pool.submit(recover_senders, [])
        return pool

    async def recover(self, raw: bytes) -> RecoveredTx:
        if self._pool is None:
            return recover_transaction(raw)
        return await self._enqueue([raw])[0]

    def recover_group(self, raws: Sequence[bytes]) -> list[asyncio.Future[RecoveredTx]] | None:
        """Start recovering `raws` as one group (with whatever else gathers now); their futures, in order.

        None without a pool: recovering in this process gains nothing from a
        group, so each is recovered when its turn comes (`recover`). A future
        that nobody awaits (its batch was abandoned) does not log its error.
        """
        if self._pool is None:
            return None
        if not raws:
            return []
        futures = self._enqueue(raws)
        for future in futures:
            future.add_done_callback(_retrieve)
        return futures

    def _enqueue(self, raws: Sequence[bytes]) -> list[asyncio.Future[RecoveredTx]]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[RecoveredTx]] = [loop.create_future() for _ in raws]
        self._waiting.extend(zip(raws, futures))
        if len(self._waiting) >= MAX_GATHER:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            if not self._tasks:
                loop.call_soon(self._flush)
            # else: the group in the pool flushes this one when it returns (_group_done)
        return futures

    def _flush(self) -> None:
        self._flush_scheduled = False
        waiting, self._waiting = self._waiting, []
        if waiting and self._pool is not None:
            self.groups += 1
            task = asyncio.ensure_future(self._recover_in_pool(self._pool, waiting))
            self._tasks.add(task)
            task.add_done_callback(self._group_done)

    def _group_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._flush_scheduled and not self._tasks:
            self._flush()

    async def _recover_in_pool(self, pool: concurrent.futures.ProcessPoolExecutor, waiting: Waiting) -> None:
        raws = [raw for raw, _ in waiting]
        size = max(1, -(-len(raws) // self.workers))
        chunks = [raws[i : i + size] for i in range(0, len(raws), size)]
        try:
            results = await asyncio.gather(
                *(asyncio.wrap_future(pool.submit(self._recover_fn, chunk)) for chunk in chunks)
            )
        except BrokenProcessPool as exc:  # a worker died: answer these here, and take a new pool for the next
            self._replace_broken(pool, exc)
            _recover_here(waiting)
            return
        except Exception as exc:  # noqa: BLE001 - the pool could not run them: fail these submissions, keep serving
            _fail_all(waiting, exc)
            return
        senders = [sender for result in results for sender in result]
        for (raw, future), sender in zip(waiting, senders):
            if future.done():
                continue
            try:
                future.set_result(SenderRecovery.assemble([raw], [sender])[0])
            except Exception as exc:
                future.set_exception(exc)

    def _replace_broken(self, pool: concurrent.futures.ProcessPoolExecutor, exc: BaseException) -> None:
        if self._pool is not pool:
            return  # another group saw it break first and replaced it
        log.warning("sender recovery pool broke (%s): recovering its group here and starting a new pool", exc)
        pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._start_pool()
        self.pool_restarts += 1

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _recover_here(waiting: Waiting) -> None:
    for raw, future in waiting:
        if future.done():
            continue
        try:
            future.set_result(recover_transaction(raw))
        except Exception as exc:
            future.set_exception(exc)


def _retrieve(future: asyncio.Future[RecoveredTx]) -> None:
    if not future.cancelled():
        future.exception()


def _fail_all(waiting: Waiting, exc: BaseException) -> None:
    for _, future in waiting:
        if not future.done():
            future.set_exception(exc)
