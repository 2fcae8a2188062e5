"""Fill and check the vector files from their readable form (the engine of scripts/stf_vectors.py).

A vector's readable form is what a person writes: `name`, `about`, `config`, `pre` (accounts, supply,
withdrawals, the venue's genesis records), each block's `context` (and `tx_root` to execute it as a
header), its transactions as readable `tx` objects (a signed one with the test key that signs it, a
deposit, or `"type": "raw"` with its `raw` bytes), a `build` block's deposits, forced transactions and
candidates, and optional `message_contains` notes on errors. Filling computes the rest by running the
state transition (tests.stf.vector_replay): each transaction's `raw` and `hash` (and its readable form in
canonical shape), `pre.root`, the receipts, steps and state root of each block, a build's outcome and
body, a block's `expect_error`, and `post`.

    fill_document(doc, accept=False) -> Filled(doc, changes, conflicts)

A computed value that is missing is written (a new vector needs only its readable form). One that
differs from what the file states is a conflict, reported and left alone, unless `accept` (a deliberate
change of behaviour: review the diff). Error codes are the error classes' own: a code that differs while
the error's name is the same is rewritten (the error-code table was renumbered).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from node.crypto import keccak256
from tests.stf.vector_format import encode_readable_tx, load_vector, parse_bytes, render_tx, show_bytes
from tests.stf.vector_replay import compute_sections, replay_stf

ANNOTATIONS = frozenset({"about", "note", "message_contains"})
KEPT_TX_FIELDS = ("secret_key", "signature", "note")
DERIVED_BLOCK_KEYS = ("transactions", "build", "receipts", "expect_error", "steps", "state_root")
BUILD_INPUTS = ("deposits", "forced", "candidates")


@dataclass
class Filled:
    doc: dict[str, Any]
    changes: list[str] = field(default_factory=list)  # values written: missing, renumbered, or accepted
    conflicts: list[str] = field(default_factory=list)  # values that differ and were left alone


def fill_document(doc: dict[str, Any], accept: bool = False) -> Filled:
    """A filled copy of a vector file's document."""
    filled = Filled(copy.deepcopy(doc))
    for vector in filled.doc["vectors"]:
        fill_vector(vector, filled, accept)
    return filled


def fill_vector(vector: dict[str, Any], filled: Filled, accept: bool) -> None:
    name = vector["name"]
    for where, entry in iter_input_transactions(vector):
        for problem in normalize_tx_entry(entry, accept):
            (filled.changes if accept or problem.startswith("filled") else filled.conflicts).append(
                f"{name}: {where}: {problem}"
            )
    sections = compute_sections(replay_stf(load_vector(vector)))
    merge = Merge(name, filled, accept)
    merge.put(vector["pre"], "root", sections["pre_root"], "pre.root")
    if len(sections["blocks"]) < len(vector["blocks"]):
        filled.conflicts.append(
            f"{name}: block {len(sections['blocks']) - 1} raises, so the blocks after it never run: remove them"
        )
    for number, (block, computed) in enumerate(zip(vector["blocks"], sections["blocks"])):
        for key in DERIVED_BLOCK_KEYS:
            if key in computed:
                merge.put(block, key, computed[key], f"blocks[{number}].{key}")
            elif key in block and key not in ("transactions", "build"):
                merge.conflict(f"blocks[{number}].{key}", "stated, but the replay has none")
    merge.put(vector, "post", sections["post"], "post")


