"""Read every devnet process's chain heads over JSON-RPC (what a snapshot records and a revert returns)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from node.devnet.layout import ROLE_L1, ProcessSpec
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError

HEADS_TIMEOUT_S = 3.0


def read_heads(specs: Sequence[ProcessSpec], timeout_s: float = HEADS_TIMEOUT_S) -> dict[str, Any]:
    """{"l1": number, "<l2 node>": {"unsafe": {number, hash, stateRoot}, "safe": n, "finalized": n}, ...}.

    A process that does not answer is left out; the settler has no chain heads of its own.
    """
    heads: dict[str, Any] = {}
    for spec in specs:
        client = SyncRpcClient(spec.rpc, timeout=timeout_s)
        try:
            if spec.role == ROLE_L1:
                heads["l1"] = int(client.call("l1_blockNumber"))
            elif spec.is_l2_node:
                sync = client.call("rollup_syncStatus")
                heads[spec.name] = {
                    "unsafe": {
                        "number": int(sync["unsafe"]["number"]),
                        "hash": str(sync["unsafe"]["hash"]),
                        "stateRoot": str(sync["unsafe"]["stateRoot"]),
                    },
                    "safe": int(sync["safe"]["number"]),
                    "finalized": int(sync["finalized"]["number"]),
                }
        except (RpcError, RpcTransportError, KeyError, TypeError, ValueError):
            continue
    return heads
