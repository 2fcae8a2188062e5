"""Read every devnet process's chain heads over JSON-RPC (what a snapshot records and a revert returns)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from node.devnet.layout import ROLE_L1, ProcessSpec
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError

HEADS_TIMEOUT_S = 3.0


def read_heads(specs: Sequence[ProcessSpec], timeout_s: float = HEADS_TIMEOUT_S) -> dict[str, Any]:
    """{"l1": number, "<l2 node>": {"unsafe": {number, hash, stateRoot}, "safe": n, "finalized": n}, ...}.

    Every process is asked at once (a snapshot's heads are read just before its stop). A process
    that does not answer is left out; the settler has no chain heads of its own.
    """
    if not specs:
        return {}
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        answers = list(pool.map(lambda spec: _read_head(spec, timeout_s), specs))
    return dict(answer for answer in answers if answer is not None)


def heads_from_sync_status(sync: Any) -> dict[str, Any]:
    """An L2 node's heads as a snapshot records them, from its rollup_syncStatus answer (KeyError, TypeError or
    ValueError when the answer is not one)."""
    return {
        "unsafe": {
            "number": int(sync["unsafe"]["number"]),
            "hash": str(sync["unsafe"]["hash"]),
            "stateRoot": str(sync["unsafe"]["stateRoot"]),
        },
        "safe": int(sync["safe"]["number"]),
        "finalized": int(sync["finalized"]["number"]),
    }


def _read_head(spec: ProcessSpec, timeout_s: float) -> tuple[str, Any] | None:
    client = SyncRpcClient(spec.rpc, timeout=timeout_s)
    try:
        if spec.role == ROLE_L1:
            return "l1", int(client.call("l1_blockNumber"))
        if spec.is_l2_node:
            return spec.name, heads_from_sync_status(client.call("rollup_syncStatus"))
    except (RpcError, RpcTransportError, KeyError, TypeError, ValueError):
        return None
    return None


def heads_mismatch(
    recorded: dict[str, Any], specs: Sequence[ProcessSpec], timeout_s: float = HEADS_TIMEOUT_S
) -> list[str]:
    """How the running processes differ from `recorded` heads (read_heads): each L2 node must hold the
    recorded unsafe block (same hash and state root) and the L1 must be at or past its recorded head."""
    problems: list[str] = []
    for spec in specs:
        client = SyncRpcClient(spec.rpc, timeout=timeout_s)
        try:
            if spec.role == ROLE_L1 and "l1" in recorded:
                head = int(client.call("l1_blockNumber"))
                if head < int(recorded["l1"]):
                    problems.append(f"l1 is at block {head}, below the snapshot's {recorded['l1']}")
            elif spec.is_l2_node and spec.name in recorded:
                want = recorded[spec.name]["unsafe"]
                block = client.call("rollup_getBlockByNumber", int(want["number"]), False)
                got = (block or {}).get("hash"), (block or {}).get("stateRoot")
                if got != (want["hash"], want["stateRoot"]):
                    problems.append(
                        f"{spec.name}'s block {want['number']} is {got[0]}, not the snapshot's {want['hash']}"
                    )
        except (RpcError, RpcTransportError, KeyError, TypeError, ValueError) as exc:
            problems.append(f"{spec.name} cannot be checked: {exc}")
    return problems
