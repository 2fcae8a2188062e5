"""TrioBridge: lifecycle, results and errors across the thread, cancellation both ways."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import trio

from node.p2p.bridge import TrioBridge, await_in_loop
from node.p2p.errors import BridgeError, BridgeStoppedError


def _bridge_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("test-bridge")]


async def _add(a: int, b: int) -> int:
    await trio.sleep(0)
    return a + b


async def test_start_stop_many_times_leaves_no_thread() -> None:
    before = set(threading.enumerate())
    for i in range(25):
        bridge = TrioBridge(name=f"test-bridge-{i}")
        bridge.start()
        assert bridge.running
        assert await bridge.run(_add, i, 1) == i + 1
        if i % 2:
            await bridge.astop()
        else:
            bridge.stop()
        assert not bridge.running
    assert _bridge_threads() == []
    assert set(threading.enumerate()) <= before


async def test_async_context_manager_and_single_use() -> None:
    async with TrioBridge(name="test-bridge-cm") as bridge:
        assert await bridge.run(_add, 2, 3) == 5
        with pytest.raises(BridgeError):
            bridge.start()
    assert _bridge_threads() == []


async def test_exceptions_propagate_with_their_type() -> None:
    async def boom() -> None:
        raise ValueError("bad value on the trio side")

    async def nested_group() -> None:
        async with trio.open_nursery() as nursery:

            async def fail() -> None:
                raise KeyError("deep")

            nursery.start_soon(fail)

    async with TrioBridge(name="test-bridge-exc") as bridge:
        with pytest.raises(ValueError, match="bad value"):
            await bridge.run(boom)
        with pytest.raises(KeyError):  # single-member exception groups are unwrapped
            await bridge.run(nested_group)
        assert await bridge.run(_add, 1, 1) == 2  # the bridge survives a failed call


async def test_cancelling_asyncio_side_cancels_trio_task() -> None:
    started = threading.Event()
    trio_cancelled = threading.Event()

    async def sleeper() -> None:
        started.set()
        try:
            await trio.sleep(30)
        except trio.Cancelled:
            trio_cancelled.set()
            raise

    async with TrioBridge(name="test-bridge-cancel") as bridge:
        task = asyncio.create_task(bridge.run(sleeper))
        while not started.is_set():
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert trio_cancelled.is_set()  # run() waits for the trio task to unwind

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(bridge.run(trio.sleep, 30), 0.05)
        assert await bridge.run(_add, 3, 4) == 7


async def test_stop_while_call_pending_raises_bridge_stopped() -> None:
    bridge = TrioBridge(name="test-bridge-pending")
    bridge.start()
    task = asyncio.create_task(bridge.run(trio.sleep, 30))
    await asyncio.sleep(0.05)
    await bridge.astop()
    with pytest.raises(BridgeStoppedError):
        await task
    with pytest.raises(BridgeStoppedError):
        await bridge.run(_add, 1, 2)
    assert _bridge_threads() == []


async def test_trio_can_await_asyncio_coroutines() -> None:
    loop = asyncio.get_running_loop()
    seen_threads: list[str] = []

    async def on_loop(x: int) -> int:
        seen_threads.append(threading.current_thread().name)
        await asyncio.sleep(0.01)
        return x * 2

    async def from_trio() -> int:
        return await await_in_loop(loop, on_loop, 21)

    async with TrioBridge(name="test-bridge-back") as bridge:
        assert await bridge.run(from_trio) == 42
    assert seen_threads == [threading.current_thread().name]


async def test_start_background_reports_early_errors_and_started_value() -> None:
    async def server(port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        if port < 0:
            raise OSError("cannot bind")
        task_status.started(port)
        await trio.sleep_forever()

    async with TrioBridge(name="test-bridge-bg") as bridge:
        assert await bridge.start_background(server, 1234) == 1234
        with pytest.raises(OSError, match="cannot bind"):
            await bridge.start_background(server, -1)
    assert _bridge_threads() == []
