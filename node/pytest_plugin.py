"""A pytest plugin for testing against a real rollup devnet (registered through the `pytest11` entry point).

Installed with the package, so `pip install rollup-devnet` is all a test suite needs:

    def test_transfer(rollup_client, funded_account):
        alice, bob = funded_account("10eth"), funded_account()
        receipt = rollup_client.transfer(alice.key, bob.address, "1.5eth", wait="safe")
        assert rollup_client.balance(bob.address) == 101_500_000_000_000_000_000

Fixtures:

    rollup_devnet      session   a devnet started on free ports in a temporary directory (detached,
                                 always brought down); a `node.devnet.handle.Devnet` control handle
    rollup_client      session   a `node.client.RollupClient` on the devnet's sequencer (and its L1)
    funded_account     function  a factory: `funded_account(l2="100eth", l1=None)` returns a fresh
                                 key funded on L2 (and on L1 when `l1` is given), so tests never share nonces
    fn_isolation       function  snapshot before the test, revert after it (opt in per test or module)
    module_isolation   module    the same around a whole module
    rollup_faults      function  crash / partition / faulty-proposer helpers, undone after the test

Markers (each undone after the test): `@pytest.mark.rollup_crashed("executor-0")` (killed with
SIGKILL before the test, restarted after it), `@pytest.mark.rollup_partitioned("executor-1")`
(cut off the gossip network), `@pytest.mark.rollup_faulty_proposer("tx")` (wrong output roots
from the next output on).

Options (command line, or the same name with underscores in the ini file): `--rollup-devnet DIR`
(use a devnet already running in DIR; it is not stopped), `--rollup-executors N` (default 1),
`--rollup-block-time-ms MS`, `--rollup-l1-block-time-ms MS`, `--rollup-challenge-window N`,
`--rollup-game-clock N`, `--rollup-startup-timeout S`. Under pytest-xdist each worker starts its
own devnet on its own ports. L2 funding comes from dev6 (`FUNDER`): tests should not send from it.

Nothing here runs unless a test asks for one of the fixtures: the plugin is loaded by every pytest
session in an environment where the package is installed, so its import stays cheap.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from node.client import RollupClient
    from node.crypto import PrivateKey
    from node.devnet.handle import Devnet

FUNDER = "dev6"
DEFAULT_L2_FUNDING = "100eth"
DEFAULT_EXECUTORS = 1
DEFAULT_STARTUP_TIMEOUT_S = 120.0
PORT_RANGE_PER_WORKER = 1500
PORT_SEARCH_START = 20000

_OPTIONS: tuple[tuple[str, str, str | None], ...] = (
    # (option name, help, default) - each also an ini key with underscores
    ("rollup-devnet", "use the devnet already running in this directory (it is not stopped)", None),
    ("rollup-executors", "executors in the devnet the plugin starts (default 1)", None),
    ("rollup-block-time-ms", "L2 block time of the devnet the plugin starts", None),
    ("rollup-l1-block-time-ms", "L1 block time of the devnet the plugin starts", None),
    ("rollup-challenge-window", "challenge window (L1 blocks) of the devnet the plugin starts", None),
    ("rollup-game-clock", "dispute game clock (L1 blocks per side) of the devnet the plugin starts", None),
    ("rollup-startup-timeout", "seconds to wait for the devnet to be ready (default 120)", None),
)
_UP_FLAGS = {
    "rollup-executors": "--executors",
    "rollup-block-time-ms": "--block-time-ms",
    "rollup-l1-block-time-ms": "--l1-block-time-ms",
    "rollup-challenge-window": "--challenge-window",
    "rollup-game-clock": "--game-clock",
}
_MARKERS = (
    "rollup_crashed(role): kill the role with SIGKILL before the test and restart it after",
    "rollup_partitioned(role): cut the executor off the gossip network for the test, heal it after",
    "rollup_faulty_proposer(mode): the settler proposes wrong output roots ('tx' or 'garbage') during the test",
)


class DevnetStartError(Exception):
    """The devnet did not start: carries the `devnet up` output, with the failing process's log tail."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rollup", "rollup devnet (node.pytest_plugin)")
    for name, help_text, default in _OPTIONS:
        group.addoption(f"--{name}", dest=_dest(name), default=default, help=help_text)
        parser.addini(_dest(name), help_text, default=default)


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    for name, _, _ in _OPTIONS:
        if name not in ("rollup-devnet",):
            _int_option(config, name, 0)  # a malformed number is a usage error before any test runs


