"""The one bridge between asyncio (the application) and trio (py-libp2p).

py-libp2p only runs on trio. `TrioBridge` runs `trio.run` in one dedicated
daemon thread (measured ~2x the gossip throughput of trio guest mode, and
gossip keeps flowing while the asyncio side is busy) and offers:

- `start()` / `stop()` (or `async with`): the thread starts, and on stop its
  root nursery is cancelled and the thread joined within a bounded timeout.
- `await bridge.run(trio_async_fn, *args)` from asyncio: runs the function
  as a trio task and returns its result or raises its exception. Cancelling
  the awaiting asyncio task cancels the trio task through a cancel scope;
  the awaiting side waits (bounded) for the trio task to unwind first.
- `bridge.call_soon(fn, *args)`: fire-and-forget a sync call on the trio
  thread (thread-safe).
- `call_in_loop(loop, fn, *args)`: trio -> asyncio callbacks, via
  `loop.call_soon_threadsafe`, tolerant of a closed loop.
- `await await_in_loop(loop, async_fn, *args)` from trio: runs an asyncio
  coroutine function on the loop and waits for it; cancelling the trio side
  cancels the asyncio task.

A thread crossing costs roughly 60-110 us per round trip.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from node.p2p.errors import BridgeError, BridgeStoppedError

log = logging.getLogger(__name__)

T = TypeVar("T")

_CANCEL_GRACE_S = 5.0


def call_in_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> bool:
    """Schedule `fn(*args)` on `loop` from any thread; False if the loop is closed."""
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # loop closed: the application is shutting down
        return False
    return True


async def await_in_loop(
    loop: asyncio.AbstractEventLoop, async_fn: Callable[..., Coroutine[Any, Any, T]], *args: Any
) -> T:
    """From trio: run `async_fn(*args)` on the asyncio `loop` and return its result."""
    coro = async_fn(*args)
    try:
        cfut: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(coro, loop)
    except RuntimeError:  # loop closed
        coro.close()
        raise BridgeStoppedError("asyncio loop is closed") from None
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: object) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(done.set)

    cfut.add_done_callback(wake)
    try:
        await done.wait()
    finally:
        if not cfut.done():
            cfut.cancel()
    return cfut.result()


def unwrap_exception(exc: BaseException) -> BaseException:
    """Strip single-member exception groups (trio nurseries nest them several deep)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class _StartedFlag:
    """A `task_status` proxy that remembers whether `started()` was called."""

    def __init__(self, task_status: Any) -> None:
        self._task_status = task_status
        self.started_called = False

    def started(self, value: Any = None) -> None:
        self.started_called = True
        self._task_status.started(value)


@dataclass
class _Call:
    """One asyncio -> trio call; mutated only on the trio thread (except `fut`)."""

    fn: Callable[..., Awaitable[Any]]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    fut: asyncio.Future[Any]
    scope: trio.CancelScope | None = None
    cancel_requested: bool = False
    name: str = field(default="")

    def request_cancel(self) -> None:
        self.cancel_requested = True
        if self.scope is not None:
            self.scope.cancel()


def _settle(fut: asyncio.Future[Any], kind: str, value: Any) -> None:
    if fut.done():
        return
    if kind == "ok":
        fut.set_result(value)
    elif kind == "err":
        fut.set_exception(value)
    else:
        fut.cancel()


