"""Release every process reverted in place and read its heads in the same request (one JSON-RPC batch each).

A revert ends with devnet_resume on every process, then checks the heads the snapshot recorded
(node.devnet.heads: the sequencer holds the recorded block, same hash and state root; the L1 is at
or past its recorded head) and reads everyone's heads for the answer. Asked separately that is two
more rounds of requests to every process; here each process gets one batch:

    [devnet_resume, l1_blockNumber]                                            the L1
    [devnet_resume, rollup_syncStatus, rollup_getBlockByNumber(recorded, false)] an L2 node
    [devnet_resume]                                                            the settler

and the answers give what node.devnet.heads.read_heads and heads_mismatch would (same shapes, same
problems). A process whose devnet_resume fails or that does not answer is a Refusal, as from
node.devnet.inproc.client.call_stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from node.devnet.heads import heads_from_sync_status
from node.devnet.inproc.client import CALL_TIMEOUT_S, METHOD_NOT_FOUND, MISSING, REFUSED, UNREACHABLE, Refusal
from node.devnet.inproc.control import RESUME
from node.devnet.layout import ROLE_L1, ROLE_SEQUENCER, ProcessSpec
from node.rpc.client import SyncRpcClient
from node.rpc.errors import RpcError

CHECKED_ROLES = (ROLE_L1, ROLE_SEQUENCER)  # the chain's sources (node.devnet.snapshot_ops.revert_to)


@dataclass
class Released:
    refusals: dict[str, Refusal] = field(default_factory=dict)
    heads: dict[str, Any] = field(default_factory=dict)  # as node.devnet.heads.read_heads
    problems: list[str] = field(default_factory=list)  # as node.devnet.heads.heads_mismatch (L1 and sequencer)


def _calls(spec: ProcessSpec, recorded: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    calls: list[tuple[str, list[Any]]] = [(RESUME, [])]
    if spec.role == ROLE_L1:
        calls.append(("l1_blockNumber", []))
    elif spec.is_l2_node:
        calls.append(("rollup_syncStatus", []))
        if spec.role == ROLE_SEQUENCER and spec.name in recorded:
            calls.append(("rollup_getBlockByNumber", [int(recorded[spec.name]["unsafe"]["number"]), False]))
    return calls


def _ask(spec: ProcessSpec, recorded: dict[str, Any], timeout_s: float) -> list[Any] | Refusal:
    try:
        answers = SyncRpcClient(spec.rpc, timeout=timeout_s).batch(_calls(spec, recorded))
    except RpcError as exc:
        return Refusal(REFUSED, f"{spec.name} {RESUME}: {exc.message} ({exc.code})")
    except Exception as exc:  # transport errors of every kind: the process does not answer
        return Refusal(UNREACHABLE, f"{spec.name} {RESUME}: {exc}")
    first = answers[0]
    if isinstance(first, RpcError):
        kind = MISSING if first.code == METHOD_NOT_FOUND else REFUSED
        return Refusal(kind, f"{spec.name} {RESUME}: {first.message} ({first.code})")
    return answers


def _read(spec: ProcessSpec, answers: list[Any], recorded: dict[str, Any], released: Released) -> None:
    try:
        if spec.role == ROLE_L1:
            head = int(answers[1])
            released.heads["l1"] = head
            if "l1" in recorded and head < int(recorded["l1"]):
                released.problems.append(f"l1 is at block {head}, below the snapshot's {recorded['l1']}")
        elif spec.is_l2_node:
            released.heads[spec.name] = heads_from_sync_status(answers[1])
            if len(answers) > 2:
                want = recorded[spec.name]["unsafe"]
                block = answers[2] if isinstance(answers[2], dict) else {}
                got = block.get("hash"), block.get("stateRoot")
                if got != (want["hash"], want["stateRoot"]):
                    released.problems.append(
                        f"{spec.name}'s block {want['number']} is {got[0]}, not the snapshot's {want['hash']}"
                    )
    except (RpcError, KeyError, TypeError, ValueError, IndexError) as exc:
        if spec.role in CHECKED_ROLES:
            released.problems.append(f"{spec.name} cannot be checked: {exc}")
        # another process's heads are left out, as read_heads leaves out one that does not answer


def release_and_read(
    specs: Sequence[ProcessSpec], recorded: dict[str, Any], timeout_s: float = CALL_TIMEOUT_S
) -> Released:
    """devnet_resume on every process at once, each with its heads' reads in the same batch."""
    released = Released()
    if not specs:
        return released
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        answers = list(pool.map(lambda spec: _ask(spec, recorded, timeout_s), specs))
    for spec, answer in zip(specs, answers):
        if isinstance(answer, Refusal):
            released.refusals[spec.name] = answer
        else:
            _read(spec, answer, recorded, released)
    return released


__all__ = ["Released", "release_and_read"]
