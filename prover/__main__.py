"""`python -m prover --config FILE`: run the challenger until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import sys

from prover.challenger import main


def cli() -> int:
    parser = argparse.ArgumentParser(prog="python -m prover", description="Re-derive the L2 chain from L1 and dispute wrong outputs.")
    parser.add_argument("--config", required=True, help="TOML file with [node], [rollup] and [challenger] sections")
    return main(parser.parse_args().config)


if __name__ == "__main__":
    sys.exit(cli())
