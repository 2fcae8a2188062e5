"""`python -m l1.settler_main --config FILE`: run the settler until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from node.rpc.server import ListenError
from node.service import ConfigError, run_service, setup_logging
from l1.settler import Settler, SettlerError
from l1.settler_journal import JournalError
from l1.settler_config import load_settler_config

log = logging.getLogger("settler")


def main(config_path: str | Path) -> int:
    """Run the settler from a config file; return the process exit code."""
    try:
        config = load_settler_config(config_path)
    except ConfigError as exc:
        setup_logging("settler")
        log.error("%s", exc)
        return 2
    setup_logging("settler", config.node.log_level)
    try:
        return run_service(lambda: Settler(config), failed=lambda settler: settler.tasks.failed)
    except (ListenError, SettlerError, JournalError) as exc:
        log.error("%s", exc)
        return 1


def cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l1.settler_main", description="Post L2 batches and output roots to L1.")
    parser.add_argument("--config", required=True, help="TOML file with [node], [rollup] and [settler] sections")
    args = parser.parse_args(argv)
    return main(args.config)


if __name__ == "__main__":
    sys.exit(cli())
