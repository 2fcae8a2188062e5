"""Where a devnet's files live and which processes it has.

DIR/devnet.json          endpoints, accounts and pids (see node.devnet.state)
DIR/devnet.lock          held while a command rewrites devnet.json
DIR/config/<name>.toml   one config per process
DIR/data/<name>/         each process's database
DIR/snapshots/<id>/      devnet snapshots (node.devnet.snapshots), taken by the control endpoint
DIR/logs/<name>.log      each process's stdout and stderr
DIR/run/                 the fork server's socket, and who each forked process is (node.devnet.pidfile)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from node.devnet.params import RPC_HOST, DevnetSettings, control_port, port_plan
from node.roles import FAULTY_CHALLENGER_MODULE, FAULTY_SETTLER_MODULE, ROLE_PACKAGES

STATE_FILE = "devnet.json"
LOCK_FILE = "devnet.lock"
SNAPSHOTS_DIR = "snapshots"
RUN_DIR = "run"
OWN_ENTRIES = frozenset({STATE_FILE, STATE_FILE + ".tmp", LOCK_FILE, "config", "data", "logs", SNAPSHOTS_DIR, RUN_DIR})

ROLE_L1 = "l1"
ROLE_SEQUENCER = "sequencer"
ROLE_SETTLER = "settler"
ROLE_EXECUTOR = "executor"
ROLE_CHALLENGER = "challenger"
ROLE_CONTROL = "control"  # the control endpoint: not a chain process, never snapshotted
CONTROL_MODULE = "node.devnet.controller"
ROLE_FORKSERVER = "forkserver"  # imports every role once and forks their processes: not a chain process
FORKSERVER_MODULE = "node.devnet.forkserver"
HONEST_CHALLENGER = "challenger"
FAULTY_CHALLENGER = "dispute-all"  # the faulty challenger (mode dispute_all); fits the 12-wide name columns


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """One process of the devnet: its role, files and RPC port."""

    name: str
    role: str
    port: int
    config: Path
    log: Path
    data_dir: Path
    module: str = ""  # the package `python -m` runs; "" means the role's own (node.roles.ROLE_PACKAGES)

    @property
    def entry_module(self) -> str:
        return self.module or ROLE_PACKAGES[self.role]

    @property
    def rpc(self) -> str:
        return f"http://{RPC_HOST}:{self.port}/"

    @property
    def ws(self) -> str:
        return f"ws://{RPC_HOST}:{self.port}/ws"

    @property
    def is_l2_node(self) -> bool:
        """Serves the L2 read JSON-RPC (rollup_chainId, rollup_syncStatus, ...): the challenger does too."""
        return self.role in (ROLE_SEQUENCER, ROLE_EXECUTOR, ROLE_CHALLENGER)


@dataclass(frozen=True, slots=True)
class DevnetLayout:
    root: Path  # absolute

    @classmethod
    def at(cls, directory: str | Path) -> DevnetLayout:
        return cls(Path(directory).expanduser().resolve())

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def snapshots_dir(self) -> Path:
        return self.root / SNAPSHOTS_DIR

    @property
    def run_dir(self) -> Path:
        return self.root / RUN_DIR

    @property
    def forkserver_socket(self) -> Path:
        return self.run_dir / "forkserver.sock"

    @property
    def forkserver_config(self) -> Path:
        return self.config_dir / "forkserver.toml"

    def forkserver_spec(self) -> ProcessSpec:
        """The fork server (node.devnet.forkserver): not a chain process; its record is DIR/run/forkserver.pid."""
        return self.spec(ROLE_FORKSERVER, ROLE_FORKSERVER, 0, FORKSERVER_MODULE)

    def control_spec(self, settings: DevnetSettings) -> ProcessSpec:
        """The control endpoint (node.devnet.controller): its config names this directory; it keeps no data dir."""
        return self.spec(ROLE_CONTROL, ROLE_CONTROL, control_port(settings), CONTROL_MODULE)

    def spec(self, name: str, role: str, port: int, module: str = "") -> ProcessSpec:
        return ProcessSpec(
            name=name,
            role=role,
            port=port,
            config=self.config_dir / f"{name}.toml",
            log=self.logs_dir / f"{name}.log",
            data_dir=self.data_root / name,
            module=module,
        )

    def processes(self, settings: DevnetSettings) -> list[ProcessSpec]:
        """Every process in start (dependency) order: L1, sequencer, settler, executors, challengers."""
        ports = port_plan(settings)
        specs = [
            self.spec("l1", ROLE_L1, ports.l1),
            self.spec("sequencer", ROLE_SEQUENCER, ports.sequencer),
            # always l1.faults.settler: honest until --faulty-proposer's block or devnet_setFaultyProposer
            self.spec("settler", ROLE_SETTLER, ports.settler, FAULTY_SETTLER_MODULE),
        ]
        specs += [self.spec(f"executor-{i}", ROLE_EXECUTOR, port) for i, port in enumerate(ports.executors)]
        challengers = ((HONEST_CHALLENGER, ""), (FAULTY_CHALLENGER, FAULTY_CHALLENGER_MODULE))
        specs += [
            self.spec(*challengers[i][:1], ROLE_CHALLENGER, port, challengers[i][1])
            for i, port in enumerate(ports.challengers)
        ]
        return specs

    def is_ours_to_wipe(self) -> bool:
        """True when the directory is absent, empty or only holds devnet files (safe to rm -r)."""
        if not self.root.exists():
            return True
        if not self.root.is_dir():
            return False
        entries = {entry.name for entry in self.root.iterdir()}
        return STATE_FILE in entries or entries <= OWN_ENTRIES
