"""The `rollup` command line: one entry point, one module per command group.

Each command module exposes `register(subparsers)`; it adds its parser(s)
and sets `func` to a callable taking the parsed namespace and returning an
exit code. User-facing failures raise `CliError`, printed without a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "node.cli.keys",
    "node.cli.roles",
    "node.cli.devnet",
    "node.cli.wallet",
    "node.cli.fraud",
    "node.cli.venue",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rollup", description="Optimistic rollup devnet for a perpetuals venue")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # `rollup devnet up` on a fresh dir: its fork server imports beside ours (the module's doc)
        from node.devnet.forkserver.early import prestart

        prestart(sys.argv[1:])
        if sys.argv[1:3] == ["devnet", "up"]:  # exit without tearing down every module (~0.5-1 s of `up`)
            from node.devnet.forkserver.child import finish

            finish(_run(None))
    return _run(argv)


def _run(argv: Sequence[str] | None) -> int:
    from node.cli.common import CliError  # the commands' imports (about 0.6 CPU-s) start here

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`: not an error worth a traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
