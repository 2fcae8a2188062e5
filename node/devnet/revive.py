"""`devnet up` on a devnet whose processes are partly running: restart only the dead ones, in place.

The devnet keeps its settings (a setting flag that would change them is refused, as is --reset:
both need `devnet down` first); the dead processes are restarted one at a time in start order
(node.devnet.roles). A devnet a foreground `devnet up` still supervises is left alone (`prepare`
refuses it as running).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node.devnet.errors import DevnetRunningError
from node.devnet.layout import DevnetLayout
from node.devnet.liveness import live_supervisor, split_processes
from node.devnet.roles import restart_dead
from node.devnet.settings import SettingChoices, resolve_settings, saved_devnet_settings
from node.devnet.state import read_state, saved_settings, update_state

Report = Callable[[str], None]


def partly_running(layout: DevnetLayout) -> dict[str, Any] | None:
    """devnet.json when some recorded processes run, some are down, and no foreground `up` supervises them."""
    if not layout.state_file.exists():
        return None
    doc = read_state(layout)
    alive, dead = split_processes(doc)
    return doc if alive and dead and live_supervisor(doc) is None else None


def revive(
    layout: DevnetLayout,
    doc: dict[str, Any],
    choices: SettingChoices,
    reset: bool,
    detach: bool,
    timeout_s: float,
    stopped: Callable[[], bool],
    report: Report,
) -> dict[str, Any]:
    """Restart the dead processes of a partly running devnet; returns the updated devnet.json."""
    alive, dead = split_processes(doc)
    running = ", ".join(f"{spec.name} {pid}" for spec, pid in alive)
    down = ", ".join(spec.name for spec in dead)
    stop_first = f"stop it with `rollup devnet down --dir {layout.root}` first"
    if reset:
        raise DevnetRunningError(
            f"the devnet in {layout.root} is partly running ({running}; down: {down}): to --reset it, {stop_first}"
        )
    saved = saved_settings(doc)
    if resolve_settings(choices, saved) != saved_devnet_settings(saved):
        raise DevnetRunningError(
            f"the devnet in {layout.root} is partly running ({running}; down: {down}) and its "
            f"settings cannot change while it runs: run `rollup devnet up --dir {layout.root}` "
            f"without setting flags to restart only {down}, or {stop_first}"
        )
    report(f"the devnet in {layout.root} is partly running ({running}): restarting only {down}")
    restart_dead(layout, report, timeout_s, stopped)
    if not detach:
        report(f"the devnet keeps running detached (stop it with `rollup devnet down --dir {layout.root}`)")
    return update_state(layout, lambda current: current.update(status="running"))
