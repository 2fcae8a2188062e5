"""Start the devnet's processes as children and stop them (SIGTERM, then SIGKILL).

A child runs `python -m <its role's package> --config FILE` (node.lifecycle;
the test-only fault modes run their own packages, l1.faults) with stdout and
stderr appended to its log file. It always leads its own process group, so a
Ctrl-C in the terminal reaches only `devnet up`, which then stops the children
in reverse dependency order. Foreground children also get SIGTERM if the CLI
dies (Linux PR_SET_PDEATHSIG); detached ones get their own session and
outlive the CLI.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from node.devnet.layout import ProcessSpec
from node.devnet.pidfile import read_record
from node.devnet.procfs import is_our_process, is_running

STOP_TIMEOUT_S = 10.0
KILL_TIMEOUT_S = 5.0
EXIT_RECORD_TIMEOUT_S = 2.0  # a fork server busy importing reaps its child once the import is done
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """A running (or finished) devnet process; `popen` is set when it is our direct child."""

    spec: ProcessSpec
    pid: int
    popen: subprocess.Popen[bytes] | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return is_our_process(self.pid, str(self.spec.config))

    def exit_code(self) -> int | None:
        """Its exit status once it ended (-N: killed by signal N); for a forked process, as its server recorded it."""
        if self.popen is not None:
            return self.popen.poll()
        record = read_record(self.spec.config)
        return record.exit if record is not None and record.pid == self.pid else None

    def final_exit_code(self, timeout_s: float = EXIT_RECORD_TIMEOUT_S) -> int | None:
        """exit_code() of a child that has ended, waiting a little for a fork server to reap and record it."""
        deadline = time.monotonic() + timeout_s
        while (code := self.exit_code()) is None and self.popen is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return code


def child_command(spec: ProcessSpec) -> list[str]:
    return [sys.executable, "-m", spec.entry_module, "--config", str(spec.config)]


def start_child(spec: ProcessSpec, detach: bool, why: str = "rollup devnet up") -> Child:
    """Start `spec`'s process, its output appended to its log after a line naming `why` (the command)."""
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with spec.log.open("ab") as log:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"\n=== {stamp} {why}: starting {spec.name} ===\n".encode())
        log.flush()
        if detach:
            popen = subprocess.Popen(
                child_command(spec),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        else:
            popen = subprocess.Popen(
                child_command(spec),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0,
                preexec_fn=_parent_death_signal(),
            )
    return Child(spec, popen.pid, popen)


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when we die (None where unsupported)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)

    return set_pdeathsig


def stop_children(
    children: Sequence[Child], timeout_s: float = STOP_TIMEOUT_S, report: Callable[[str], None] = lambda line: None
) -> list[str]:
    """Stop `children` one by one in reverse order; return the names that needed SIGKILL."""
    killed: list[str] = []
    for child in reversed(children):
        if not child.alive():
            _reap(child)
            continue
        report(f"stopping {child.spec.name} (pid {child.pid})")
        signal_child(child, signal.SIGTERM, group=False)
        if not wait_gone(child, timeout_s):
            report(f"{child.spec.name} (pid {child.pid}) did not stop within {timeout_s:.0f} s: SIGKILL")
            signal_child(child, signal.SIGKILL, group=True)
            wait_gone(child, KILL_TIMEOUT_S)
            killed.append(child.spec.name)
        _reap(child)
    return killed


def signal_child(child: Child, sig: signal.Signals, group: bool) -> None:
    """Send `sig` to the child (its whole process group with `group`, when it leads one) while it is ours."""
    if not child.alive():  # re-checks ownership for pids that are not our children
        return
    try:
        if group and os.getpgid(child.pid) == child.pid:
            os.killpg(child.pid, sig)
        else:
            os.kill(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def wait_gone(child: Child, timeout_s: float) -> bool:
    """True once the child has exited (within `timeout_s`)."""
    if child.popen is not None:
        try:
            child.popen.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(child.pid):
            return True
        time.sleep(0.05)
    return not is_running(child.pid)


def _reap(child: Child) -> None:
    if child.popen is not None:
        try:
            child.popen.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
