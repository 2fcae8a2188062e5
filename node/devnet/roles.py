"""`devnet kill ROLE` and `devnet restart ROLE`: act on one process of a running (detached) devnet.

A restart starts the role again from its config, in place: the same ports, the same data
directory, its log appended to. The new pid goes into devnet.json, and the restart returns
once the process answers /health and JSON-RPC (or stops it again and raises StartupError
with its log tail). A foreground `devnet up` stops the whole devnet when one process dies,
so both commands refuse while one supervises the devnet.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from node.devnet.children import (
    KILL_TIMEOUT_S,
    STOP_TIMEOUT_S,
    Child,
    signal_child,
    stop_children,
    wait_gone,
)
from node.devnet.configs import p2p_ports
from node.devnet.errors import DevnetError, StartupError, SupervisedError, UnknownRoleError
from node.devnet.forkserver.client import start_process
from node.devnet.layout import DevnetLayout, ProcessSpec
from node.devnet.liveness import is_alive, live_supervisor, split_processes
from node.devnet.logs import format_tail
from node.devnet.ports import wait_ports_free
from node.devnet.readiness import Interrupted, wait_healthy
from node.devnet.settings import saved_devnet_settings
from node.devnet.state import read_state, record_pid, recorded_processes, saved_settings

DEFAULT_RESTART_TIMEOUT_S = 60.0
SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM}

Report = Callable[[str], None]
Starter = Callable[[ProcessSpec, str], Child]  # e.g. node.devnet.warm.WarmPool.take: a pre-imported standby


@dataclass(frozen=True, slots=True)
class KillResult:
    name: str
    pid: int | None
    signal: str
    result: str  # "killed" | "stopped" (it exited on TERM) | "not running" | "still running"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RestartResult:
    name: str
    pid: int
    previous_pid: int | None
    was_running: bool  # it was stopped first (TERM, then KILL)
    seconds: float  # from starting the process to healthy

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find_process(doc: dict[str, Any], name: str) -> tuple[ProcessSpec, int | None]:
    """The recorded process named `name`, or the only process of role `name` (e.g. `executor` with one)."""
    recorded = recorded_processes(doc)
    exact = [(spec, pid) for spec, pid in recorded if spec.name == name]
    by_role = [(spec, pid) for spec, pid in recorded if spec.role == name]
    if exact:
        return exact[0]
    if len(by_role) == 1:
        return by_role[0]
    names = ", ".join(spec.name for spec, _ in recorded)
    hint = f" (there are {len(by_role)}: name one)" if by_role else ""
    raise UnknownRoleError(f"no devnet process {name!r}{hint}; the devnet's processes are {names}")


def _require_unsupervised(doc: dict[str, Any], layout: DevnetLayout, what: str) -> None:
    supervisor = live_supervisor(doc)
    if supervisor is not None:
        raise SupervisedError(
            f"the devnet in {layout.root} runs under a foreground `rollup devnet up` (pid {supervisor}), which stops "
            f"every process when one dies: to {what} a single role, start the devnet with `rollup devnet up --detach`"
        )


def kill_role(
    layout: DevnetLayout, name: str, sig: signal.Signals = signal.SIGKILL, supervised_ok: bool = False
) -> KillResult:
    """Send `sig` to one role (KILL: its whole process group, as a crash would) and wait until it is gone.

    `supervised_ok`: the control endpoint, which first marks the role held (node.devnet.state.set_held)
    so a foreground supervisor tolerates its exit.
    """
    doc = read_state(layout)
    if not supervised_ok:
        _require_unsupervised(doc, layout, "kill")
    spec, pid = find_process(doc, name)
    if pid is None or not is_alive(spec, pid):
        return KillResult(spec.name, pid, sig.name, "not running")
    child = Child(spec, pid)
    signal_child(child, sig, group=sig == signal.SIGKILL)
    gone = wait_gone(child, KILL_TIMEOUT_S if sig == signal.SIGKILL else STOP_TIMEOUT_S)
    outcome = "still running" if not gone else ("killed" if sig == signal.SIGKILL else "stopped")
    return KillResult(spec.name, pid, sig.name, outcome)


def restart_role(
    layout: DevnetLayout,
    name: str,
    report: Report = lambda line: None,
    timeout_s: float = DEFAULT_RESTART_TIMEOUT_S,
    stopped: Callable[[], bool] = lambda: False,
    supervised_ok: bool = False,
    starter: Starter | None = None,
) -> RestartResult:
    """Start one role again from its config (stopping it first if it runs) and wait until it is healthy."""
    doc = read_state(layout)
    if not supervised_ok:
        _require_unsupervised(doc, layout, "restart")
    spec, pid = find_process(doc, name)
    others = [other for other, _ in split_processes(doc)[0] if other.name != spec.name]
    if not others:
        raise DevnetError(
            f"the devnet in {layout.root} is stopped: start it with `rollup devnet up --dir {layout.root}`"
        )
    was_running = is_alive(spec, pid)
    if was_running and pid is not None:
        report(f"{spec.name} (pid {pid}) is running: stopping it first")
        if stop_children([Child(spec, pid)], report=report):
            report(f"{spec.name} needed SIGKILL")
    return _start_in_place(layout, doc, spec, pid, was_running, report, timeout_s, stopped, starter)


def _start_in_place(
    layout: DevnetLayout,
    doc: dict[str, Any],
    spec: ProcessSpec,
    previous_pid: int | None,
    was_running: bool,
    report: Report,
    timeout_s: float,
    stopped: Callable[[], bool],
    starter: Starter | None = None,
) -> RestartResult:
    if not spec.config.exists():
        raise DevnetError(
            f"{spec.name}'s config {spec.config} is missing: `rollup devnet up --dir {layout.root}` rewrites it"
        )
    settings = saved_devnet_settings(saved_settings(doc))
    wait_ports_free([spec], extra=p2p_ports([spec], settings))
    report(f"restarting {spec.name} on port {spec.port} (log {spec.log})")
    began = time.monotonic()
    why = "rollup devnet restart"
    child = starter(spec, why) if starter is not None else start_process(spec, detach=True, why=why)
    record_pid(layout, spec.name, child.pid)
    try:
        wait_healthy([child], began + timeout_s, stopped)
    except (StartupError, Interrupted) as exc:
        stop_children([child], report=report)
        if isinstance(exc, Interrupted):
            raise
        raise StartupError(
            f"{spec.name} did not become healthy after its restart ({exc}); it was stopped again",
            exc.log_tail or format_tail(spec.name, spec.log),
        ) from None
    seconds = time.monotonic() - began
    report(f"ready: {spec.name} (pid {child.pid}, {seconds:.1f} s)")
    return RestartResult(spec.name, child.pid, previous_pid, was_running, round(seconds, 3))


def restart_dead(
    layout: DevnetLayout,
    report: Report,
    timeout_s: float = DEFAULT_RESTART_TIMEOUT_S,
    stopped: Callable[[], bool] = lambda: False,
) -> list[RestartResult]:
    """Restart, in start order and one at a time, every process of a partly running devnet that is down."""
    doc = read_state(layout)
    _require_unsupervised(doc, layout, "restart")
    alive, dead = split_processes(doc)
    if not alive:
        raise DevnetError(f"no process of the devnet in {layout.root} is running: nothing to restart in place")
    pids = {spec.name: pid for spec, pid in recorded_processes(doc)}
    return [_start_in_place(layout, doc, spec, pids.get(spec.name), False, report, timeout_s, stopped) for spec in dead]
