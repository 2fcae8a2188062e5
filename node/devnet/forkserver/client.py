"""Start, reach and stop a devnet's fork server; fork a devnet process from it (node.devnet.forkserver).

`start_process(spec, detach, why)` is how the devnet starts a process: forked by the fork server
of the spec's devnet when one answers, else a cold `python -m` start (node.devnet.children).
"""

from __future__ import annotations

import os
import socket
import time

from node.devnet.children import Child, start_child, stop_children
from node.devnet.forkserver.early import forget_prestart, prestarted_pid
from node.devnet.forkserver.protocol import (
    AdoptRequest,
    ProtocolError,
    SpawnRequest,
    encode,
    parse_reply,
    read_line,
)
from node.devnet.forkserver.server import unix_address
from node.devnet.layout import DevnetLayout, ProcessSpec
from node.devnet.pidfile import read_record
from node.devnet.procfs import is_our_process, is_same_process
from node.devnet.toml import dumps

REPLY_TIMEOUT_S = 30.0  # the server may be importing the module first (about 1 CPU-s at worst)
CONNECT_RETRY_S = 0.005
BIND_TIMEOUT_S = 10.0


def layout_of(spec: ProcessSpec) -> DevnetLayout:
    """The devnet a process belongs to: its config is DIR/config/<name>.toml."""
    return DevnetLayout(spec.config.parent.parent)


def write_config(layout: DevnetLayout) -> ProcessSpec:
    spec = layout.forkserver_spec()
    spec.config.parent.mkdir(parents=True, exist_ok=True)
    tmp = spec.config.with_name(spec.config.name + ".tmp")
    tmp.write_text(dumps({"forkserver": {"dir": str(layout.root)}}))
    tmp.replace(spec.config)
    return spec


def start_fork_server(layout: DevnetLayout, detach: bool, why: str = "rollup devnet up") -> Child:
    """Start the devnet's fork server and wait until it listens (it preloads the roles in the background).

    If it does not listen within BIND_TIMEOUT_S the caller carries on: every start falls back to cold.
    """
    child = start_child(write_config(layout), detach, why)
    deadline = time.monotonic() + BIND_TIMEOUT_S
    while time.monotonic() < deadline and child.alive():
        record = read_record(layout.forkserver_config)
        if record is not None and record.pid == child.pid:
            break
        time.sleep(CONNECT_RETRY_S)
    return child


def adopt_fork_server(layout: DevnetLayout, detach: bool) -> Child | None:
    """The fork server this CLI prestarted for `layout` (node.devnet.forkserver.early), taken over; None if
    there is none or it does not answer within BIND_TIMEOUT_S (the caller then starts one)."""
    pid = prestarted_pid(layout.root)
    forget_prestart(layout.root)
    if pid is None:
        return None
    spec = layout.forkserver_spec()
    child = Child(spec, pid)
    deadline = time.monotonic() + BIND_TIMEOUT_S
    while time.monotonic() < deadline and is_our_process(pid, str(spec.config)):
        record = read_record(spec.config)
        if record is not None and record.pid == pid:
            break
        time.sleep(CONNECT_RETRY_S)
    else:
        return None
    try:
        reply = request(layout, AdoptRequest(detach))
    except (OSError, ProtocolError):
        return None
    return child if reply.get("ok") and reply.get("pid") == pid else None


def ensure_fork_server(layout: DevnetLayout, detach: bool = True, why: str = "rollup devnet up") -> None:
    """Start the devnet's fork server unless it runs (or ROLLUP_DEVNET_NO_FORK is set)."""
    if not cold_only() and running_fork_server(layout) is None:
        start_fork_server(layout, detach, why)


def running_fork_server(layout: DevnetLayout) -> int | None:
    """The pid of the devnet's fork server while it runs (its record's pid at its recorded start time)."""
    record = read_record(layout.forkserver_config)
    if record is None or not is_same_process(record.pid, record.start_time):
        return None
    return record.pid


def stop_fork_server(layout: DevnetLayout) -> bool:
    """SIGTERM the fork server (its children keep running); True when one was running."""
    pid = running_fork_server(layout)
    if pid is None:
        return False
    stop_children([Child(layout.forkserver_spec(), pid)])
    return True


def request(layout: DevnetLayout, doc: SpawnRequest | AdoptRequest, wait_s: float = 0.0) -> dict[str, object]:
    """Send one request; OSError when no server answers within `wait_s` (a fresh one binds first)."""
    deadline = time.monotonic() + wait_s
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(REPLY_TIMEOUT_S)
        with unix_address(layout.forkserver_socket) as address:
            while True:
                try:
                    conn.connect(address)
                    break
                except (FileNotFoundError, ConnectionRefusedError):
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(CONNECT_RETRY_S)
        conn.sendall(encode(doc.to_json()))
        data = read_line(conn, "fork server reply")
    return parse_reply(data)


def fork_child(spec: ProcessSpec, detach: bool, why: str, wait_s: float = 0.0) -> Child | None:
    """`spec`'s process forked by its devnet's fork server; None when there is none (or it failed)."""
    spec.log.parent.mkdir(parents=True, exist_ok=True)
    doc = SpawnRequest(spec.name, spec.entry_module, str(spec.config), str(spec.log), why, detach)
    try:
        reply = request(layout_of(spec), doc, wait_s)
    except (OSError, ProtocolError):
        return None
    pid = reply.get("pid")
    if not reply["ok"] or not isinstance(pid, int) or pid <= 0:
        return None
    return Child(spec, pid)


def start_process(spec: ProcessSpec, detach: bool, why: str = "rollup devnet up", wait_s: float = 0.0) -> Child:
    """Start `spec`'s process: forked from the devnet's fork server if it answers, else cold."""
    child = fork_child(spec, detach, why, wait_s)
    return child if child is not None else start_child(spec, detach, why)


def cold_only() -> bool:
    """ROLLUP_DEVNET_NO_FORK=1 turns the fork server off (every process starts with `python -m`)."""
    return os.environ.get("ROLLUP_DEVNET_NO_FORK", "") not in ("", "0")
