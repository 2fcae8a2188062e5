"""Crashes on a schedule: kill -9 a random role every N seconds and restart it; one long settler outage.

The plan is drawn up front from a seeded RNG (`plan_chaos`), so a seed names a run. `Chaos` runs it
in a thread through node.devnet.roles (the same code as `rollup devnet kill|restart`) and, for each
restart, a watcher measures the recovery: from the restart until the role answers /health and has
caught up, which means, by role:
  sequencer   it has sealed a block past every executor's head when it came back;
  executor    its unsafe head reached the sequencer's head when it came back;
  challenger  its safe head reached the highest executor safe head when it came back;
  settler     an executor's safe head reached the sequencer's head when it came back (a batch
              covering everything sealed meanwhile was posted and derived);
  l1          the sequencer follows an L1 head at least the one the L1 had when it came back.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.devnet.errors import DevnetError
from node.devnet.layout import ROLE_CHALLENGER, ROLE_EXECUTOR, ROLE_L1, ROLE_SEQUENCER, ROLE_SETTLER, DevnetLayout
from node.devnet.roles import kill_role, restart_role
from node.devnet.state import read_state, recorded_processes
from node.rollup_config import load_rollup_config
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from node.service import load_toml

RESTART_TIMEOUT_S = 90.0
RESTART_ATTEMPTS = 2
CATCH_UP_TIMEOUT_S = 180.0
POLL_S = 0.2
PROBE_TIMEOUT_S = 3.0

Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ChaosEvent:
    at: float  # seconds after the load started
    role: str  # a process name
    down_s: float  # how long it stays down before its restart
    outage: bool = False


def sequencing_window_seconds(layout: DevnetLayout) -> float:
    """The sequencing window in seconds, from the configs: L2 [rollup] sequencing_window x L1 block time."""
    specs = {spec.role: spec for spec, _ in recorded_processes(read_state(layout))}
    window = load_rollup_config(load_toml(specs[ROLE_SEQUENCER].config)).rules.sequencing_window
    block_ms = int(load_toml(specs[ROLE_L1].config)["l1"]["block_time_ms"])
    return window * block_ms / 1000


def plan_chaos(
    rng: random.Random,
    roles: list[str],
    seconds: float,
    kill_every: float,
    outage_s: float,
    down_s: tuple[float, float] = (0.5, 2.0),
    outage_role: str = "settler",
) -> list[ChaosEvent]:
    """A kill every `kill_every` s (a random role of `roles`, never the outage role while it is out) and one
    outage of `outage_role` for `outage_s`, starting about a third into the run; all done by `seconds`."""
    if outage_s >= seconds:
        raise DevnetError(f"a {outage_s:.0f} s outage does not fit in a {seconds:.0f} s run")
    outage_at = min(max(kill_every / 2, seconds / 3), seconds - outage_s - 1)
    events = [ChaosEvent(round(outage_at, 2), outage_role, outage_s, outage=True)]
    at = kill_every
    while at + down_s[1] < seconds:
        during_outage = outage_at <= at <= outage_at + outage_s
        choices = [role for role in roles if not (during_outage and role == outage_role)]
        if choices:
            events.append(ChaosEvent(at, rng.choice(choices), round(rng.uniform(*down_s), 2)))
        at += kill_every
    return sorted(events, key=lambda e: e.at)


@dataclass
class Recovery:
    role: str
    outage: bool
    killed_at: float  # seconds after the load started
    down_s: float = 0.0  # from the kill to the restart
    healthy_s: float | None = None  # from the restart to /health
    recovered_s: float | None = None  # from the restart to caught up
    target: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "outage": self.outage,
            "killed_at": round(self.killed_at, 1),
            "down_s": round(self.down_s, 1),
            "healthy_s": self.healthy_s,
            "recovered_s": self.recovered_s,
            "target": self.target,
            "error": self.error,
        }


class Heads:
    """Reads the devnet's heads: (unsafe, safe, l1Head) of an L2 node, the L1's block number."""

    def __init__(self, layout: DevnetLayout) -> None:
        specs = [spec for spec, _ in recorded_processes(read_state(layout))]
        self.urls = {spec.name: spec.rpc for spec in specs}
        self.roles = {spec.name: spec.role for spec in specs}
        self.start_order = {spec.name: i for i, spec in enumerate(specs)}
        self.executors = [spec.name for spec in specs if spec.role == ROLE_EXECUTOR]
        self.sequencer = next(spec.name for spec in specs if spec.role == ROLE_SEQUENCER)
        self.l1 = next(spec.name for spec in specs if spec.role == ROLE_L1)

    def l2(self, name: str) -> tuple[int, int, int] | None:
        try:
            status = SyncRpcClient(self.urls[name], timeout=PROBE_TIMEOUT_S).call("rollup_syncStatus")
            return int(status["unsafe"]["number"]), int(status["safe"]["number"]), int(status["l1Head"])
        except (RpcTransportError, RpcError, KeyError, TypeError, ValueError):
            return None

    def l1_head(self) -> int | None:
        try:
            return int(SyncRpcClient(self.urls[self.l1], timeout=PROBE_TIMEOUT_S).call("l1_blockNumber"))
        except (RpcTransportError, RpcError, TypeError, ValueError):
            return None

    def best(self, names: list[str], index: int) -> int:
        """The highest head `index` (0 unsafe, 1 safe) among `names` that answer; -1 if none does."""
        values = [heads[index] for heads in map(self.l2, names) if heads is not None]
        return max(values, default=-1)

    def target(self, name: str) -> dict[str, int]:
        """What `name` must reach to count as caught up (taken when it is healthy again)."""
        role = self.roles[name]
        if role == ROLE_SEQUENCER:
            return {"sequencer_unsafe": self.best(self.executors, 0) + 1}
        if role == ROLE_EXECUTOR:
            return {"unsafe": self.best([self.sequencer], 0)}
        if role == ROLE_CHALLENGER:
            return {"safe": self.best(self.executors, 1)}
        if role == ROLE_SETTLER:
            return {"executor_safe": self.best([self.sequencer], 0)}
        return {"sequencer_l1_head": self.l1_head() or 0}

    def reached(self, name: str, target: dict[str, int]) -> bool:
        ((what, value),) = target.items()
        if what == "sequencer_unsafe":
            return self.best([self.sequencer], 0) >= value
        if what == "unsafe":
            return self.best([name], 0) >= value
        if what == "safe":
            return self.best([name], 1) >= value
        if what == "executor_safe":
            return self.best(self.executors, 1) >= value
        heads = self.l2(self.sequencer)
        return heads is not None and heads[2] >= value


class Chaos(threading.Thread):
    """Runs a plan against the devnet in `directory` (until it is done or `stop` is set); `recoveries` fills in
    as it goes, one per kill, and `outage_heads` with the sequencer's head when the outage began and ended."""

    def __init__(
        self, directory: Path, plan: list[ChaosEvent], t0: float, stop: threading.Event, report: Report
    ) -> None:
        super().__init__(daemon=True, name="chaos")
        self.layout = DevnetLayout.at(directory)
        self.plan, self.t0, self.stop, self.report = plan, t0, stop, report
        self.heads = Heads(self.layout)
        self.recoveries: list[Recovery] = []
        self.watchers: list[threading.Thread] = []
        self.outage_heads: dict[str, int] = {}

    def kill_times(self, role: str) -> list[float]:
        """time.monotonic() of each kill of the processes with `role`."""
        return [self.t0 + r.killed_at for r in self.recoveries if self.heads.roles[r.role] == role]

    def run(self) -> None:
        pending: list[tuple[float, ChaosEvent, Recovery | None]] = [(e.at, e, None) for e in self.plan]
        while pending and not self.stop.is_set():
            pending.sort(key=lambda item: item[0])
            at, event, recovery = pending.pop(0)
            if self.stop.wait(max(0.0, self.t0 + at - time.monotonic())):
                break
            if recovery is None:
                recovery = self._kill(event)
                pending.append((self.now() + event.down_s, event, recovery))
                continue
            for item in list(pending):  # a role this one needs (the L1 before the settler, say) comes back first
                _, other, killed = item
                if killed is not None and not other.outage and self._starts_before(other, event):
                    pending.remove(item)
                    self._restart(other, killed)
            self._restart(event, recovery)
        self._restart_leftovers(pending)

    def _starts_before(self, first: ChaosEvent, second: ChaosEvent) -> bool:
        return self.heads.start_order[first.role] < self.heads.start_order[second.role]

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _kill(self, event: ChaosEvent) -> Recovery:
        recovery = Recovery(event.role, event.outage, self.now())
        if event.outage:
            self.outage_heads["start"] = self.heads.best([self.heads.sequencer], 0)
        result = kill_role(self.layout, event.role, signal.SIGKILL)
        self.report(
            f"[{recovery.killed_at:6.1f} s] kill -9 {event.role} (pid {result.pid}): {result.result}"
            + (f"; down for {event.down_s:.0f} s (settler outage)" if event.outage else "")
        )
        self.recoveries.append(recovery)
        return recovery

    def _restart(self, event: ChaosEvent, recovery: Recovery) -> None:
        if event.outage:
            self.outage_heads["end"] = self.heads.best([self.heads.sequencer], 0)
        began = time.monotonic()
        recovery.down_s = self.now() - recovery.killed_at
        for attempt in range(RESTART_ATTEMPTS):
            try:
                result = restart_role(self.layout, event.role, timeout_s=RESTART_TIMEOUT_S)
            except DevnetError as exc:
                recovery.error = f"restart {attempt + 1}: {exc}"
                self.report(f"[{self.now():6.1f} s] restart of {event.role} failed: {exc}")
                continue
            recovery.healthy_s, recovery.error = result.seconds, None
            break
        if recovery.healthy_s is None:
            return
        recovery.target = self.heads.target(event.role)
        self.report(
            f"[{self.now():6.1f} s] {event.role} healthy after {recovery.healthy_s:.1f} s; catching up to "
            f"{recovery.target}"
        )
        watcher = threading.Thread(target=self._watch, args=(event.role, recovery, began), daemon=True)
        watcher.start()
        self.watchers.append(watcher)

    def _watch(self, role: str, recovery: Recovery, began: float) -> None:
        deadline = began + CATCH_UP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.heads.reached(role, recovery.target):
                recovery.recovered_s = round(time.monotonic() - began, 2)
                self.report(f"[{self.now():6.1f} s] {role} caught up {recovery.recovered_s:.1f} s after its restart")
                return
            time.sleep(POLL_S)
        recovery.error = f"not caught up to {recovery.target} within {CATCH_UP_TIMEOUT_S:.0f} s"
        self.report(f"[{self.now():6.1f} s] {role}: {recovery.error}")

    def _restart_leftovers(self, pending: list[tuple[float, ChaosEvent, Recovery | None]]) -> None:
        """Stopped early: restart whatever this thread killed and has not brought back, in start order."""
        for _, event, recovery in sorted(pending, key=lambda item: self.heads.start_order[item[1].role]):
            if recovery is not None:
                self._restart(event, recovery)

    def finish(self, timeout_s: float = CATCH_UP_TIMEOUT_S) -> None:
        """Wait for the plan's last restart and every recovery watcher."""
        self.join(timeout_s + RESTART_TIMEOUT_S * RESTART_ATTEMPTS)
        for watcher in list(self.watchers):
            watcher.join(timeout_s)
