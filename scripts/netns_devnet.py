"""A devnet spread over several "hosts": one Linux network namespace per process (root only).

    netns_devnet.py up   --dir DIR [--prefix rdnXXXX-] [--executors 2] [--block-time-ms 100] [--l1-block-time-ms 500]
                         [--discovery]  (peer exchange on; executors bootstrap to the sequencer only)
    netns_devnet.py down --dir DIR | --prefix rdnXXXX-
    netns_devnet.py cut ROLE --dir DIR        (ip link set <ROLE's veth> down)
    netns_devnet.py heal ROLE --dir DIR       (ip link set <ROLE's veth> up)
    netns_devnet.py status --dir DIR

Topology: a bridge `br0` in its own namespace PREFIX+"br"; each process (l1, sequencer,
settler, executor-N, challenger) in namespace PREFIX+NAME with `lo` up and `eth0`, one end
of a veth pair whose other end `v-NAME` is enslaved to the bridge; addresses 10.77.0.0/24
(see ADDRESSES). A `client` namespace (10.77.0.9) is where this script, and the test,
reach the processes from: `NetnsWorkers` runs calls in threads that entered it (setns is
per thread, so the calling process stays in its own namespace). Nothing is routed out of
the namespaces: no default route, no NAT, no root-namespace interface. Since every
namespace has its own stack, two runs with different prefixes never collide.

Configs come from node.devnet.configs (the loopback devnet's generators) and are then
relocated (`relocate`): rpc_host, the L1 and sequencer URLs, the p2p listen address and
every bootstrap multiaddr move to the owning process's namespace address.

`down` kills every process inside a namespace carrying the prefix (`ip netns pids`) and
deletes those namespaces (their veths go with them); it needs no state file, so it also
cleans up after a crash, and running it twice is harmless.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from node.devnet.configs import config_documents  # noqa: E402
from node.devnet.layout import ROLE_CONTROL, ROLE_EXECUTOR, DevnetLayout, ProcessSpec  # noqa: E402
from node.devnet.params import RPC_HOST, DevnetSettings, p2p_seed_label  # noqa: E402
from node.devnet.toml import dumps  # noqa: E402
from node.p2p.identity import derive_seed, peer_id_from_seed  # noqa: E402

SUBNET_PREFIX = "10.77.0."
NETMASK_BITS = 24
BRIDGE = "br0"
CLIENT = "client"
FIXED_ADDRESSES = {"l1": 2, "sequencer": 3, "settler": 4, "challenger": 5, CLIENT: 9}
EXECUTOR_BASE = 10
STATE_FILE = "netns.json"
PREFIX_RE = re.compile(r"^rdn[a-z0-9]{1,8}-$")
CLONE_NEWNET = 0x40000000
READY_TIMEOUT_S = 120.0
T = TypeVar("T")


class NetnsError(Exception):
    """An `ip` command failed, or the devnet could not be brought up."""


# -- names and addresses ---------------------------------------------------------------------------


def new_prefix() -> str:
    return f"rdn{secrets.token_hex(3)}-"


def check_prefix(prefix: str) -> str:
    if not PREFIX_RE.match(prefix):
        raise NetnsError(f"prefix {prefix!r} must match {PREFIX_RE.pattern} (e.g. {new_prefix()})")
    return prefix


def address_of(name: str) -> str:
    """The namespace address of a process name (l1, sequencer, settler, challenger, client, executor-N)."""
    if name in FIXED_ADDRESSES:
        return SUBNET_PREFIX + str(FIXED_ADDRESSES[name])
    if name.startswith("executor-") and name[9:].isdigit() and int(name[9:]) < 100:
        return SUBNET_PREFIX + str(EXECUTOR_BASE + int(name[9:]))
    raise NetnsError(f"no address for {name!r}: only l1, sequencer, settler, challenger and executor-N run here")


def veth_of(name: str) -> str:
    """The bridge-side end of `name`'s veth (interface names are at most 15 characters)."""
    veth = "v-" + name
    if len(veth) > 15:
        raise NetnsError(f"interface name {veth!r} is longer than 15 characters")
    return veth


# -- ip ----------------------------------------------------------------------------------------------


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")
    return result


def namespaces_with(prefix: str) -> list[str]:
    names = [line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()]
    return [name for name in names if name.startswith(prefix)]