def _dest(name: str) -> str:
    return name.replace("-", "_")


def _option(config: pytest.Config, name: str) -> str | None:
    """The command-line value, else the ini value, else None."""
    value = config.getoption(_dest(name))
    if value is None:
        value = config.getini(_dest(name)) or None
    return None if value is None else str(value)


# ---------------------------------------------------------------- starting and stopping


def _rollup_command() -> list[str]:
    script = Path(sys.executable).parent / "rollup"
    return [str(script)] if script.exists() else [sys.executable, "-m", "node.cli.main"]


def _worker_index() -> int:
    """pytest-xdist's worker number (gw3 -> 3), 0 without xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = worker.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0


def _free_base_port(executors: int) -> int:
    """A free port range, searched from a start that differs per xdist worker so workers do not race."""
    from node.devnet.ports import ephemeral_low, find_free_base_port

    span = max(1, ephemeral_low() - PORT_SEARCH_START - 2 * PORT_RANGE_PER_WORKER)  # below the kernel's ephemeral ports
    offset = (_worker_index() * PORT_RANGE_PER_WORKER * 2 + random.randrange(0, 500)) % span
    return find_free_base_port(executors, start=PORT_SEARCH_START + offset)


def _int_option(config: pytest.Config, name: str, default: int) -> int:
    value = _option(config, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"--{name} must be an integer, got {value!r}") from None


def _up_arguments(config: pytest.Config, directory: Path) -> list[str]:
    executors = _int_option(config, "rollup-executors", DEFAULT_EXECUTORS)
    args = ["devnet", "up", "--dir", str(directory), "--detach", "--json"]
    args += ["--base-port", str(_free_base_port(executors))]
    for name, flag in _UP_FLAGS.items():
        value = str(executors) if name == "rollup-executors" else _option(config, name)
        if value is not None:
            args += [flag, value]
    return args


def start_devnet(config: pytest.Config, directory: Path) -> None:
    """`rollup devnet up --detach` in `directory`; raises DevnetStartError with its output on failure."""
    timeout = float(_int_option(config, "rollup-startup-timeout", int(DEFAULT_STARTUP_TIMEOUT_S)))
    command = [*_rollup_command(), *_up_arguments(config, directory)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        stop_devnet(directory)
        raise DevnetStartError(f"the devnet was not ready within {timeout:.0f} s\n{_text(exc.stderr)}") from None
    if result.returncode != 0:
        stop_devnet(directory)
        raise DevnetStartError(f"`rollup {' '.join(command[1:])}` failed:\n{result.stderr}{result.stdout}")


def _text(output: str | bytes | None) -> str:
    if output is None:
        return ""
    return output.decode(errors="replace") if isinstance(output, bytes) else output


def stop_devnet(directory: Path) -> None:
    """`rollup devnet down`, then SIGKILL any recorded process that is still ours."""
    if not (directory / "devnet.json").exists():
        return
    subprocess.run(
        [*_rollup_command(), "devnet", "down", "--dir", str(directory)],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    _kill_leftovers(directory)


def _kill_leftovers(directory: Path) -> None:
    import signal

    from node.devnet.procfs import is_our_process

    try:
        doc = json.loads((directory / "devnet.json").read_text())
    except (OSError, ValueError):
        return
    control = doc.get("control")  # the control endpoint (its standbys exit when it does)
    for proc in [*doc.get("processes", []), *([control] if isinstance(control, dict) else [])]:
        pid, config = proc.get("pid"), proc.get("config")
        if isinstance(pid, int) and isinstance(config, str) and is_our_process(pid, config):
            os.kill(pid, signal.SIGKILL)
    from node.devnet.forkserver.client import running_fork_server  # it forks the processes (node.devnet.forkserver)
    from node.devnet.layout import DevnetLayout

    server = running_fork_server(DevnetLayout.at(directory))
    if server is not None:
        os.kill(server, signal.SIGKILL)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def rollup_devnet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    """A running devnet's control handle (node.devnet.handle.Devnet); started for the session unless
    --rollup-devnet names a running one."""
    from node.devnet.handle import Devnet

    existing = _option(request.config, "rollup-devnet")
    if existing is not None:
        yield Devnet.from_dir(Path(existing))
        return
    directory = tmp_path_factory.mktemp("rollup-devnet") / "net"
    try:
        start_devnet(request.config, directory)
    except DevnetStartError as exc:
        pytest.fail(f"rollup_devnet: {exc}", pytrace=False)
    try:
        yield Devnet.from_dir(directory)
    finally:
        stop_devnet(directory)
        shutil.rmtree(directory / "snapshots", ignore_errors=True)


@pytest.fixture(scope="session")
def rollup_client(rollup_devnet: Devnet) -> Iterator[RollupClient]:
    """A client on the devnet's sequencer and L1 (node.client.RollupClient)."""
    from node.client import RollupClient

    yield RollupClient.from_devnet(rollup_devnet.directory)


