"""A p2p peer in its own OS process, for the multi-process gossip tests.

Run as a script, it starts a `P2PNode`, subscribes to the given topics and
prints one JSON line per event on stdout:

    {"e": "ready", "peer_id": ..., "port": ...}
    {"e": "msg", "topic": ..., "len": ..., "seq": ..., "lat_ms": ...}
    {"e": "peers", "n": ...}          (every second)

With `--blob-protocol P` it also answers requests `b"N"` on protocol P with
N zero bytes.

Payloads that start with an 8-byte big-endian sequence number and an 8-byte
float send time (`make_payload`) get `seq` and a one-way latency. SIGTERM
or a closed stdin stops it cleanly.

Imported, `PeerProcess` starts and reads such a process from a test and
always kills it on `stop()`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_HEADER = struct.Struct(">Qd")
_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port that was free a moment ago (for fixed-port restarts in tests)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_payload(seq: int, size: int) -> bytes:
    header = _HEADER.pack(seq, time.time())
    return header + bytes(max(0, size - len(header)))


def read_payload(data: bytes) -> tuple[int, float] | None:
    if len(data) < _HEADER.size:
        return None
    seq, sent = _HEADER.unpack_from(data)
    return seq, sent


class PeerProcess:
    """A `tests/support/p2p_peer.py` subprocess and a thread collecting its JSON events."""

    def __init__(self, *args: str, name: str = "peer") -> None:
        self.name = name
        env = dict(os.environ, PYTHONPATH=str(_ROOT))
        self.proc = subprocess.Popen(
            [sys.executable, "-u", str(Path(__file__)), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=_ROOT,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.messages: list[dict[str, Any]] = []
        self.stderr_tail: list[str] = []
        self.ready: dict[str, Any] | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._read_stdout, daemon=True, name=f"{name}-stdout").start()
        threading.Thread(target=self._read_stderr, daemon=True, name=f"{name}-stderr").start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if event.get("e") == "msg":
                    self.messages.append(event)
                elif event.get("e") == "ready":
                    self.ready = event
            self.events.put(event)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.stderr_tail = (self.stderr_tail + [line.rstrip()])[-40:]

    def received(self, topic: str) -> list[dict[str, Any]]:
        with self._lock:
            return [m for m in self.messages if m["topic"] == topic]

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        self.wait_until(lambda: self.ready is not None, timeout, "ready")
        assert self.ready is not None
        return self.ready

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited ({self.proc.returncode}) waiting for {what}: "
                    + "\n".join(self.stderr_tail[-15:])
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.name}: no {what} within {timeout}s; stderr: " + "\n".join(self.stderr_tail[-15:])
                )
            time.sleep(0.02)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


async def _main(args: argparse.Namespace) -> None:
    from node.p2p import P2PConfig, P2PNode, derive_seed

    config = P2PConfig(
        seed=derive_seed(args.seed), listen_port=args.port, bootstrap=tuple(args.bootstrap), reconnect_max_interval=1.0
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)

    def emit(**event: Any) -> None:
        sys.stdout.write(json.dumps(event) + "\n")

    async def blob(request: bytes, peer: str) -> bytes:
        return bytes(int(request))

    node = P2PNode(config)
    if args.blob_protocol:
        node.register_handler(args.blob_protocol, blob)
    async with node:
        for topic in args.topic:

            async def on_message(data: bytes, from_peer: str, topic: str = topic) -> None:
                now = time.time()
                header = read_payload(data)
                seq, lat = (header[0], (now - header[1]) * 1000) if header else (None, None)
                emit(e="msg", topic=topic, len=len(data), seq=seq, lat_ms=lat)

            await node.subscribe(topic, on_message)
        emit(e="ready", peer_id=node.peer_id, port=node.listen_port)
        while not stop.is_set():
            emit(e="peers", n=len(node.peers()))
            try:
                await asyncio.wait_for(stop.wait(), 1.0)
            except TimeoutError:
                pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", required=True, help="label; the node seed is sha256(label)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bootstrap", action="append", default=[])
    parser.add_argument("--topic", action="append", default=[])
    parser.add_argument("--blob-protocol", help="serve N zero bytes for the request b'N' on this protocol")
    args = parser.parse_args()
    import logging

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format=f"%(asctime)s %(levelname)s {args.seed} %(name)s: %(message)s"
    )
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
