"""A real L1 process of a chain without the devnet rule (no `[l1.rollup] devnet_overrides`): set_l2_balance is
included with status 0 and its precise error, nothing is locked, the process keeps running, and the devnet's
funding refuses before sending anything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from l1.contracts.client import L1Client, L1TxReceipt
from l1.contracts.errors import BalanceOverridesDisabled
from l1.contracts.payloads import SetL2Balance
from node.crypto import Address
from node.devnet import funding
from node.devnet.errors import ControlRefusedError
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient
from tests.processes.test_l1_process import L1Node

pytestmark = pytest.mark.slow

FRESH = Address(b"\xf0" * 20)
ALICE = dev_account(0)


@pytest.fixture(scope="module")
def l1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[L1Node]:
    node = L1Node(tmp_path_factory.mktemp("l1-no-rule"))
    try:
        yield node.start()
    finally:
        node.stop()


def test_the_l1_reports_the_rule_off_and_funding_refuses_before_sending(l1: L1Node) -> None:
    rpc = SyncRpcClient(l1.url, timeout=10)
    assert rpc.call("l1_config")["devnetOverrides"] is False
    nonce = int(rpc.call("l1_getNonce", "0x" + ALICE.address.hex()))
    with pytest.raises(ControlRefusedError, match="does not enable balance overrides"):
        funding.set_l2_balance(l1.url, "http://127.0.0.1:1/", FRESH, 5)  # the sequencer is never asked
    assert int(rpc.call("l1_getNonce", "0x" + ALICE.address.hex())) == nonce


def test_set_l2_balance_is_included_with_status_0_and_nothing_locked(l1: L1Node) -> None:
    async def run() -> tuple[int, int, L1TxReceipt]:
        async with L1Client(l1.url) as client:
            before = await client.get_balance(ALICE.address)
            tx_hash = await client.send_tx(ALICE, SetL2Balance(FRESH, 10**18), value=10**18)
            receipt = await client.wait_receipt(tx_hash, timeout=30)
            return before, await client.get_balance(ALICE.address), receipt

    before, after, receipt = asyncio.run(run())
    assert receipt.status == 0 and receipt.kind == "set_l2_balance"
    assert receipt.error_code == BalanceOverridesDisabled.rpc_code
    assert "devnet_overrides is off" in (receipt.error or "")
    assert receipt.events == ()
    assert before - after == 1  # the fee (min_fee 1) only: the value was not locked
    assert int(SyncRpcClient(l1.url).call("l1_blockNumber")) >= receipt.block_number
