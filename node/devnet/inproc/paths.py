"""Which directory a devnet_quiesceSnapshot / devnet_revertTo call may name: only a snapshot copy of this process.

A process's data dir is DIR/data/<name> (node.devnet.layout); its snapshot copies are
DIR/snapshots/<id>/<name>. A control call's `dir` must be an absolute path of that form: inside
DIR/snapshots, ending in this process's own name, with no `..` part and no symbolic link anywhere
below DIR/snapshots. Anything else is InvalidParams (-32602), before anything is read or written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from node.rpc.errors import ControlRefused, InvalidParams

DATA_DIR_PARENT = "data"
SNAPSHOTS_DIR = "snapshots"  # node.devnet.layout.SNAPSHOTS_DIR (not imported: the roles need not load the layout)
MAX_PATH_CHARS = 4096
TMP_SUFFIX = ".tmp"  # a snapshot being taken: DIR/snapshots/.<id>.tmp (node.devnet.snapshot_ops)


def snapshots_area(data_dir: Path) -> Path:
    """DIR/snapshots for a process whose data dir is DIR/data/<name>; ControlRefused when it is laid out otherwise."""
    data_dir = Path(os.path.abspath(data_dir))
    if data_dir.parent.name != DATA_DIR_PARENT:
        raise ControlRefused(f"{data_dir} is not a devnet data dir (DIR/data/<name>): no in-process snapshots here")
    return data_dir.parent.parent / SNAPSHOTS_DIR


def resolve_snapshot_dir(value: Any, data_dir: Path, *, must_exist: bool) -> Path:
    """The snapshot copy `value` names for the process owning `data_dir`; InvalidParams saying why it is refused.

    must_exist: the copy must be there (a revert reads it); otherwise it must not be (a snapshot writes it)
    and its parent must be.
    """
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"dir must be a non-empty path string, got {value!r}")
    if len(value) > MAX_PATH_CHARS or "\x00" in value:
        raise InvalidParams("dir is not a usable path (too long or has a NUL character)")
    path = Path(value)
    if not path.is_absolute():
        raise InvalidParams(f"dir must be an absolute path, got {value!r}")
    if ".." in path.parts:
        raise InvalidParams(f"dir must not contain '..': {value!r}")
    area = snapshots_area(data_dir)
    name = Path(os.path.abspath(data_dir)).name
    if not path.is_relative_to(area) or len(path.relative_to(area).parts) < 2:
        raise InvalidParams(f"dir must be inside this devnet's snapshots directory {area}/<id>/{name}, got {value!r}")
    if path.name != name:
        raise InvalidParams(f"dir must be this process's own copy (ending in /{name}), got {value!r}")
    _refuse_links(area, path)
    if must_exist and not path.is_dir():
        raise InvalidParams(f"dir {value!r} is not a snapshot copy (no such directory)")
    if not must_exist:
        if path.exists():
            raise InvalidParams(f"dir {value!r} already exists")
        if not path.parent.is_dir():
            raise InvalidParams(f"dir {value!r}: its parent directory does not exist")
    return path


def snapshot_id(copy_dir: Path) -> str:
    """The snapshot a copy DIR/snapshots/<id>/<name> belongs to; a snapshot being taken is written into
    DIR/snapshots/.<id>.tmp/<name> and renamed when whole (node.devnet.snapshot_ops), so that is <id> too."""
    name = copy_dir.parent.name
    if name.startswith(".") and name.endswith(TMP_SUFFIX):
        name = name[1 : -len(TMP_SUFFIX)]
    return name


def _refuse_links(area: Path, path: Path) -> None:
    current = area
    if current.is_symlink():
        raise InvalidParams(f"{area} is a symbolic link")
    for part in path.relative_to(area).parts:
        current = current / part
        if current.is_symlink():
            raise InvalidParams(f"dir must not go through a symbolic link ({current})")


__all__ = ["resolve_snapshot_dir", "snapshot_id", "snapshots_area"]
