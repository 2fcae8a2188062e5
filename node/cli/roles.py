"""`rollup <role> --config FILE`: run one process of the devnet in the foreground (node.lifecycle).

Each role is a package started the same way by `python -m <package>`
(node.roles is the one table of them).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from node.roles import ROLE_DESCRIPTIONS, ROLE_PACKAGES


def register(subparsers: Any) -> None:
    for role, package in ROLE_PACKAGES.items():
        parser = subparsers.add_parser(role, help=f"run {ROLE_DESCRIPTIONS[role]}")
        parser.add_argument("--config", required=True, help="the process's TOML config file")
        parser.set_defaults(func=_runner(package))


def _runner(package: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        from node.lifecycle import run_role

        return run_role(importlib.import_module(f"{package}.role").ROLE, args.config)

    return run
