"""The control endpoint's JSON-RPC methods (node.rpc.server.RpcServer) over node.devnet.controller.ops.

    devnet_snapshot() -> id                     devnet_revert(id) -> {id, heads, ...}
    devnet_mine(n) -> {from, to}                devnet_setL1Balance(address, wei)   devnet_setL2Balance(address, wei)
    devnet_increaseTime(seconds) -> {offsetMs, l1Block, l2Block, ...}     (node.devnet.controller.warp)
    devnet_setOraclePrice(market, price)        price: "20.5" quote per one base, or an integer in units per lot
    devnet_kill(role, signal?)                  devnet_restart(role)
    devnet_pause(role)   devnet_resume(role)    devnet_partition(role)  devnet_heal(role)
    devnet_setFaultyProposer("tx"|"garbage"|null)   devnet_dump(path)   devnet_status()
    devnet_snapshotInfo() -> the last snapshot's timings (for benchmarks)

Each call runs in a worker thread (the event loop keeps answering /health); the operations
themselves run one at a time. Errors: ControlRefused (-32003) for what cannot be done now,
UnknownSnapshot (-32009), InvalidParams (-32602) for malformed params.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from node.devnet.controller import params as v
from node.devnet.controller.ops import Controller
from node.devnet.errors import ControlRefusedError, DevnetError, DumpFileError, StartupError, UnknownSnapshotError
from node.rpc.errors import ControlRefused, InvalidParams, RpcError, UnknownSnapshot
from node.rpc.server import RpcServer

Sync = Callable[[list[Any]], Any]


def to_rpc_error(exc: Exception) -> RpcError:
    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, UnknownSnapshotError):
        return UnknownSnapshot(str(exc))
    if isinstance(exc, DumpFileError):
        return InvalidParams(str(exc))
    if isinstance(exc, StartupError):
        return ControlRefused(str(exc), {"logTail": exc.log_tail} if exc.log_tail else None)
    if isinstance(exc, (ControlRefusedError, DevnetError)):
        return ControlRefused(str(exc))
    if isinstance(exc, OSError):
        return ControlRefused(f"{type(exc).__name__}: {exc}")
    raise exc


def handlers(controller: Controller) -> dict[str, Sync]:
    """Each method's synchronous handler: it validates the params, then calls the controller."""

    def snapshot(params: list[Any]) -> Any:
        v.arity(params, 0, 0, "devnet_snapshot")
        result = controller.snapshot()
        controller.last_snapshot = result
        return result["id"]

    def revert(params: list[Any]) -> Any:
        v.arity(params, 1, 1, "devnet_revert")
        return controller.revert(params[0])

    def mine(params: list[Any]) -> Any:
        v.arity(params, 1, 1, "devnet_mine")
        return controller.mine(v.count_param(params[0]))

    def increase_time(params: list[Any]) -> Any:
        v.arity(params, 1, 1, "devnet_increaseTime")
        return controller.increase_time(v.seconds_param(params[0]))

    def set_l1(params: list[Any]) -> Any:
        v.arity(params, 2, 2, "devnet_setL1Balance")
        return controller.set_l1_balance(v.address_param(params[0]), v.wei_param(params[1]))

    def set_l2(params: list[Any]) -> Any:
        v.arity(params, 2, 2, "devnet_setL2Balance")
        return controller.set_l2_balance(v.address_param(params[0]), v.wei_param(params[1]))

    def set_price(params: list[Any]) -> Any:
        v.arity(params, 2, 2, "devnet_setOraclePrice")
        return controller.set_oracle_price(v.market_param(params[0]), v.price_param(params[1]))

    def kill(params: list[Any]) -> Any:
        v.arity(params, 1, 2, "devnet_kill")
        return controller.kill(v.name_param(params[0]), v.signal_param(params[1] if len(params) > 1 else None))

    def one_role(method: str, act: Callable[[str], Any]) -> Sync:
        def handle(params: list[Any]) -> Any:
            v.arity(params, 1, 1, method)
            return act(v.name_param(params[0]))

        return handle

    def faulty(params: list[Any]) -> Any:
        v.arity(params, 1, 1, "devnet_setFaultyProposer")
        return controller.faulty_proposer(v.fault_mode_param(params[0]))

    def dump(params: list[Any]) -> Any:
        v.arity(params, 1, 1, "devnet_dump")
        return controller.dump(v.path_param(params[0]))

    def status(params: list[Any]) -> Any:
        v.arity(params, 0, 0, "devnet_status")
        return controller.status()

    def snapshot_info(params: list[Any]) -> Any:
        v.arity(params, 0, 0, "devnet_snapshotInfo")
        return controller.last_snapshot

    return {
        "devnet_snapshot": snapshot,
        "devnet_snapshotInfo": snapshot_info,
        "devnet_revert": revert,
        "devnet_mine": mine,
        "devnet_increaseTime": increase_time,
        "devnet_setL1Balance": set_l1,
        "devnet_setL2Balance": set_l2,
        "devnet_setOraclePrice": set_price,
        "devnet_kill": kill,
        "devnet_restart": one_role("devnet_restart", controller.restart),
        "devnet_pause": one_role("devnet_pause", controller.pause),
        "devnet_resume": one_role("devnet_resume", controller.resume),
        "devnet_partition": one_role("devnet_partition", lambda name: controller.partition(name, heal=False)),
        "devnet_heal": one_role("devnet_heal", lambda name: controller.partition(name, heal=True)),
        "devnet_setFaultyProposer": faulty,
        "devnet_dump": dump,
        "devnet_status": status,
    }


def in_thread(handler: Sync) -> Callable[[list[Any]], Any]:
    async def run(params: list[Any]) -> Any:
        try:
            return await asyncio.to_thread(handler, params)
        except Exception as exc:  # noqa: BLE001 - mapped onto JSON-RPC errors, the rest re-raised
            raise to_rpc_error(exc) from None

    return run


def build_server(controller: Controller) -> RpcServer:
    server = RpcServer("control")
    for method, handler in handlers(controller).items():
        server.register(method, in_thread(handler))
    server.set_health(lambda: {"status": "ok", "name": "control", "dir": str(controller.layout.root)})
    return server
