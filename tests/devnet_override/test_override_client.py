"""The client's set_l2_balance / set_l1_balance: inputs checked before anything is sent, the call the control
endpoint gets, and its reply parsed (node.client.devnet, sans I/O: the operation is driven by hand)."""

from __future__ import annotations

from typing import Any

import pytest

from node.client import RollupClient
from node.client.devnet import BALANCE_TIMEOUT_S, set_l1_balance, set_l2_balance
from node.client.errors import ClientError, InputError, ResponseError
from node.client.sansio import Call
from node.crypto import to_checksum_address

CONTROL = "http://127.0.0.1:1/"
FRESH = "0x00000000000000000000000000000000000fee01"
CHECKSUMMED = to_checksum_address(bytes.fromhex(FRESH[2:]))


def first_call(op: Any) -> Call:
    call = next(op)
    assert isinstance(call, Call)
    return call


def finish(op: Any, reply: Any) -> Any:
    with pytest.raises(StopIteration) as done:
        op.send(reply)
    return done.value.value


@pytest.mark.parametrize(("wei", "sent"), [(5 * 10**18, str(5 * 10**18)), ("5eth", str(5 * 10**18)), (0, "0")])
def test_set_l2_balance_sends_one_control_call_and_returns_its_reply(wei: Any, sent: str) -> None:
    op = set_l2_balance(CONTROL, FRESH, wei)
    call = first_call(op)
    assert (call.url, call.method, tuple(call.params)) == (CONTROL, "devnet_setL2Balance", (CHECKSUMMED, sent))
    assert call.timeout == BALANCE_TIMEOUT_S
    reply = {"address": CHECKSUMMED, "before": "0", "balance": sent, "l2Tx": "0x" + "ab" * 32, "l2Block": 9}
    assert finish(op, reply) == reply


def test_set_l1_balance_calls_the_l1_method() -> None:
    call = first_call(set_l1_balance(CONTROL, FRESH, "1gwei"))
    assert call.method == "devnet_setL1Balance" and tuple(call.params) == (CHECKSUMMED, str(10**9))


@pytest.mark.parametrize(
    ("address", "wei", "why"),
    [
        ("0x12", 1, "address"),
        (FRESH, -1, "wei"),
        (FRESH, 2**256, "wei"),
        (FRESH, "1.5", "wei"),
        (FRESH, "5 bananas", "wei"),
        (FRESH, True, "wei"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(address: Any, wei: Any, why: str) -> None:
    with pytest.raises(InputError, match=why):
        first_call(set_l2_balance(CONTROL, address, wei))


def test_a_reply_without_a_balance_is_a_response_error() -> None:
    op = set_l2_balance(CONTROL, FRESH, 1)
    first_call(op)
    with pytest.raises(ResponseError, match="devnet_setL2Balance"):
        finish(op, {"oops": 1})


def test_a_client_without_a_control_endpoint_refuses() -> None:
    client = RollupClient("http://127.0.0.1:1/")
    with pytest.raises(ClientError, match="control"):
        client.set_l2_balance(FRESH, 1)
