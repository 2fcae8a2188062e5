"""Devnet control from the client: move the whole devnet's time forward (its control endpoint).

    c = RollupClient.from_devnet(".devnet")          # knows the control endpoint from devnet.json
    c.increase_time(3600)                             # every process's clock, as anvil's evm_increaseTime

The call goes to the devnet's control endpoint (node.devnet.controller, `devnet_increaseTime`),
which sets one clock offset in every process, mines an L1 block and answers once the L2 head is
stamped in the new time. The seconds are checked here first (errors.InputError, nothing sent).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from node.client.errors import InputError, ResponseError
from node.client.sansio import Call, Op
from node.clock import MAX_OFFSET_MS

SecondsLike = int | float | Decimal | str
WARP_TIMEOUT_S = 180.0  # the control endpoint waits up to 60 s for the L2; a loaded machine is slow
MAX_SECONDS = MAX_OFFSET_MS // 1000


def to_seconds(seconds: SecondsLike) -> int | float | str:
    """`seconds` as devnet_increaseTime takes it (a JSON number or a decimal string), in [0, 10 years]."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | Decimal | str):
        raise InputError(f"seconds must be a number of seconds, got {type(seconds).__name__}")
    try:
        number = Decimal(str(seconds).strip())
    except InvalidOperation:
        raise InputError(f"seconds must be a number of seconds (e.g. 3600 or 1.5), got {seconds!r}") from None
    if not number.is_finite():
        raise InputError(f"seconds must be a finite number, got {seconds!r}")
    if number < 0:
        raise InputError(f"seconds must be at least 0: time only moves forward, got {seconds!r}")
    if number > MAX_SECONDS:
        raise InputError(f"seconds may be at most {MAX_SECONDS} (10 years), got {seconds!r}")
    return str(number) if isinstance(seconds, Decimal | str) else seconds


def increase_time(control_url: str, seconds: SecondsLike) -> Op[dict[str, Any]]:
    """devnet_increaseTime: {seconds, offsetMs, previousOffsetMs, l1Block, l1Timestamp, l2Block, l2Timestamp}."""
    value = to_seconds(seconds)
    reply = yield Call(control_url, "devnet_increaseTime", (value,), WARP_TIMEOUT_S)
    if not isinstance(reply, dict) or not isinstance(reply.get("offsetMs"), int):
        raise ResponseError(f"devnet_increaseTime: expected an object with offsetMs, got {reply!r:.80}")
    return reply


__all__ = ["SecondsLike", "increase_time", "to_seconds"]
