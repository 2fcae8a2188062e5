"""devnet_mine and devnet_setBalance on an in-process L1 (real chain, RocksDB in a tmp dir, JSON-RPC dispatch).

The block timer is set to an hour so that every block here is made by the
control methods; one test runs a fast timer beside mining to show the two
never interleave.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from l1.chain.config import L1Config, l1_config_from_dict
from l1.chain.process import L1Process
from l1.chain.store import read_block, read_devnet_overrides
from l1.chain.tx import sign_l1_tx
from l1.contracts.payloads import L1Transfer, ProposeOutput
from l1.contracts.state import OutputStatus, get_output
from node.crypto import keccak256, to_checksum_address
from node.keys.hd import dev_account
from node.rpc.errors import CONTROL_DISABLED, INVALID_PARAMS
from node.service import ConfigError

ALICE, BATCHER, PROPOSER, BOB = (dev_account(i) for i in range(4))
WINDOW = 40
BOND = 1000
HOUR_MS = 3_600_000


def make_config(tmp: Path, devnet: bool = True, block_time_ms: int = HOUR_MS) -> L1Config:
    doc: dict[str, Any] = {
        "node": {"data_dir": str(tmp / "data"), "rpc_port": 0, "devnet": devnet},
        "l1": {
            "chain_id": 900,
            "block_time_ms": block_time_ms,
            "min_fee": "1",
            "proposer_bond": str(BOND),
            "challenge_window": WINDOW,
        },
    }
    return l1_config_from_dict(doc, "test")


async def call(process: L1Process, method: str, *params: Any) -> Any:
    reply = await process.server.dispatch(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    assert reply is not None
    return json.loads(reply)


async def result(process: L1Process, method: str, *params: Any) -> Any:
    reply = await call(process, method, *params)
    assert "error" not in reply, reply
    return reply["result"]


async def error(process: L1Process, method: str, *params: Any) -> tuple[int, str]:
    reply = await call(process, method, *params)
    assert "error" in reply, reply
    return reply["error"]["code"], reply["error"]["message"]


@pytest.fixture
async def l1(tmp_path: Path) -> AsyncIterator[L1Process]:
    async with L1Process(make_config(tmp_path)) as process:
        yield process


def send(process: L1Process, key: Any, payload: Any, value: int = 0) -> bytes:
    assert process.chain is not None
    nonce = process.chain.get_pending_nonce(key.address)
    return bytes(process.chain.submit(sign_l1_tx(key, 900, nonce, 1, value, payload).encode()))


# -- config --


def test_devnet_flag_defaults_off_and_is_a_strict_bool(tmp_path: Path) -> None:
    assert make_config(tmp_path, devnet=False).devnet is False
    assert make_config(tmp_path).devnet is True
    doc = {"node": {"data_dir": "d"}, "l1": {}}
    assert l1_config_from_dict(doc).devnet is False
    for bad in ("true", 1, "yes"):
        with pytest.raises(ConfigError, match=r"\[node\] devnet must be true or false"):
            l1_config_from_dict({"node": {"data_dir": "d", "devnet": bad}, "l1": {}})


# -- devnet_mine --


async def test_mine_produces_n_committed_blocks_with_increasing_timestamps(l1: L1Process) -> None:
    assert l1.chain is not None
    start = l1.chain.head.number
    assert await result(l1, "devnet_mine", 250) == {"from": start + 1, "to": start + 250}
    assert l1.chain.head.number == start + 250
    stamps = [b.header.timestamp_ms for b in l1.chain.get_blocks(start, 251)]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    for number in range(start + 1, start + 251):  # each committed like any block, chained by hash
        block = l1.chain.get_block(number)
        parent = l1.chain.get_block(number - 1)
        assert block is not None and parent is not None and block.header.parent_hash == parent.hash()
    assert await result(l1, "l1_blockNumber") == start + 250


async def test_mempool_transactions_go_into_the_first_mined_block(l1: L1Process) -> None:
    assert l1.chain is not None
    tx_hash = send(l1, ALICE, L1Transfer(BOB.address), 77)
    mined = await result(l1, "devnet_mine", 3)
    receipt = await result(l1, "l1_getTransactionReceipt", "0x" + tx_hash.hex())
    assert receipt["blockNumber"] == mined["from"] and receipt["status"] == 1


async def test_a_challenge_window_elapses_by_mining(l1: L1Process) -> None:
    """An output proposed now finalizes after challenge_window mined blocks, with no wall time passing."""
    assert l1.chain is not None
    send(l1, PROPOSER, ProposeOutput(8, keccak256(b"root")), BOND)
    proposed = await result(l1, "devnet_mine", 1)
    output = get_output(l1.chain.kv, 0)
    assert output is not None and output.proposed_at == proposed["to"]
    assert output.finalizes_at(WINDOW) == proposed["to"] + WINDOW
    await result(l1, "devnet_mine", WINDOW - 1)
    still = get_output(l1.chain.kv, 0)
    assert still is not None and still.status is OutputStatus.PENDING
    await result(l1, "devnet_mine", 1)
    done = get_output(l1.chain.kv, 0)
    assert done is not None and done.status is OutputStatus.FINALIZED


async def test_mining_and_the_block_timer_never_interleave(tmp_path: Path) -> None:
    async with L1Process(make_config(tmp_path, block_time_ms=10)) as process:
        assert process.chain is not None
        seen: list[int] = []
        mining = asyncio.create_task(process.maker.mine(400))
        while not mining.done():
            seen.append(process.chain.head.number)
            await asyncio.sleep(0)
        first, last = mining.result()
        assert last - first == 399  # the 400 mined blocks are consecutive: no timer block slipped in between
        await asyncio.sleep(0.1)
        assert process.chain.head.number > last  # and the timer goes on afterwards
        stamps = [b.header.timestamp_ms for b in process.chain.get_blocks(0, process.chain.head.number + 1)]
        assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))


async def test_mine_rejects_bad_counts_precisely(l1: L1Process) -> None:
    assert l1.chain is not None
    head = l1.chain.head.number
    cases = [
        ([0], "count must be in [1, 10000], got 0"),
        ([10_001], "count must be in [1, 10000], got 10001"),
        ([-3], "count must be in [1, 10000], got -3"),
        (["5"], "count must be an integer in [1, 10000]"),
        ([True], "count must be an integer in [1, 10000]"),
        ([2.5], "count must be an integer in [1, 10000]"),
        ([], "method devnet_mine expects 1 param, got 0"),
        ([1, 2], "method devnet_mine expects 1 param, got 2"),
    ]
    for params, message in cases:
        assert await error(l1, "devnet_mine", *params) == (INVALID_PARAMS, message)
    assert l1.chain.head.number == head
    assert await result(l1, "devnet_mine", 1) == {"from": head + 1, "to": head + 1}


# -- devnet_setBalance --


async def test_set_balance_is_a_new_block_visible_at_once_and_durable(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    who = to_checksum_address(BOB.address)
    async with L1Process(config) as process:
        assert process.chain is not None
        before = [process.chain.get_block(n) for n in range(process.chain.head.number + 1)]
        nonce = process.chain.nonce_of(BOB.address)
        answer = await result(process, "devnet_setBalance", who, "123456789012345678901234567890")
        assert answer["balance"] == "123456789012345678901234567890"
        assert answer["block"] == process.chain.head.number == len(before)
        assert await result(process, "l1_getBalance", who) == "123456789012345678901234567890"
        assert process.chain.nonce_of(BOB.address) == nonce
        assert [process.chain.get_block(n) for n in range(len(before))] == before  # the past is untouched
        assert read_devnet_overrides(process.chain.kv, answer["block"]) == {BOB.address: 123456789012345678901234567890}
        assert read_devnet_overrides(process.chain.kv, answer["block"] - 1) == {}
        await result(process, "devnet_setBalance", who, 0)
        assert await result(process, "l1_getBalance", who) == "0"
        await result(process, "devnet_setBalance", who, 5 * 10**18)
        head = process.chain.head
    async with L1Process(config) as reopened:  # committed with its block: survives a restart
        assert reopened.chain is not None and reopened.chain.head == head
        assert reopened.chain.get_balance(BOB.address) == 5 * 10**18
        block = read_block(reopened.chain.kv, head.number, reopened.chain.runtime.events)
        assert block is not None and block.hash() == head.hash


async def test_a_set_balance_can_be_spent_in_the_next_block(l1: L1Process) -> None:
    assert l1.chain is not None
    fresh = dev_account(7)
    await result(l1, "devnet_setBalance", to_checksum_address(fresh.address), 10**6)
    send(l1, fresh, L1Transfer(BOB.address), 1000)
    await result(l1, "devnet_mine", 1)
    assert l1.chain.get_balance(fresh.address) == 10**6 - 1000 - 1


async def test_set_balance_rejects_bad_params_precisely(l1: L1Process) -> None:
    assert l1.chain is not None
    who = to_checksum_address(BOB.address)
    head = l1.chain.head.number
    cases: list[tuple[list[Any], str]] = [
        ([who, -1], "wei must be non-negative, got -1"),
        ([who, "-1"], "wei must be non-negative, got '-1'"),
        ([who, 2**256], "wei exceeds 2^256-1"),
        ([who, str(2**256)], "wei exceeds 2^256-1"),
        ([who, "1.5"], "wei must be a decimal or 0x-hex integer string, got '1.5'"),
        ([who, "0x10"], "wei must be a decimal string or an integer, got '0x10'"),
        ([who, 1.5], "wei must be an integer or an integer string, got number"),
        ([who, None], "wei must be an integer or an integer string, got null"),
        (["0x1234", 1], "address must be 20 bytes, got 2"),
        ([5, 1], "address must be a 0x-prefixed hex string, got number"),
        ([who], "method devnet_setBalance expects 2 params, got 1"),
    ]
    for params, message in cases:
        assert await error(l1, "devnet_setBalance", *params) == (INVALID_PARAMS, message)
    assert l1.chain.head.number == head  # nothing was produced


# -- the gate --


async def test_a_process_without_devnet_refuses_control_but_answers_info(tmp_path: Path) -> None:
    async with L1Process(make_config(tmp_path, devnet=False)) as process:
        assert process.chain is not None
        head = process.chain.head.number
        info = await result(process, "devnet_info")
        assert info["role"] == "l1" and info["devnet"] is False and isinstance(info["pid"], int)
        assert info["methods"] == [
            "devnet_getTimeOffset",
            "devnet_info",
            "devnet_mine",
            "devnet_quiesce",
            "devnet_quiesceSnapshot",
            "devnet_resume",
            "devnet_revertTo",
            "devnet_setBalance",
            "devnet_setTimeOffset",
        ]
        code, message = await error(process, "devnet_mine", 5)
        assert code == CONTROL_DISABLED and "not started as part of a devnet" in message
        code, _ = await error(process, "devnet_setBalance", to_checksum_address(BOB.address), 1)
        assert code == CONTROL_DISABLED
        code, _ = await error(process, "devnet_mine", "junk")  # gated before params are read
        assert code == CONTROL_DISABLED
        code, _ = await error(process, "devnet_revertTo", str(tmp_path))  # in-process revert: devnet only
        assert code == CONTROL_DISABLED
        assert process.chain.head.number == head
        assert await result(process, "l1_blockNumber") == head


async def test_devnet_info_in_devnet_mode(l1: L1Process) -> None:
    info = await result(l1, "devnet_info")
    assert info["devnet"] is True and info["role"] == "l1"
    assert await error(l1, "devnet_info", 1) == (INVALID_PARAMS, "method devnet_info expects no params, got 1")
