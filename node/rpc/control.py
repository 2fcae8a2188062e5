"""Per-process devnet control: the `devnet_*` JSON-RPC methods, gated by the `[node] devnet` flag.

    register_control(server, "l1", enabled=config.devnet, handlers={"devnet_mine": rpc.devnet_mine})

Every process calls this once. It registers `devnet_info` (answered in both
modes: `{"role", "devnet", "pid", "methods"}`) and each handler of
`handlers`. The handlers are registered whether or not the process runs in
devnet mode, so a process started without `devnet = true` answers them with
`ControlDisabled` (-32008) rather than "method not found" (-32601); the
gate runs before the handler, so nothing is validated or changed then.

Which methods each role has (the devnet-wide control endpoint calls them by
these names): l1 `devnet_mine`, `devnet_setBalance`; settler
`devnet_setFaultyProposer`; executor `devnet_partition`, `devnet_heal`;
sequencer and challenger only `devnet_info`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

from node.rpc.dispatch import Handler
from node.rpc.errors import ControlDisabled
from node.rpc.params import positional
from node.rpc.server import RpcServer

PREFIX = "devnet_"
INFO = "devnet_info"


def register_control(server: RpcServer, role: str, *, enabled: bool, handlers: Mapping[str, Handler]) -> None:
    """Serve `devnet_info` and every `devnet_*` handler of `handlers`, the latter only when `enabled`."""
    for name in handlers:
        if not name.startswith(PREFIX) or name == INFO:
            raise ValueError(f"devnet control method {name!r} must be named devnet_* (and not {INFO})")
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


__all__ = ["INFO", "register_control"]
