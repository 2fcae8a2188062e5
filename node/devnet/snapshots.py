"""The snapshot registry of one devnet: DIR/snapshots/index.json and one directory per snapshot.

    DIR/snapshots/index.json      {"instance": "9f2c1a7b", "next": 4, "snapshots": [record, ...]}
    DIR/snapshots/<id>/<name>/    a copy of process <name>'s data dir (node.devnet.datacopy)
    DIR/snapshots/<id>/meta.json  the record

A snapshot id is "s<number>-<instance>": the number counts up within one chain, and the
instance changes on every fresh chain (`devnet up --reset`, `--load`), so an id taken before a
reset is recognised as such instead of naming a later snapshot. Reverting to snapshot n keeps
it (it can be reverted to again) and drops every snapshot taken after it, like anvil's evm_revert.
This module only reads and writes the registry; taking and restoring copies is node.devnet.snapshot_ops.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.devnet.errors import DevnetError, UnknownSnapshotError

INDEX_FILE = "index.json"
META_FILE = "meta.json"
ID_PATTERN = re.compile(r"^s([1-9][0-9]{0,8})-([0-9a-f]{8})$")


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    id: str
    number: int
    created: float  # unix time
    heads: dict[str, Any] = field(default_factory=dict)  # read just before the processes were stopped

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "created": self.created, "heads": self.heads}

    @classmethod
    def from_json(cls, obj: Any) -> SnapshotRecord:
        try:
            return cls(str(obj["id"]), int(obj["number"]), float(obj["created"]), dict(obj.get("heads") or {}))
        except (KeyError, TypeError, ValueError) as exc:
            raise DevnetError(f"malformed snapshot record ({exc!r}): {obj!r}") from None


def snapshot_id(number: int, instance: str) -> str:
    return f"s{number}-{instance}"


def parse_snapshot_id(text: Any, instance: str) -> int:
    """The snapshot number `text` names on this chain; UnknownSnapshotError saying why it names none."""
    if not isinstance(text, str):
        raise UnknownSnapshotError(f"a snapshot id is a string such as 's1-{instance}', got {text!r}")
    match = ID_PATTERN.match(text)
    if match is None:
        raise UnknownSnapshotError(f"{text!r} is not a snapshot id (they look like 's1-{instance}')")
    if match.group(2) != instance:
        raise UnknownSnapshotError(
            f"snapshot {text} belongs to another chain (instance {match.group(2)}; this devnet's is {instance}): "
            "it was taken before a reset or a load"
        )
    return int(match.group(1))


class SnapshotRegistry:
    """The snapshots of one chain instance under `root` (DIR/snapshots); a different instance starts afresh."""

    def __init__(self, root: Path, instance: str) -> None:
        self.root = root
        self.instance = instance
        self.next_number = 1
        self.records: list[SnapshotRecord] = []
        self._load()

    def _load(self) -> None:
        path = self.root / INDEX_FILE
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise DevnetError(f"cannot read {path}: {exc}") from None
        if not isinstance(doc, dict) or doc.get("instance") != self.instance:
            return  # another chain's snapshots: stale, replaced on the next save
        self.next_number = int(doc.get("next", 1))
        self.records = [SnapshotRecord.from_json(obj) for obj in doc.get("snapshots") or []]

    def save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        doc = {"instance": self.instance, "next": self.next_number, "snapshots": [r.to_json() for r in self.records]}
        tmp = self.root / (INDEX_FILE + ".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, self.root / INDEX_FILE)

    def allocate(self) -> str:
        """The id the next snapshot gets (the counter moves on, so ids are never reused on one chain)."""
        number = self.next_number
        self.next_number += 1
        return snapshot_id(number, self.instance)

    def add(self, record: SnapshotRecord) -> None:
        self.records.append(record)
        self.save()

    def find(self, text: Any) -> SnapshotRecord:
        number = parse_snapshot_id(text, self.instance)
        for record in self.records:
            if record.number == number:
                if not self.path(record.id).is_dir():
                    raise UnknownSnapshotError(f"snapshot {text}'s files are missing from {self.path(record.id)}")
                return record
        if number < self.next_number:
            raise UnknownSnapshotError(
                f"snapshot {text} no longer exists: a revert to an earlier snapshot invalidated it"
            )
        raise UnknownSnapshotError(f"snapshot {text} was never taken (the next id is s{self.next_number}-...)")

    def drop_after(self, number: int) -> list[str]:
        """Forget (and delete) every snapshot taken after snapshot `number`; returns their ids."""
        dropped = [r for r in self.records if r.number > number]
        self.records = [r for r in self.records if r.number <= number]
        self.save()
        for record in dropped:
            shutil.rmtree(self.path(record.id), ignore_errors=True)
        return [r.id for r in dropped]

    def path(self, snapshot: str) -> Path:
        return self.root / snapshot

    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def remove_stale(self) -> None:
        """Delete snapshot directories of other instances and unfinished copies (a crash mid-snapshot)."""
        if not self.root.is_dir():
            return
        keep = set(self.ids()) | {INDEX_FILE}
        for entry in self.root.iterdir():
            if entry.name not in keep:
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
