"""In-process libp2p nodes for tests: a fast-reconnecting config, started nodes stopped on exit, a polling wait."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from node.p2p import P2PConfig, P2PNode, derive_seed

FAST = dict(reconnect_interval=0.2, reconnect_max_interval=0.5, close_timeout=3.0)


def p2p_config(label: str, **overrides: object) -> P2PConfig:
    """A node's config with a seed derived from `label` and fast reconnects (overridable)."""
    return P2PConfig(seed=derive_seed(label), **{**FAST, **overrides})  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def started(*configs: P2PConfig) -> AsyncIterator[list[P2PNode]]:
    """The nodes of `configs`, started in order and stopped on exit."""
    async with contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(P2PNode(c)) for c in configs]


async def eventually(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until `predicate()` holds, polling every 20 ms (TimeoutError after `timeout` s)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)
