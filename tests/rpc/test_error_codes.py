"""One error-code table for every process: each code once, each class under its own code, all of them documented."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

from node.error_codes import (
    ENTRIES,
    ERROR_CODES,
    ErrorTableError,
    Surface,
    build_table,
    compute_class_code,
    lookup,
)
from node.stf.errors import NonceTooLow
from node.venue.errors import VenueError

PACKAGES = ("node", "l1", "sequencer", "prover")
ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"


def import_code_base() -> None:
    """Import every module of the role and shared packages (not `__main__`, which would run a process)."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if not info.name.endswith(".__main__"):
                importlib.import_module(info.name)


def coded_error_classes() -> list[type[BaseException]]:
    """Every exception class of the code base that carries a JSON-RPC code (its own or inherited)."""
    import_code_base()
    found: list[type[BaseException]] = []
    pending: list[type[BaseException]] = [BaseException]
    seen: set[type[BaseException]] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PACKAGES and compute_class_code(cls) is not None:
            found.append(cls)
    return found


def defines_code(cls: type[BaseException]) -> bool:
    return "rpc_code" in vars(cls) or "CODE" in vars(cls)


def section_6() -> str:
    text = PROTOCOL.read_text()
    start = text.index("\n## 6. ")
    return text[start : text.index("\n## 7. ", start)]


def test_every_coded_class_of_the_code_base_is_listed_under_its_own_code() -> None:
    classes = coded_error_classes()
    assert len(classes) > 80
    for cls in classes:
        code = compute_class_code(cls)
        assert code in ERROR_CODES, f"{cls.__module__}.{cls.__qualname__} carries {code}, which the table lacks"
        if defines_code(cls):
            entry = ERROR_CODES[code]
            assert cls in entry.classes, (
                f"{cls.__module__}.{cls.__qualname__} carries {code}, but the table gives {code} to "
                f"{entry.describe_classes()} ({entry.meaning}): one code, one meaning"
            )


def test_each_code_is_in_the_table_once_and_each_class_under_one_code() -> None:
    assert len(ERROR_CODES) == len(ENTRIES)
    listed = [cls for entry in ENTRIES for cls in entry.classes]
    assert len(listed) == len(set(listed))
    for entry in ENTRIES:
        assert all(compute_class_code(cls) == entry.code for cls in entry.classes)
        assert entry.meaning and entry.name


def test_the_table_lists_only_classes_that_exist_and_define_their_code() -> None:
    classes = set(coded_error_classes())
    for entry in ENTRIES:
        for cls in entry.classes:
            assert cls in classes and defines_code(cls), cls


def code_literals(path: Path) -> list[tuple[int, int]]:
    """(code, line) of every negative integer literal in -32768..-31000 in a source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            value = node.operand.value
            if isinstance(value, int) and not isinstance(value, bool) and 31000 <= value <= 32768:
                found.append((-value, node.lineno))
    return found


def test_every_code_written_in_the_code_base_is_in_the_table() -> None:
    """Constants and comparisons too (the settler's retired -32062, the soak's refusal codes, a raw RpcError)."""
    unknown = [
        f"{path.relative_to(ROOT)}:{line}: {code}"
        for name in PACKAGES
        for path in sorted((ROOT / name).rglob("*.py"))
        for code, line in code_literals(path)
        if code not in ERROR_CODES
    ]
    assert not unknown, unknown


def test_a_code_given_twice_is_refused() -> None:
    with pytest.raises(ErrorTableError):
        build_table([*ENTRIES, ENTRIES[0]])


def test_the_venue_codes_are_apart_from_every_other_process() -> None:
    venue = [entry for entry in ENTRIES if entry.surface is Surface.VENUE]
    assert {entry.code for entry in venue} == set(range(-31090, -31069))
    assert all(issubclass(cls, VenueError) for entry in venue for cls in entry.classes)
    assert lookup(-32070) is not None and lookup(-32070).surface is Surface.L1_RECEIPT  # type: ignore[union-attr]
    assert lookup(NonceTooLow.rpc_code) is not None and lookup(-31999) is None


def test_protocol_section_6_lists_every_code_of_the_table() -> None:
    rows = [int(code) for code in re.findall(r"^\| (-\d+) \|", section_6(), flags=re.MULTILINE)]
    assert len(rows) == len(set(rows)), "a code has two rows in docs/protocol.md section 6"
    missing = sorted(set(ERROR_CODES) - set(rows), reverse=True)
    stale = sorted(set(rows) - set(ERROR_CODES), reverse=True)
    assert not missing and not stale, (
        f"docs/protocol.md section 6 lacks {missing} and lists unknown {stale}: "
        "paste the output of `python -m node.error_codes`"
    )
