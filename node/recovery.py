"""Sender recovery for whole blocks, in-process or spread over a process pool.

Recovering a secp256k1 public key is half of the per-transaction cost
(~46 us here). Workers only return the recovered 20-byte senders (cheap to
send back); the parent re-decodes the canonical bytes (a few us) and keeps
the exact typed error for any transaction a worker could not recover.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
import time
from collections.abc import Sequence

from node.crypto import Address, keccak256
from node.stf.execute import recover_transaction
from node.tx import DepositTx, RecoveredTx, decode_tx

MIN_CHUNK = 64
PARENT_CHECK_S = 0.5


def recover_senders(raws: Sequence[bytes]) -> list[bytes | None]:
    """Worker side: the sender of each transaction, or None where it does not recover."""
    senders: list[bytes | None] = []
    for raw in raws:
        try:
            senders.append(recover_transaction(raw).sender)
        except Exception:
            senders.append(None)
    return senders


class SenderRecovery:
    """Recover senders for batches of raw transactions; `workers=0` runs in this process."""

    def __init__(self, workers: int = 0) -> None:
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if workers > 0:
            self._pool = start_recovery_pool(workers)

    def recover(self, raws: Sequence[bytes]) -> list[RecoveredTx]:
        """Recovered transactions in order; raises the first transaction's InvalidTransaction."""
        if self._pool is None or len(raws) < 2 * MIN_CHUNK:
            return [recover_transaction(raw) for raw in raws]
        return self.assemble(raws, self.recover_senders_async(raws).result_list())

    def recover_senders_async(self, raws: Sequence[bytes]) -> PendingSenders:
        """Start recovering in the pool; collect with `.result_list()` (pipelining)."""
        if self._pool is None:
            raise RuntimeError("recover_senders_async needs a pool (workers > 0)")
        size = max(MIN_CHUNK, -(-len(raws) // self.workers))
        futures = [self._pool.submit(recover_senders, raws[i : i + size]) for i in range(0, len(raws), size)]
        return PendingSenders(futures)

    @staticmethod
    def assemble(raws: Sequence[bytes], senders: Sequence[bytes | None]) -> list[RecoveredTx]:
        result = []
        for raw, sender in zip(raws, senders):
            if sender is None:
                result.append(recover_transaction(raw))  # raises the precise error
                continue
            tx = decode_tx(raw)
            if isinstance(tx, DepositTx):
                sender = tx.l1_sender
            result.append(RecoveredTx(tx, keccak256(raw), Address(sender), raw))  # type: ignore[arg-type]
        return result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> SenderRecovery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PendingSenders:
    def __init__(self, futures: list[concurrent.futures.Future[list[bytes | None]]]) -> None:
        self._futures = futures

    def result_list(self) -> list[bytes | None]:
        senders: list[bytes | None] = []
        for future in self._futures:
            senders.extend(future.result())
        return senders


# -- the worker pool --------------------------------------------------------------------


def start_recovery_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool whose workers exit by themselves if this process dies (even by SIGKILL).

    Pool workers block on their task queue, whose write end they hold too, so
    they would never notice; left behind, they also keep the forkserver alive.
    """
    context = multiprocessing.get_context("forkserver")
    return concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=watch_parent, initargs=(os.getpid(),)
    )


def watch_parent(parent_pid: int) -> None:
    """Worker initializer: a daemon thread that ends the worker once `parent_pid` is gone."""

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass  # the pid exists (owned by another user): keep serving

    threading.Thread(target=watch, name="watch-parent", daemon=True).start()
