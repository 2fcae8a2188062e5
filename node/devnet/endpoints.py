"""Which RPC endpoints a wallet command talks to: --rpc/--l1-rpc, else the devnet's devnet.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.devnet.errors import DevnetError, NoDevnetError
from node.devnet.layout import STATE_FILE


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    rpc: str


@dataclass(frozen=True, slots=True)
class Endpoints:
    """`l2` takes reads and transactions; `confirmers` are polled for safe/finalized waits."""

    directory: str
    l2: Node | None
    l1: str | None
    confirmers: tuple[Node, ...]
    l2_min_fee: int | None
    l1_min_fee: int | None

    def require_l2(self) -> Node:
        if self.l2 is None:
            raise NoDevnetError(f"no devnet at {self.directory}: run `rollup devnet up` or pass --rpc")
        return self.l2

    def require_l1(self) -> str:
        if self.l1 is None:
            raise NoDevnetError(f"no devnet at {self.directory}: run `rollup devnet up` or pass --l1-rpc")
        return self.l1

    def all_l2_nodes(self) -> list[Node]:
        """The node reads go to, then every confirmer not already listed."""
        nodes = [self.require_l2()]
        nodes += [node for node in self.confirmers if node.rpc != nodes[0].rpc]
        return nodes


def load_devnet_json(directory: Path) -> dict[str, Any] | None:
    path = directory.expanduser() / STATE_FILE
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DevnetError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise DevnetError(f"{path} is not a devnet state file")
    return doc


def resolve_endpoints(directory: Path, rpc: str | None, l1_rpc: str | None) -> Endpoints:
    """--rpc/--l1-rpc win; the rest comes from DIR/devnet.json when it exists.

    With --rpc, safe/finalized waits poll that node only; otherwise they poll
    every executor of the devnet (the sequencer when it has none).
    """
    doc = load_devnet_json(directory) if rpc is None or l1_rpc is None else None
    l2: Node | None = Node("rpc", rpc) if rpc else None
    confirmers: tuple[Node, ...] = (l2,) if l2 is not None else ()
    l1 = l1_rpc
    l2_fee = l1_fee = None
    if doc is not None:
        try:
            if l2 is None:
                l2 = Node("sequencer", str(doc["sequencer"]["rpc"]))
                executors = tuple(
                    Node(str(e.get("name", f"executor-{i}")), str(e["rpc"]))
                    for i, e in enumerate(doc.get("executors") or [])
                )
                confirmers = executors or (l2,)
            if l1 is None:
                l1 = str(doc["l1"]["rpc"])
            fees = doc.get("fees") or {}
            l2_fee = int(fees["l2_min_fee"]) if "l2_min_fee" in fees else None
            l1_fee = int(fees["l1_min_fee"]) if "l1_min_fee" in fees else None
        except (KeyError, TypeError, ValueError) as exc:
            raise DevnetError(f"{directory}/{STATE_FILE} is malformed ({exc!r})") from None
    return Endpoints(str(directory), l2, l1, confirmers, l2_fee, l1_fee)
