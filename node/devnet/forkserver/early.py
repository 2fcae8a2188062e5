"""Start a fresh devnet's fork server at the very beginning of `rollup devnet up`, beside the CLI's imports.

The CLI imports its own code (the client, aiohttp, every command: about 0.6 CPU-s) before `devnet up`
runs, and the fork server then imports every role (about 2.5 CPU-s) before the L2 processes can fork:
one after the other, on a machine with two cores. `prestart(argv)` is called first thing by the CLI's
`main` (node.cli.main, before its heavy imports) and, for `devnet up` on a fresh directory only,
launches the fork server at once, so its imports run on the other core while the CLI imports.
`devnet up` then adopts it (`adopt`) instead of starting one (node.devnet.up).

Only the plain case is taken: `devnet up` whose --dir does not exist yet or is empty, without --reset
or --load (which wipe or fill the directory first), without -h, and with the fork server enabled
(ROLLUP_DEVNET_NO_FORK unset). An option this module cannot read for certain (an abbreviation of one
of those) makes it do nothing: `devnet up` then starts its fork server as before.

The server runs in its own session with SIGTERM on the CLI's death (Linux PR_SET_PDEATHSIG), so an
`up` that fails before adopting it (bad ports, a bad option) takes it along. Adopting it for a
detached devnet clears that signal (the "adopt" request, node.devnet.forkserver.protocol), so it
outlives the CLI as a detached server does. DIR/run/forkserver.prestart names its pid and the CLI's:
only the CLI that started it adopts it. A server never adopted removes on exit what prestart wrote,
so a `devnet up` that fails early (a port in use, a bad option) leaves the directory as it found it.

This module imports nothing beyond the standard library (it runs before the CLI's imports); the paths
it writes are DevnetLayout's (tests/devnet/test_forkserver_early.py checks that they agree).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FORKSERVER_MODULE = "node.devnet.forkserver"
NO_FORK_ENV = "ROLLUP_DEVNET_NO_FORK"
DEFAULT_DIR = ".devnet"
PRESTART_FILE = "forkserver.prestart"
_PR_SET_PDEATHSIG = 1
# options after which prestart stands aside; the value-taking ones of `devnet up` that it reads are --dir
_REFUSED = ("--reset", "--load", "--help", "-h")
_KNOWN = ("--dir", "--detach", *_REFUSED)


@dataclass(frozen=True, slots=True)
class UpArgs:
    """What prestart needs of a `devnet up` command line."""

    directory: Path
    detach: bool


def read_up_args(argv: list[str]) -> UpArgs | None:
    """The directory and --detach of `devnet up ...` when prestart may act on it, else None."""
    if argv[:2] != ["devnet", "up"]:
        return None
    directory, detach = DEFAULT_DIR, False
    rest = argv[2:]
    index = 0
    while index < len(rest):
        token = rest[index]
        index += 1
        if token == "--":
            return None
        if not token.startswith("-"):
            continue
        name, has_value, value = token.partition("=")
        if name in _REFUSED or any(known.startswith(name) and known != name for known in _KNOWN):
            return None  # refused, or an abbreviation argparse would expand: leave it to `devnet up`
        if name == "--detach":
            if has_value:
                return None  # argparse refuses it
            detach = True
        elif name == "--dir":
            if not has_value:
                if index >= len(rest):
                    return None
                value = rest[index]
                index += 1
            if not value:
                return None
            directory = value
    return UpArgs(Path(directory).expanduser().resolve(), detach)


def is_fresh(directory: Path) -> bool:
    """True when the directory does not exist yet or is an empty directory."""
    if not directory.exists():
        return True
    return directory.is_dir() and not any(directory.iterdir())


def prestart(argv: list[str]) -> int | None:
    """Launch the fork server of a fresh `devnet up` (module docstring); its pid, or None when not done."""
    if os.environ.get(NO_FORK_ENV, "") not in ("", "0") or not sys.platform.startswith("linux"):
        return None
    args = read_up_args(argv)
    if args is None or not is_fresh(args.directory):
        return None
    try:
        return _launch(args.directory)
    except OSError:
        return None  # `devnet up` reports what is wrong with the directory


def _launch(root: Path) -> int:
    created = not root.exists()
    config = root / "config" / "forkserver.toml"
    log = root / "logs" / "forkserver.log"
    for directory in (config.parent, log.parent, root / "run"):
        directory.mkdir(parents=True, exist_ok=True)
    tmp = config.with_name(config.name + ".tmp")
    tmp.write_text(f"[forkserver]\ndir = {json.dumps(str(root))}\n")
    tmp.replace(config)
    with log.open("ab") as out:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        out.write(f"\n=== {stamp} rollup devnet up: starting forkserver (early) ===\n".encode())
        out.flush()
        popen = subprocess.Popen(
            [sys.executable, "-m", FORKSERVER_MODULE, "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    record = root / "run" / PRESTART_FILE
    tmp = record.with_name(record.name + ".tmp")
    tmp.write_text(json.dumps({"pid": popen.pid, "parent": os.getpid(), "created": created}) + "\n")
    tmp.replace(record)
    # never waited for through this Popen (its exit is seen through its pid record, node.devnet.forkserver.client):
    # marked done so that collecting the object neither warns nor reaps the server behind our back
    popen.returncode = 0
    return popen.pid


def _die_with_parent() -> None:
    """In the server before exec: SIGTERM when the CLI dies, held blocked until its handler is installed
    (node.devnet.forkserver.server unblocks it), so a CLI that fails at once still gets its cleanup."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def prestarted_pid(root: Path) -> int | None:
    """The pid of the fork server this process prestarted for `root`, if it did (and the record says so)."""
    try:
        doc = json.loads((root / "run" / PRESTART_FILE).read_text())
        pid, parent = doc["pid"], doc["parent"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(pid, int) or parent != os.getpid() or pid <= 0:
        return None
    return pid


def forget_prestart(root: Path) -> None:
    try:
        (root / "run" / PRESTART_FILE).unlink()
    except FileNotFoundError:
        pass


def is_prestarted_server(root: Path, pid: int) -> bool:
    """True when DIR/run/forkserver.prestart names `pid` (the fork server asks this of itself)."""
    try:
        return bool(json.loads((root / "run" / PRESTART_FILE).read_text()).get("pid") == pid)
    except (OSError, ValueError, AttributeError):
        return False


def undo_prestart(root: Path) -> None:
    """What a prestarted server that was never adopted does on exit (its `devnet up` failed first, e.g.
    on a port in use): leave the directory as it was, absent or empty, when nothing else was written."""
    try:
        created = bool(json.loads((root / "run" / PRESTART_FILE).read_text()).get("created"))
    except (OSError, ValueError, AttributeError):
        return
    for path in (root / "config" / "forkserver.toml", root / "logs" / "forkserver.log", root / "run" / PRESTART_FILE):
        try:
            path.unlink()
        except FileNotFoundError:
            pass
    for directory in (root / "config", root / "logs", root / "run", *([root] if created else [])):
        try:
            directory.rmdir()  # only when empty: whatever `devnet up` wrote meanwhile stays
        except OSError:
            pass
