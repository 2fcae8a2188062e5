"""`python -m l1 --config FILE`: run the L1 devnet (same as `rollup l1 --config FILE`)."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from l1.process import main as run_l1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m l1", description="Run the L1 devnet chain")
    parser.add_argument("--config", required=True, help="TOML file with [node] and [l1] sections")
    args = parser.parse_args(argv)
    return run_l1(args.config)


if __name__ == "__main__":
    sys.exit(main())
