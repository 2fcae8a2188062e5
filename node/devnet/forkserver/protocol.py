"""The fork server's wire format: one JSON request line, one JSON reply line, per connection.

{"op": "spawn", "name": N, "module": M, "config": PATH, "log": PATH, "why": TEXT, "detach": BOOL}
    -> {"ok": true, "pid": PID}
{"op": "ping"} -> {"ok": true, "pid": SERVER_PID, "loaded": [MODULE, ...]}
{"op": "adopt", "detach": BOOL} -> {"ok": true, "pid": SERVER_PID}   (a prestarted server taken over by
    `devnet up`, node.devnet.forkserver.early: with detach, it stops dying with the CLI that started it)
anything malformed -> {"ok": false, "error": TEXT} (the server keeps serving)
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

MAX_LINE = 64 * 1024


class ProtocolError(Exception):
    """A request or reply that is not what the protocol says."""


@dataclass(frozen=True, slots=True)
class SpawnRequest:
    name: str
    module: str
    config: str
    log: str
    why: str
    detach: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "op": "spawn",
            "name": self.name,
            "module": self.module,
            "config": self.config,
            "log": self.log,
            "why": self.why,
            "detach": self.detach,
        }


@dataclass(frozen=True, slots=True)
class AdoptRequest:
    detach: bool

    def to_json(self) -> dict[str, Any]:
        return {"op": "adopt", "detach": self.detach}


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value or "\0" in value:
        raise ProtocolError(f"spawn: {key!r} must be a non-empty string, got {value!r}")
    return value


def parse_request(line: bytes) -> SpawnRequest | AdoptRequest | str:
    """A SpawnRequest, an AdoptRequest, or "ping"; ProtocolError for anything else."""
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ProtocolError("a request is a JSON object")
    op = doc.get("op")
    if op == "ping":
        return "ping"
    if op == "adopt":
        detach = doc.get("detach")
        if not isinstance(detach, bool):
            raise ProtocolError(f"adopt: 'detach' must be true or false, got {detach!r}")
        return AdoptRequest(detach)
    if op != "spawn":
        raise ProtocolError(f"unknown op {op!r} (spawn, adopt, ping)")
    module = _text(doc, "module")
    if not all(part.isidentifier() for part in module.split(".")):
        raise ProtocolError(f"spawn: module {module!r} is not a dotted module name")
    detach = doc.get("detach")
    if not isinstance(detach, bool):
        raise ProtocolError(f"spawn: 'detach' must be true or false, got {detach!r}")
    return SpawnRequest(_text(doc, "name"), module, _text(doc, "config"), _text(doc, "log"), _text(doc, "why"), detach)


def read_line(conn: socket.socket, what: str) -> bytes:
    """One newline-ended message from `conn` (what came before EOF if it closes first), at most MAX_LINE bytes."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_LINE:
            raise ProtocolError(f"{what} longer than {MAX_LINE} bytes")
    return data


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode() + b"\n"


def parse_reply(line: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"fork server reply is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ok"), bool):
        raise ProtocolError(f"fork server reply is malformed: {doc!r}")
    return doc
