"""The control endpoint's operations, synchronous and serialised (one at a time), on the devnet in one directory.

Every operation reads devnet.json afresh (the processes it records are the truth: a restart by
the CLI is seen at once). Failures are typed: ControlRefusedError (-32003), UnknownSnapshotError
(-32009), InvalidParams (-32602); node.devnet.controller.service maps them onto JSON-RPC.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from node.crypto import Address
from node.devnet import control as devnet_control
from node.devnet.children import Child
from node.devnet.controller import warp
from node.devnet.errors import ControlRefusedError, DevnetError, StartupError
from node.devnet.freeze import freeze, thaw
from node.devnet.funding import call, set_l1_balance, set_l2_balance
from node.devnet.layout import ROLE_EXECUTOR, ROLE_L1, ROLE_SEQUENCER, ROLE_SETTLER, DevnetLayout, ProcessSpec
from node.devnet.liveness import is_alive
from node.devnet.oracle_price import set_oracle_price
from node.devnet.roles import find_process, kill_role, restart_role
from node.devnet.snapshot_ops import cold_start, registry_for, revert_to, take_snapshot
from node.devnet.state import read_state, recorded_processes, set_held
from node.devnet.warm import WarmPool

T = TypeVar("T")


class Controller:
    """What the control endpoint can do to the devnet in `layout`; every public method holds the one lock."""

    def __init__(
        self, layout: DevnetLayout, log: Callable[[str], None] = lambda line: None, warm: WarmPool | None = None
    ) -> None:
        self.layout = layout
        self.warm = warm
        self.log = log
        self.paused: set[str] = set()
        self._lock = threading.Lock()
        self.last_snapshot: dict[str, Any] | None = None

    def _serial(self, work: Callable[[], T]) -> T:
        with self._lock:
            return work()

    # -- lookups

    def _doc(self) -> dict[str, Any]:
        return read_state(self.layout)

    def _process(self, name: str) -> tuple[ProcessSpec, int | None]:
        try:
            return find_process(self._doc(), name)
        except DevnetError as exc:
            raise ControlRefusedError(str(exc)) from None

    def _only(self, role: str) -> ProcessSpec:
        spec, _ = self._process(role)
        return spec

    def _running(self, name: str, what: str) -> tuple[ProcessSpec, int]:
        spec, pid = self._process(name)
        if pid is None or not is_alive(spec, pid):
            raise ControlRefusedError(f"cannot {what} {spec.name}: it is not running")
        return spec, pid

    # -- snapshot / revert

    def _starter(self) -> Callable[[ProcessSpec, str], Child]:
        return self.warm.take if self.warm is not None else cold_start

    def _refill(self) -> None:
        """Standbys for every process, so the next revert skips the imports (node.devnet.warm)."""
        if self.warm is not None:
            self.warm.refill([spec for spec, _ in recorded_processes(self._doc())])

    def snapshot(self) -> dict[str, Any]:
        result = self._serial(lambda: take_snapshot(self.layout, self.paused))
        self._refill()
        self.log(
            f"snapshot {result['id']} in {result['seconds'] * 1000:.0f} ms "
            f"(frozen {result['frozenSeconds'] * 1000:.0f} ms)"
        )
        return result

    def revert(self, snapshot: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            try:
                result = revert_to(self.layout, snapshot, self.log, starter=self._starter())
            except StartupError as exc:
                if self.warm is None:
                    raise
                self.log(f"revert with standbys failed ({exc}): again with cold starts\n{exc.log_tail}")
                result = revert_to(self.layout, snapshot, self.log, starter=cold_start)
            self.paused.clear()
            self._refill()
            return result

        return self._serial(work)

    # -- L1

    def mine(self, count: int) -> dict[str, Any]:
        return self._serial(lambda: dict(call(self._only(ROLE_L1).rpc, "devnet_mine", count, timeout=120.0)))

    def set_l1_balance(self, address: Address, wei: int) -> dict[str, Any]:
        return self._serial(lambda: set_l1_balance(self._only(ROLE_L1).rpc, address, wei))

    def set_l2_balance(self, address: Address, wei: int) -> dict[str, Any]:
        return self._serial(
            lambda: set_l2_balance(self._only(ROLE_L1).rpc, self._only(ROLE_SEQUENCER).rpc, address, wei)
        )

    def increase_time(self, ms: int) -> dict[str, Any]:
        """Every process's clock `ms` forward, then one L1 block and an L2 block in the new time (warp.py)."""

        def work() -> dict[str, Any]:
            specs = []
            for spec, _ in recorded_processes(self._doc()):
                self._running(spec.name, "move the time of")
                if spec.name in self.paused:
                    raise ControlRefusedError(f"cannot move time while {spec.name} is paused: resume it first")
                specs.append(spec)
            return warp.increase_time(call, specs, ms)

        return self._serial(work)

    def set_oracle_price(self, market: str | int, price: int | str) -> dict[str, Any]:
        return self._serial(lambda: set_oracle_price(self._only(ROLE_SEQUENCER).rpc, market, price))

    # -- roles

    def kill(self, name: str, sig: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            spec, _ = self._process(name)
            set_held(self.layout, add=[spec.name])
            self._resume_if_paused(spec.name)
            return kill_role(self.layout, spec.name, getattr(signal, "SIG" + sig), supervised_ok=True).to_json()

        return self._serial(work)

    def restart(self, name: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            spec, _ = self._process(name)
            set_held(self.layout, add=[spec.name])
            self._resume_if_paused(spec.name)
            try:
                try:
                    result = restart_role(self.layout, spec.name, self.log, supervised_ok=True, starter=self._starter())
                except StartupError as exc:
                    if self.warm is None:
                        raise
                    self.log(f"restart from a standby failed ({exc}): again with a cold start\n{exc.log_tail}")
                    result = restart_role(self.layout, spec.name, self.log, supervised_ok=True)
            except StartupError:
                raise
            except DevnetError as exc:
                raise ControlRefusedError(str(exc)) from None
            set_held(self.layout, remove=[spec.name])
            self._refill()
            return result.to_json()

        return self._serial(work)

    def pause(self, name: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            spec, pid = self._running(name, "pause")
            if spec.name in self.paused:
                return {"name": spec.name, "pid": pid, "paused": True, "changed": False}
            freeze([pid])
            self.paused.add(spec.name)
            return {"name": spec.name, "pid": pid, "paused": True, "changed": True}

        return self._serial(work)

    def resume(self, name: str) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            spec, pid = self._running(name, "resume")
            changed = spec.name in self.paused
            thaw([pid])  # also wakes a process someone else stopped
            self.paused.discard(spec.name)
            return {"name": spec.name, "pid": pid, "paused": False, "changed": changed}

        return self._serial(work)

    def _resume_if_paused(self, name: str) -> None:
        if name in self.paused:
            spec, pid = self._process(name)
            if pid is not None:
                thaw([pid])
            self.paused.discard(name)

    def partition(self, name: str, heal: bool) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            spec, _ = self._running(name, "heal" if heal else "partition")
            if spec.role != ROLE_EXECUTOR:
                raise ControlRefusedError(
                    f"only an executor can be partitioned from gossip, not {spec.name} ({spec.role})"
                )
            result = call(spec.rpc, "devnet_heal" if heal else "devnet_partition")
            return {"name": spec.name, "partitioned": not heal, "result": result}

        return self._serial(work)

    def faulty_proposer(self, mode: str | None) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            spec, _ = self._running(ROLE_SETTLER, "set the proposer mode of")
            return {"mode": mode, "result": call(spec.rpc, "devnet_setFaultyProposer", mode)}

        return self._serial(work)

    # -- dump / status

    def dump(self, path: Path) -> dict[str, Any]:
        from node.devnet.dumpfile import write_dump

        return self._serial(lambda: write_dump(self.layout, path, self.paused))

    def status(self) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            doc = self._doc()
            result = devnet_control.status(self.layout)
            result.update(
                instance=doc.get("instance"),
                paused=sorted(self.paused),
                snapshots=registry_for(self.layout, doc).ids(),
                time=time.time(),
            )
            return result

        return self._serial(work)
