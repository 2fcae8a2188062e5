"""Devnet control from the client: move the whole devnet's time forward, set L2 and L1 balances (its control
endpoint).

    c = RollupClient.from_devnet(".devnet")          # knows the control endpoint from devnet.json
    c.increase_time(3600)                             # every process's clock, as anvil's evm_increaseTime
    c.set_l2_balance("0x...", "5eth")                 # any address, up or down, no key (anvil_setBalance)
    c.set_l1_balance("0x...", 10**18)

`set_l2_balance` is one balance override (node.devnet.funding): an L1
transaction that the devnet's chain rule lets through and every L2 node
derives; it answers once the sequencer has included it:
{address, before, balance, locked, l1Tx, l1Block, l2Tx, l2Block}.

The call goes to the devnet's control endpoint (node.devnet.controller, `devnet_increaseTime`),
which sets one clock offset in every process, mines an L1 block and answers once the L2 head is
stamped in the new time. The seconds are checked here first (errors.InputError, nothing sent).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from node.client.errors import InputError, ResponseError
from node.client.inputs import AddressLike, AmountLike, to_address, to_amount
from node.client.sansio import Call, Op
from node.crypto import to_checksum_address
from node.units import DurationError, parse_seconds

SecondsLike = int | float | Decimal | str
WARP_TIMEOUT_S = 180.0  # the control endpoint waits up to 60 s for the L2; a loaded machine is slow
BALANCE_TIMEOUT_S = 180.0  # an L2 balance waits for an L1 block and the sequencer's inclusion (up to 60 s each)


def to_seconds(seconds: SecondsLike) -> int | float | str:
    """`seconds` as devnet_increaseTime takes it (a JSON number or a decimal string), in [0, 10 years]."""
    try:
        number = parse_seconds(seconds)
    except DurationError as exc:
        raise InputError(str(exc)) from None
    return str(number) if isinstance(seconds, Decimal | str) else seconds


def increase_time(control_url: str, seconds: SecondsLike) -> Op[dict[str, Any]]:
    """devnet_increaseTime: {seconds, offsetMs, previousOffsetMs, l1Block, l1Timestamp, l2Block, l2Timestamp}."""
    value = to_seconds(seconds)
    reply = yield Call(control_url, "devnet_increaseTime", (value,), WARP_TIMEOUT_S)
    if not isinstance(reply, dict) or not isinstance(reply.get("offsetMs"), int):
        raise ResponseError(f"devnet_increaseTime: expected an object with offsetMs, got {reply!r:.80}")
    return reply


def set_l2_balance(control_url: str, address: AddressLike, wei: AmountLike) -> Op[dict[str, Any]]:
    """devnet_setL2Balance: `address`'s L2 balance becomes exactly `wei` (an int, or text with a unit: '1.5eth')."""
    return _set_balance(control_url, "devnet_setL2Balance", address, wei)


def set_l1_balance(control_url: str, address: AddressLike, wei: AmountLike) -> Op[dict[str, Any]]:
    """devnet_setL1Balance: `address`'s L1 balance becomes exactly `wei`."""
    return _set_balance(control_url, "devnet_setL1Balance", address, wei)


def _set_balance(control_url: str, method: str, address: AddressLike, wei: AmountLike) -> Op[dict[str, Any]]:
    target = to_checksum_address(to_address(address))
    amount = to_amount(wei, "wei", allow_zero=True)
    reply = yield Call(control_url, method, (target, str(amount)), BALANCE_TIMEOUT_S)
    if not isinstance(reply, dict) or not isinstance(reply.get("balance"), str):
        raise ResponseError(f"{method}: expected an object with a balance, got {reply!r:.80}")
    return reply


__all__ = ["SecondsLike", "increase_time", "set_l1_balance", "set_l2_balance", "to_seconds"]
