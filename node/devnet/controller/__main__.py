"""`python -m node.devnet.controller --config DIR/config/control.toml`: run a devnet's control endpoint.

The config (written by `devnet up`, node.devnet.controlproc) names the devnet directory and the port:

    [control]
    dir = "/abs/DIR"
    host = "127.0.0.1"
    port = 9595

It serves until SIGTERM or SIGINT. Exit 2 on a bad config, 1 when the port cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from node.devnet.controller.ops import Controller
from node.devnet.controller.service import build_server
from node.devnet.controlproc import ControlConfigError, read_control_config
from node.devnet.layout import DevnetLayout
from node.devnet.warm import WarmPool
from node.rpc.server import ListenError


async def serve(controller: Controller, host: str, port: int) -> None:
    server = build_server(controller)
    await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m node.devnet.controller", description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s control %(levelname)s %(message)s")
    log = logging.getLogger("control")
    try:
        config = read_control_config(args.config)
    except ControlConfigError as exc:
        log.error("%s", exc)
        return 2
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the roles it restarts are reaped automatically
    warm = WarmPool()
    controller = Controller(DevnetLayout.at(config.directory), log.info, warm)
    try:
        asyncio.run(serve(controller, config.host, config.port))
    except ListenError as exc:
        log.error("%s", exc)
        return 1
    finally:
        warm.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
