"""Move the whole devnet's time forward (devnet_increaseTime): one clock offset in every process.

Every process stamps or checks chain time with its own chain clock (node.clock): the L1's block
timestamps, the sequencer's L2 block timestamps and mempool ages, the gossip checks of executors and
the settler. L2 blocks may not drift more than max_sequencer_drift_ms past an L1 origin no newer
than the block, so all of them move together, in this order:

  1. read every process's offset (devnet_getTimeOffset); the new one is the largest plus `ms`, so
     time moves forward everywhere even after a warp that a dying process interrupted;
  2. set it (devnet_setTimeOffset: durable in the process's data dir before it applies) on the L1,
     then on every other process but the sequencer (so their gossip checks accept its warped blocks),
     then on the sequencer; for gossip's max_past_ms after the jump, blocks sealed just before it
     are still accepted (node.clock.ChainClock.recent_jump_ms, node.blocknet);
  3. mine one L1 block (stamped with the new time) and wait until the sequencer's newest L2 block is
     at least as new: a transaction sent after the call lands in warped time.

Every process must be running and not paused (a stopped one could not take the offset): the call
is refused otherwise, before anything changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from node.clock import MAX_OFFSET_MS
from node.devnet.errors import ControlRefusedError
from node.devnet.layout import ROLE_L1, ROLE_SEQUENCER, ProcessSpec
from node.rpc.errors import InvalidParams

Caller = Callable[..., Any]  # node.devnet.funding.call: (url, method, *params, timeout=...) -> result
L2_WAIT_S = 60.0
POLL_S = 0.05


def order_for_warp(specs: Sequence[ProcessSpec]) -> list[ProcessSpec]:
    """The L1 first, the sequencer last, the rest (executors, settler, challengers) between."""
    rank = {ROLE_L1: 0, ROLE_SEQUENCER: 2}
    return sorted(specs, key=lambda spec: rank.get(spec.role, 1))


def compute_target(offsets: dict[str, int], ms: int) -> int:
    """The new offset: the largest current one plus `ms`, at most node.clock.MAX_OFFSET_MS."""
    base = max(offsets.values(), default=0)
    target = base + ms
    if target > MAX_OFFSET_MS:
        raise InvalidParams(
            f"the devnet's clock is already {base // 1000} s ahead: {ms // 1000} s more would pass the "
            f"limit of {MAX_OFFSET_MS // 1000} s (10 years) in all"
        )
    return target


def _only(specs: Sequence[ProcessSpec], role: str) -> ProcessSpec:
    matches = [spec for spec in specs if spec.role == role]
    if len(matches) != 1:
        raise ControlRefusedError(f"the devnet must have one {role} process to move time, it has {len(matches)}")
    return matches[0]


def wait_l2_time(call: Caller, sequencer_rpc: str, timestamp_ms: int, timeout_s: float = L2_WAIT_S) -> dict[str, Any]:
    """The sequencer's newest block once its timestamp is >= `timestamp_ms`; ControlRefusedError on timeout."""
    deadline = time.monotonic() + timeout_s
    head: Any = None
    while True:
        head = call(sequencer_rpc, "rollup_getBlockByNumber", "latest", False)
        if isinstance(head, dict) and int(head.get("timestamp") or 0) >= timestamp_ms:
            return head
        if time.monotonic() > deadline:
            seen = head.get("timestamp") if isinstance(head, dict) else head
            raise ControlRefusedError(
                f"time moved forward in every process, but the L2 head did not reach {timestamp_ms} ms within "
                f"{timeout_s:.0f} s (its newest block is stamped {seen})"
            )
        time.sleep(POLL_S)


def increase_time(call: Caller, specs: Sequence[ProcessSpec], ms: int) -> dict[str, Any]:
    """Move every process of `specs` (all running) `ms` forward; returns what changed and where time is now."""
    began = time.monotonic()
    ordered = order_for_warp(specs)
    l1, sequencer = _only(ordered, ROLE_L1), _only(ordered, ROLE_SEQUENCER)
    offsets = {spec.name: int(call(spec.rpc, "devnet_getTimeOffset")["offsetMs"]) for spec in ordered}
    target = compute_target(offsets, ms)
    done: list[str] = []
    for spec in ordered:
        try:
            call(spec.rpc, "devnet_setTimeOffset", target)
        except ControlRefusedError as exc:
            raise ControlRefusedError(
                f"time moved in {', '.join(done) or 'no process'} but not in {spec.name}: {exc}; "
                f"call devnet_increaseTime again once it runs (every process then takes the largest offset)"
            ) from None
        done.append(spec.name)
    mined = call(l1.rpc, "devnet_mine", 1, timeout=60.0)
    block = call(l1.rpc, "l1_getBlockByNumber", int(mined["to"]))
    l1_timestamp = int(block["timestamp"])
    head = wait_l2_time(call, sequencer.rpc, l1_timestamp)
    return {
        "seconds": ms / 1000,
        "offsetMs": target,
        "previousOffsetMs": offsets,
        "l1Block": int(mined["to"]),
        "l1Timestamp": l1_timestamp,
        "l2Block": int(head["number"]),
        "l2Timestamp": int(head["timestamp"]),
        "elapsed": round(time.monotonic() - began, 4),
    }


__all__ = ["compute_target", "increase_time", "order_for_warp", "wait_l2_time"]
