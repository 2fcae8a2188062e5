"""`rollup <role> --config FILE`: run one process of the devnet in the foreground."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

ROLES = {
    "l1": ("l1.process", "the L1 devnet chain with the rollup's settlement contracts"),
    "sequencer": ("sequencer.process", "the sequencer: orders, executes and seals L2 blocks"),
    "settler": ("l1.settler_main", "the settler: posts batches and output roots to L1"),
    "executor": ("node.executor", "an executor (replica): derives the L2 chain from L1"),
    "challenger": ("prover.challenger", "the challenger: re-derives from L1 and disputes wrong output roots"),
}


def register(subparsers: Any) -> None:
    for role, (module, help_text) in ROLES.items():
        parser = subparsers.add_parser(role, help=f"run {help_text}")
        parser.add_argument("--config", required=True, help="the process's TOML config file")
        parser.set_defaults(func=_runner(module))


def _runner(module: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        return int(importlib.import_module(module).main(args.config))

    return run
