"""node.client.errors: one class per code of node.error_codes, typed errors over the wire, transport failures."""

from __future__ import annotations

import pickle
import socket

import pytest

from node.client import AsyncRollupClient, RollupClient, errors
from node.error_codes import ERROR_CODES
from node.rpc.client import RpcTransportError
from node.rpc.errors import RpcError
from tests.client.fake_node import FakeError, FakeNode


def test_every_code_of_the_table_has_its_class_with_that_code() -> None:
    assert len(ERROR_CODES) > 80
    for code, entry in ERROR_CODES.items():
        cls = errors.class_for(code)
        assert cls is not errors.RpcCallError, f"no class for {code} ({entry.name})"
        assert cls.ERROR_CODE == code and cls.__name__ == entry.name
        assert getattr(errors, entry.name) is cls
        assert issubclass(cls, errors.RpcCallError) and issubclass(cls, errors.ClientError)
    # and no class for a code the table does not have
    assert set(errors.CLASSES) == set(ERROR_CODES)


def test_named_codes() -> None:
    assert errors.NonceTooLow.ERROR_CODE == -32012
    assert errors.InsufficientBalance.ERROR_CODE == -32014
    assert errors.UnknownSnapshot.ERROR_CODE == -32009
    assert errors.ControlDisabled.ERROR_CODE == -32008
    assert errors.ControlRefused.ERROR_CODE == -32003
    assert errors.MethodNotFound.ERROR_CODE == -32601


def test_from_code_known_and_unknown() -> None:
    exc = errors.from_code(-32012, "nonce too low", {"error": "NonceTooLow"}, "rollup_sendRawTransaction")
    assert type(exc) is errors.NonceTooLow
    assert (exc.code, exc.message, exc.data, exc.method) == (
        -32012,
        "nonce too low",
        {"error": "NonceTooLow"},
        "rollup_sendRawTransaction",
    )
    assert str(exc) == "rollup_sendRawTransaction: nonce too low (code -32012)"
    assert isinstance(exc, RpcError)  # code written against node.rpc keeps catching it
    unknown = errors.from_code(-31999, "something new")
    assert type(unknown) is errors.RpcCallError and unknown.code == -31999
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is errors.NonceTooLow and again.code == -32012 and again.method == exc.method


def test_every_code_over_the_wire_raises_its_class() -> None:
    with FakeNode({"fail": lambda params: FakeError(params[0], f"failure {params[0]}", {"n": params[0]})}) as node:
        client = RollupClient(node.url)
        for code, entry in [*ERROR_CODES.items(), (-31999, None)]:
            with pytest.raises(errors.RpcCallError) as caught:
                client.call("fail", code)
            expected = errors.RpcCallError if entry is None else getattr(errors, entry.name)
            assert type(caught.value) is expected
            assert caught.value.code == code and caught.value.message == f"failure {code}"
            assert caught.value.data == {"n": code} and caught.value.method == "fail"


async def test_async_errors_are_the_same_classes() -> None:
    with FakeNode({"fail": lambda params: FakeError(params[0], "no")}) as node:
        async with AsyncRollupClient(node.url) as client:
            with pytest.raises(errors.NonceTooLow) as caught:
                await client.call("fail", -32012)
            assert caught.value.method == "fail"
            with pytest.raises(errors.MethodNotFound):
                await client.call("no_such_method")
            with pytest.raises(errors.ControlDisabled):
                await client.call("fail", -32008)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_transport_errors_name_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    with pytest.raises(errors.TransportError) as caught:
        RollupClient(url, timeout=2).chain_id()
    assert caught.value.url == url and url in str(caught.value) and "rollup_chainId" in str(caught.value)
    assert isinstance(caught.value, RpcTransportError)
    with FakeNode() as node:
        node.raw_answer = (502, b"<html>bad gateway</html>")
        with pytest.raises(errors.TransportError, match="HTTP 502 reply is not JSON"):
            RollupClient(node.url).chain_id()


async def test_async_transport_errors_name_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}/"
    async with AsyncRollupClient(url, timeout=2) as client:
        with pytest.raises(errors.TransportError) as caught:
            await client.chain_id()
    assert caught.value.url == url and url in str(caught.value)


def test_the_sync_client_is_a_context_manager() -> None:
    with FakeNode({"rollup_chainId": 901}) as node, RollupClient(node.url) as client:
        assert client.chain_id() == 901 and client.call("rollup_chainId") == 901
    assert node.requests == [("rollup_chainId", []), ("rollup_chainId", [])]
    client.close()  # closing twice is harmless


async def test_a_subscription_to_a_node_without_websocket_is_a_transport_error() -> None:
    with FakeNode() as node:
        async with AsyncRollupClient(node.url, timeout=3) as client:
            with pytest.raises(errors.TransportError) as caught:
                async for _ in client.subscribe_new_heads():
                    pass
    assert caught.value.url == node.url.replace("http://", "ws://").rstrip("/") + "/ws"