@dataclass(frozen=True, slots=True)
class FundedAccount:
    """A fresh key and its address, funded by `funded_account`."""

    key: PrivateKey
    address: str  # EIP-55

    def __repr__(self) -> str:  # never print the secret
        return f"FundedAccount({self.address})"


FundAccount = Callable[..., FundedAccount]


@pytest.fixture
def funded_account(rollup_devnet: Devnet, rollup_client: RollupClient) -> FundAccount:
    """A factory: `funded_account(l2="100eth", l1=None, wait="unsafe")` -> a fresh funded FundedAccount.

    L2 funds are a transfer from FUNDER (confirmed at `wait`); L1 funds (when `l1` is given) are set
    through the devnet's control endpoint. Amounts take units (`"1.5eth"`, `"20gwei"`) or int wei.
    """
    from node.crypto import PrivateKey, to_checksum_address
    from node.keys.resolve import resolve_key

    funder = resolve_key(FUNDER)

    def make(
        l2: int | str | None = DEFAULT_L2_FUNDING, l1: int | str | None = None, wait: str = "unsafe"
    ) -> FundedAccount:
        key = PrivateKey.generate()
        address = to_checksum_address(key.address)
        if l2 is not None:
            rollup_client.transfer(funder, address, l2, wait=wait)
        if l1 is not None:
            rollup_devnet.set_l1_balance(address, _wei(l1))
        return FundedAccount(key, address)

    return make


def _wei(amount: int | str) -> int:
    from node.units import parse_amount

    return amount if isinstance(amount, int) else parse_amount(amount)


class IsolationState:
    """The snapshot the devnet is known to be at, so consecutive isolated tests share one snapshot.

    A revert keeps its snapshot (and drops later ones), so after `revert(s)` the devnet is at `s`
    again: the next isolated test reverts to `s` too instead of taking (and leaving on disk) a new
    one. Any test that does not use fn_isolation may change the devnet, and clears it.
    """

    def __init__(self) -> None:
        self.clean: str | None = None


@pytest.fixture(scope="session")
def _rollup_isolation_state() -> IsolationState:
    return IsolationState()


@pytest.fixture
def fn_isolation(rollup_devnet: Devnet, _rollup_isolation_state: IsolationState) -> Iterator[None]:
    """Snapshot the whole devnet before the test and revert to it after (brownie's name)."""
    state = _rollup_isolation_state
    snapshot = state.clean if state.clean is not None else rollup_devnet.snapshot()
    state.clean = None
    try:
        yield
    finally:
        rollup_devnet.revert(snapshot)
        state.clean = snapshot


@pytest.fixture(scope="module")
def module_isolation(rollup_devnet: Devnet, _rollup_isolation_state: IsolationState) -> Iterator[None]:
    """Snapshot the whole devnet before the module's first test and revert after its last."""
    state = _rollup_isolation_state
    snapshot = rollup_devnet.snapshot()
    state.clean = snapshot  # the devnet is at it now; a revert to an older one would drop it
    try:
        yield
    finally:
        rollup_devnet.revert(snapshot)
        state.clean = snapshot


