"""Identity records of devnet processes forked without exec (node.devnet.forkserver): DIR/run/<name>.pid.

A process started with `python -m MOD --config FILE` is recognised by FILE in its command line; a
process forked from the fork server keeps the server's command line, so the server records each
child it forks as {"pid", "start_time", "module", "exit"} next to the devnet's configs. A pid is
that config's process only while the recorded pid runs with the recorded start time (field 22 of
/proc/<pid>/stat), so a pid reused by an unrelated process is never taken for ours. `exit` is the
child's exit status once the server has reaped it (as subprocess reports it: -N for signal N).

The file of DIR/config/<name>.toml is DIR/run/<name>.pid; written atomically (temp file + rename).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

RUN_DIR = "run"


@dataclass(frozen=True, slots=True)
class PidRecord:
    pid: int
    start_time: int
    module: str
    exit: int | None = None

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "start_time": self.start_time, "module": self.module, "exit": self.exit}


def pidfile_for(config: str | Path) -> Path:
    """DIR/run/<name>.pid for the config DIR/config/<name>.toml."""
    path = Path(config)
    return path.parent.parent / RUN_DIR / (path.stem + ".pid")


def write_record(config: str | Path, record: PidRecord) -> None:
    target = pidfile_for(config)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record.to_json()) + "\n")
    os.replace(tmp, target)


def read_record(config: str | Path) -> PidRecord | None:
    """The recorded fork of `config`, None when there is none or the file is malformed."""
    try:
        doc = json.loads(pidfile_for(config).read_text())
        pid, start_time, module, code = doc["pid"], doc["start_time"], doc.get("module", ""), doc.get("exit")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(pid, int) or not isinstance(start_time, int) or not isinstance(module, str):
        return None
    return PidRecord(pid, start_time, module, code if isinstance(code, int) else None)


def record_exit(config: str | Path, pid: int, code: int) -> None:
    """Note the exit status of `pid` in the record of `config` (when it is still that pid's record)."""
    record = read_record(config)
    if record is not None and record.pid == pid:
        write_record(config, PidRecord(record.pid, record.start_time, record.module, code))
