"""The linters and type checkers, run by the test command like any other test.

Configuration lives in pyproject.toml ([tool.ruff], [tool.mypy]): ruff's lint
rules and formatting over the whole tree; mypy over node/, sequencer/,
prover/, l1/ and scripts/, with the pure core held to `--strict`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# The pure core: synchronous, free of I/O, and fully typed.
STRICT_CORE = ["node/smt", "node/encoding.py", "node/stf", "node/venue", "node/fraud"]


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    executable = BIN / tool
    if not executable.exists():
        pytest.fail(f"{tool} is not installed beside {sys.executable}: install the project's test extras")
    return subprocess.run([str(executable), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"


def test_ruff_lint_passes() -> None:
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, report(result)


def test_ruff_format_leaves_every_file_unchanged() -> None:
    result = run("ruff", "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, report(result)


def test_mypy_passes_with_the_project_configuration() -> None:
    result = run("mypy")
    assert result.returncode == 0, report(result)
    assert "no issues found" in result.stdout, report(result)


def test_the_pure_core_passes_mypy_strict_on_its_own() -> None:
    result = run("mypy", "--strict", "--follow-imports=silent", *STRICT_CORE)
    assert result.returncode == 0, report(result)
    assert "no issues found" in result.stdout, report(result)
