"""Bad arguments raise errors.InputError naming the argument, before the client sends any request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from node.client import AsyncRollupClient, RollupClient, errors
from node.client.inputs import to_address, to_amount, to_block, to_hash, to_key, to_uint
from node.crypto import PrivateKey
from node.keys.hd import dev_account
from tests.client.fake_node import FakeNode

KEY = "0x" + dev_account(1).secret.hex()
DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
BAD_CHECKSUM = "0xf39fd6e51aad88F6F4ce6aB8827279cffFb92266"  # one letter's case flipped
TX = "0x" + "ab" * 32

# (call on a client, the message the InputError carries)
BAD_CALLS: list[tuple[Callable[[Any], Any], str]] = [
    (lambda c: c.balance("0x1234"), "address must be a 0x address"),
    (lambda c: c.balance(BAD_CHECKSUM), "invalid EIP-55 checksum"),
    (lambda c: c.balance(b"\x01" * 19), "address must be 20 bytes, got 19"),
    (lambda c: c.nonce(DEV0, block="newest"), "block must be a number or one of latest"),
    (lambda c: c.balance(DEV0, block=-1), "block number -1 is out of range"),
    (lambda c: c.block("0xzz"), "block must be a number or one of"),
    (lambda c: c.receipt("0x1234"), "transaction hash must be 0x followed by 64 hex digits"),
    (lambda c: c.transfer(KEY, DEV0, -5), "amount must not be negative"),
    (lambda c: c.transfer(KEY, DEV0, "-5"), "amount must not be negative"),
    (lambda c: c.transfer(KEY, DEV0, "1.5 bananas"), "unknown unit 'bananas'"),
    (lambda c: c.transfer(KEY, DEV0, "1e18"), "exponent notation is not accepted"),
    (lambda c: c.transfer(KEY, DEV0, "0.1wei"), "allows at most 0"),
    (lambda c: c.transfer(KEY, DEV0, 0), "amount must be at least 1 wei"),
    (lambda c: c.transfer(KEY, DEV0, 2**256), "larger than 2^256-1"),
    (lambda c: c.transfer(KEY, DEV0, 1, fee="cheap"), "fee: amount must be a whole number"),
    (lambda c: c.transfer(KEY, "0xnope", 1), "to must be a 0x address"),
    (lambda c: c.transfer("0x1234", DEV0, 1), "key: private key"),
    (lambda c: c.transfer(KEY, DEV0, 1, wait="final"), "wait must be one of unsafe, safe, finalized"),
    (lambda c: c.transfer(KEY, DEV0, 1, nonce=-1), "nonce must be an int in [0, 2^64-1]"),
    (lambda c: c.transfer(KEY, DEV0, 1, timeout=0), "timeout must be a positive number"),
    (lambda c: c.wait(TX, level="latest"), "level must be one of unsafe, safe, finalized"),
    (lambda c: c.block_number("pending"), "level must be one of"),
    (lambda c: c.withdraw(KEY, "1..5eth"), "amount must be a whole number of wei or a decimal number"),
    (lambda c: c.deposit(KEY, "-1eth"), "amount must not be negative"),
    (lambda c: c.book("BTC-PERP", depth=0), "depth must be at least 1"),
    (lambda c: c.book("BTC-PERP", depth=501), "depth 501 is larger than 500"),
    (lambda c: c.cancel(KEY, -3), "order id must be at least 0"),
    (lambda c: c.positions("dev99"), "unknown dev account 'dev99'"),
    (lambda c: c.game("x"), "game id must be a whole number"),
]


@pytest.fixture(scope="module")
def module_node() -> Iterator[FakeNode]:
    with FakeNode({"rollup_chainId": 901, "rollup_getNonce": 0, "rollup_getMarkets": []}) as node:
        yield node


@pytest.fixture
def node(module_node: FakeNode) -> FakeNode:
    module_node.requests.clear()
    return module_node


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_bad_input_is_refused_before_any_request(node: FakeNode, call: Callable[[Any], Any], message: str) -> None:
    client = RollupClient(node.url, l1_rpc=node.url)
    with pytest.raises(errors.InputError) as caught:
        call(client)
    assert message in str(caught.value)
    assert node.requests == []


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
async def test_async_bad_input_is_refused_before_any_request(
    node: FakeNode, call: Callable[[Any], Any], message: str
) -> None:
    async with AsyncRollupClient(node.url, l1_rpc=node.url) as client:
        with pytest.raises(errors.InputError) as caught:
            await call(client)
    assert message in str(caught.value)
    assert node.requests == []


def test_input_error_is_also_a_value_error_and_the_devnet_input_error() -> None:
    from node.devnet.errors import InputError as DevnetInputError

    with pytest.raises(ValueError):
        to_amount("1 bananas")
    with pytest.raises(DevnetInputError):
        to_address("0x12")


def test_the_accepted_forms() -> None:
    address = dev_account(0).address
    assert to_address(DEV0) == to_address(DEV0.lower()) == to_address(address) == to_address("dev0") == address
    assert to_amount("1.5eth") == 1_500_000_000_000_000_000
    assert to_amount("20gwei") == to_amount("20 GWEI") == 20 * 10**9
    assert to_amount("0x10") == to_amount(16) == to_amount("16") == 16
    assert to_block("SAFE") == "safe" and to_block(7) == 7 and to_block("0x10") == 16
    assert to_hash(TX.upper().replace("0X", "0x")) == TX and to_hash(bytes.fromhex("ab" * 32)) == TX
    key = to_key(KEY)
    assert isinstance(key, PrivateKey) and key.address == dev_account(1).address and to_key(key) is key
    assert to_uint("0x10", "size") == 16


def test_client_urls_are_checked() -> None:
    with pytest.raises(errors.InputError, match="rpc must be an http"):
        RollupClient("127.0.0.1:9545")
    with pytest.raises(errors.InputError, match="l1_rpc must be an http"):
        RollupClient("http://127.0.0.1:9545/", l1_rpc="ftp://x")
    with pytest.raises(errors.ClientError, match="no L1 endpoint"):
        RollupClient("http://127.0.0.1:9545/").l1_balance(DEV0)
    with pytest.raises(errors.ClientError, match="no devnet at"):
        RollupClient.from_devnet("/nonexistent/devnet/dir")
