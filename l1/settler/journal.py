"""The settler's file `<data_dir>/settler_state.json`: its transactions in flight and an inbox checkpoint.

    {"version": 2,
     "inFlight": [{"nonce": 7, "fee": "1", "hashes": ["0x.."], "sentAt": 1700000000.5,
                   "intent": {"kind": "batch", "first": 41, "last": 60, "size": 9120, "txs": 88}}
                  | ... "intent": {"kind": "output", "block": 60, "root": "0x.."}}],
     "inbox": {"l1Block": 812, "l1Hash": "0x..", "head": [60, 1700000000000, 805]} | null}

A transaction is recorded (fsync, atomic rename) *before* it is sent, so
after a crash at any point the settler knows which of its nonces may be in
the L1 mempool and waits for them instead of sending the same batch or
proposal again. Nothing else is trusted from this file: what is posted and
proposed is read from L1 at start and every round, and the inbox checkpoint
is used only if the L1 still holds its block (l1.settler.inbox).

A version-1 file (the old posted/proposed cursors, local guesses) is read as
empty.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l1.settler.inbox import InboxCheckpoint, InboxError
from l1.settler.plan import BatchIntent, InFlight, Intent, OutputIntent
from node.crypto import Hash32, parse_hex

log = logging.getLogger("settler")

STATE_FILE = "settler_state.json"
STATE_VERSION = 2


class JournalError(Exception):
    """settler_state.json is unreadable or malformed (an operator must look at it)."""


@dataclass(frozen=True, slots=True)
class SettlerRecord:
    in_flight: tuple[InFlight, ...] = ()
    inbox: InboxCheckpoint | None = None


# -- JSON forms --


def intent_to_json(intent: Intent) -> dict[str, Any]:
    if isinstance(intent, BatchIntent):
        return {"kind": "batch", "first": intent.first, "last": intent.last, "size": intent.size, "txs": intent.txs}
    return {"kind": "output", "block": intent.block, "root": "0x" + intent.root.hex()}


def intent_from_json(doc: Any) -> Intent:
    kind = doc["kind"]
    if kind == "batch":
        return BatchIntent(int(doc["first"]), int(doc["last"]), int(doc.get("size", 0)), int(doc.get("txs", 0)))
    if kind == "output":
        return OutputIntent(int(doc["block"]), Hash32(parse_hex(doc["root"], 32, "root")))
    raise ValueError(f"unknown intent kind {kind!r}")


def in_flight_to_json(entry: InFlight) -> dict[str, Any]:
    return {
        "nonce": entry.nonce,
        "fee": str(entry.fee),
        "hashes": ["0x" + h.hex() for h in entry.hashes],
        "sentAt": entry.sent_at,
        "intent": intent_to_json(entry.intent),
    }


def in_flight_from_json(doc: Any) -> InFlight:
    hashes = tuple(Hash32(parse_hex(h, 32, "hash")) for h in doc["hashes"])
    if not hashes:
        raise ValueError("an entry in flight has no transaction hash")
    return InFlight(int(doc["nonce"]), int(doc["fee"]), hashes, float(doc["sentAt"]), intent_from_json(doc["intent"]))


def record_to_json(record: SettlerRecord) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "inFlight": [in_flight_to_json(e) for e in record.in_flight],
        "inbox": None if record.inbox is None else record.inbox.to_json(),
    }


def is_old_version(doc: Any) -> bool:
    """A version-1 file: the posted/proposed cursors, without a version field."""
    return isinstance(doc, dict) and "version" not in doc and "posted_upto" in doc


def record_from_json(doc: Any) -> SettlerRecord:
    if not isinstance(doc, dict) or doc.get("version") != STATE_VERSION:
        raise JournalError(
            f"settler state has version {doc.get('version') if isinstance(doc, dict) else None!r}, "
            f"expected {STATE_VERSION}"
        )
    try:
        entries = tuple(in_flight_from_json(e) for e in doc["inFlight"])
        inbox = None if doc.get("inbox") is None else InboxCheckpoint.from_json(doc["inbox"])
    except (KeyError, TypeError, ValueError, InboxError) as exc:
        raise JournalError(f"malformed settler state: {exc}") from None
    return SettlerRecord(entries, inbox)


# -- the file --


def load_record(path: Path) -> SettlerRecord:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return SettlerRecord()
    except (OSError, ValueError) as exc:
        raise JournalError(f"settler state {path} is unreadable: {exc}") from None
    if is_old_version(doc):
        log.info("settler state %s holds version-1 cursors: ignored (the L1 says what is posted and proposed)", path)
        return SettlerRecord()
    return record_from_json(doc)


def save_record(path: Path, record: SettlerRecord) -> None:
    """Write atomically and durably: a crash leaves the old or the new file, never a torn one."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        json.dump(record_to_json(record), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
