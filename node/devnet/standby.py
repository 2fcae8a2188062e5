"""`python -m node.devnet.standby --module MOD --config FILE`: a role process imported ahead of time, waiting.

A revert restarts every process of the devnet, and what a Python process spends most of its
start-up on is importing its code. The control endpoint therefore keeps one standby per role
(node.devnet.warm): it imports the role (MOD's `role` module, or MOD itself, for its `ROLE`,
and libp2p when the config has a [p2p] table: the role imports it lazily), then blocks reading
one byte from stdin. "g" makes it run the role exactly as `python -m MOD
--config FILE` would (node.lifecycle.role_main, stdin then /dev/null); end of file (the control
endpoint went away) or anything else makes it exit 0 without touching the data dir or ports.
Its command line names FILE, so once running it is recognised as the process of that config.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tomllib
from types import ModuleType

from node.lifecycle import Role, role_main

GO = b"g"


def load_role(module: str) -> Role:
    """`ROLE` from MOD.role (a role package) or from MOD (a single-module role such as l1.faults.settler)."""
    candidate: ModuleType
    try:
        candidate = importlib.import_module(module + ".role")
    except ModuleNotFoundError as exc:
        if exc.name != module + ".role":
            raise
        candidate = importlib.import_module(module)
    role = getattr(candidate, "ROLE", None)
    if not isinstance(role, Role):
        raise SystemExit(f"{module} declares no ROLE")
    return role


def preload_lazy_imports(config: str) -> None:
    """Import what a role only imports when it starts its parts: libp2p, for a config with a [p2p] table."""
    try:
        with open(config, "rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return  # the role itself reports a bad config when it runs
    if isinstance(doc.get("p2p"), dict):
        importlib.import_module("node.p2p.runtime")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.devnet.standby")
    parser.add_argument("--module", required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    role = load_role(args.module)
    preload_lazy_imports(args.config)
    if sys.stdin.buffer.read(1) != GO:
        return 0
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return role_main(role, ["--config", args.config])


if __name__ == "__main__":
    sys.exit(main())
