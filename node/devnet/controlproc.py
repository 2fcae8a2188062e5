"""The control endpoint as a process of `devnet up`: its config file, start, stop and liveness.

It is started like the chain's processes (node.devnet.children) but is not one of them: it is
not in devnet.json's `processes` (so snapshots, revive and `restart` leave it alone) but in its
`control` record, and `devnet down` stops it first.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.devnet.children import Child, stop_children
from node.devnet.forkserver.client import start_process
from node.devnet.layout import DevnetLayout, ProcessSpec
from node.devnet.liveness import is_alive
from node.devnet.params import RPC_HOST, DevnetSettings
from node.devnet.state import control_json, control_record
from node.devnet.toml import dumps


class ControlConfigError(Exception):
    """control.toml is missing or malformed."""


@dataclass(frozen=True, slots=True)
class ControlConfig:
    directory: Path
    host: str
    port: int


def write_control_config(layout: DevnetLayout, settings: DevnetSettings) -> ProcessSpec:
    spec = layout.control_spec(settings)
    spec.config.parent.mkdir(parents=True, exist_ok=True)
    text = dumps({"control": {"dir": str(layout.root), "host": RPC_HOST, "port": spec.port}})
    tmp = spec.config.with_name(spec.config.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(spec.config)
    return spec


def read_control_config(path: str | Path) -> ControlConfig:
    try:
        doc = tomllib.loads(Path(path).read_text())
        table = doc["control"]
        directory, host, port = Path(table["dir"]), str(table.get("host", RPC_HOST)), table["port"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ControlConfigError(f"cannot read the control config {path}: {exc!r}") from None
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise ControlConfigError(f"{path}: [control] port must be in [1, 65535], got {port!r}")
    if not directory.is_absolute():
        raise ControlConfigError(f"{path}: [control] dir must be absolute, got {str(directory)!r}")
    return ControlConfig(directory, host, port)


def start_control(layout: DevnetLayout, settings: DevnetSettings, detach: bool) -> Child:
    spec = write_control_config(layout, settings)
    return start_process(spec, detach)


def control_state(child: Child | None, held: list[str] | None = None) -> dict[str, Any] | None:
    return None if child is None else control_json(child.spec, child.pid, held or [])


def running_control(doc: dict[str, Any]) -> Child | None:
    """The devnet's control endpoint process while it runs."""
    record = control_record(doc)
    if record is None:
        return None
    spec, pid = record
    return Child(spec, pid) if pid is not None and is_alive(spec, pid) else None


def stop_control(doc: dict[str, Any], report: Any = lambda line: None) -> bool:
    """Stop the control endpoint if it runs; True when it did."""
    child = running_control(doc)
    if child is None:
        return False
    stop_children([child], report=report)
    return True
