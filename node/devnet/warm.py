"""Warm starts for the control endpoint's reverts and restarts: forked, or a pre-imported standby.

`WarmPool.take(spec)` returns a started Child for `spec`: forked by the devnet's fork server
(node.devnet.forkserver: every role imported once, a fork is instant) when it runs; else a standby
(node.devnet.standby) told to go when one is ready for that exact config and module; else a cold
`python -m` start. `refill(specs)` starts standbys in the background for the next revert, only
when there is no fork server. Standbys hold a pipe from the control endpoint as stdin: when it
exits, they read end of file and exit too, having touched nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from node.devnet.children import Child, start_child
from node.devnet.forkserver.client import fork_child, layout_of, running_fork_server
from node.devnet.layout import ProcessSpec
from node.devnet.standby import GO


def standby_command(spec: ProcessSpec) -> list[str]:
    return [sys.executable, "-m", "node.devnet.standby", "--module", spec.entry_module, "--config", str(spec.config)]


class WarmPool:
    """Standby processes keyed by (config, module); thread-safe."""

    def __init__(self) -> None:
        self._standbys: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def _key(self, spec: ProcessSpec) -> tuple[str, str]:
        return (str(spec.config), spec.entry_module)

    def refill(self, specs: Sequence[ProcessSpec]) -> None:
        """Start a standby for every spec that has none (returns at once; they import in the background)."""
        if specs and running_fork_server(layout_of(specs[0])) is not None:
            return  # every start is a fork
        with self._lock:
            for spec in specs:
                key = self._key(spec)
                current = self._standbys.get(key)
                if current is not None and current.poll() is None:
                    continue
                spec.log.parent.mkdir(parents=True, exist_ok=True)
                with spec.log.open("ab") as log:
                    stamp = datetime.now(UTC).isoformat(timespec="seconds")
                    log.write(
                        f"\n=== {stamp} devnet control: standby for {spec.name} (runs on a revert) ===\n".encode()
                    )
                    log.flush()
                    self._standbys[key] = subprocess.Popen(
                        standby_command(spec),
                        stdin=subprocess.PIPE,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "PYTHONUNBUFFERED": "1"},
                        start_new_session=True,
                    )

    def take(self, spec: ProcessSpec, why: str) -> Child:
        """Run `spec`: forked by the fork server, else its standby if one is alive, else a cold start."""
        forked = fork_child(spec, detach=True, why=why)
        if forked is not None:
            return forked
        with self._lock:
            popen = self._standbys.pop(self._key(spec), None)
        if popen is not None and popen.poll() is None and popen.stdin is not None:
            try:
                popen.stdin.write(GO)
                popen.stdin.close()
                return Child(spec, popen.pid, popen)
            except (BrokenPipeError, OSError):
                pass
        return start_child(spec, detach=True, why=why)

    def close(self) -> None:
        """Let every standby go (end of file on its stdin: it exits)."""
        with self._lock:
            standbys, self._standbys = list(self._standbys.values()), {}
        for popen in standbys:
            if popen.stdin is not None:
                try:
                    popen.stdin.close()
                except OSError:
                    pass
