"""The chain clock (node.clock) and its per-process control methods (node.rpc.control) on an in-process L1.

Each test builds its own ChainClock, so nothing here moves the process-wide clock other tests read.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from l1.chain.process import L1Process
from node.clock import CLOCK_FILE, MAX_OFFSET_MS, ChainClock, ClockError, ClockFileError, read_offset
from node.rpc.errors import CONTROL_DISABLED, INVALID_PARAMS
from node.service import ConfigError
from tests.l1.test_l1_mine import HOUR_MS, error, make_config, result


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


# -- the clock alone


def test_a_fresh_clock_is_the_wall_clock() -> None:
    clock = ChainClock()
    before = wall_ms()
    assert before <= clock.now_ms() <= wall_ms() and clock.offset_ms == 0 and clock.path is None


def test_set_offset_moves_time_forward_and_persists(tmp_path: Path) -> None:
    clock = ChainClock()
    assert clock.load(tmp_path) == 0 and not (tmp_path / CLOCK_FILE).exists()  # nothing written until a warp
    assert clock.set_offset(HOUR_MS) == 0
    assert clock.offset_ms == HOUR_MS and clock.now_ms() >= wall_ms() + HOUR_MS - 5
    assert read_offset(tmp_path / CLOCK_FILE) == HOUR_MS
    assert ChainClock().load(tmp_path) == HOUR_MS  # what a restarted process reads
    assert clock.set_offset(HOUR_MS) == HOUR_MS  # the same offset again: allowed, nothing changes


def test_a_jump_is_remembered_for_the_gossip_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = ChainClock()
    assert clock.recent_jump_ms(600) == 0
    clock.set_offset(HOUR_MS)
    clock.set_offset(HOUR_MS + 1800_000)
    assert clock.recent_jump_ms(600) == 1800_000  # the last step, for blocks sealed just before it
    later = time.monotonic() + 601
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert clock.recent_jump_ms(600) == 0


@pytest.mark.parametrize(
    ("offset", "why"),
    [
        (HOUR_MS - 1, f"time only moves forward: offset {HOUR_MS - 1} ms is below the current offset {HOUR_MS} ms"),
        (MAX_OFFSET_MS + 1, f"at most {MAX_OFFSET_MS} ms \\(10 years\\), got {MAX_OFFSET_MS + 1} ms"),
        (1.5, "must be an integer number of ms, got 1.5"),
        (True, "must be an integer number of ms, got True"),
    ],
)
def test_bad_offsets_leave_the_clock_alone(tmp_path: Path, offset: object, why: str) -> None:
    clock = ChainClock()
    clock.load(tmp_path)
    clock.set_offset(HOUR_MS)
    with pytest.raises(ClockError, match=why):
        clock.set_offset(offset)  # type: ignore[arg-type]
    assert clock.offset_ms == HOUR_MS and read_offset(tmp_path / CLOCK_FILE) == HOUR_MS


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("not json", "is not valid JSON"),
        ('{"offsetMs": -5}', "below the current offset 0 ms"),
        ('{"offsetMs": "5"}', "must be an integer number of ms"),
        (f'{{"offsetMs": {MAX_OFFSET_MS + 1}}}', "at most"),
        ('{"offsetMs": 5, "extra": 1}', 'must hold {"offsetMs": N}'),
        ("[5]", 'must hold {"offsetMs": N}'),
    ],
)
def test_a_malformed_clock_file_is_refused_naming_it(tmp_path: Path, text: str, why: str) -> None:
    (tmp_path / CLOCK_FILE).write_text(text)
    with pytest.raises(ClockFileError, match=why) as caught:
        ChainClock().load(tmp_path)
    assert str(tmp_path / CLOCK_FILE) in str(caught.value) and isinstance(caught.value, ConfigError)


# -- the control methods on an L1 (the same registration serves every process)


@pytest.fixture
async def warped_l1(tmp_path: Path) -> AsyncIterator[tuple[L1Process, ChainClock]]:
    clock = ChainClock()
    async with L1Process(make_config(tmp_path), clock=clock) as process:
        yield process, clock


async def test_l1_blocks_follow_the_offset(warped_l1: tuple[L1Process, ChainClock]) -> None:
    process, clock = warped_l1
    assert await result(process, "devnet_getTimeOffset") == {"offsetMs": 0, "nowMs": pytest.approx(wall_ms(), abs=2000)}
    before = (await result(process, "l1_getBlockByNumber", "latest"))["timestamp"]
    reply = await result(process, "devnet_setTimeOffset", 2 * HOUR_MS)
    assert reply["offsetMs"] == 2 * HOUR_MS and reply["previousOffsetMs"] == 0
    mined = await result(process, "devnet_mine", 1)
    block = await result(process, "l1_getBlockByNumber", mined["to"])
    assert block["timestamp"] >= wall_ms() + 2 * HOUR_MS - 5000 and block["timestamp"] - before >= 2 * HOUR_MS - 5000
    assert clock.offset_ms == 2 * HOUR_MS


async def test_bad_offsets_on_the_wire_and_the_process_keeps_serving(warped_l1: tuple[L1Process, ChainClock]) -> None:
    process, clock = warped_l1
    await result(process, "devnet_setTimeOffset", HOUR_MS)
    for params, message in (
        ([HOUR_MS - 1], f"time only moves forward: offset {HOUR_MS - 1} ms is below the current offset {HOUR_MS} ms"),
        ([-1], "time only moves forward: offset -1 ms is below the current offset"),
        ([MAX_OFFSET_MS + 1], f"the time offset may be at most {MAX_OFFSET_MS} ms (10 years)"),
        (["3600000"], "offsetMs must be an integer number of ms, got '3600000'"),
        ([1.5], "offsetMs must be an integer number of ms, got 1.5"),
        ([None], "offsetMs must be an integer number of ms, got None"),
        ([], "method devnet_setTimeOffset expects 1 param, got 0"),
    ):
        code, text = await error(process, "devnet_setTimeOffset", *params)
        assert code == INVALID_PARAMS and message in text, (params, text)
    assert (await error(process, "devnet_getTimeOffset", 1))[0] == INVALID_PARAMS
    assert clock.offset_ms == HOUR_MS
    assert (await result(process, "devnet_getTimeOffset"))["offsetMs"] == HOUR_MS
    assert (await result(process, "devnet_mine", 1))["to"] >= 1  # still making blocks


async def test_a_restarted_l1_keeps_its_offset(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    async with L1Process(config, clock=ChainClock()) as process:
        await result(process, "devnet_setTimeOffset", 3 * HOUR_MS)
        stamped = (await result(process, "l1_getBlockByNumber", (await result(process, "devnet_mine", 1))["to"]))[
            "timestamp"
        ]
    async with L1Process(config, clock=ChainClock()) as reopened:
        assert (await result(reopened, "devnet_getTimeOffset"))["offsetMs"] == 3 * HOUR_MS
        block = await result(reopened, "l1_getBlockByNumber", (await result(reopened, "devnet_mine", 1))["to"])
        assert block["timestamp"] > stamped and block["timestamp"] >= wall_ms() + 3 * HOUR_MS - 5000


async def test_an_l1_refuses_to_start_on_a_malformed_clock_file(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config.data_dir.mkdir(parents=True)
    (config.data_dir / CLOCK_FILE).write_text('{"offsetMs": -1}')
    with pytest.raises(ClockFileError, match="devnet_clock.json"):
        async with L1Process(config, clock=ChainClock()):
            pass


async def test_a_process_not_in_a_devnet_refuses_and_ignores_the_file(tmp_path: Path) -> None:
    config = make_config(tmp_path, devnet=False)
    config.data_dir.mkdir(parents=True)
    (config.data_dir / CLOCK_FILE).write_text('{"offsetMs": 3600000}')  # left by a devnet: not read
    clock = ChainClock()
    async with L1Process(config, clock=clock) as process:
        for method, params in (
            ("devnet_setTimeOffset", [HOUR_MS]),
            ("devnet_getTimeOffset", []),
            ("devnet_setTimeOffset", ["junk"]),
        ):
            code, message = await error(process, method, *params)
            assert code == CONTROL_DISABLED and f"{method} is disabled" in message and "[node] devnet = true" in message
        info = await result(process, "devnet_info")
        assert "devnet_setTimeOffset" in info["methods"] and "devnet_getTimeOffset" in info["methods"]
        assert clock.offset_ms == 0
        head = await result(process, "l1_getBlockByNumber", "latest")
        assert head["timestamp"] <= wall_ms()
