"""A real L1 process answers an id of 1e999 with -32600 (not HTTP 500) and keeps serving.

Regression for issue 10 item 6: `"id": 1e999` parses to an infinite float,
which the server used to echo into a response it could not serialise.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.processes import Process, free_port, write_toml

INFINITE_ID_REQUEST = b'{"jsonrpc":"2.0","id":1e999,"method":"l1_chainId"}'
L1_CHAIN_ID = 900


@pytest.fixture
def l1(tmp_path: Path) -> Iterator[Process]:
    port = free_port()
    config = write_toml(
        tmp_path / "l1.toml",
        {
            "node": {"data_dir": str(tmp_path / "l1-data"), "rpc_port": port},
            "l1": {"chain_id": L1_CHAIN_ID, "block_time_ms": 200},
        },
    )
    args = ["-m", "l1.chain", "--config", str(config)]
    process = Process("l1", args, tmp_path / "l1.log", f"http://127.0.0.1:{port}")
    try:
        yield process.start().wait_healthy()
    finally:
        process.stop()


def post_raw(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(url + "/", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:  # raises HTTPError on a 500
        return response.status, json.loads(response.read())


async def test_infinite_id_is_invalid_request_on_a_real_l1_over_http_and_ws(l1: Process) -> None:
    status, reply = post_raw(l1.url, INFINITE_ID_REQUEST)
    assert status == 200
    assert reply["id"] is None and reply["error"]["code"] == -32600
    assert l1.call("l1_chainId") == L1_CHAIN_ID  # still serving

    async with aiohttp.ClientSession() as session, session.ws_connect(l1.url + "/ws") as ws:
        await ws.send_str(INFINITE_ID_REQUEST.decode())
        ws_reply = await ws.receive_json(timeout=5)
        assert ws_reply["id"] is None and ws_reply["error"]["code"] == -32600
        await ws.send_str('{"jsonrpc":"2.0","id":2,"method":"l1_chainId"}')
        assert (await ws.receive_json(timeout=5))["result"] == L1_CHAIN_ID  # connection kept

    assert l1.alive()
    assert "Traceback" not in l1.tail(lines=400)
