"""The warp's pure parts, no processes: the order processes take the offset in, the new offset, the CLI's
SECONDS and the client's checks (node.devnet.controller.warp, node.cli.devnet, node.client.devnet)."""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from node.cli.devnet import _duration
from node.client import RollupClient
from node.client.devnet import to_seconds
from node.client.errors import ClientError, InputError
from node.clock import MAX_OFFSET_MS
from node.devnet.controller.params import seconds_param
from node.devnet.controller.warp import compute_target, increase_time, order_for_warp, wait_l2_time
from node.devnet.errors import ControlRefusedError
from node.devnet.layout import ProcessSpec
from node.rpc.errors import InvalidParams
from node.units import MAX_SECONDS, DurationError, parse_seconds

ROLES = [("sequencer", "sequencer"), ("executor-0", "executor"), ("l1", "l1"), ("settler", "settler")]


def spec(name: str, role: str, port: int = 1) -> ProcessSpec:
    return ProcessSpec(name, role, port, Path("c"), Path("l"), Path("d"))


def specs() -> list[ProcessSpec]:
    return [spec(name, role, port) for port, (name, role) in enumerate(ROLES, start=1)]


def test_the_l1_takes_the_offset_first_and_the_sequencer_last() -> None:
    ordered = [s.name for s in order_for_warp(specs())]
    assert ordered[0] == "l1" and ordered[-1] == "sequencer" and set(ordered[1:-1]) == {"executor-0", "settler"}


def test_the_new_offset_is_the_largest_plus_the_step_within_ten_years() -> None:
    assert compute_target({"l1": 0, "sequencer": 5_000}, 1_000) == 6_000  # forward everywhere
    assert compute_target({"l1": 0}, MAX_OFFSET_MS) == MAX_OFFSET_MS
    with pytest.raises(InvalidParams, match="already 5 s ahead: 315360000 s more would pass the limit"):
        compute_target({"l1": 5_000}, MAX_OFFSET_MS)


class FakeDevnet:
    """Every process answers like a real one; the sequencer's head is stamped as given."""

    def __init__(self, l2_timestamp: int, fail: str | None = None) -> None:
        self.offsets: dict[str, int] = {}
        self.calls: list[tuple[str, str]] = []
        self.l2_timestamp = l2_timestamp
        self.fail = fail

    def __call__(self, url: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
        self.calls.append((url, method))
        if method == "devnet_getTimeOffset":
            return {"offsetMs": self.offsets.get(url, 0)}
        if method == "devnet_setTimeOffset":
            if url == self.fail:
                raise ControlRefusedError(f"{url} does not answer {method}")
            self.offsets[url] = params[0]
            return {"offsetMs": params[0]}
        if method == "devnet_mine":
            return {"from": 7, "to": 7}
        if method == "l1_getBlockByNumber":
            return {"timestamp": 1_000}
        if method == "rollup_getBlockByNumber":
            return {"number": 9, "timestamp": self.l2_timestamp}
        raise AssertionError(method)


def test_a_warp_sets_every_process_then_mines_and_waits_for_the_l2() -> None:
    fake = FakeDevnet(l2_timestamp=1_000)
    result = increase_time(fake, specs(), 60_000)
    assert set(fake.offsets.values()) == {60_000} and len(fake.offsets) == 4
    sets = [url for url, method in fake.calls if method == "devnet_setTimeOffset"]
    assert sets[0] == specs()[2].rpc and sets[-1] == specs()[0].rpc  # the L1 first, the sequencer last
    assert (result["offsetMs"], result["l1Block"], result["l2Block"]) == (60_000, 7, 9)


def test_a_process_that_fails_is_named_and_the_rest_is_left_for_the_next_warp() -> None:
    processes = specs()
    fake = FakeDevnet(l2_timestamp=1_000, fail=processes[0].rpc)
    with pytest.raises(ControlRefusedError, match="but not in sequencer: .* call devnet_increaseTime again"):
        increase_time(fake, processes, 60_000)
    assert fake.offsets.get(processes[2].rpc) == 60_000 and processes[0].rpc not in fake.offsets


def test_an_l2_that_does_not_follow_is_reported() -> None:
    with pytest.raises(ControlRefusedError, match="did not reach 1000 ms within 0 s"):
        wait_l2_time(FakeDevnet(l2_timestamp=999), specs()[0].rpc, 1_000, timeout_s=0.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("1.5", Decimal("1.5")), ("90m", 5400), ("1h", 3600), ("2D", 172_800), ("0", 0), ("30s", 30)],
)
def test_cli_seconds_take_units(text: str, seconds: Decimal) -> None:
    assert _duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("-5", "time only moves forward: SECONDS must be at least 0, got '-5'"),
        ("soon", "expected seconds (3600, 1.5) or a duration (90m, 1h, 2d), got 'soon'"),
        ("1y", "expected seconds"),
        ("", "expected seconds"),
        ("nan", "expected seconds"),
        ("4000d", "SECONDS may be at most 315360000 (10 years), got '4000d'"),
    ],
)
def test_cli_seconds_refused(text: str, why: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as caught:
        _duration(text)
    assert why in str(caught.value)


def test_client_seconds() -> None:
    assert to_seconds(3600) == 3600 and to_seconds(1.5) == 1.5 and to_seconds(Decimal("0.25")) == "0.25"
    assert to_seconds(" 60 ") == "60"
    for value, why in (
        (-1, "at least 0: time only moves forward"),
        ("-0.5", "at least 0"),
        ("soon", "number of seconds"),
        (True, r"number of seconds \(e.g. 3600 or 1.5\), got True"),
        (None, r"number of seconds \(e.g. 3600 or 1.5\), got None"),
        (float("inf"), "finite number"),
        (10**12, r"at most 315360000 \(10 years\)"),
    ):
        with pytest.raises(InputError, match=why):
            to_seconds(value)  # type: ignore[arg-type]


def test_a_client_without_a_control_endpoint_says_how_to_get_one() -> None:
    client = RollupClient("http://127.0.0.1:1/")
    with pytest.raises(ClientError, match="no devnet control endpoint: use RollupClient.from_devnet"):
        client.increase_time(60)


def test_the_client_and_the_control_endpoint_share_one_duration_rule() -> None:
    """node.units.parse_seconds is the one rule: its bound is the clocks' ten-year offset bound."""
    assert MAX_SECONDS * 1000 == MAX_OFFSET_MS
    for value in (0, 1.5, "2.25", Decimal("3600"), MAX_SECONDS):
        assert seconds_param(value) == int(parse_seconds(value) * 1000)
        assert Decimal(str(to_seconds(value))) == parse_seconds(value)
    for bad in (-1, "x", None, True, float("nan"), MAX_SECONDS + 1, "1" * 65):
        with pytest.raises(DurationError) as rule:
            parse_seconds(bad)
        with pytest.raises(InvalidParams) as wire:
            seconds_param(bad)
        with pytest.raises(InputError) as client:
            to_seconds(bad)  # type: ignore[arg-type]
        assert str(rule.value) == wire.value.message == str(client.value), bad
