"""Wait until the devnet's processes are ready: /health, JSON-RPC, then a first safe L2 block."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from node.devnet.children import Child
from node.devnet.errors import StartupError
from node.devnet.layout import ROLE_EXECUTOR, ROLE_L1, ProcessSpec
from node.devnet.logs import format_tail
from node.devnet.params import L1_CHAIN_ID, L2_CHAIN_ID
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError

POLL_S = 0.02  # a probe costs ~2 ms of CPU; start-up is made of these waits
PROBE_TIMEOUT_S = 2.0


class Interrupted(Exception):
    """A stop was requested (Ctrl-C / SIGTERM) while waiting."""


def health(spec: ProcessSpec, timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, Any] | None:
    """The /health report when it says ok (HTTP 200), else None."""
    try:
        with urllib.request.urlopen(spec.rpc + "health", timeout=timeout_s) as response:
            body = json.loads(response.read() or b"{}")
    except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException):
        # HTTPException: e.g. BadStatusLine when a probe of a port nobody listens on yet, inside the
        # ephemeral range, connects to itself and reads back its own request
        return None
    return body if isinstance(body, dict) else {}


def health_state(spec: ProcessSpec, timeout_s: float = PROBE_TIMEOUT_S) -> str | None:
    """The /health status: "ok", or what a 503 reports (e.g. a settler's "stuck"); None if it does not answer."""
    try:
        with urllib.request.urlopen(spec.rpc + "health", timeout=timeout_s) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        with exc:
            try:
                body = json.loads(exc.read() or b"{}")
            except ValueError:
                return f"http {exc.code}"
    except (OSError, ValueError, http.client.HTTPException):
        return None
    return str(body.get("status", "ok")) if isinstance(body, dict) else "ok"


def rpc_answers(spec: ProcessSpec, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when the process answers JSON-RPC (with the right chain id where it has one)."""
    client = SyncRpcClient(spec.rpc, timeout=timeout_s)
    try:
        if spec.role == ROLE_L1:
            return bool(client.call("l1_chainId") == L1_CHAIN_ID)
        if spec.is_l2_node:
            return bool(client.call("rollup_chainId") == L2_CHAIN_ID)
        client.call("settler_status")  # any well-formed JSON-RPC reply, error or not, will do
        return True
    except RpcError:
        return not spec.is_l2_node and spec.role != ROLE_L1
    except RpcTransportError:
        return False


def safe_head(spec: ProcessSpec, timeout_s: float = PROBE_TIMEOUT_S) -> int | None:
    try:
        status = SyncRpcClient(spec.rpc, timeout=timeout_s).call("rollup_syncStatus")
        return int(status["safe"]["number"])
    except (RpcError, RpcTransportError, KeyError, TypeError, ValueError):
        return None


def wait_until(
    children: Sequence[Child],
    ready: Callable[[ProcessSpec], bool],
    what: str,
    deadline: float,
    stopped: Callable[[], bool],
    watched: Sequence[Child] = (),
    blame: Callable[[Child], list[Child]] | None = None,
) -> None:
    """Poll until `ready` holds for every child; raise StartupError naming the first that is not.

    Every child in `children` and `watched` must stay alive meanwhile.
    """
    pending = list(children)
    while pending:
        if stopped():
            raise Interrupted()
        for child in [*watched, *children]:
            _check_alive(child, what)
        for child in list(pending):
            if ready(child.spec):
                pending.remove(child)
        if not pending:
            return
        if time.monotonic() >= deadline:
            late = pending[0]
            culprits = blame(late) if blame is not None else [late]
            tails = "\n".join(format_tail(c.spec.name, c.spec.log) for c in culprits)
            names = ", ".join(c.spec.name for c in pending)
            raise StartupError(f"timed out waiting for {what}: {names}", tails)
        time.sleep(POLL_S)


def _check_alive(child: Child, what: str) -> None:
    if child.alive():
        return
    code = child.final_exit_code()
    how = f"exited with code {code}" if code is not None else "is not running"
    raise StartupError(
        f"{child.spec.name} (pid {child.pid}) {how} while waiting for {what}",
        format_tail(child.spec.name, child.spec.log),
    )


def wait_healthy(
    children: Sequence[Child], deadline: float, stopped: Callable[[], bool], watched: Sequence[Child] = ()
) -> None:
    wait_until(
        children,
        lambda spec: health(spec) is not None and rpc_answers(spec),
        "/health and JSON-RPC",
        deadline,
        stopped,
        watched,
    )


def wait_first_safe_block(
    executors: Sequence[Child],
    settler: Child | None,
    deadline: float,
    stopped: Callable[[], bool],
    watched: Sequence[Child] = (),
) -> None:
    """Every executor has derived L2 block 1 from L1 (needs the settler to post a batch)."""

    def blame(child: Child) -> list[Child]:
        return [child] + ([settler] if settler is not None else [])

    wait_until(
        [c for c in executors if c.spec.role == ROLE_EXECUTOR],
        lambda spec: (safe_head(spec) or 0) >= 1,
        "the first safe L2 block on every executor",
        deadline,
        stopped,
        watched,
        blame,
    )
