"""Where a client connects: explicit URLs, or a devnet directory's devnet.json (node.devnet.endpoints).

    endpoints_for(rpc="http://127.0.0.1:9545/", l1_rpc="http://127.0.0.1:8545/")
    endpoints_from_devnet(Path(".devnet"))     # sequencer, executors as confirmers, L1, challenger, fees

A client of a devnet sends to the sequencer, waits for safe/finalized on
every executor, and fetches withdrawal proofs from the honest challenger
(it derives from L1 only and serves them).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from node.client.errors import ClientError, InputError
from node.client.sansio import Endpoints, NodeRef
from node.devnet.endpoints import Endpoints as DevnetEndpoints
from node.devnet.endpoints import load_devnet_json, resolve_endpoints
from node.devnet.errors import DevnetError


def _url(value: str, what: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{what} must be a URL string, got {type(value).__name__}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"{what} must be an http(s):// URL, got {value!r}")
    return value.strip()


def ws_url(rpc: str) -> str:
    """The WebSocket endpoint of an L2 node's HTTP JSON-RPC URL: same host and port, path /ws."""
    parts = urlsplit(rpc)
    return urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc, "/ws", "", ""))


def endpoints_for(
    rpc: str,
    l1_rpc: str | None = None,
    proof_rpc: str | None = None,
    ws: str | None = None,
    confirmers: tuple[NodeRef, ...] | None = None,
    l2_min_fee: int | None = None,
) -> Endpoints:
    """One L2 node (it also confirms safe/finalized waits unless `confirmers` are given), optional L1."""
    node = NodeRef("rpc", _url(rpc, "rpc"))
    return Endpoints(
        l2=node,
        confirmers=confirmers if confirmers is not None else (node,),
        l1=None if l1_rpc is None else _url(l1_rpc, "l1_rpc"),
        proof_rpc=None if proof_rpc is None else _url(proof_rpc, "proof_rpc"),
        ws=ws,
        l2_min_fee=l2_min_fee,
    )


def honest_challenger_rpc(directory: Path) -> str | None:
    """The JSON-RPC URL of the devnet's honest challenger (it serves rollup_getWithdrawalProof), if any."""
    doc = load_devnet_json(directory) or {}
    for challenger in doc.get("challengers") or []:
        if challenger.get("mode") == "honest" and challenger.get("rpc"):
            return str(challenger["rpc"])
    return None


def from_devnet_endpoints(resolved: DevnetEndpoints, directory: Path | None, proof_rpc: str | None = None) -> Endpoints:
    """The client's endpoints for node.devnet.endpoints' (as the CLI resolves --dir/--rpc/--l1-rpc)."""
    l2 = resolved.require_l2()
    node = NodeRef(l2.name, l2.rpc)
    ws: str | None = None
    doc = load_devnet_json(directory) if directory is not None else None
    if doc is not None and l2.name == "sequencer":
        ws = (doc.get("sequencer") or {}).get("ws")
    if proof_rpc is None and directory is not None:
        proof_rpc = honest_challenger_rpc(directory)
    control = (doc or {}).get("control")
    return Endpoints(
        l2=node,
        confirmers=tuple(NodeRef(c.name, c.rpc) for c in resolved.confirmers),
        l1=resolved.l1,
        proof_rpc=proof_rpc,
        ws=ws or ws_url(l2.rpc),
        l2_min_fee=resolved.l2_min_fee,
        control=control["rpc"] if isinstance(control, dict) and isinstance(control.get("rpc"), str) else None,
    )


def endpoints_from_devnet(
    directory: str | Path, rpc: str | None = None, l1_rpc: str | None = None, proof_rpc: str | None = None
) -> Endpoints:
    """The endpoints of the devnet in `directory` (its devnet.json); `rpc`/`l1_rpc` override its URLs."""
    path = Path(directory)
    try:
        resolved = resolve_endpoints(path, rpc, l1_rpc)
        return from_devnet_endpoints(resolved, path, proof_rpc)
    except DevnetError as exc:
        raise ClientError(str(exc)) from None
