"""Check that the devnet's ports are free before starting anything.

A port counts as free when we can bind it with SO_REUSEADDR, as the RPC
servers do (so a port in TIME_WAIT is free, one with a listener is not).
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from node.devnet.errors import PortInUseError
from node.devnet.layout import ProcessSpec
from node.devnet.params import (
    CHALLENGER_P2P_PORT_OFFSET,
    CHALLENGER_PORT_OFFSET,
    CONTROL_PORT_OFFSET,
    EXECUTOR_PORT_OFFSET,
    P2P_PORT_OFFSET,
    RPC_HOST,
    SETTLER_P2P_PORT_OFFSET,
)


def port_is_free(port: int, host: str = RPC_HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports_free(specs: list[ProcessSpec], host: str = RPC_HOST, extra: Sequence[tuple[int, str]] = ()) -> None:
    """Raise PortInUseError naming every planned port that is taken (`extra`: (port, name), e.g. p2p)."""
    planned = [(spec.port, spec.name) for spec in specs] + list(extra)
    taken = [(port, name) for port, name in planned if not port_is_free(port, host)]
    if taken:
        what = ", ".join(f"{port} ({name})" for port, name in taken)
        raise PortInUseError(
            f"port(s) already in use on {host}: {what}; stop whatever listens there "
            "(another devnet? `rollup devnet down`) or pick other ports with --base-port"
        )


def wait_ports_free(
    specs: list[ProcessSpec], extra: Sequence[tuple[int, str]] = (), timeout_s: float = 5.0, host: str = RPC_HOST
) -> None:
    """check_ports_free, retried for `timeout_s`: a process just killed may leave its sockets closing for a moment."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            check_ports_free(specs, host, extra)
            return
        except PortInUseError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


LOWEST_BASE_PORT = 10000
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
DEFAULT_EPHEMERAL_LOW = 32768  # Linux's default bottom of the ports it hands to outgoing connections


def ephemeral_low() -> int:
    """The lowest port the kernel may give an outgoing connection (a devnet's ports stay below it)."""
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return DEFAULT_EPHEMERAL_LOW


def find_free_base_port(
    executors: int, start: int = 20000, stop: int | None = None, step: int = 7, host: str = RPC_HOST
) -> int:
    """A base port whose whole devnet range binds (for tests and scripts). The range ends below the kernel's
    ephemeral ports by default: a client connection elsewhere on the machine (another devnet's, say) can take
    any port there between this check and the bind."""
    stop = ephemeral_low() if stop is None else stop
    offsets = [
        0,
        1000,
        CONTROL_PORT_OFFSET,
        1100,
        CHALLENGER_PORT_OFFSET,
        CHALLENGER_PORT_OFFSET + 1,
        *(EXECUTOR_PORT_OFFSET + i for i in range(executors)),
        *(P2P_PORT_OFFSET + i for i in range(executors + 1)),
        SETTLER_P2P_PORT_OFFSET,
        CHALLENGER_P2P_PORT_OFFSET,
    ]
    for base in range(start, stop - P2P_PORT_OFFSET - executors - 1, step):
        if all(port_is_free(base + offset, host) for offset in offsets):
            return base
    raise PortInUseError(f"no free devnet port range between {start} and {stop}")


def random_free_base_port(executors: int, rng: random.Random | None = None) -> int:
    """find_free_base_port from a random start below the ephemeral ports, so concurrent test runs and
    workers rarely probe the same ranges."""
    top = ephemeral_low() - P2P_PORT_OFFSET - executors - 2 - 500
    start = (rng or random.Random()).randrange(LOWEST_BASE_PORT, max(LOWEST_BASE_PORT + 1, top))
    return find_free_base_port(executors, start=start)
