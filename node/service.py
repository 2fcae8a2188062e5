"""One lifecycle for every process (CONVENTIONS.md 9).

A process is an async context manager: `__aenter__` starts its parts in
dependency order (storage, then background loops, then RPC last) and
`__aexit__` stops them in reverse. `run_service` runs one until SIGTERM or
SIGINT, then exits cleanly; `BackgroundTasks` owns the loops so every task
is cancelled and awaited on exit and a crashed loop stops the process
instead of dying silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Collection, Coroutine, Mapping
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config file is missing, unreadable or has a bad value (message names the key)."""


def load_toml(path: Path | str) -> dict[str, Any]:
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def setup_logging(role: str, level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s %(levelname)-5s {role} %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


class BackgroundTasks:
    """Named long-running tasks; a task that raises brings the whole process down."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []
        self.failed: asyncio.Event = asyncio.Event()
        self.failure: BaseException | None = None

    def spawn(self, name: str, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._on_done)
        self._tasks.append(task)
        return task

    def _on_done(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.critical("background task %s crashed: %r", task.get_name(), exc, exc_info=exc)
            self.failure = exc
            self.failed.set()

    def fail(self, exc: BaseException) -> None:
        """Bring the process down as a crashed task does (a part that cannot go on, e.g. a failed devnet revert)."""
        log.critical("stopping: %r", exc)
        self.failure = exc
        self.failed.set()

    def running(self) -> list[asyncio.Task[Any]]:
        return [task for task in self._tasks if not task.done()]

    async def cancel_named(self, names: Collection[str] = (), prefixes: Collection[str] = ()) -> int:
        """Cancel and await the tasks named one of `names` or starting with one of `prefixes` (a devnet revert
        stops a role's loops to restart them, node.devnet.inproc); returns how many were running."""
        chosen = [
            task
            for task in self._tasks
            if not task.done() and (task.get_name() in names or task.get_name().startswith(tuple(prefixes)))
        ]
        for task in chosen:
            task.cancel()
        for task in chosen:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = [task for task in self._tasks if not task.done()]
        return len(chosen)

    async def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()


async def wait_for_shutdown(extra: asyncio.Event | None = None) -> str:
    """Wait for SIGTERM/SIGINT (or `extra` being set); return what ended the wait."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reason = {"why": "signal"}

    def on_signal(sig: signal.Signals) -> None:
        reason["why"] = sig.name
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    waiters = [asyncio.create_task(stop.wait())]
    if extra is not None:
        waiters.append(asyncio.create_task(extra.wait()))
    try:
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if extra is not None and extra.is_set() and not stop.is_set():
            return "task failure"
        return reason["why"]
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run_service(
    factory: Callable[[], AbstractAsyncContextManager[Any]], failed: Callable[[Any], asyncio.Event | None] | None = None
) -> int:
    """Run the service made by `factory` until a signal; return a process exit code."""

    async def main() -> int:
        async with factory() as service:
            event = failed(service) if failed is not None else None
            why = await wait_for_shutdown(event)
            log.info("shutting down (%s)", why)
            return 1 if why == "task failure" else 0

    try:
        return asyncio.run(main())
    except ConfigError as exc:
        log.error("%s", exc)
        return 2


async def sleep_or_stop(seconds: float, stop: asyncio.Event) -> bool:
    """Sleep, returning True early if `stop` is set."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
        return True
    return False


DEFAULT_STUCK_AFTER_ROUNDS = 20


class ProblemTracker:
    """A retrying loop's current problem, how long it has lasted, and whether that means stuck.

    The loop calls `note(problem)` once per round that did not go through and
    `clear()` once per round that did (or had nothing to do). The problem is
    logged once when it appears or changes (a loop failing every second does
    not flood the log) and once when it clears. After `stuck_after_rounds`
    consecutive problem rounds (whatever their text: a loop that fails in a
    new way each round is no less stuck) the tracker reports `stuck` and logs
    an error once; health endpoints show `report()` and turn from "ok".
    """

    def __init__(
        self,
        who: str,
        logger: logging.Logger,
        stuck_after_rounds: int = DEFAULT_STUCK_AFTER_ROUNDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if stuck_after_rounds < 1:
            raise ValueError(f"stuck_after_rounds must be >= 1 (got {stuck_after_rounds})")
        self.who = who
        self.log = logger
        self.stuck_after_rounds = stuck_after_rounds
        self.clock = clock
        self.problem: str | None = None
        self.rounds = 0  # consecutive rounds with a problem
        self.since: float | None = None  # when the current run of problem rounds began (clock time)

    def note(self, problem: str) -> None:
        """One more round with `problem` (call it at most once per round)."""
        if self.since is None:
            self.since = self.clock()
        self.rounds += 1
        if problem != self.problem:
            self.log.warning("%s (retrying)", problem)
            self.problem = problem
        if self.rounds == self.stuck_after_rounds:
            self.log.error(
                "%s is STUCK: no progress for %d rounds (%.0f s); latest problem: %s",
                self.who,
                self.rounds,
                self.clock() - self.since,
                problem,
            )

    def clear(self) -> None:
        """A round that went through: the problem, if any, is over."""
        if self.problem is not None:
            self.log.info("%s is making progress again after %d problem rounds", self.who, self.rounds)
        self.problem = None
        self.rounds = 0
        self.since = None

    @property
    def stuck(self) -> bool:
        return self.rounds >= self.stuck_after_rounds

    @property
    def status(self) -> str:
        return "stuck" if self.stuck else "ok"

    def report(self) -> dict[str, Any]:
        """The health view: status ("ok" / "stuck"), and the problem with its duration while there is one."""
        report: dict[str, Any] = {"status": self.status}
        if self.problem is not None:
            report["problem"] = self.problem
            report["problemRounds"] = self.rounds
            report["problemSince"] = self.since
        return report


class GaugeRegistry(Protocol):
    def gauge_fn(self, name: str, help: str, fn: Callable[[], Any]) -> None: ...


def register_problem_metrics(metrics: GaugeRegistry, role: str, trackers: Mapping[str, ProblemTracker]) -> None:
    """Gauges `<role>_stuck{duty}` (1 while stuck) and `<role>_problem_rounds{duty}` over named trackers."""
    metrics.gauge_fn(
        f"{role}_stuck",
        f"1 while a {role} duty has had a problem for its stuck threshold of rounds",
        lambda: [({"duty": duty}, int(t.stuck)) for duty, t in trackers.items()],
    )
    metrics.gauge_fn(
        f"{role}_problem_rounds",
        f"consecutive rounds a {role} duty has had a problem",
        lambda: [({"duty": duty}, t.rounds) for duty, t in trackers.items()],
    )
