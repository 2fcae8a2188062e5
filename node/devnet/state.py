"""devnet.json: what `devnet up` started and how to reach it (read by down, status and the wallet).

    {
      "version": 1,
      "dir": "/abs/DIR",
      "status": "starting" | "running" | "stopped" | "failed",
      "detached": true,
      "chain_id": 901, "l1_chain_id": 900,
      "l1": {"rpc": URL, "ws": URL},
      "sequencer": {"rpc": URL, "ws": URL},
      "settler": {"rpc": URL, "metrics": URL},
      "executors": [{"name": "executor-0", "rpc": URL, "ws": URL}, ...],
      "challengers": [{"name": "challenger", "rpc": URL, "mode": "honest" | "dispute_all", "address": ADDR}, ...],
      "accounts": [{"name": "dev0", "address": "0x..", "private_key": "0x.."}, ...],
      "roles": {"batcher": ADDR, "proposer": ADDR, "fee_recipient": ADDR},
      "fees": {"l1_min_fee": "1000000000000", "l2_min_fee": "1000000000"},
      "params": {"l1_block_time_ms", "l2_block_time_ms", "challenge_window", "game_clock_blocks",
                 "sequencing_window", "output_interval"},
      "settings": {"base_port", "executors", "block_time_ms", "censor": [ADDR], "l1_block_time_ms",
                   "challenge_window", "game_clock", "faulty_proposer": N | null, "fault_mode",
                   "faulty_challenger": bool},
      "supervisor": {"pid": int, "start_time": int} | null,
      "processes": [{"name", "role", "pid", "config", "log", "data_dir", "port", "rpc"}, ...],
      "instance": "9f2c1a7b",   # new on every fresh chain (--reset, --load): snapshot ids carry it
      "control": {"name": "control", "rpc": URL, "pid": int | null, "config", "log", "port",
                  "held": [names the control endpoint stopped on purpose: a supervisor tolerates their exit]}
    }

Written atomically (temp file + rename) every time it changes; a read-modify-write (a restarted
role's pid, `down`'s status) holds DIR/devnet.lock (flock) so two commands cannot lose each other's change.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from node.crypto import to_checksum_address
from node.devnet import params as p
from node.devnet.errors import DevnetError, NoDevnetError
from node.devnet.layout import (
    CONTROL_MODULE,
    FAULTY_CHALLENGER,
    LOCK_FILE,
    ROLE_CHALLENGER,
    ROLE_EXECUTOR,
    ROLE_L1,
    ROLE_SEQUENCER,
    ROLE_SETTLER,
    DevnetLayout,
    ProcessSpec,
)
from node.keys.hd import DEV_ACCOUNT_COUNT, dev_account, dev_accounts

STATE_VERSION = 1


def accounts_json() -> list[dict[str, str]]:
    return [
        {"name": a.name, "address": a.checksum_address, "private_key": "0x" + a.private_key.secret.hex()}
        for a in dev_accounts(DEV_ACCOUNT_COUNT)
    ]


def process_json(spec: ProcessSpec, pid: int | None) -> dict[str, Any]:
    return {
        "name": spec.name,
        "role": spec.role,
        "module": spec.entry_module,
        "pid": pid,
        "config": str(spec.config),
        "log": str(spec.log),
        "data_dir": str(spec.data_dir),
        "port": spec.port,
        "rpc": spec.rpc,
    }


def spec_from_json(record: dict[str, Any]) -> ProcessSpec:
    try:
        return ProcessSpec(
            name=str(record["name"]),
            role=str(record["role"]),
            port=int(record["port"]),
            config=Path(record["config"]),
            log=Path(record["log"]),
            data_dir=Path(record["data_dir"]),
            module=str(record.get("module") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DevnetError(f"devnet.json has a malformed process entry ({exc}): {record!r}") from None


def challenger_json(spec: ProcessSpec) -> dict[str, Any]:
    faulty = spec.name == FAULTY_CHALLENGER
    key = p.FAULTY_CHALLENGER_KEY if faulty else p.CHALLENGER_KEY
    return {
        "name": spec.name,
        "rpc": spec.rpc,
        "mode": "dispute_all" if faulty else "honest",
        "address": to_checksum_address(dev_account(int(key[3:])).address),
    }


def new_instance() -> str:
    """A fresh chain's instance id (snapshot ids embed it, so an id from before a reset is recognised)."""
    return secrets.token_hex(4)


def control_json(spec: ProcessSpec, pid: int | None, held: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "name": spec.name,
        "rpc": spec.rpc,
        "pid": pid,
        "config": str(spec.config),
        "log": str(spec.log),
        "port": spec.port,
        "held": list(held),
    }


def control_record(doc: dict[str, Any]) -> tuple[ProcessSpec, int | None] | None:
    """The control endpoint's spec and pid, when devnet.json records one."""
    record = doc.get("control")
    if not isinstance(record, dict):
        return None
    spec = spec_from_json({**record, "role": "control", "data_dir": record.get("config", ""), "module": CONTROL_MODULE})
    pid = record.get("pid")
    return spec, pid if isinstance(pid, int) else None


def held_names(doc: dict[str, Any]) -> set[str]:
    """The processes the control endpoint stopped on purpose (a foreground supervisor tolerates their exit)."""
    record = doc.get("control")
    held = record.get("held") if isinstance(record, dict) else None
    return {str(name) for name in held} if isinstance(held, list) else set()


