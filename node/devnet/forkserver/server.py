"""The fork server's loop: bind the socket, preload the roles' modules, fork on request, reap.

Single-threaded and without an event loop, so a fork copies one thread in a known state. Between
preload steps it answers whatever request is waiting; a spawn of a module not preloaded yet
imports that module first. It exits on SIGTERM/SIGINT, or once its devnet directory is gone.
"""

from __future__ import annotations

import importlib
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from node.devnet.forkserver.child import after_fork, keep_after_parent
from node.devnet.forkserver.early import is_prestarted_server, undo_prestart
from node.devnet.forkserver.protocol import (
    AdoptRequest,
    ProtocolError,
    SpawnRequest,
    encode,
    parse_request,
    read_line,
)
from node.devnet.layout import FORKSERVER_MODULE, DevnetLayout
from node.devnet.pidfile import PidRecord, pidfile_for, record_exit, write_record
from node.devnet.procfs import start_time

IDLE_CHECK_S = 2.0  # how often an idle server checks that its devnet directory still exists
REQUEST_TIMEOUT_S = 5.0
P2P_RUNTIME = "node.p2p.runtime"


# What each module the devnet runs needs imported, in start order: the idle server preloads them in
# this order. A package's `role` module (its __main__ would run the role); a plain module itself.
PRELOAD: dict[str, tuple[str, ...]] = {
    "l1.chain": ("l1.chain.role",),
    "sequencer": ("sequencer.role", P2P_RUNTIME),
    "l1.faults.settler": ("l1.faults.settler", P2P_RUNTIME),
    "node.executor": ("node.executor.role", P2P_RUNTIME),
    "prover": ("prover.role", P2P_RUNTIME),
    "node.devnet.controller": ("node.devnet.controller.__main__",),
    "l1.faults.challenger": ("l1.faults.challenger", P2P_RUNTIME),
    "l1.settler": ("l1.settler.role", P2P_RUNTIME),
}


def say(line: str) -> None:
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now * 1000) % 1000:03d}"
    print(f"{stamp} forkserver {line}", file=sys.stderr, flush=True)


@contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """`path` as an AF_UNIX address: itself, or through /proc/self/fd/N of its directory when too long."""
    if len(os.fsencode(str(path))) < 100:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class Preloader:
    """The modules imported so far, and the ones the idle server imports next."""

    def __init__(self) -> None:
        self.loaded: list[str] = []
        # each name once (several roles need the p2p runtime): a repeated name would stay pending forever
        # and keep the idle loop polling without a timeout
        self.pending = list(dict.fromkeys(name for names in PRELOAD.values() for name in names))

    def load(self, name: str) -> None:
        if name in self.pending:
            self.pending.remove(name)
        if name in self.loaded:
            return
        began = time.monotonic()
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - the child imports it again and reports it in its own log
            say(f"preloading {name} failed: {exc!r}")
        else:
            say(f"preloaded {name} in {(time.monotonic() - began) * 1000:.0f} ms")
        self.loaded.append(name)

    def load_next(self) -> None:
        if self.pending:
            self.load(self.pending[0])

    def load_for(self, module: str) -> None:
        for name in PRELOAD.get(module, ()):
            self.load(name)


class Server:
    """One fork server: its socket, its children (pid -> config) and its preloaded modules."""

    def __init__(self, layout: DevnetLayout) -> None:
        self.layout = layout
        self.socket_path = layout.forkserver_socket
        self.root = layout.root
        self.pid = os.getpid()
        self.children: dict[int, str] = {}
        self.preloader = Preloader()
        self.stopping = False
        self.adopted = False  # by `devnet up`, when prestarted (node.devnet.forkserver.early)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def serve(self) -> SpawnRequest | None:
        """Serve until told to stop (None); in a forked child, return that child's request."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a Python handler, so the wakeup fd is written
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # a prestarted server starts with it blocked
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        selector = selectors.DefaultSelector()
        try:
            self._bind(listener)
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake_r, selectors.EVENT_READ)
            return self._loop(listener, selector, wake_r)
        finally:
            if os.getpid() == self.pid:
                signal.set_wakeup_fd(-1)
                self._remove_files()
                if not self.adopted and is_prestarted_server(self.root, self.pid):
                    undo_prestart(self.root)
            selector.close()
            listener.close()
            os.close(wake_r)
            os.close(wake_w)

    def _bind(self, listener: socket.socket) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass
        with unix_address(self.socket_path) as address:
            listener.bind(address)
        os.chmod(self.socket_path, 0o600)  # only our user may ask for a fork
        listener.listen(64)
        listener.setblocking(False)
        write_record(self.layout.forkserver_config, PidRecord(self.pid, start_time(self.pid) or 0, FORKSERVER_MODULE))
        say(f"pid {self.pid} listening on {self.socket_path}")

    def _remove_files(self) -> None:
        for path in (self.socket_path, pidfile_for(self.layout.forkserver_config)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def _loop(self, listener: socket.socket, selector: selectors.BaseSelector, wake_r: int) -> SpawnRequest | None:
        last_check = time.monotonic()
        while not self.stopping:
            idle = not self.preloader.pending
            events = selector.select(IDLE_CHECK_S if idle else 0)
            for key, _ in events:
                if key.fileobj is listener:
                    request = self._accept(listener)
                    if request is not None:
                        return request  # we are the forked child
                else:
                    _drain(wake_r)
            self._reap()
            if not events:
                self.preloader.load_next()
            if time.monotonic() - last_check >= IDLE_CHECK_S:
                last_check = time.monotonic()
                if not self.root.is_dir():
                    say(f"{self.root} is gone: exiting")
                    break
        say("stopping")
        return None

    def _accept(self, listener: socket.socket) -> SpawnRequest | None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return None
        with conn:
            conn.setblocking(True)
            conn.settimeout(REQUEST_TIMEOUT_S)
            try:
                line = read_line(conn, "request")
                request = parse_request(line)
            except (ProtocolError, OSError) as exc:
                _reply(conn, {"ok": False, "error": str(exc)})
                return None
            if isinstance(request, str):  # "ping"
                _reply(conn, {"ok": True, "pid": self.pid, "loaded": self.preloader.loaded})
                return None
            if isinstance(request, AdoptRequest):
                self.adopted = True
                if request.detach:  # outlive the CLI that prestarted us, as a detached server does
                    keep_after_parent()
                _reply(conn, {"ok": True, "pid": self.pid})
                say(f"adopted by `devnet up`{' (detached)' if request.detach else ''}")
                return None
            self.preloader.load_for(request.module)
            pid = os.fork()
            if pid == 0:
                after_fork(request.detach, self.pid)
                return request
            write_record(request.config, PidRecord(pid, start_time(pid) or 0, request.module))
            self.children[pid] = request.config
            _reply(conn, {"ok": True, "pid": pid})
            say(f"forked {request.name} ({request.module}): pid {pid}")
        return None

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            config = self.children.pop(pid, None)
            code = os.waitstatus_to_exitcode(status)
            if config is not None:
                record_exit(config, pid, code)
            say(f"pid {pid} exited with {code}")


def _reply(conn: socket.socket, doc: dict[str, object]) -> None:
    try:
        conn.sendall(encode(doc))
    except OSError:
        pass  # the client went away: it sees no pid and starts the process cold


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
