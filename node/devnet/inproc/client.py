"""The control endpoint's side of in-process snapshots and reverts: the role methods called on many processes.

    stages(specs)                                   [[l1], [sequencer], [the others]]: the order calls go in
    call_stage(specs, method, params_of, timeout)   one stage's calls in parallel: {name: result}, {name: Refusal}

A Refusal says why a process did not do it: `missing` (the process has no such method: an older
or a role without in-process revert, such as the settler and the challenger today), `refused` (a
JSON-RPC error: busy, disabled, or a revert it could not finish) or `unreachable` (no answer in
time: e.g. stopped with SIGSTOP, or dead). node.devnet.snapshot_ops decides what to do with each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from node.devnet.layout import ROLE_L1, ROLE_SEQUENCER, ProcessSpec
from node.rpc.client import SyncRpcClient
from node.rpc.errors import RpcError

METHOD_NOT_FOUND = -32601
CALL_TIMEOUT_S = 20.0

MISSING = "missing"
REFUSED = "refused"
UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: str  # MISSING, REFUSED or UNREACHABLE
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


def stages(specs: Sequence[ProcessSpec]) -> list[list[ProcessSpec]]:
    """The L1 first, then the sequencer, then everything else (together); empty stages left out."""
    first = [spec for spec in specs if spec.role == ROLE_L1]
    second = [spec for spec in specs if spec.role == ROLE_SEQUENCER]
    rest = [spec for spec in specs if spec.role not in (ROLE_L1, ROLE_SEQUENCER)]
    return [stage for stage in (first, second, rest) if stage]


def call_one(spec: ProcessSpec, method: str, params: list[Any], timeout_s: float) -> dict[str, Any] | Refusal:
    try:
        result = SyncRpcClient(spec.rpc, timeout=timeout_s).call(method, *params)
    except RpcError as exc:
        kind = MISSING if exc.code == METHOD_NOT_FOUND else REFUSED
        return Refusal(kind, f"{spec.name} {method}: {exc.message} ({exc.code})")
    except Exception as exc:  # transport errors of every kind: the process does not answer
        return Refusal(UNREACHABLE, f"{spec.name} {method}: {exc}")
    return result if isinstance(result, dict) else {"result": result}


def call_stage(
    specs: Sequence[ProcessSpec],
    method: str,
    params_of: Callable[[ProcessSpec], list[Any]] = lambda spec: [],
    timeout_s: float = CALL_TIMEOUT_S,
) -> tuple[dict[str, dict[str, Any]], dict[str, Refusal]]:
    """Call `method` on every process of `specs` at once; (results, refusals) by process name."""
    if not specs:
        return {}, {}
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        answers = list(pool.map(lambda spec: call_one(spec, method, params_of(spec), timeout_s), specs))
    results: dict[str, dict[str, Any]] = {}
    refusals: dict[str, Refusal] = {}
    for spec, answer in zip(specs, answers):
        if isinstance(answer, Refusal):
            refusals[spec.name] = answer
        else:
            results[spec.name] = answer
    return results, refusals


__all__ = ["MISSING", "REFUSED", "UNREACHABLE", "Refusal", "call_one", "call_stage", "stages"]
