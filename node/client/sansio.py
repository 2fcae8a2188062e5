"""The sans-IO core: an operation is a generator of steps, run by a sync or an async driver.

    def op() -> Op[int]:
        reply = yield Call(url, "rollup_getNonce", ("0x...", "latest"))
        return int(reply)

An operation yields `Call`s (one JSON-RPC request to one URL) and `Sleep`s
and returns its typed result; it never touches a socket or the clock's
sleep itself. A driver (`run_sync` blocking, `run_async` on asyncio) sends
each Call through its transport and sends the reply back into the
generator, or throws the typed error in (node.client.errors: RpcCallError
subclasses, TransportError), so the operation may catch what it retries.
RollupClient and AsyncRollupClient are these two drivers over the same
operations (node.client.ops).

`Endpoints` says where each kind of call goes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from node.client.errors import ClientError, ResponseError, from_rpc_error, from_transport_error
from node.rpc.client import RpcTransportError
from node.rpc.errors import RpcError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One JSON-RPC request: `method(*params)` at `url` (within `timeout` seconds, else the client's)."""

    url: str
    method: str
    params: tuple[Any, ...] = ()
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Step = Call | Sleep
Op = Generator[Step, Any, T]


@dataclass(frozen=True, slots=True)
class NodeRef:
    """An L2 node by name (as the devnet names it: sequencer, executor-0...) and JSON-RPC URL."""

    name: str
    rpc: str


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where calls go: L2 reads and transactions to `l2`, safe/finalized waits poll every `confirmers` node,
    L1 calls to `l1`, withdrawal proofs from `proof_rpc` (a node deriving from L1, the devnet's challenger),
    devnet control (increase_time) to `control`."""

    l2: NodeRef
    confirmers: tuple[NodeRef, ...]
    l1: str | None = None
    proof_rpc: str | None = None
    ws: str | None = None
    l2_min_fee: int | None = None
    control: str | None = None  # a devnet's control endpoint (node.devnet.controller), from devnet.json

    def require_control(self) -> str:
        if self.control is None:
            raise ClientError(
                "this client has no devnet control endpoint: use RollupClient.from_devnet(DIR) on a devnet "
                "started by `rollup devnet up`"
            )
        return self.control

    def require_l1(self) -> str:
        if self.l1 is None:
            raise ClientError("this client has no L1 endpoint: pass l1_rpc=URL (or use RollupClient.from_devnet)")
        return self.l1

    def require_proof_rpc(self) -> str:
        if self.proof_rpc is None:
            raise ClientError(
                "this client has no node to get withdrawal proofs from: pass proof_rpc=URL (a node deriving "
                "from L1, e.g. the devnet's honest challenger), or use RollupClient.from_devnet"
            )
        return self.proof_rpc


def call(url: str, method: str, *params: Any, timeout: float | None = None) -> Op[Any]:
    """The raw reply of one call."""
    reply = yield Call(url, method, params, timeout)
    return reply


def reply_int(reply: Any, method: str) -> int:
    """A number in a node's reply (a JSON integer or its decimal string); ResponseError otherwise."""
    if isinstance(reply, bool) or not isinstance(reply, int | str):
        raise ResponseError(f"{method}: expected a number, got {reply!r:.80}")
    try:
        return int(reply)
    except ValueError:
        raise ResponseError(f"{method}: expected a number, got {reply!r:.80}") from None


def run_sync(op: Op[T], send: Callable[[Call], Any], sleep: Callable[[float], None] = time.sleep) -> T:
    """Run `op` to its result, sending each Call through `send` (a blocking transport)."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = op.send(reply) if error is None else op.throw(error)
        except StopIteration as stop:
            return stop.value
        reply, error = None, None
        if isinstance(step, Sleep):
            sleep(step.seconds)
            continue
        try:
            reply = send(step)
        except RpcError as exc:
            error = from_rpc_error(exc, step.method)
        except RpcTransportError as exc:
            error = from_transport_error(exc)


async def run_async(op: Op[T], send: Callable[[Call], Awaitable[Any]]) -> T:
    """Run `op` to its result on the event loop, awaiting each Call through `send` (an async transport)."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = op.send(reply) if error is None else op.throw(error)
        except StopIteration as stop:
            return stop.value
        reply, error = None, None
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            continue
        try:
            reply = await send(step)
        except RpcError as exc:
            error = from_rpc_error(exc, step.method)
        except RpcTransportError as exc:
            error = from_transport_error(exc)
