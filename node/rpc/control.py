"""Per-process devnet control: the `devnet_*` JSON-RPC methods, gated by the `[node] devnet` flag.

    register_control(server, "l1", enabled=config.devnet, handlers={"devnet_mine": rpc.devnet_mine},
                     data_dir=config.data_dir)

Every process calls this once. It registers `devnet_info` (answered in both
modes: `{"role", "devnet", "pid", "methods"}`), each handler of `handlers`
and, given the process's `data_dir`, its chain clock's methods (node.clock):

    devnet_getTimeOffset()          -> {"offsetMs", "nowMs"}
    devnet_setTimeOffset(offsetMs)  -> {"offsetMs", "previousOffsetMs", "nowMs"}

`offsetMs` is an integer in [the current offset, node.clock.MAX_OFFSET_MS]
(time only moves forward), written to `data_dir` before it takes effect; in
devnet mode the persisted offset is loaded here, at start-up, so a restart
keeps it and a reverted data dir brings its time back. The devnet's control
endpoint sets one offset in every process (devnet_increaseTime).

The handlers are registered whether or not the process runs in devnet mode,
so a process started without `devnet = true` answers them with
`ControlDisabled` (-32008) rather than "method not found" (-32601); the gate
runs before the handler, so nothing is validated or changed then (nor is the
clock file loaded: such a process runs on the wall clock).

Which methods each role has (the devnet-wide control endpoint calls them by
these names): l1 `devnet_mine`, `devnet_setBalance`; settler
`devnet_setFaultyProposer`; executor `devnet_partition`, `devnet_heal`;
sequencer and challenger only `devnet_info`; every role passes its data dir
for the clock methods.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from node.clock import PROCESS_CLOCK, ChainClock, ClockError
from node.rpc.dispatch import Handler
from node.rpc.errors import ControlDisabled, InvalidParams
from node.rpc.params import positional
from node.rpc.server import RpcServer

PREFIX = "devnet_"
INFO = "devnet_info"
GET_TIME_OFFSET = "devnet_getTimeOffset"
SET_TIME_OFFSET = "devnet_setTimeOffset"


def register_control(
    server: RpcServer,
    role: str,
    *,
    enabled: bool,
    handlers: Mapping[str, Handler],
    data_dir: Path | None = None,
    clock: ChainClock = PROCESS_CLOCK,
) -> None:
    """Serve `devnet_info` and every `devnet_*` handler of `handlers`, the latter only when `enabled`; with a
    `data_dir`, also the clock methods over `clock` (its persisted offset loaded now when `enabled`:
    node.clock.ClockFileError, a ConfigError, if the file is malformed)."""
    for name in handlers:
        if not name.startswith(PREFIX) or name == INFO:
            raise ValueError(f"devnet control method {name!r} must be named devnet_* (and not {INFO})")
    handlers = dict(handlers)
    if data_dir is not None:
        if enabled:
            clock.load(data_dir)
        handlers.update(clock_handlers(clock))
    methods = sorted([INFO, *handlers])

    def info(params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, INFO)
        return {"role": role, "devnet": enabled, "pid": os.getpid(), "methods": methods}

    server.register(INFO, info)
    for name, handler in handlers.items():
        server.register(name, _gated(name, role, enabled, handler))


def _gated(name: str, role: str, enabled: bool, handler: Handler) -> Handler:
    async def call(params: list[Any]) -> Any:
        if not enabled:
            raise ControlDisabled(
                f"{name} is disabled: this {role} was not started as part of a devnet ([node] devnet = true)"
            )
        result = handler(params)
        if inspect.isawaitable(result):
            result = await result
        return result

    return call


def clock_handlers(clock: ChainClock) -> dict[str, Handler]:
    """devnet_getTimeOffset and devnet_setTimeOffset over `clock`."""

    def get_offset(params: list[Any]) -> dict[str, int]:
        positional(params, 0, 0, GET_TIME_OFFSET)
        return {"offsetMs": clock.offset_ms, "nowMs": clock.now_ms()}

    def set_offset(params: list[Any]) -> dict[str, int]:
        (value,) = positional(params, 1, 0, SET_TIME_OFFSET)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParams(f"offsetMs must be an integer number of ms, got {value!r}")
        try:
            previous = clock.set_offset(value)
        except ClockError as exc:
            raise InvalidParams(str(exc)) from None
        return {"offsetMs": clock.offset_ms, "previousOffsetMs": previous, "nowMs": clock.now_ms()}

    return {GET_TIME_OFFSET: get_offset, SET_TIME_OFFSET: set_offset}


__all__ = ["GET_TIME_OFFSET", "INFO", "SET_TIME_OFFSET", "clock_handlers", "register_control"]
