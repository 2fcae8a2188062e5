"""A Python handle on a running devnet's control endpoint (what the pytest plugin and scripts use).

    devnet = Devnet.from_dir(".devnet")
    snap = devnet.snapshot()
    ...                                  # anything: transfers, kills, mined blocks
    devnet.revert(snap)                  # every process back at the snapshot, running again
    devnet.mine(40)                      # past a challenge window
    devnet.increase_time(3600)           # an hour later in every process (a funding interval passes)
    devnet.set_l2_balance("0x..", 10**18)
    devnet.set_oracle_price("BTC-PERP", "20.5")   # quote per one base; an int is units (wei) per lot

Synchronous; every method is one JSON-RPC call to the control endpoint recorded in DIR/devnet.json
(node.devnet.controller), whose errors are raised as node.rpc.errors classes: ControlRefused (-32003),
UnknownSnapshot (-32009), InvalidParams (-32602). A directory without a devnet raises NoDevnetError;
a devnet whose control endpoint does not answer raises ControlUnavailable.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from node.devnet.endpoints import load_devnet_json
from node.devnet.errors import DevnetError, NoDevnetError
from node.rpc.client import RpcTransportError, SyncRpcClient

DEFAULT_TIMEOUT_S = 180.0  # a revert restarts every process; a balance change waits for a deposit


class ControlUnavailable(DevnetError):
    """The devnet has no control endpoint, or it does not answer (is the devnet running?)."""


class Devnet:
    """The control endpoint of the devnet in one directory, plus what devnet.json says about it."""

    def __init__(self, directory: Path, state: dict[str, Any], timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.directory = directory
        self.state = state
        control = state.get("control")
        if not isinstance(control, dict) or not isinstance(control.get("rpc"), str):
            raise ControlUnavailable(
                f"the devnet in {directory} has no control endpoint (started by an older version, or stopped): "
                f"restart it with `rollup devnet up --dir {directory}`"
            )
        self.control_url: str = control["rpc"]
        self._client = SyncRpcClient(self.control_url, timeout=timeout_s)

    @classmethod
    def from_dir(cls, path: str | Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> Devnet:
        directory = Path(path).expanduser().resolve()
        state = load_devnet_json(directory)
        if state is None:
            raise NoDevnetError(f"no devnet at {directory}: run `rollup devnet up` first")
        return cls(directory, state, timeout_s)

    def call(self, method: str, *params: Any) -> Any:
        try:
            return self._client.call(method, *params)
        except RpcTransportError as exc:
            raise ControlUnavailable(
                f"the control endpoint of the devnet in {self.directory} ({self.control_url}) does not answer: {exc}; "
                f"is the devnet running? (`rollup devnet status --dir {self.directory}`)"
            ) from None

    # -- properties from devnet.json

    @property
    def endpoints(self) -> dict[str, Any]:
        """{"control", "l1", "sequencer", "executors": [url], "challengers": [url], "settler"} RPC URLs."""
        return {
            "control": self.control_url,
            "l1": self.state["l1"]["rpc"],
            "sequencer": self.state["sequencer"]["rpc"],
            "sequencer_ws": self.state["sequencer"]["ws"],
            "settler": self.state["settler"]["rpc"],
            "executors": [e["rpc"] for e in self.state.get("executors") or []],
            "challengers": [c["rpc"] for c in self.state.get("challengers") or []],
        }

    @property
    def accounts(self) -> list[dict[str, str]]:
        """The public dev accounts: [{"name": "dev0", "address", "private_key"}, ...]."""
        return list(self.state.get("accounts") or [])

    # -- control

    def snapshot(self) -> str:
        return str(self.call("devnet_snapshot"))

    def revert(self, snapshot_id: str) -> dict[str, Any]:
        return dict(self.call("devnet_revert", snapshot_id))

    def mine(self, n: int) -> dict[str, Any]:
        return dict(self.call("devnet_mine", n))

    def set_l1_balance(self, address: str, wei: int | str) -> dict[str, Any]:
        return dict(self.call("devnet_setL1Balance", address, _wei(wei)))

    def set_l2_balance(self, address: str, wei: int | str) -> dict[str, Any]:
        return dict(self.call("devnet_setL2Balance", address, _wei(wei)))

    def increase_time(self, seconds: int | float | Decimal | str) -> dict[str, Any]:
        """Move every process's clock `seconds` forward (0..10 years; anvil's evm_increaseTime for the whole
        rollup); returns once an L1 and an L2 block carry the new time: {offsetMs, l1Block, l2Block, ...}.
        A revert to a snapshot taken before brings the time back."""
        value = str(seconds) if isinstance(seconds, Decimal) else seconds
        return dict(self.call("devnet_increaseTime", value))

    def set_oracle_price(self, market: str | int, price: int | str | Decimal) -> dict[str, Any]:
        """`price` in quote per one base ("20.5" or a Decimal), or an int of units (wei) per lot."""
        value = price if isinstance(price, int) and not isinstance(price, bool) else str(price)
        return dict(self.call("devnet_setOraclePrice", market, value))

    def kill(self, role: str, signal: str = "KILL") -> dict[str, Any]:
        return dict(self.call("devnet_kill", role, signal))

    def restart(self, role: str) -> dict[str, Any]:
        return dict(self.call("devnet_restart", role))

    def pause(self, role: str) -> dict[str, Any]:
        return dict(self.call("devnet_pause", role))

    def resume(self, role: str) -> dict[str, Any]:
        return dict(self.call("devnet_resume", role))

    def partition(self, role: str) -> dict[str, Any]:
        return dict(self.call("devnet_partition", role))

    def heal(self, role: str) -> dict[str, Any]:
        return dict(self.call("devnet_heal", role))

    def faulty_proposer(self, mode: str | None) -> dict[str, Any]:
        """ "tx" or "garbage" from the next output on; None (or "off") makes the proposer honest again."""
        return dict(self.call("devnet_setFaultyProposer", None if mode in (None, "off") else mode))

    def dump(self, path: str | Path) -> dict[str, Any]:
        return dict(self.call("devnet_dump", str(Path(path).expanduser().resolve())))

    def status(self) -> dict[str, Any]:
        return dict(self.call("devnet_status"))


def _wei(value: int | str) -> str:
    return str(value)