def set_held(layout: DevnetLayout, add: Sequence[str] = (), remove: Sequence[str] = ()) -> dict[str, Any]:
    """Add names to (or remove them from) the control endpoint's held list in devnet.json."""

    def change(doc: dict[str, Any]) -> None:
        record = doc.get("control")
        if isinstance(record, dict):
            record["held"] = sorted((held_names(doc) | set(add)) - set(remove))

    return update_state(layout, change)


def build_state(
    layout: DevnetLayout,
    settings: p.DevnetSettings,
    specs: Sequence[ProcessSpec],
    pids: dict[str, int],
    status: str,
    detached: bool,
    supervisor: dict[str, int | None] | None,
    instance: str = "",
    control: dict[str, Any] | None = None,
) -> dict[str, Any]:
    by_role = {spec.role: spec for spec in specs if spec.role not in (ROLE_EXECUTOR, ROLE_CHALLENGER)}
    l1, sequencer, settler = by_role[ROLE_L1], by_role[ROLE_SEQUENCER], by_role[ROLE_SETTLER]
    executors = [spec for spec in specs if spec.role == ROLE_EXECUTOR]
    return {
        "version": STATE_VERSION,
        "dir": str(layout.root),
        "status": status,
        "detached": detached,
        "chain_id": p.L2_CHAIN_ID,
        "l1_chain_id": p.L1_CHAIN_ID,
        "l1": {"rpc": l1.rpc, "ws": l1.ws},
        "sequencer": {"rpc": sequencer.rpc, "ws": sequencer.ws},
        "settler": {"rpc": settler.rpc, "metrics": settler.rpc + "metrics"},
        "executors": [{"name": spec.name, "rpc": spec.rpc, "ws": spec.ws} for spec in executors],
        "challengers": [challenger_json(spec) for spec in specs if spec.role == ROLE_CHALLENGER],
        "accounts": accounts_json(),
        "roles": {
            "batcher": to_checksum_address(dev_account(int(p.BATCHER_KEY[3:])).address),
            "proposer": to_checksum_address(dev_account(int(p.PROPOSER_KEY[3:])).address),
            "fee_recipient": to_checksum_address(p.fee_recipient()),
        },
        "fees": {"l1_min_fee": str(p.L1_MIN_FEE), "l2_min_fee": str(p.L2_MIN_FEE)},
        "params": {
            "l1_block_time_ms": settings.l1_block_time_ms,
            "l2_block_time_ms": settings.block_time_ms,
            "challenge_window": settings.challenge_window,
            "game_clock_blocks": settings.game_clock,
            "sequencing_window": p.SEQUENCING_WINDOW,
            "output_interval": p.OUTPUT_INTERVAL,
        },
        "settings": {
            "base_port": settings.base_port,
            "executors": settings.executors,
            "block_time_ms": settings.block_time_ms,
            "censor": list(settings.censor),
            "l1_block_time_ms": settings.l1_block_time_ms,
            "challenge_window": settings.challenge_window,
            "game_clock": settings.game_clock,
            "faulty_proposer": settings.faulty_proposer,
            "fault_mode": settings.fault_mode,
            "faulty_challenger": settings.faulty_challenger,
        },
        "supervisor": supervisor,
        "processes": [process_json(spec, pids.get(spec.name)) for spec in specs],
        "instance": instance or new_instance(),
        "control": control,
    }


def write_state(layout: DevnetLayout, doc: dict[str, Any]) -> None:
    layout.root.mkdir(parents=True, exist_ok=True)
    tmp = layout.state_file.with_name(layout.state_file.name + ".tmp")
    with tmp.open("w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, layout.state_file)


def read_state(layout: DevnetLayout) -> dict[str, Any]:
    path = layout.state_file
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise NoDevnetError(f"no devnet at {layout.root}: run `rollup devnet up` first") from None
    except (OSError, ValueError) as exc:
        raise DevnetError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("processes"), list):
        raise DevnetError(f"{path} is not a devnet state file")
    return doc


def saved_settings(doc: dict[str, Any]) -> dict[str, Any]:
    settings = doc.get("settings")
    return dict(settings) if isinstance(settings, dict) else {}


def recorded_processes(doc: dict[str, Any]) -> list[tuple[ProcessSpec, int | None]]:
    result = []
    for record in doc["processes"]:
        if not isinstance(record, dict):
            raise DevnetError("devnet.json has a malformed process entry")
        pid = record.get("pid")
        result.append((spec_from_json(record), pid if isinstance(pid, int) else None))
    return result


@contextmanager
def state_lock(layout: DevnetLayout) -> Iterator[None]:
    """Held around a read-modify-write of devnet.json (an exclusive flock on DIR/devnet.lock)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with (layout.root / LOCK_FILE).open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def update_state(layout: DevnetLayout, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Read devnet.json, apply `change` to it and write it back, all under the lock; returns it."""
    with state_lock(layout):
        doc = read_state(layout)
        change(doc)
        write_state(layout, doc)
    return doc


def record_pid(layout: DevnetLayout, name: str, pid: int | None) -> dict[str, Any]:
    """Set one process's pid in devnet.json."""

    def change(doc: dict[str, Any]) -> None:
        records = [r for r in doc["processes"] if isinstance(r, dict) and r.get("name") == name]
        if not records:
            raise DevnetError(f"devnet.json has no process named {name!r}")
        records[0]["pid"] = pid

    return update_state(layout, change)