def add_host(prefix: str, name: str) -> None:
    """Namespace PREFIX+name, lo up, eth0 (addressed) wired to the bridge through v-name."""
    ns, bridge_ns, veth = prefix + name, prefix + "br", veth_of(name)
    ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", bridge_ns, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    ip("-n", bridge_ns, "link", "set", veth, "master", BRIDGE)
    ip("-n", bridge_ns, "link", "set", veth, "up")
    ip("-n", ns, "addr", "add", f"{address_of(name)}/{NETMASK_BITS}", "dev", "eth0")
    ip("-n", ns, "link", "set", "eth0", "up")


def add_bridge(prefix: str) -> None:
    ns = prefix + "br"
    ip("netns", "add", ns)
    ip("-n", ns, "link", "set", "lo", "up")
    ip("-n", ns, "link", "add", BRIDGE, "type", "bridge")
    ip("-n", ns, "link", "set", BRIDGE, "up")


def set_link(prefix: str, name: str, up: bool) -> None:
    """Cut (down) or heal (up) `name`'s bridge port: its namespace keeps its address but reaches nobody."""
    address_of(name)  # a precise error for an unknown name
    ip("-n", prefix + "br", "link", "set", veth_of(name), "up" if up else "down")


def pids_in(ns: str) -> list[int]:
    result = ip("netns", "pids", ns, check=False)
    return [int(line) for line in result.stdout.split() if line.isdigit()]


