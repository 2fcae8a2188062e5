"""Helpers shared by CLI command modules: errors and output."""

from __future__ import annotations

import json
import sys
from typing import Any


class CliError(Exception):
    """A user-facing failure: printed as `error: ...`, exit code 1 (or as given)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_json_flag(parser: Any) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def emit(args: Any, data: Any, human: str) -> None:
    """Print `data` as JSON when --json was given, else the human-readable text."""
    if getattr(args, "json", False):
        json.dump(data, sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        print(human)
