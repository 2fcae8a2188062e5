"""A minimal TOML writer for the generated configs (tomllib reads, nothing in the stdlib writes).

Supports what the configs need: tables (nested by dotted names), strings,
integers, booleans, lists of those and inline tables in lists. Strings are written as TOML basic
strings via JSON escaping, which TOML accepts (\\", \\\\, \\n, \\uXXXX).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

Scalar = str | int | bool


def dumps(doc: Mapping[str, Any]) -> str:
    """Render `doc` (top-level keys are tables; a table's Mapping values are sub-tables)."""
    lines: list[str] = []
    for name, table in doc.items():
        if not isinstance(table, Mapping):
            raise TypeError(f"top-level TOML value {name!r} must be a table")
        _table(lines, _key(name), table)
    return "\n".join(lines).rstrip("\n") + "\n"


def _table(lines: list[str], path: str, table: Mapping[str, Any]) -> None:
    lines.append(f"[{path}]")
    subtables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in table.items():
        if isinstance(value, Mapping):
            subtables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    lines.append("")
    for key, value in subtables:
        _table(lines, f"{path}.{_key(key)}", value)


def _key(key: str) -> str:
    if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key):
        return key
    return json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):  # an inline table, e.g. an entry of a list of tables
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")
