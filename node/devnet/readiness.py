"""Wait until the devnet's processes are ready: /health, JSON-RPC, then a first safe L2 block.

The first safe block needs the settler's first batch in an L1 block. Rather than wait up to a whole
L1 block time for the L1's timer, `wait_first_safe_block` mines one L1 block (the devnet's own
`devnet_mine`, l1.chain.control) as soon as the batcher has a transaction in the L1 (its pending
nonce, l1_getNonce, is 1 or more): that block carries the first batch. Only at start-up, while an
executor has no safe block, at most MAX_STARTUP_MINES times (a retry should the batch still not be
in a block): afterwards the L1's timer alone makes blocks, as before.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from node.crypto import to_checksum_address
from node.devnet.children import Child
from node.devnet.errors import StartupError
from node.devnet.layout import ROLE_EXECUTOR, ROLE_L1, ProcessSpec
from node.devnet.logs import format_tail
from node.devnet.params import BATCHER_KEY, L1_CHAIN_ID, L2_CHAIN_ID
from node.keys.hd import dev_account
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError

POLL_S = 0.02  # a probe costs ~2 ms of CPU; start-up is made of these waits
PROBE_TIMEOUT_S = 2.0
MINE_RETRY_S = 0.5  # mine once more if the first batch is still not in a block this long after the first mine
MAX_STARTUP_MINES = 3


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


def batcher_pending_nonce(spec: ProcessSpec, timeout_s: float = PROBE_TIMEOUT_S) -> int | None:
    """The L1's pending nonce of the devnet's batcher (mempool included): >= 1 once its first batch is sent."""
    batcher = to_checksum_address(dev_account(int(BATCHER_KEY[3:])).address)
    try:
        return int(SyncRpcClient(spec.rpc, timeout=timeout_s).call("l1_getNonce", batcher))
    except (RpcError, RpcTransportError, TypeError, ValueError):
        return None


def mine_l1_block(spec: ProcessSpec, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """One L1 block now (devnet_mine 1); False when the L1 refuses or does not answer."""
    try:
        SyncRpcClient(spec.rpc, timeout=timeout_s).call("devnet_mine", 1)
    except (RpcError, RpcTransportError):
        return False
    return True


class FirstBatchMiner:
    """Mines an L1 block as soon as the settler's first batch is in the L1 mempool (module docstring).

    `step()` is called from the readiness poll while an executor has no safe block yet: it asks the L1
    for the batcher's pending nonce (the L1 answers at once; the settler's own status is slower under
    load) and mines when a batcher transaction is there, at most MAX_STARTUP_MINES times, MINE_RETRY_S
    apart (a retry only matters if the first block missed the batch).
    """

    def __init__(
        self,
        l1: ProcessSpec,
        probe: Callable[[ProcessSpec], int | None] = batcher_pending_nonce,
        mine: Callable[[ProcessSpec], bool] = mine_l1_block,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.l1 = l1
        self.probe, self.mine, self.clock = probe, mine, clock
        self.mined = 0
        self.last_mine = 0.0

    def step(self) -> None:
        if self.mined >= MAX_STARTUP_MINES or (self.mined and self.clock() - self.last_mine < MINE_RETRY_S):
            return
        nonce = self.probe(self.l1)
        if nonce is None or nonce < 1:  # no answer, or no batch sent yet
            return
        if self.mine(self.l1):
            self.mined += 1
            self.last_mine = self.clock()
        else:
            self.mined = MAX_STARTUP_MINES  # an L1 without devnet_mine: its timer will do


def wait_first_safe_block(
    executors: Sequence[Child],
    settler: Child | None,
    deadline: float,
    stopped: Callable[[], bool],
    watched: Sequence[Child] = (),
    l1: ProcessSpec | None = None,
) -> None:
    """Every executor has derived L2 block 1 from L1 (needs the settler to post a batch).

    With the L1's spec, the settler's first batch is mined at once (FirstBatchMiner)."""

    def blame(child: Child) -> list[Child]:
        return [child] + ([settler] if settler is not None else [])

    miner = FirstBatchMiner(l1) if settler is not None and l1 is not None else None

    def safe(spec: ProcessSpec) -> bool:
        if (safe_head(spec) or 0) >= 1:
            return True
        if miner is not None:
            miner.step()
        return False

    wait_until(
        [c for c in executors if c.spec.role == ROLE_EXECUTOR],
        safe,
        "the first safe L2 block on every executor",
        deadline,
        stopped,
        watched,
        blame,
    )
