"""The client against a real devnet (L1, sequencer, settler, two executors, challenger), sync and async.

The devnet is tests/processes/test_devnet_cli.py's module fixture (`rollup devnet up --detach`, always
brought down in its teardown, leftover pids killed); this module gets its own instance of it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from node.client import AsyncRollupClient, RollupClient, errors
from node.client.models import SentTx
from node.crypto import to_checksum_address
from node.keys.hd import dev_account
from tests.processes.test_devnet_cli import devnet  # noqa: F401  (the shared devnet fixture)

pytestmark = pytest.mark.slow

WAIT_S = 120.0


def _order_price(client_market: dict[str, Any]) -> int:
    """A buy price 10 % under the oracle, on the tick: it rests."""
    tick = int(client_market["tickSize"])
    return int(client_market["oraclePrice"]) * 9 // 10 // tick * tick


def _check_safe_transfer(sent: SentTx, recipient: str, amount: int) -> int:
    assert sent.waited is not None and sent.waited.level == "safe"
    assert set(sent.waited.receipts) == {"sequencer", "executor-0", "executor-1"}
    blocks = {receipt.block_number for receipt in sent.waited.receipts.values()}
    assert len(blocks) == 1 and all(receipt.ok for receipt in sent.waited.receipts.values())
    return blocks.pop()


def test_sync_client_against_a_devnet(devnet: dict[str, Any]) -> None:  # noqa: F811
    client = RollupClient.from_devnet(devnet["_dir"])
    key = "0x" + dev_account(1).secret.hex()
    sender = to_checksum_address(dev_account(1).address)
    recipient = "0x00000000000000000000000000000000000c11e1"
    assert client.chain_id() == 901
    assert client.l1_block_number() >= 1 and client.l1_balance("dev0") > 0

    nonce_before = client.nonce(sender)
    sent = client.transfer(key, recipient, "1.5gwei", wait="safe", timeout=WAIT_S)
    block = _check_safe_transfer(sent, recipient, 1_500_000_000)
    assert sent.nonce == nonce_before and sent.sender == sender
    assert client.balance(recipient, block) == 1_500_000_000
    assert client.nonce(sender, block) == nonce_before + 1
    assert client.block_number("safe") >= block
    header = client.block(block)
    assert header is not None and sent.hash in header.transactions
    receipt = client.receipt(sent.hash)
    assert receipt is not None and receipt.ok and receipt.block_number == block and receipt.block_hash == header.hash
    tx = client.transaction(sent.hash)
    assert tx is not None and tx["kind"] == "transfer" and tx["amount"] == "1500000000"
    assert client.transaction_status(sent.hash).status == "included"

    proof = client.proof(recipient, block)
    assert proof.verified and proof.balance == 1_500_000_000 and proof.block_number == block
    assert client.proof("dev0", "safe").verified

    btc = client.market("BTC-PERP")
    price = _order_price(btc)
    placed = client.order(key, "btc-perp", "buy", 1, price=price, timeout=WAIT_S)
    assert placed.receipt is not None and placed.receipt.ok and placed.kind == "place_order"
    mine = [o for o in client.orders(sender) if o["price"] == price and o["symbol"] == "BTC-PERP"]
    assert len(mine) == 1
    assert any(level["price"] == price for level in client.book("BTC-PERP", depth=50)["bids"])
    cancelled = client.cancel(key, mine[0]["id"], timeout=WAIT_S)
    assert cancelled.receipt is not None and cancelled.receipt.ok
    assert all(o["id"] != mine[0]["id"] for o in client.orders(sender))

    with pytest.raises(errors.NonceTooLow) as caught:
        client.transfer(key, recipient, 1, nonce=0)
    assert caught.value.code == -32012 and caught.value.method == "rollup_sendRawTransaction"
    with pytest.raises(errors.MethodNotFound) as unknown:
        client.call("rollup_noSuchMethod")
    assert unknown.value.code == -32601

    withdrawn = client.withdraw(key, "1000wei", timeout=WAIT_S)  # recorded on L2; paid on L1 once finalized
    assert withdrawn.receipt is not None and withdrawn.receipt.kind == "withdrawal" and withdrawn.receipt.ok

    l2_before = client.balance("dev2")
    deposit = client.deposit("0x" + dev_account(2).secret.hex(), "3gwei", wait="unsafe", timeout=WAIT_S)
    assert deposit.l2_tx_hash is not None and deposit.waited is not None
    assert client.balance("dev2") == l2_before + 3_000_000_000
    assert isinstance(client.outputs(), list) and isinstance(client.games(), list)


def test_async_client_against_a_devnet(devnet: dict[str, Any]) -> None:  # noqa: F811
    asyncio.run(_async_session(devnet["_dir"]))


async def _async_session(directory: str) -> None:
    key = "0x" + dev_account(3).secret.hex()
    sender = to_checksum_address(dev_account(3).address)
    recipient = "0x00000000000000000000000000000000000a51c0"
    async with AsyncRollupClient.from_devnet(directory) as client:
        assert await client.chain_id() == 901
        nonce_before = await client.nonce(sender)
        sent = await client.transfer(key, recipient, 777, wait="safe", timeout=WAIT_S)
        block = _check_safe_transfer(sent, recipient, 777)
        assert await client.balance(recipient, block) == 777
        assert await client.nonce(sender, block) == nonce_before + 1
        header = await client.block(block)
        assert header is not None and sent.hash in header.transactions
        receipt = await client.receipt(sent.hash)
        assert receipt is not None and receipt.ok and receipt.block_number == block
        assert (await client.proof(recipient, block)).verified

        price = _order_price(await client.market("BTC-PERP"))
        placed = await client.order(key, "BTC-PERP", "buy", 2, price=price, timeout=WAIT_S)
        assert placed.receipt is not None and placed.receipt.ok
        mine = [o for o in await client.orders(sender) if o["price"] == price]
        assert len(mine) == 1 and mine[0]["size"] == 2
        await client.cancel_all(key, "BTC-PERP", timeout=WAIT_S)
        assert [o for o in await client.orders(sender) if o["symbol"] == "BTC-PERP"] == []

        with pytest.raises(errors.NonceTooLow):
            await client.transfer(key, recipient, 1, nonce=0)
        with pytest.raises(errors.MethodNotFound):
            await client.call("rollup_noSuchMethod")

        heads: list[int] = []
        async with asyncio.timeout(60):
            stream = client.subscribe_new_heads()
            async for new_head in stream:
                assert new_head.hash.startswith("0x") and len(new_head.state_root) == 66
                heads.append(new_head.number)
                if len(heads) == 3:
                    break
            await stream.aclose()
        assert heads == sorted(heads) and len(set(heads)) == 3