def iter_input_transactions(vector: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every transaction in readable form: block bodies (not a build's body, which is derived) and build inputs."""
    found: list[tuple[str, dict[str, Any]]] = []
    for number, block in enumerate(vector["blocks"]):
        if "build" in block:
            for part in BUILD_INPUTS:
                found += [
                    (f"blocks[{number}].build.{part}[{i}]", e) for i, e in enumerate(block["build"].get(part, ()))
                ]
        else:
            found += [(f"blocks[{number}].transactions[{i}]", e) for i, e in enumerate(block.get("transactions", ()))]
    return found


def normalize_tx_entry(entry: dict[str, Any], accept: bool = False) -> list[str]:
    """Give a transaction entry the raw bytes and hash its readable form stands for, and the readable form its
    canonical shape; return what was filled (`filled ...`) or found different."""
    problems: list[str] = []
    readable = entry["tx"]
    if readable["type"] == "raw":
        raw = parse_bytes(entry["raw"])
    else:
        raw = encode_readable_tx(readable)
        canonical = canonical_readable(readable, raw)
        if canonical != readable:
            problems.append(f"readable form is not canonical: {readable} -> {canonical}")
            entry["tx"] = canonical
        stated = entry.get("raw")
        if stated is None:
            problems.append("filled raw")
        elif stated != show_bytes(raw):
            problems.append(f"raw {stated} differs from the readable form's {show_bytes(raw)} (a wire change?)")
            if not accept:
                raw = parse_bytes(stated)
        entry["raw"] = show_bytes(raw)
    digest = show_bytes(keccak256(raw))
    if entry.get("hash") != digest:
        problems.append("filled hash" if "hash" not in entry else f"hash {entry['hash']} is not keccak(raw) {digest}")
        entry["hash"] = digest
    return problems


def canonical_readable(readable: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """render_tx(raw), keeping the fields only the author knows (the signing key, a forged signature, a note)."""
    canonical = render_tx(raw)
    if "from" in readable and "from" not in canonical:  # a bad signature recovers no sender
        canonical = {
            "type": canonical["type"],
            "from": readable["from"],
            **{k: v for k, v in canonical.items() if k != "type"},
        }
    ordered: dict[str, Any] = {k: canonical[k] for k in ("type", "from") if k in canonical}
    ordered.update({k: readable[k] for k in KEPT_TX_FIELDS[:1] if k in readable})
    ordered.update({k: v for k, v in canonical.items() if k not in ordered})
    ordered.update({k: readable[k] for k in KEPT_TX_FIELDS[1:] if k in readable})
    return ordered


# -- merging computed values into the file --

EXACT_MAPS = frozenset({"accounts", "withdrawals", "venue", "other"})  # keys are data: stated means the whole map


def strip_annotations(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_annotations(v) for k, v in value.items() if k not in ANNOTATIONS}
    if isinstance(value, list):
        return [strip_annotations(v) for v in value]
    return value


@dataclass
class Merge:
    """Computed values into stated ones, field by field: a missing field is filled (so an author may state a
    part, e.g. a receipt's status and error name), an equal one kept, a different one a conflict."""

    name: str
    filled: Filled
    accept: bool

    def put(self, container: dict[str, Any], key: str, computed: Any, where: str) -> None:
        if key in container:
            container[key] = self.merge(container[key], computed, where, key)
        else:
            container[key] = computed
            self.filled.changes.append(f"{self.name}: filled {where}")

    def merge(self, stated: Any, computed: Any, where: str, key: str = "", in_error: bool = False) -> Any:
        if isinstance(stated, dict) and isinstance(computed, dict) and key not in EXACT_MAPS:
            return self.merge_dicts(stated, computed, where)
        if isinstance(stated, list) and isinstance(computed, list) and len(stated) == len(computed):
            return [self.merge(s, c, f"{where}[{i}]") for i, (s, c) in enumerate(zip(stated, computed))]
        if strip_annotations(stated) == computed:
            return stated
        if in_error and key == "code":
            self.filled.changes.append(f"{self.name}: {where}: error code {stated} is now {computed}")
            return computed
        if self.accept:
            self.filled.changes.append(f"{self.name}: accepted {where}")
            return computed
        self.conflict(where, describe_difference(strip_annotations(stated), computed))
        return stated

    def merge_dicts(self, stated: dict[str, Any], computed: dict[str, Any], where: str) -> dict[str, Any]:
        in_error = "name" in computed and "code" in computed
        out: dict[str, Any] = {}
        for k, v in computed.items():
            if k in stated:
                out[k] = self.merge(stated[k], v, f"{where}.{k}", k, in_error)
            else:
                out[k] = v
                self.filled.changes.append(f"{self.name}: filled {where}.{k}")
        for k, v in stated.items():
            if k in ANNOTATIONS or k in BUILD_INPUTS:
                out[k] = v
            elif k not in computed:
                if self.accept:
                    self.filled.changes.append(f"{self.name}: accepted the removal of {where}.{k}")
                else:
                    self.conflict(f"{where}.{k}", "stated, but the replay has no such field")
                    out[k] = v
        return out

    def conflict(self, where: str, text: str) -> None:
        self.filled.conflicts.append(f"{self.name}: {where}: {text}")


def describe_difference(stated: Any, computed: Any, where: str = "") -> str:
    """The first place where two JSON values differ, with both values there."""
    if isinstance(stated, dict) and isinstance(computed, dict):
        for k in sorted(set(stated) | set(computed)):
            if stated.get(k, "<missing>") != computed.get(k, "<missing>"):
                return describe_difference(stated.get(k, "<missing>"), computed.get(k, "<missing>"), f"{where}.{k}")
    if isinstance(stated, list) and isinstance(computed, list) and len(stated) == len(computed):
        for i, (s, c) in enumerate(zip(stated, computed)):
            if s != c:
                return describe_difference(s, c, f"{where}[{i}]")
    return f"{where or 'value'}: stated {short(stated)}, computed {short(computed)}"


def short(value: Any, limit: int = 240) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = [
    "Filled",
    "canonical_readable",
    "describe_difference",
    "fill_document",
    "normalize_tx_entry",
    "strip_annotations",
]
