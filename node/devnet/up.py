"""`devnet up`: write the configs, start every process in dependency order, wait, supervise.

First the fork server (node.devnet.forkserver): it imports every role's code once, in start order,
and forks each process on request (ROLLUP_DEVNET_NO_FORK=1: cold `python -m` starts instead). On a
fresh directory the CLI has already launched it before its own imports (node.devnet.forkserver.early),
and `up` adopts that one.
Stages (each waits for /health and JSON-RPC before the next starts):
  1. the L1;  2. the sequencer;  3. the settler, the executors, the challenger(s) and the control
  endpoint together.
Then every executor must have derived L2 block 1 (a batch went through L1: `up` mines the L1 block
that carries the settler's first batch as soon as it is sent, node.devnet.readiness), and the venue is
seeded (oracle prices, a resting book, a few positions: node.devnet.venue_seed; it only needs the
sequencer, so it runs in a thread from the sequencer's readiness on, beside stage 3).
Any failure or timeout stops what was started (reverse order) and raises
StartupError carrying the failing process's log tail.
On a devnet whose processes are partly running, `up` restarts only the dead ones (node.devnet.revive).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.devnet.children import Child, stop_children
from node.devnet.configs import p2p_ports, write_configs
from node.devnet.controlproc import control_state, running_control, start_control, stop_control
from node.devnet.errors import DevnetError, DevnetRunningError, StartupError
from node.devnet.forkserver.client import (
    adopt_fork_server,
    cold_only,
    ensure_fork_server,
    start_fork_server,
    start_process,
    stop_fork_server,
)
from node.devnet.layout import (
    ROLE_CHALLENGER,
    ROLE_EXECUTOR,
    ROLE_L1,
    ROLE_SEQUENCER,
    ROLE_SETTLER,
    DevnetLayout,
    ProcessSpec,
)
from node.devnet.liveness import is_alive, live_supervisor, split_processes
from node.devnet.logs import format_tail
from node.devnet.params import DevnetSettings
from node.devnet.ports import check_ports_free
from node.devnet.procfs import start_time
from node.devnet.readiness import Interrupted, wait_first_safe_block, wait_healthy
from node.devnet.revive import partly_running, revive
from node.devnet.settings import resolve_settings
from node.devnet.signals import StopRequest
from node.devnet.state import (
    build_state,
    held_names,
    new_instance,
    read_state,
    recorded_processes,
    saved_settings,
    update_state,
    write_state,
)

DEFAULT_TIMEOUT_S = 60.0
SUPERVISE_POLL_S = 0.2

Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class UpOptions:
    directory: Path
    executors: int | None = None
    base_port: int | None = None
    block_time_ms: int | None = None
    censor: tuple[str, ...] | None = None
    l1_block_time_ms: int | None = None
    challenge_window: int | None = None
    game_clock: int | None = None
    faulty_proposer: int | None = None
    fault_mode: str | None = None
    faulty_challenger: bool | None = None
    detach: bool = False
    reset: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    load: Path | None = None  # a `devnet dump` file to start from (node.devnet.dumpfile)


def running_pids(doc: dict[str, Any]) -> list[tuple[str, int]]:
    """The recorded processes (and supervisor) of a devnet.json that are still running."""
    alive = [(spec.name, pid) for spec, pid in split_processes(doc)[0]]
    supervisor = live_supervisor(doc)
    return alive + ([("supervisor", supervisor)] if supervisor is not None else [])


def prepare(options: UpOptions, report: Report) -> tuple[DevnetLayout, DevnetSettings, list[ProcessSpec], str]:
    """Check the directory and ports, wipe on --reset, unpack a --load file, and write the configs.

    Returns the layout, settings, processes and the chain's instance id (node.devnet.snapshots).
    """
    layout = DevnetLayout.at(options.directory)
    previous = read_state(layout) if layout.state_file.exists() else None
    if previous is not None:
        alive = running_pids(previous)
        if alive:
            pids = ", ".join(f"{name} {pid}" for name, pid in alive)
            raise DevnetRunningError(
                f"the devnet in {layout.root} is still running ({pids}): "
                f"stop it with `rollup devnet down --dir {layout.root}` first"
            )
        stop_control(previous)  # a control endpoint left behind by processes that all died
        stop_fork_server(layout)
    if options.load is not None:
        from node.devnet.dumpfile import check_dump

        check_dump(options.load)  # before anything is wiped or written
        if previous is not None and not options.reset:
            raise DevnetError(
                f"{layout.root} already holds a devnet: load {options.load} into another --dir, "
                "or add --reset to wipe it"
            )
    if options.reset or (options.load is not None and layout.root.exists()):
        if not layout.is_ours_to_wipe():
            raise DevnetError(f"refusing to wipe {layout.root}: it does not look like a devnet directory")
        if layout.root.exists():
            report(f"wiping {layout.root}")
            shutil.rmtree(layout.root)
        previous = None
    saved: dict[str, Any] = saved_settings(previous) if previous is not None else {}
    instance = str(previous.get("instance") or "") if previous is not None else ""
    if options.load is not None:
        from node.devnet.dumpfile import unpack_dump

        saved = unpack_dump(options.load, layout, report)
        instance = new_instance()
    elif previous is not None:
        report(f"resuming the saved chain in {layout.root} (use --reset to start over)")
    elif layout.root.exists() and not layout.is_ours_to_wipe():
        entries = sorted(entry.name for entry in layout.root.iterdir())[:5]
        raise DevnetError(f"{layout.root} exists and is not a devnet directory (it holds {', '.join(entries)})")
    settings = resolve_settings(options, saved)
    specs = layout.processes(settings)
    control = layout.control_spec(settings)
    check_ports_free([*specs, control], extra=p2p_ports(specs, settings))
    write_configs(specs, settings)
    return layout, settings, specs, instance or new_instance()


class Devnet:
    """The started children of one `devnet up`, and devnet.json kept in step with them."""

    def __init__(
        self,
        layout: DevnetLayout,
        settings: DevnetSettings,
        specs: list[ProcessSpec],
        detach: bool,
        report: Report,
        instance: str = "",
    ) -> None:
        self.layout = layout
        self.instance = instance or new_instance()
        self.control: Child | None = None
        self.forkserver: Child | None = None
        self.settings = settings
        self.specs = specs
        self.detach = detach
        self.report = report
        self.children: list[Child] = []
        self.seeding: threading.Thread | None = None
        me = os.getpid()
        self.supervisor = None if detach else {"pid": me, "start_time": start_time(me)}

    def state(self, status: str) -> dict[str, Any]:
        pids = {child.spec.name: child.pid for child in self.children}
        return build_state(
            self.layout,
            self.settings,
            self.specs,
            pids,
            status,
            self.detach,
            self.supervisor if status in ("starting", "running") else None,
            self.instance,
            control_state(self.control),
        )

    def save(self, status: str) -> dict[str, Any]:
        doc = self.state(status)
        write_state(self.layout, doc)
        return doc

    def _role(self, role: str) -> list[ProcessSpec]:
        return [spec for spec in self.specs if spec.role == role]

    def start(self, stop: StopRequest, timeout_s: float) -> dict[str, Any]:
        """Start every stage and wait for readiness; on any failure stop everything and re-raise."""
        deadline = time.monotonic() + timeout_s
        stages = [
            self._role(ROLE_L1),
            self._role(ROLE_SEQUENCER),
            self._role(ROLE_SETTLER) + self._role(ROLE_EXECUTOR) + self._role(ROLE_CHALLENGER),
        ]
        stopped = lambda: stop.requested  # noqa: E731
        try:
            if not cold_only():  # the one the CLI prestarted (node.devnet.forkserver.early), else a new one
                self.forkserver = adopt_fork_server(self.layout, self.detach) or start_fork_server(
                    self.layout, self.detach
                )
            for index, stage in enumerate(stages):
                started = [self._start(spec) for spec in stage]
                last = index == len(stages) - 1
                if last:  # only needed at the end: its imports do not delay the chain's processes
                    self.control = start_control(self.layout, self.settings, self.detach)
                self.save("starting")
                control = [self.control] if self.control is not None else []
                wait_healthy(started + control, deadline, stopped, watched=[*self.children, *control])
                self.report("ready: " + ", ".join(child.spec.name for child in started))
                if any(child.spec.role == ROLE_SEQUENCER for child in started):
                    self.seeding = threading.Thread(target=_seed_venue, args=(self, self.report), daemon=True)
                    self.seeding.start()
            self.report("waiting for the first L2 block to be safe on every executor")
            settler = next((c for c in self.children if c.spec.role == ROLE_SETTLER), None)
            l1 = next(spec for spec in self.specs if spec.role == ROLE_L1)
            wait_first_safe_block(self.children, settler, deadline, stopped, watched=self.children, l1=l1)
        except BaseException as exc:
            self.shutdown("failed" if not isinstance(exc, Interrupted) else "stopped")
            if isinstance(exc, StartupError):
                exc.args = (f"{exc.args[0]} (everything started was stopped)",)
            raise
        return self.save("running")

    def _start(self, spec: ProcessSpec) -> Child:
        self.report(f"starting {spec.name} on port {spec.port} (log {spec.log})")
        child = start_process(spec, self.detach)
        self.children.append(child)
        return child

    def shutdown(self, status: str = "stopped") -> None:
        if self.control is not None:
            stop_children([self.control], report=self.report)
        self._adopt_recorded()
        stop_children(self.children, report=self.report)
        if self.forkserver is not None:
            stop_children([self.forkserver])
        self.save(status)

    def _adopt_recorded(self) -> None:
        """Take over the processes the control endpoint (re)started: devnet.json records their pids."""
        try:
            recorded = {spec.name: pid for spec, pid in recorded_processes(read_state(self.layout))}
        except DevnetError:
            return
        for index, child in enumerate(self.children):
            pid = recorded.get(child.spec.name)
            if pid is not None and pid != child.pid and is_alive(child.spec, pid):
                if child.popen is not None:
                    child.popen.poll()  # reap the old one
                self.children[index] = Child(child.spec, pid)

    def _unexpected_exit(self) -> Child | None:
        """A child that died without the control endpoint having stopped (or replaced) it on purpose."""
        dead = [child for child in self.children if not child.alive()]
        if self.control is not None and not self.control.alive():
            return self.control
        if not dead:
            return None
        doc = read_state(self.layout)
        held = held_names(doc)
        self._adopt_recorded()
        return next((c for c in self.children if not c.alive() and c.spec.name not in held), None)

    def supervise(self, stop: StopRequest) -> int:
        """Foreground: wait for a signal (exit 0) or an unexpected child exit (exit 1)."""
        while True:
            if stop.requested:
                self.report(f"{stop.signal_name}: stopping the devnet")
                self.shutdown("stopped")
                self.report("devnet stopped")
                return 0
            dead = self._unexpected_exit()
            if dead is not None:
                self.report(
                    f"error: {dead.spec.name} (pid {dead.pid}) exited unexpectedly with code {dead.final_exit_code()}\n"
                    + format_tail(dead.spec.name, dead.spec.log)
                )
                self.report("stopping the rest of the devnet")
                self.shutdown("failed")
                return 1
            time.sleep(SUPERVISE_POLL_S)


def ensure_control(layout: DevnetLayout, doc: dict[str, Any]) -> dict[str, Any]:
    """Start the control endpoint of a revived (detached) devnet if it is not running; returns devnet.json."""
    if running_control(doc) is not None:
        return doc
    settings = resolve_settings(UpOptions(layout.root), saved_settings(doc))
    child = start_control(layout, settings, detach=True)
    wait_healthy([child], time.monotonic() + DEFAULT_TIMEOUT_S, lambda: False)
    held = sorted(held_names(doc))
    return update_state(
        layout,
        lambda current: current.update(
            control=control_state(child, held), instance=current.get("instance") or new_instance()
        ),
    )


def finish_seeding(devnet: Devnet, report: Report) -> None:
    """Wait for the venue seeding started beside stage 3 (or seed now if it was not started)."""
    if devnet.seeding is None:
        _seed_venue(devnet, report)
    else:
        devnet.seeding.join()


def _seed_venue(devnet: Devnet, report: Report) -> None:
    """Oracle prices, a resting book and a few positions (node.devnet.venue_seed); a failure is only reported."""
    from node.devnet.venue_seed import seed_venue

    sequencer = next(spec for spec in devnet.specs if spec.role == ROLE_SEQUENCER)
    try:
        seed_venue(sequencer.rpc, report)
    except Exception as exc:  # noqa: BLE001 - the devnet itself is up; seeding is a convenience
        report(f"warning: seeding the venue failed: {exc}")


def run_up(options: UpOptions, on_ready: Callable[[dict[str, Any], float], None], report: Report) -> int:
    """The whole `devnet up`: returns the exit code (foreground: when the devnet stops)."""
    began = time.monotonic()
    with StopRequest() as stop:
        layout = DevnetLayout.at(options.directory)
        partial = partly_running(layout)
        if partial is not None:
            ensure_fork_server(layout)
            try:
                state = revive(
                    layout,
                    partial,
                    options,
                    options.reset,
                    options.detach,
                    options.timeout_s,
                    lambda: stop.requested,
                    report,
                )
            except Interrupted:
                report(f"{stop.signal_name}: restart interrupted")
                return 130
            state = ensure_control(layout, state)
            on_ready(state, time.monotonic() - began)
            return 0
        layout, settings, specs, instance = prepare(options, report)
        devnet = Devnet(layout, settings, specs, options.detach, report, instance)
        try:
            state = devnet.start(stop, options.timeout_s)
        except Interrupted:
            report(f"{stop.signal_name}: start-up interrupted, devnet stopped")
            return 130
        finish_seeding(devnet, report)
        on_ready(state, time.monotonic() - began)
        if options.detach:
            return 0
        return devnet.supervise(stop)
