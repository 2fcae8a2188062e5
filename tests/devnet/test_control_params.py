"""The control endpoint's param checks (node.devnet.controller.params): each bad value is an InvalidParams."""

from __future__ import annotations

from typing import Any

import pytest

from node.devnet.controller import params as v
from node.rpc.errors import InvalidParams


@pytest.mark.parametrize(
    ("check", "value", "why"),
    [
        (v.count_param, 0, r"in \[1, 10000\]"),
        (v.count_param, 10_001, r"in \[1, 10000\]"),
        (v.count_param, "x", "must be an integer"),
        (v.count_param, True, "must be an integer"),
        (v.count_param, 1.5, "must be an integer"),
        (v.wei_param, -1, r"in \[0, 2\^256-1\]"),
        (v.wei_param, 2**256, r"in \[0, 2\^256-1\]"),
        (v.wei_param, "1.5 parsecs", "wei"),
        (v.wei_param, "0xzz", "not a hex quantity"),
        (v.wei_param, None, "must be an integer"),
        (v.address_param, "0x1234", "address"),
        (v.address_param, 7, "0x-prefixed"),
        (v.market_param, "", "market id or symbol"),
        (v.market_param, -1, "market id or symbol"),
        (v.price_param, 0, r"in \[1, 2\^64-1\]"),
        (v.price_param, 2**64, r"in \[1, 2\^64-1\]"),
        (v.price_param, "abc", "positive decimal such as '20.5'"),
        (v.price_param, "-3", "positive decimal"),
        (v.price_param, "0", "positive decimal"),
        (v.price_param, "NaN", "positive decimal"),
        (v.price_param, 1.5, "decimal string .* or an integer"),
        (v.price_param, True, "decimal string .* or an integer"),
        (v.price_param, None, "decimal string .* or an integer"),
        (v.seconds_param, -1, "at least 0: time only moves forward, got -1"),
        (v.seconds_param, "-0.5", "at least 0: time only moves forward"),
        (v.seconds_param, 315_360_001, r"at most 315360000 \(10 years\), got 315360001"),
        (v.seconds_param, "1e30", "at most 315360000"),
        (v.seconds_param, "soon", r"number of seconds \(e.g. 3600 or 1.5\), got 'soon'"),
        (v.seconds_param, "1h", "number of seconds"),
        (v.seconds_param, None, "number of seconds"),
        (v.seconds_param, True, "number of seconds"),
        (v.seconds_param, [60], "number of seconds"),
        (v.seconds_param, float("inf"), "finite number"),
        (v.seconds_param, float("nan"), "finite number"),
        (v.seconds_param, "Infinity", "finite number"),
        (v.seconds_param, "9" * 65, "65-character string"),
        (v.fault_mode_param, "sometimes", "'tx', 'garbage' or null"),
        (v.signal_param, "HUP", "'KILL' or 'TERM'"),
        (v.name_param, "", "process name"),
        (v.name_param, ["sequencer"], "process name"),
        (v.path_param, "relative/dump.tar.gz", "must be absolute"),
        (v.path_param, 3, "non-empty string"),
    ],
)
def test_bad_values_are_invalid_params(check: Any, value: Any, why: str) -> None:
    with pytest.raises(InvalidParams, match=why):
        check(value)


def test_good_values() -> None:
    assert v.count_param(10_000) == 10_000
    assert v.wei_param("1.5eth") == 15 * 10**17 and v.wei_param("0x10") == 16 and v.wei_param(7) == 7
    assert v.address_param("dev0").hex() == "f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    assert v.market_param("btc-perp") == "BTC-PERP" and v.market_param("1") == 1 and v.market_param(0) == 0
    assert v.price_param("20.5") == "20.5" and v.price_param(" 60000 ") == "60000"  # text: quote per one base
    assert v.price_param(60000) == 60000  # an integer: units (wei) per lot, as the client takes it
    assert v.seconds_param(3600) == 3_600_000 and v.seconds_param(0) == 0 and v.seconds_param("1.5") == 1500
    assert v.seconds_param(0.25) == 250 and v.seconds_param(315_360_000) == 315_360_000_000
    assert v.fault_mode_param(None) is None and v.fault_mode_param("garbage") == "garbage"
    assert v.signal_param(None) == "KILL" and v.signal_param("sigterm") == "TERM"


def test_arity() -> None:
    v.arity([1], 1, 2, "m")
    with pytest.raises(InvalidParams, match="m takes 1 to 2 param"):
        v.arity([], 1, 2, "m")
    with pytest.raises(InvalidParams, match="m takes 0 param"):
        v.arity([1], 0, 0, "m")
