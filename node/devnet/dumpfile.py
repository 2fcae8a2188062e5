"""`devnet dump FILE` and `devnet up --load FILE`: a whole devnet in one tar.gz file.

    rollup-devnet-dump.json   {"format": "rollup-devnet-dump", "version": 1, "created": unix time,
                               "settings": devnet.json's settings without base_port,
                               "processes": [{"name", "role"}, ...], "heads": {...}}
    data/<name>/...           each process's data dir, copied while every process was stopped
                              (node.devnet.snapshot_ops.copy_frozen), without RocksDB's LOG/LOCK

Nothing in it names a path or a port: configs are rewritten by `up --load` for this machine
(its --base-port, or the default). A file that is not such a dump (not gzip/tar, no or a foreign
manifest, a member outside data/<process>/, a link or device, a process missing) is rejected with
DumpFileError before anything is written.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable, Collection
from pathlib import Path, PurePosixPath
from typing import Any

from node.devnet.errors import DevnetError, DumpFileError
from node.devnet.heads import read_heads
from node.devnet.layout import DevnetLayout
from node.devnet.settings import saved_devnet_settings
from node.devnet.snapshot_ops import copy_frozen, running_processes
from node.devnet.state import read_state, saved_settings

MANIFEST = "rollup-devnet-dump.json"
FORMAT = "rollup-devnet-dump"
VERSION = 1
MAX_MANIFEST_BYTES = 1_000_000

Report = Callable[[str], None]


def write_dump(layout: DevnetLayout, path: Path, paused: Collection[str] = ()) -> dict[str, Any]:
    """Write the running devnet to `path` (tar.gz); returns {path, bytes, heads, seconds}."""
    began = time.monotonic()
    if path.is_dir():
        raise DumpFileError(f"{path} is a directory: give a file name")
    if not path.parent.is_dir():
        raise DumpFileError(f"{path.parent} does not exist")
    doc = read_state(layout)
    processes = running_processes(layout, doc, "dump the devnet")
    heads = read_heads([spec for spec, _ in processes if spec.name not in paused])  # a paused one cannot answer
    staging = layout.snapshots_dir / f".dump-{os.getpid()}-{time.monotonic_ns()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        copy_frozen(processes, staging, paused)
        settings = {k: v for k, v in saved_settings(doc).items() if k != "base_port"}
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created": time.time(),
            "settings": settings,
            "processes": [{"name": spec.name, "role": spec.role} for spec, _ in processes],
            "heads": heads,
        }
        body = (json.dumps(manifest, indent=2) + "\n").encode()
        with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
            tar.addfile(info, _bytes_io(body))
            for spec, _ in processes:
                tar.add(staging / spec.name, arcname=f"data/{spec.name}")
        os.replace(tmp, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        tmp.unlink(missing_ok=True)
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "heads": heads,
        "seconds": round(time.monotonic() - began, 3),
    }


def _bytes_io(body: bytes) -> Any:
    import io

    return io.BytesIO(body)


def check_dump(path: Path) -> dict[str, Any]:
    """Validate the dump file at `path` (every member) and return its manifest; DumpFileError if it is not one."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = tar.getmembers()
            manifest = _read_manifest(tar, path)
    except FileNotFoundError:
        raise DumpFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DumpFileError(f"{path} is a directory, not a dump file") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DumpFileError(f"{path} is not a devnet dump (not a readable tar.gz file: {exc})") from None
    check_members(path, [(m.name, _kind(m)) for m in members], manifest)
    return manifest


def _kind(member: tarfile.TarInfo) -> str:
    return "file" if member.isfile() else "dir" if member.isdir() else "other"


def _read_manifest(tar: tarfile.TarFile, path: Path) -> dict[str, Any]:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise DumpFileError(f"{path} is not a devnet dump: it has no {MANIFEST}") from None
    if not member.isfile() or member.size > MAX_MANIFEST_BYTES:
        raise DumpFileError(f"{path}: {MANIFEST} is not a regular file of at most {MAX_MANIFEST_BYTES} bytes")
    handle = tar.extractfile(member)
    assert handle is not None  # a regular file always has one
    try:
        manifest = json.loads(handle.read())
    except ValueError as exc:
        raise DumpFileError(f"{path}: {MANIFEST} is not JSON ({exc})") from None
    return validate_manifest(manifest, path)


def validate_manifest(manifest: Any, path: Path | str) -> dict[str, Any]:
    """The manifest's format, version, settings and process list (pure)."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DumpFileError(f"{path} is not a devnet dump (its manifest's format is not {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise DumpFileError(
            f"{path} is a version {manifest.get('version')!r} dump; this devnet reads version {VERSION}"
        )
    settings = manifest.get("settings")
    processes = manifest.get("processes")
    if not isinstance(settings, dict) or not isinstance(processes, list) or not processes:
        raise DumpFileError(f"{path}: the manifest needs a settings object and a non-empty processes list")
    if "base_port" in settings:
        raise DumpFileError(f"{path}: the manifest's settings name a base port (dumps are port-independent)")
    try:
        resolved = saved_devnet_settings(settings)
    except DevnetError as exc:
        raise DumpFileError(f"{path}: the manifest's settings are invalid: {exc}") from None
    names = [p.get("name") if isinstance(p, dict) else None for p in processes]
    expected = [spec.name for spec in DevnetLayout.at("/").processes(resolved)]
    if names != expected:
        raise DumpFileError(f"{path}: the manifest lists processes {names}, but its settings make {expected}")
    return manifest


def check_members(path: Path | str, members: list[tuple[str, str]], manifest: dict[str, Any]) -> None:
    """Every member is the manifest or a file/dir under data/<listed process>/, and each process has data (pure)."""
    names = {p["name"] for p in manifest["processes"]}
    seen: set[str] = set()
    for name, kind in members:
        if name == MANIFEST:
            continue
        parts = PurePosixPath(name).parts
        if name.startswith("/") or ".." in parts or len(parts) < 2 or parts[0] != "data" or parts[1] not in names:
            raise DumpFileError(f"{path}: unexpected member {name!r} (only data/<process>/... belongs in a dump)")
        if kind not in ("file", "dir"):
            raise DumpFileError(f"{path}: member {name!r} is a link or device (only files and directories allowed)")
        seen.add(parts[1])
    missing = sorted(names - seen)
    if missing:
        raise DumpFileError(f"{path}: no data for {', '.join(missing)}")


def unpack_dump(path: Path, layout: DevnetLayout, report: Report) -> dict[str, Any]:
    """Extract a checked dump's data dirs into layout/data (empty); returns its settings (devnet.json form)."""
    manifest = check_dump(path)
    report(f"loading {path} ({len(manifest['processes'])} processes)")
    layout.data_root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name != MANIFEST]
        tar.extractall(layout.root, members=members, filter="data")
    return dict(manifest["settings"])


def dump_heads(path: Path) -> dict[str, Any]:
    return dict(check_dump(path).get("heads") or {})
