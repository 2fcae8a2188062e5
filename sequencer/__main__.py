"""`python -m sequencer --config FILE`: run the sequencer until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import sys

from sequencer.process import main


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sequencer", description="Run the L2 sequencer.")
    parser.add_argument("--config", required=True, help="path to the sequencer's TOML config")
    args = parser.parse_args(argv)
    return main(args.config)


if __name__ == "__main__":
    sys.exit(cli())