class Faults:
    """Faults injected into the running devnet during one test; `undo()` puts everything back."""

    def __init__(self, devnet: Devnet) -> None:
        self._devnet = devnet
        self._crashed: list[str] = []
        self._paused: list[str] = []
        self._partitioned: list[str] = []
        self._faulty_proposer = False

    def crash(self, role: str) -> None:
        """Kill the role with SIGKILL (no clean-up); restarted by `restart` or after the test."""
        self._devnet.kill(role)
        self._crashed.append(role)

    def restart(self, role: str) -> None:
        self._devnet.restart(role)
        if role in self._crashed:
            self._crashed.remove(role)

    def pause(self, role: str) -> None:
        """SIGSTOP the role (it keeps its sockets but answers nothing) until `resume` or the test's end."""
        self._devnet.pause(role)
        self._paused.append(role)

    def resume(self, role: str) -> None:
        self._devnet.resume(role)
        if role in self._paused:
            self._paused.remove(role)

    def partition(self, role: str) -> None:
        """Cut an executor off the gossip network (it keeps following L1)."""
        self._devnet.partition(role)
        self._partitioned.append(role)

    def heal(self, role: str) -> None:
        self._devnet.heal(role)
        if role in self._partitioned:
            self._partitioned.remove(role)

    def faulty_proposer(self, mode: str = "tx") -> dict[str, Any]:
        """Wrong output roots from the next output on ("tx" or "garbage"); the settler's answer."""
        answer = self._devnet.faulty_proposer(mode)
        self._faulty_proposer = True
        return answer

    def undo(self) -> None:
        """Resume, heal and restart what this test broke, and make the proposer honest again."""
        for role in reversed(self._paused):
            self._devnet.resume(role)
        for role in reversed(self._partitioned):
            self._devnet.heal(role)
        for role in reversed(self._crashed):
            self._devnet.restart(role)
        if self._faulty_proposer:
            self._devnet.faulty_proposer(None)
        self._paused, self._partitioned, self._crashed = [], [], []
        self._faulty_proposer = False


@pytest.fixture
def rollup_faults(rollup_devnet: Devnet) -> Iterator[Faults]:
    """Crash, pause, partition or make the proposer faulty during a test; all undone after it."""
    faults = Faults(rollup_devnet)
    try:
        yield faults
    finally:
        faults.undo()


@pytest.fixture(autouse=True)
def _rollup_fault_markers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Apply the rollup_* fault markers (after fn_isolation's snapshot, undone before its revert), and note
    that a test without fn_isolation may change the devnet; a test without markers does not touch it."""
    if "fn_isolation" not in request.fixturenames:
        state: IsolationState = request.getfixturevalue("_rollup_isolation_state")
        state.clean = None
    markers = [
        marker
        for name in ("rollup_crashed", "rollup_partitioned", "rollup_faulty_proposer")
        for marker in request.node.iter_markers(name)
    ]
    if not markers:
        yield
        return
    for marker in markers:
        _check_marker(marker)
    if "fn_isolation" in request.fixturenames:
        request.getfixturevalue("fn_isolation")  # snapshot first: the faults are not part of it
    faults: Faults = request.getfixturevalue("rollup_faults")
    for marker in markers:
        _apply_marker(faults, marker)
    yield


def _check_marker(marker: pytest.Mark) -> None:
    if len(marker.args) != 1 or not isinstance(marker.args[0], str) or marker.kwargs:
        raise pytest.UsageError(f"@pytest.mark.{marker.name} takes one string argument, got {marker.args!r}")


def _apply_marker(faults: Faults, marker: pytest.Mark) -> None:
    argument = marker.args[0]
    if marker.name == "rollup_crashed":
        faults.crash(argument)
    elif marker.name == "rollup_partitioned":
        faults.partition(argument)
    else:
        faults.faulty_proposer(argument)
