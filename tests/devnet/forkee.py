"""A stand-in role for the fork server's tests: `python -m tests.devnet.forkee --config FILE`.

FILE holds one word: "exit N" exits with N; "sleep" writes FILE.json (what the process looks like
from inside: pid, session, fds, signal handlers, argv, a random number) and sleeps until killed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time


def describe(config: str) -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "pgid": os.getpgid(0),
        "sid": os.getsid(0),
        "fds": sorted(int(fd) for fd in os.listdir("/proc/self/fd")),
        "stdin": os.readlink("/proc/self/fd/0"),
        "stdout": os.readlink("/proc/self/fd/1"),
        "stderr": os.readlink("/proc/self/fd/2"),
        "sigterm": str(signal.getsignal(signal.SIGTERM)),
        "sigint_default": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
        "sigchld": str(signal.getsignal(signal.SIGCHLD)),
        "wakeup_fd": signal.set_wakeup_fd(-1),
        "argv": sys.argv[1:],
        "name": __name__,
        "random": random.random(),
        "threads": threading.active_count(),
        "config": config,
    }


def main() -> int:
    config = sys.argv[sys.argv.index("--config") + 1]
    words = open(config).read().split()
    print(f"forkee {os.getpid()} on stdout", flush=True)
    print(f"forkee {os.getpid()} on stderr", file=sys.stderr, flush=True)
    if words[0] == "exit":
        return int(words[1])
    report = describe(config)
    tmp = config + ".json.tmp"
    with open(tmp, "w") as fh:
        json.dump(report, fh)
    os.replace(tmp, config + ".json")
    while True:
        time.sleep(60)


if __name__ == "__main__":
    sys.exit(main())