def teardown(prefix: str, grace_s: float = 5.0) -> list[str]:
    """Kill every process in a PREFIX namespace (TERM, then KILL) and delete the namespaces. Idempotent."""
    check_prefix(prefix)
    namespaces = namespaces_with(prefix)
    pids = [pid for ns in namespaces for pid in pids_in(ns)]
    for pid in pids:
        _signal(pid, signal.SIGCONT)
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_exists(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        _signal(pid, signal.SIGKILL)
    for ns in namespaces:
        for pid in pids_in(ns):  # anything that appeared meanwhile
            _signal(pid, signal.SIGKILL)
        ip("netns", "delete", ns, check=False)
    left = namespaces_with(prefix)
    if left:
        raise NetnsError(f"namespaces left after down: {', '.join(left)}")
    return namespaces


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


# -- configs ------------------------------------------------------------------------------------------


def _peer_hosts(specs: list[ProcessSpec]) -> dict[str, str]:
    """peer id -> namespace address, for every process that may run a libp2p host."""
    return {peer_id_from_seed(derive_seed(p2p_seed_label(spec.name))): address_of(spec.name) for spec in specs}


def _relocate_url(url: str, ports: Mapping[int, str]) -> str:
    match = re.fullmatch(r"(https?|wss?)://127\.0\.0\.1:(\d+)(/.*)?", url)
    if match is None or int(match.group(2)) not in ports:
        raise NetnsError(f"cannot place {url!r}: not a devnet process's loopback URL")
    return f"{match.group(1)}://{ports[int(match.group(2))]}:{match.group(2)}{match.group(3) or ''}"


def _relocate_multiaddr(addr: str, peers: Mapping[str, str]) -> str:
    parts = addr.split("/")
    if len(parts) != 7 or parts[2] != RPC_HOST or parts[6] not in peers:
        raise NetnsError(f"cannot place bootstrap {addr!r}: not a devnet peer on loopback")
    parts[2] = peers[parts[6]]
    return "/".join(parts)


def relocate(
    doc: dict[str, Any], spec: ProcessSpec, specs: list[ProcessSpec], discovery: bool = False
) -> dict[str, Any]:
    """`doc` (a loopback devnet config) with every address moved to the namespaces' addresses.

    With `discovery`, every p2p node runs peer exchange (node.p2p.discovery) and an executor's
    only bootstrap address is the sequencer's: executors must find each other.
    """
    ports = {other.port: address_of(other.name) for other in specs}
    peers = _peer_hosts(specs)
    out: dict[str, Any] = {}
    for table, values in doc.items():
        if not isinstance(values, dict):
            out[table] = values
            continue
        section = dict(values)
        for key, value in values.items():
            if key == "rpc_host":
                section[key] = address_of(spec.name)
            elif key.endswith("_rpc") and isinstance(value, str):
                section[key] = _relocate_url(value, ports)
            elif key == "bootstrap" and isinstance(value, list):
                section[key] = [_relocate_multiaddr(str(addr), peers) for addr in value]
        if table == "p2p":
            section["listen_host"] = address_of(spec.name)
            if discovery:
                section["discovery"] = True
                if spec.role == ROLE_EXECUTOR:
                    sequencer = address_of("sequencer")
                    section["bootstrap"] = [a for a in section.get("bootstrap", []) if a.split("/")[2] == sequencer]
        out[table] = section
    return out


# -- entering a namespace from a thread ------------------------------------------------------------


def enter_netns(ns: str) -> None:
    """Move the calling thread (only) into network namespace `ns`: its new sockets live there."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise NetnsError(f"setns({ns}): {os.strerror(errno)}")
    finally:
        os.close(fd)


class NetnsWorkers:
    """Threads living in one namespace: `run(fn, ...)` calls fn there and returns its result."""

    def __init__(self, ns: str, threads: int = 4) -> None:
        self.ns = ns
        self.pool = ThreadPoolExecutor(max_workers=threads, initializer=enter_netns, initargs=(ns,))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        return self.pool.submit(fn, *args)

    def run(self, fn: Callable[..., T], *args: Any, timeout: float = 60.0) -> T:
        return self.submit(fn, *args).result(timeout)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def rpc_call(url: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
    """One JSON-RPC call (made from whatever namespace the calling thread is in)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise RpcCallError(int(reply["error"]["code"]), str(reply["error"]["message"]))
    return reply["result"]


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return str(response.read().decode())


class RpcCallError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


# -- the devnet -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostProcess:
    name: str
    role: str
    namespace: str
    address: str
    rpc: str
    pid: int
    config: str
    log: str


def plan(directory: Path, settings: DevnetSettings) -> list[ProcessSpec]:
    layout = DevnetLayout.at(directory)
    return [spec for spec in layout.processes(settings) if spec.role != ROLE_CONTROL]


def write_configs(specs: list[ProcessSpec], settings: DevnetSettings, discovery: bool = False) -> None:
    docs = config_documents(specs, settings)
    for spec in specs:
        for path in (spec.config.parent, spec.log.parent, spec.data_dir):
            path.mkdir(parents=True, exist_ok=True)
        spec.config.write_text(dumps(relocate(docs[spec.name], spec, specs, discovery)))


def start(spec: ProcessSpec, prefix: str) -> int:
    """`ip netns exec PREFIX+name python -m <package> --config FILE`, detached, output to its log."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = ["ip", "netns", "exec", prefix + spec.name, sys.executable, "-m", spec.entry_module]
    with spec.log.open("ab") as log:
        popen = subprocess.Popen(
            [*command, "--config", str(spec.config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    return popen.pid  # `ip netns exec` execs the command: this is the role's own pid


def wait_healthy(workers: NetnsWorkers, spec: ProcessSpec, pid: int, timeout_s: float) -> None:
    url = f"http://{address_of(spec.name)}:{spec.port}/health"
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if not _exists(pid):
            raise NetnsError(f"{spec.name} exited during start-up; see {spec.log}:\n{_tail(spec.log)}")
        try:
            workers.run(http_get, url, timeout=10)
            return
        except Exception as exc:  # noqa: BLE001 - not up yet: any transport error means "again"
            last = str(exc)
        time.sleep(0.2)
    raise NetnsError(f"{spec.name} not healthy after {timeout_s:.0f} s ({last}); see {spec.log}:\n{_tail(spec.log)}")


def _tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def up(
    directory: Path,
    prefix: str,
    settings: DevnetSettings,
    timeout_s: float = READY_TIMEOUT_S,
    discovery: bool = False,
) -> dict[str, Any]:
    """Namespaces, configs, processes (L1, then the sequencer, then the rest), each waited for; the state file."""
    check_prefix(prefix)
    if namespaces_with(prefix):
        raise NetnsError(f"namespaces with prefix {prefix} exist already: run `down --prefix {prefix}` first")
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    specs = plan(directory, settings)
    state: dict[str, Any] = {"prefix": prefix, "directory": str(directory), "discovery": discovery, "processes": []}
    _save(directory, state)  # the prefix is recorded before anything exists, so `down --dir` always finds it
    workers: NetnsWorkers | None = None
    try:
        add_bridge(prefix)
        for name in [spec.name for spec in specs] + [CLIENT]:
            add_host(prefix, name)
        write_configs(specs, settings, discovery)
        workers = NetnsWorkers(prefix + CLIENT)
        stages = [specs[:1], specs[1:2], specs[2:]]  # L1; sequencer; settler, executors, challenger
        for stage in stages:
            started = [(spec, start(spec, prefix)) for spec in stage]
            for spec, pid in started:
                state["processes"].append(_record(spec, prefix, pid))
                _save(directory, state)
            for spec, pid in started:
                wait_healthy(workers, spec, pid, timeout_s)
    except BaseException:
        teardown(prefix)
        raise
    finally:
        if workers is not None:
            workers.close()
    return state


def _record(spec: ProcessSpec, prefix: str, pid: int) -> dict[str, Any]:
    host = HostProcess(
        name=spec.name,
        role=spec.role,
        namespace=prefix + spec.name,
        address=address_of(spec.name),
        rpc=f"http://{address_of(spec.name)}:{spec.port}/",
        pid=pid,
        config=str(spec.config),
        log=str(spec.log),
    )
    return {field: getattr(host, field) for field in HostProcess.__slots__}


def _save(directory: Path, state: dict[str, Any]) -> None:
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, directory / STATE_FILE)


def load_state(directory: Path) -> dict[str, Any]:
    path = directory / STATE_FILE
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise NetnsError(f"{path} does not exist: no netns devnet was started in {directory}") from None
    except json.JSONDecodeError as exc:
        raise NetnsError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(state, dict) or not isinstance(state.get("prefix"), str):
        raise NetnsError(f"{path} has no prefix")
    check_prefix(state["prefix"])
    return state


def processes(state: Mapping[str, Any]) -> Iterator[HostProcess]:
    for entry in state.get("processes", []):
        yield HostProcess(**entry)


# -- CLI ----------------------------------------------------------------------------------------------


def _prefix_from(args: argparse.Namespace) -> str:
    if getattr(args, "prefix", None):
        return check_prefix(args.prefix)
    if args.dir is None:
        raise NetnsError("give --dir DIR (of an `up`) or --prefix PREFIX")
    return str(load_state(Path(args.dir))["prefix"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="create the namespaces and start the devnet")
    p_up.add_argument("--dir", required=True)
    p_up.add_argument("--prefix", default=None, help="namespace name prefix (default: a random rdnXXXXXX-)")
    p_up.add_argument("--executors", type=int, default=2)
    p_up.add_argument("--block-time-ms", type=int, default=100)
    p_up.add_argument("--l1-block-time-ms", type=int, default=500)
    p_up.add_argument("--timeout", type=float, default=READY_TIMEOUT_S)
    p_up.add_argument(
        "--discovery", action="store_true", help="peer exchange on; executors bootstrap to the sequencer only"
    )
    p_down = sub.add_parser("down", help="kill the processes and delete every namespace with the prefix")
    p_down.add_argument("--dir", default=None)
    p_down.add_argument("--prefix", default=None)
    for verb, text in (("cut", "take ROLE's link down"), ("heal", "bring ROLE's link back up")):
        p_link = sub.add_parser(verb, help=text)
        p_link.add_argument("role", help="a process name: l1, sequencer, settler, challenger, executor-N")
        p_link.add_argument("--dir", default=None)
        p_link.add_argument("--prefix", default=None)
    p_status = sub.add_parser("status", help="print the state file")
    p_status.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            settings = replace(  # DevnetSettings validates each value (ValueError)
                DevnetSettings(),
                executors=args.executors,
                block_time_ms=args.block_time_ms,
                l1_block_time_ms=args.l1_block_time_ms,
            )
            state = up(Path(args.dir), args.prefix or new_prefix(), settings, args.timeout, args.discovery)
            print(json.dumps(state, indent=2))
        elif args.command == "down":
            gone = teardown(_prefix_from(args))
            print(json.dumps({"deleted": gone}))
        elif args.command in ("cut", "heal"):
            set_link(_prefix_from(args), args.role, args.command == "heal")
            print(json.dumps({args.command: args.role}))
        else:
            print(json.dumps(load_state(Path(args.dir)), indent=2))
    except (NetnsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
