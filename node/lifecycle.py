"""How every role starts: one entry point for `python -m <package> --config FILE` and `rollup <role> --config FILE`.

A role package (l1.chain, sequencer, l1.settler, node.executor, prover, and the
test-only l1.faults.settler, l1.faults.challenger) declares a `Role` in its
`role.py` and its `__main__.py` is `sys.exit(role_main(ROLE))`:

    ROLE = Role("settler", "post L2 batches and output roots to L1", load_settler_config, Settler)

`run_role` loads the config (exit 2 on a ConfigError, named key and all),
sets up logging at the config's level, runs the service until SIGTERM or
SIGINT (node.service.run_service: parts started in order, RPC last, stopped
in reverse) and turns the start-up errors a role declares, and a port that
cannot be bound, into exit 1 with one log line instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.rpc.server import ListenError
from node.service import ConfigError, run_service, setup_logging

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


@dataclass(frozen=True)
class Role:
    """A process of the rollup: how to read its config and make it run."""

    name: str  # as in `rollup <name>` and in its log lines
    description: str
    load_config: Callable[[str | Path], Any]
    make_service: Callable[
        [Any], AbstractAsyncContextManager[Any]
    ]  # the process; it has `.tasks` (node.service.BackgroundTasks)
    module: str  # the package run by `python -m`
    startup_errors: tuple[type[BaseException], ...] = ()  # reported as one line, exit 1

    def log_level(self, config: Any) -> str:
        node = getattr(config, "node", None)
        return str(getattr(node, "log_level", None) or getattr(config, "log_level", "INFO"))


def run_role(role: Role, config_path: str | Path) -> int:
    """Run `role` from its config file until a signal; return the process exit code."""
    log = logging.getLogger(role.name)
    try:
        config = role.load_config(config_path)
    except ConfigError as exc:
        setup_logging(role.name)
        log.error("%s", exc)
        return EXIT_CONFIG
    setup_logging(role.name, role.log_level(config))
    startup_errors: tuple[type[BaseException], ...] = (ListenError, *role.startup_errors)
    try:
        return run_service(lambda: role.make_service(config), failed=lambda service: service.tasks.failed)
    except startup_errors as exc:
        log.error("%s", exc)
        return EXIT_FAILED


def role_main(role: Role, argv: Sequence[str] | None = None) -> int:
    """`python -m <role package> --config FILE`."""
    parser = argparse.ArgumentParser(prog=f"python -m {role.module}", description=role.description)
    parser.add_argument("--config", required=True, help="the process's TOML config file")
    args = parser.parse_args(argv)
    return run_role(role, args.config)


__all__ = ["EXIT_CONFIG", "EXIT_FAILED", "EXIT_OK", "Role", "role_main", "run_role"]
