"""`python -m node.devnet.forkserver --config DIR/config/forkserver.toml`: the fork server of a devnet.

The config names the devnet directory (written by node.devnet.forkserver.client):

    [forkserver]
    dir = "/abs/DIR"

Exits 0 when stopped (SIGTERM, SIGINT, its directory removed), 2 on a bad config. A forked child
leaves the server's loop through here and runs its role's module: its exit code is the role's.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

from node.devnet.forkserver.child import finish, run
from node.devnet.forkserver.server import Server, say
from node.devnet.layout import DevnetLayout


def read_directory(config: str) -> Path:
    """The absolute devnet directory named by the config; ValueError naming what is wrong."""
    try:
        doc = tomllib.loads(Path(config).read_text())
        directory = doc["forkserver"]["dir"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the fork server config {config}: {exc!r}") from None
    if not isinstance(directory, str) or not Path(directory).is_absolute():
        raise ValueError(f"{config}: [forkserver] dir must be an absolute path, got {directory!r}")
    return Path(directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.devnet.forkserver", description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    try:
        directory = read_directory(args.config)
    except ValueError as exc:
        say(str(exc))
        return 2
    request = Server(DevnetLayout.at(directory)).serve()
    if request is None:
        return 0
    finish(run(request))  # the role's exit code, as from `python -m`


if __name__ == "__main__":
    sys.exit(main())
