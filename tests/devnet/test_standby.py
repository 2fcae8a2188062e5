"""Warm standbys (node.devnet.standby): the role is found, and a standby told nothing exits untouched."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from node.devnet.standby import load_role


def test_roles_are_found_in_packages_and_single_modules() -> None:
    assert load_role("sequencer").name == "sequencer"
    assert load_role("l1.faults.settler").module == "l1.faults.settler"
    with pytest.raises(SystemExit, match="declares no ROLE"):
        load_role("node.devnet.params")
    with pytest.raises(ModuleNotFoundError):
        load_role("no_such_role_package")


def test_a_standby_whose_stdin_closes_exits_without_running(tmp_path: Path) -> None:
    config = tmp_path / "l1.toml"  # never read: the standby does not run
    run = subprocess.run(
        [sys.executable, "-m", "node.devnet.standby", "--module", "l1.chain", "--config", str(config)],
        input=b"",
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0 and run.stdout == b"" and not any(tmp_path.iterdir())


def test_go_runs_the_role_as_python_m_would(tmp_path: Path) -> None:
    config = tmp_path / "missing.toml"
    run = subprocess.run(
        [sys.executable, "-m", "node.devnet.standby", "--module", "l1.chain", "--config", str(config)],
        input=b"g",
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 2  # node.lifecycle's exit code for a config it cannot load, as `python -m l1.chain`
    assert b"missing.toml" in run.stderr + run.stdout
