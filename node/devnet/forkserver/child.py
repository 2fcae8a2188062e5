"""What a process forked by the fork server does before it runs its role: become what a cold start is.

A cold start is `python -m MOD --config FILE` (node.devnet.children.start_child): stdin /dev/null,
stdout and stderr appended to its log after a header line, only fds 0-2 open, default signal
handlers, its own session (detached) or its own process group with SIGTERM on its parent's death
(foreground). `after_fork` does the part that must happen at once in the child (signals, session);
`run` the rest, then executes MOD's __main__ with runpy exactly as `python -m` does, so exit codes,
logging set-up (node.lifecycle) and tracebacks are the same. `finish` ends it as the interpreter
would (non-daemon threads joined, atexit handlers run, output flushed) but without tearing down
every module the server preloaded: that teardown costs a fork far more CPU than a cold process
(seconds on a loaded machine, past `devnet down`'s SIGTERM grace). `random` reseeds itself in a
forked child (os.register_at_fork); keys come from configs or os.urandom / secrets, which a fork
does not share.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import runpy
import signal
import sys
import threading
import traceback
from datetime import UTC, datetime
from typing import NoReturn

from node.devnet.forkserver.protocol import SpawnRequest

_PR_SET_PDEATHSIG = 1
MAX_FD = 65536


def _parent_death_signal() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def keep_after_parent() -> None:
    """Clear PR_SET_PDEATHSIG: this process no longer gets SIGTERM when its parent dies (Linux; else a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def after_fork(detach: bool, server_pid: int) -> None:
    """In the child, right after fork: default signal handlers, and its own session or process group."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if detach:
        os.setsid()
        return
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        _parent_death_signal()
        if os.getppid() != server_pid:  # the server died before the prctl: what the signal would have done
            os.kill(os.getpid(), signal.SIGTERM)


def header(request: SpawnRequest) -> bytes:
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return f"\n=== {stamp} {request.why}: starting {request.name} ===\n".encode()


def redirect_stdio(request: SpawnRequest) -> None:
    """stdin from /dev/null; stdout and stderr appended to the log, after the header line."""
    sys.stdout.flush()
    sys.stderr.flush()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.makedirs(os.path.dirname(request.log) or ".", exist_ok=True)
    log = os.open(request.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(log, header(request))
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)


def exit_code(exc: SystemExit) -> int:
    """The process exit code the interpreter makes of an uncaught SystemExit (printing a non-int code)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def run(request: SpawnRequest) -> int:
    """Run the request's module as `python -m MODULE --config CONFIG` would; returns its exit code."""
    os.closerange(3, MAX_FD)  # the server's sockets and pipes were closed on the way here; nothing else is ours
    redirect_stdio(request)
    sys.argv = [request.module, "--config", request.config]
    # a preloaded plain module (l1.faults.settler) or package __main__ runs afresh as __main__, as with -m
    sys.modules.pop(request.module, None)
    sys.modules.pop(request.module + ".__main__", None)
    try:
        runpy.run_module(request.module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exit_code(exc)
    except KeyboardInterrupt:
        traceback.print_exc()
        return -signal.SIGINT
    except BaseException:  # noqa: BLE001 - reported as the interpreter would, then exit 1
        traceback.print_exc()
        return 1
    return 0


def finish(code: int) -> NoReturn:
    """Exit with `code` as the interpreter would, minus the teardown of every preloaded module."""
    shutdown = getattr(threading, "_shutdown", None)  # what Py_FinalizeEx does first: join non-daemon threads
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if code < 0:  # a signal, as after an uncaught KeyboardInterrupt: die of it
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)