class TrioBridge:
    """trio running in a daemon thread, driven from asyncio. Start once, stop once."""

    def __init__(self, name: str = "p2p-trio") -> None:
        self._name = name
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._stop_event: trio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._run_error: BaseException | None = None

    # ---- lifecycle -----------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._token is not None

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise BridgeError("bridge already started (a TrioBridge is single-use)")
        self._thread = threading.Thread(target=self._thread_main, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise BridgeError(f"trio thread {self._name} did not start within {timeout}s")
        if self._startup_error is not None:
            raise BridgeError(f"trio thread {self._name} failed to start") from self._startup_error

    def _thread_main(self) -> None:
        try:
            trio.run(self._trio_main)
        except BaseException as exc:  # recorded, reported by stop(); the thread must not die silently
            self._run_error = exc
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            log.error("trio thread %s crashed: %r", self._name, exc)

    async def _trio_main(self) -> None:
        self._stop_event = trio.Event()
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stop_event.wait()
            nursery.cancel_scope.cancel()
        self._nursery = None

    def _request_stop(self) -> None:
        token, event = self._token, self._stop_event
        if token is None or event is None:
            return
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(event.set)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel everything on the trio thread and join it (blocking, bounded)."""
        thread = self._thread
        if thread is None:
            return
        self._request_stop()
        thread.join(timeout)
        self._finish_stop(thread, timeout)

    async def astop(self, timeout: float = 10.0) -> None:
        """`stop()` without blocking the event loop (polls the thread; no executor)."""
        thread = self._thread
        if thread is None:
            return
        self._request_stop()
        deadline = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        self._finish_stop(thread, timeout)

    def _finish_stop(self, thread: threading.Thread, timeout: float) -> None:
        self._token = None
        if thread.is_alive():
            raise BridgeError(f"trio thread {self._name} did not stop within {timeout}s")
        if self._run_error is not None and not isinstance(self._run_error, trio.Cancelled):
            log.warning("trio thread %s had ended with %r", self._name, self._run_error)

    async def __aenter__(self) -> TrioBridge:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()

    # ---- calls ---------------------------------------------------------
    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run sync `fn(*args)` on the trio thread soon (fire-and-forget, thread-safe)."""
        token = self._token
        if token is None:
            raise BridgeStoppedError("trio bridge is not running")
        try:
            token.run_sync_soon(fn, *args)
        except trio.RunFinishedError:
            raise BridgeStoppedError("trio bridge has stopped") from None

    async def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run trio `fn(*args)` to completion; cancellation crosses the bridge both ways."""
        loop = asyncio.get_running_loop()
        call = _Call(fn, args, loop, loop.create_future(), name=getattr(fn, "__qualname__", repr(fn)))
        self.call_soon(self._spawn, call)
        try:
            return await asyncio.shield(call.fut)
        except asyncio.CancelledError:
            if not call.fut.done():
                with contextlib.suppress(BridgeStoppedError):
                    self.call_soon(call.request_cancel)
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(asyncio.shield(call.fut), _CANCEL_GRACE_S)
            raise

    async def start_background(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Start trio `fn(*args, task_status=...)` in the bridge's root nursery; return its `started()` value.

        Errors before `started()` are raised here; later ones are logged (the
        task ends, the bridge keeps running). It is cancelled by `stop()`.
        """
        return await self.run(self._start_in_root, fn, args)

    async def _start_in_root(self, fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...]) -> Any:
        if self._nursery is None:
            raise BridgeStoppedError("trio bridge is stopping")
        return await self._nursery.start(self._background, fn, args)

    @staticmethod
    async def _background(
        fn: Callable[..., Awaitable[Any]], args: tuple[Any, ...], *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        flag = _StartedFlag(task_status)
        try:
            await fn(*args, task_status=flag)
        except Exception as exc:
            if not flag.started_called:
                raise unwrap_exception(exc) from None
            log.error(
                "trio background task %s crashed: %r",
                getattr(fn, "__qualname__", fn),
                unwrap_exception(exc),
                exc_info=exc,
            )

    def _spawn(self, call: _Call) -> None:
        nursery = self._nursery
        if nursery is None:
            call_in_loop(call.loop, _settle, call.fut, "err", BridgeStoppedError("trio bridge is stopping"))
            return
        nursery.start_soon(self._runner, call, name=call.name)

    async def _runner(self, call: _Call) -> None:
        delivered = False

        def deliver(kind: str, value: Any) -> None:
            nonlocal delivered
            delivered = True
            call_in_loop(call.loop, _settle, call.fut, kind, value)

        try:
            with trio.CancelScope() as scope:
                call.scope = scope
                if call.cancel_requested:
                    scope.cancel()
                try:
                    result = await call.fn(*call.args)
                except Exception as exc:  # handed to the asyncio caller, never lost
                    deliver("err", unwrap_exception(exc))
                else:
                    deliver("ok", result)
            if not delivered:  # our own scope caught the cancellation
                deliver("cancelled", None)
        finally:
            if not delivered:  # the bridge itself is shutting down (or BaseException)
                deliver("err", BridgeStoppedError(f"trio bridge stopped while running {call.name}"))
