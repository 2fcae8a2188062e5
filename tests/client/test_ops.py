"""The sans-IO operations without a network: the requests they build, the results they parse, the same
operation run by the blocking and the asyncio driver."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from node.client import errors
from node.client.api import Operations
from node.client.models import Block, Receipt, SyncStatus
from node.client.sansio import Call, Endpoints, NodeRef, Op, run_async, run_sync
from node.client.venue import find_market, order_payload
from node.crypto import to_checksum_address
from node.keys.hd import dev_account
from node.rpc.errors import InvalidParams
from node.smt.hashing import hash_key
from node.smt.reference import MemoryTree
from node.state.schema import Account, account_key, encode_account
from node.tx import SignedTx, Transfer, decode_tx
from node.venue.payloads import OrderType, PlaceOrder
from node.venue.side import Side

L2, L1, EXEC0, EXEC1 = "http://l2/", "http://l1/", "http://e0/", "http://e1/"
KEY = dev_account(1)
DEV0 = dev_account(0).address
TX = "0x" + "cd" * 32
ENDPOINTS = Endpoints(
    l2=NodeRef("sequencer", L2),
    confirmers=(NodeRef("executor-0", EXEC0), NodeRef("executor-1", EXEC1)),
    l1=L1,
    l2_min_fee=7,
)
OPS = Operations(ENDPOINTS)

Reply = Any | Callable[[Call], Any]


class Script:
    """A fake transport: the reply per (url, method), recorded calls; an exception reply is raised."""

    def __init__(self, replies: dict[tuple[str, str], Reply]) -> None:
        self.replies = replies
        self.calls: list[Call] = []

    def __call__(self, call: Call) -> Any:
        self.calls.append(call)
        reply = self.replies[(call.url, call.method)]
        value = reply(call) if callable(reply) else reply
        if isinstance(value, BaseException):
            raise value
        return value

    def run(self, op: Op[Any]) -> Any:
        return run_sync(op, self, sleep=lambda seconds: None)


def receipt_json(block: int, status: int = 1, error: int | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "transactionHash": TX,
        "transactionIndex": 0,
        "blockNumber": block,
        "status": status,
        "kind": "transfer",
        "fee": "7",
        "blockHash": "0x" + "11" * 32,
    }
    if error is not None:
        obj["error"] = error
    return obj


def head(number: int) -> dict[str, Any]:
    return {"number": number, "hash": "0x" + "22" * 32, "stateRoot": "0x" + "33" * 32}


def status(safe: int, finalized: int = 0) -> dict[str, Any]:
    return {"unsafe": head(safe + 5), "safe": head(safe), "finalized": head(finalized), "l1Head": 9}


# ---------------------------------------------------------------- reads


def test_reads_build_their_params_and_parse_their_results() -> None:
    script = Script(
        {
            (L2, "rollup_getBalance"): "1000000000000000000000",
            (L2, "rollup_getNonce"): 4,
            (L2, "rollup_chainId"): 901,
            (L2, "rollup_syncStatus"): status(10, 3),
            (L1, "l1_getBalance"): "5",
        }
    )
    assert script.run(OPS.balance("0x" + DEV0.hex(), 12)) == 10**21
    assert script.calls[-1] == Call(L2, "rollup_getBalance", (to_checksum_address(DEV0), 12))
    assert script.run(OPS.nonce("dev0", "SAFE")) == 4
    assert script.calls[-1].params == (to_checksum_address(DEV0), "safe")
    assert script.run(OPS.chain_id()) == 901
    assert script.run(OPS.block_number()) == 15
    assert script.run(OPS.block_number("safe")) == 10 and script.run(OPS.block_number("finalized")) == 3
    assert script.run(OPS.l1_balance(DEV0)) == 5
    assert script.calls[-1] == Call(L1, "l1_getBalance", (to_checksum_address(DEV0),))


def test_models_parse_and_refuse_malformed_replies() -> None:
    sync = SyncStatus.from_json(status(10, 3))
    assert sync.safe.number == 10 and sync.finalized.number == 3 and sync.l1_head == 9
    receipt = Receipt.from_json(receipt_json(4, 0, -32014))
    assert (receipt.block_number, receipt.ok, receipt.error, receipt.fee) == (4, False, -32014, 7)
    with pytest.raises(errors.ResponseError, match="missing field 'safe'"):
        SyncStatus.from_json({"unsafe": head(1)})
    with pytest.raises(errors.ResponseError, match="field 'blockNumber' is malformed"):
        Receipt.from_json({**receipt_json(1), "blockNumber": "x"})
    with pytest.raises(errors.ResponseError, match="expected an object"):
        Block.from_json([1, 2])
    script = Script({(L2, "rollup_getBalance"): {"not": "a number"}})
    with pytest.raises(errors.ResponseError, match="rollup_getBalance: expected a number"):
        script.run(OPS.balance(DEV0))


def test_proof_is_verified_against_the_block_header() -> None:
    account = Account(10**22, 3)
    tree = MemoryTree({hash_key(account_key(DEV0)): encode_account(account), hash_key(b"\x03"): b"\x01"})
    root = "0x" + tree.root().hex()
    reply = {
        "blockNumber": 8,
        "proof": "0x" + tree.prove(hash_key(account_key(DEV0))).encode().hex(),
        "value": "0x" + encode_account(account).hex(),
        "balance": str(10**22),
        "nonce": 3,
    }
    block = {
        "number": 8,
        "hash": "0x" + "44" * 32,
        "parentHash": "0x" + "45" * 32,
        "timestamp": 1,
        "l1Origin": {"number": 1, "hash": "0x" + "46" * 32},
        "transactionsRoot": "0x" + "47" * 32,
        "stateRoot": root,
        "transactions": [],
    }
    script = Script({(L2, "rollup_getProof"): reply, (L2, "rollup_getBlockByNumber"): block})
    proof = script.run(OPS.proof(DEV0, "latest"))
    assert proof.verified and proof.balance == 10**22 and proof.nonce == 3 and proof.state_root == root
    assert [c.method for c in script.calls] == ["rollup_getProof", "rollup_getBlockByNumber"]
    assert script.calls[1].params == (8, False)  # the header of the block the proof is at
    lying = Script({(L2, "rollup_getProof"): {**reply, "balance": str(10**23)}, (L2, "rollup_getBlockByNumber"): block})
    with pytest.raises(errors.ProofError, match="does not verify") as caught:
        lying.run(OPS.proof(DEV0))
    assert caught.value.proof.verified is False
    assert lying.run(OPS.proof(DEV0, verify=False)).verified is False
    other_root = Script(
        {(L2, "rollup_getProof"): reply, (L2, "rollup_getBlockByNumber"): {**block, "stateRoot": "0x" + "11" * 32}}
    )
    with pytest.raises(errors.ProofError):
        other_root.run(OPS.proof(DEV0))


# ---------------------------------------------------------------- sending and waiting


def _sent_tx(call: Call) -> SignedTx:
    tx = decode_tx(bytes.fromhex(call.params[0][2:]))
    assert isinstance(tx, SignedTx)
    return tx


def test_transfer_signs_with_chain_id_nonce_and_min_fee_then_waits_safe_everywhere() -> None:
    safe_heads = {EXEC0: iter([status(2), status(6)]), EXEC1: iter([status(9)])}
    sent: list[SignedTx] = []

    def send_raw(call: Call) -> str:
        sent.append(_sent_tx(call))
        return "0x" + sent[-1].hash().hex()

    def receipt_of(call: Call) -> Any:
        return receipt_json(5) | {"transactionHash": "0x" + sent[-1].hash().hex()}

    script = Script(
        {
            (L2, "rollup_chainId"): 901,
            (L2, "rollup_getNonce"): 12,
            (L2, "rollup_sendRawTransaction"): send_raw,
            (L2, "rollup_getTransactionReceipt"): receipt_of,
            (EXEC0, "rollup_getTransactionReceipt"): receipt_of,
            (EXEC1, "rollup_getTransactionReceipt"): receipt_of,
            (EXEC0, "rollup_syncStatus"): lambda call: next(safe_heads[EXEC0]),
            (EXEC1, "rollup_syncStatus"): lambda call: next(safe_heads[EXEC1]),
        }
    )
    result = script.run(OPS.transfer("0x" + KEY.secret.hex(), "dev0", "1.5eth", wait="safe"))
    tx = sent[0]
    assert tx.chain_id == 901 and tx.nonce == 12 and tx.fee == 7  # the devnet's min fee
    assert tx.payload == Transfer(DEV0, 1_500_000_000_000_000_000) and tx.recover_sender() == KEY.address
    assert result.hash == "0x" + tx.hash().hex() and result.nonce == 12 and result.kind == "transfer"
    assert result.waited is not None and list(result.waited.receipts) == ["sequencer", "executor-0", "executor-1"]
    assert result.receipt is not None and result.receipt.block_number == 5
    assert script.calls[1].params == (to_checksum_address(KEY.address), "latest")
    polls = [c.url for c in script.calls if c.method == "rollup_syncStatus"]
    assert polls == [EXEC0, EXEC0, EXEC1]  # executor-0 was behind once


def test_given_nonce_and_fee_are_used_without_asking() -> None:
    sent: list[SignedTx] = []

    def send_raw(call: Call) -> str:
        sent.append(_sent_tx(call))
        return "0x" + sent[-1].hash().hex()

    script = Script({(L2, "rollup_chainId"): 901, (L2, "rollup_sendRawTransaction"): send_raw})
    result = script.run(OPS.transfer(KEY, DEV0, 5, fee="2gwei", nonce=3, wait=None))
    assert sent[0].nonce == 3 and sent[0].fee == 2 * 10**9 and result.waited is None
    assert [c.method for c in script.calls] == ["rollup_chainId", "rollup_sendRawTransaction"]


def test_a_node_answering_another_hash_is_refused() -> None:
    script = Script({(L2, "rollup_chainId"): 901, (L2, "rollup_getNonce"): 0, (L2, "rollup_sendRawTransaction"): TX})
    with pytest.raises(errors.ResponseError, match="the node returned hash"):
        script.run(OPS.transfer(KEY, DEV0, 5))


def test_a_rejected_transaction_raises_its_code() -> None:
    script = Script(
        {
            (L2, "rollup_chainId"): 901,
            (L2, "rollup_getNonce"): 0,
            (L2, "rollup_sendRawTransaction"): errors.from_code(-32012, "nonce too low"),
        }
    )
    with pytest.raises(errors.NonceTooLow):
        script.run(OPS.transfer(KEY, DEV0, 5))
    plain = Script({(L2, "rollup_chainId"): InvalidParams("bad")})  # node.rpc's classes become the client's
    with pytest.raises(errors.InvalidParams) as caught:
        plain.run(OPS.chain_id())
    assert caught.value.method == "rollup_chainId"


def test_a_status_0_receipt_raises_the_code_it_carries() -> None:
    script = Script({(L2, "rollup_getTransactionReceipt"): receipt_json(5, 0, -32014)})
    with pytest.raises(errors.InsufficientBalance) as caught:
        script.run(OPS.wait(TX))
    assert caught.value.receipt is not None and caught.value.receipt.block_number == 5
    unchecked = script.run(OPS.wait(TX, check=False))
    assert unchecked.failed and unchecked.receipt.error == -32014
    codeless = Script({(L2, "rollup_getTransactionReceipt"): receipt_json(5, 0)})
    with pytest.raises(errors.TransactionFailed):
        codeless.run(OPS.wait(TX))


def test_a_wait_that_never_sees_the_receipt_times_out_and_transport_errors_are_retried() -> None:
    answers = iter([errors.TransportError(L2, "refused"), None, None, None])
    script = Script({(L2, "rollup_getTransactionReceipt"): lambda call: next(answers, None)})
    with pytest.raises(errors.WaitTimeout, match="waiting for .* to be unsafe on sequencer") as caught:
        script.run(OPS.wait(TX, timeout=0.001))
    assert isinstance(caught.value, TimeoutError)


async def test_the_async_driver_runs_the_same_operation() -> None:
    replies = {(L2, "rollup_getTransactionReceipt"): receipt_json(5), (EXEC0, "rollup_getTransactionReceipt"): None}
    calls: list[Call] = []

    async def send(call: Call) -> Any:
        calls.append(call)
        return replies[(call.url, call.method)]

    result = await run_async(OPS.wait(TX, "unsafe"), send)
    assert result.receipt.block_number == 5 and calls == [Call(L2, "rollup_getTransactionReceipt", (TX,))]

    async def failing(call: Call) -> Any:
        raise InvalidParams("no")

    with pytest.raises(errors.InvalidParams):
        await run_async(OPS.chain_id(), failing)


# ---------------------------------------------------------------- the venue

MARKETS = [
    {"id": 0, "symbol": "BTC-PERP", "tickSize": 1_000_000, "oraclePrice": 60_000_000_000},
    {"id": 1, "symbol": "ETH-PERP", "tickSize": 100_000, "oraclePrice": None},
]


def test_orders_name_markets_by_symbol_or_id_and_default_to_ioc_at_the_oracle_band() -> None:
    assert find_market(MARKETS, "btc-perp")["id"] == 0 and find_market(MARKETS, 1)["symbol"] == "ETH-PERP"
    with pytest.raises(errors.InputError, match="unknown market 'DOGE'"):
        find_market(MARKETS, "DOGE")
    payload, kind = order_payload(MARKETS[0], "buy", 2, 59_000_000_000)
    assert kind == "limit" and payload == PlaceOrder(0, Side.BUY, 2, 59_000_000_000, OrderType.GTC, False, 0)
    payload, kind = order_payload(MARKETS[0], "sell", 1)
    assert kind == "ioc" and payload.price == 54_000_000_000 and payload.order_type == OrderType.IOC
    payload, _ = order_payload(MARKETS[0], "buy", 1, 59_000_000_000, "post-only", True, 9)
    assert payload.order_type == OrderType.POST_ONLY and payload.reduce_only and payload.client_order_id == 9
    with pytest.raises(errors.InputError, match="an order without a price is IOC"):
        order_payload(MARKETS[0], "buy", 1, None, "post-only")
    with pytest.raises(errors.ClientError, match="ETH-PERP has no oracle price yet"):
        order_payload(MARKETS[1], "buy", 1)
    with pytest.raises(errors.InputError, match="side must be 'buy' or 'sell'"):
        order_payload(MARKETS[0], "long", 1, 1)
    with pytest.raises(errors.InputError, match="size must be at least 1 lot"):
        order_payload(MARKETS[0], "buy", 0, 1)


HUMAN_BTC = {  # the devnet's BTC-PERP: lots of 100 sats, a tick of 0.001 eth per BTC, quoted in eth
    "id": 0,
    "symbol": "BTC-PERP",
    "tickSize": 1_000_000_000,
    "lotSize": 100,
    "baseDecimals": 8,
    "quoteDecimals": 18,
    "oraclePrice": 20_000_000_000_000,
}


def test_orders_take_human_sizes_and_prices_as_text_and_raw_integers_as_ints() -> None:
    payload, _ = order_payload(HUMAN_BTC, "buy", "0.001", "20.5")
    # 0.001 BTC = 100,000 sats = 1,000 lots; 20.5 eth per BTC = 20.5e18 wei / 10^6 lots = 20.5e12 wei per lot
    assert payload.size == 1_000 and payload.price == 20_500_000_000_000
    assert order_payload(HUMAN_BTC, "buy", Decimal("0.001"), Decimal("20.5"))[0] == payload
    assert order_payload(HUMAN_BTC, "buy", 1_000, 20_500_000_000_000)[0] == payload
    with pytest.raises(errors.InputError, match="nearest valid prices are 20 and 20.001"):
        order_payload(HUMAN_BTC, "buy", "0.001", "20.0005")
    with pytest.raises(errors.InputError, match="size"):
        order_payload(HUMAN_BTC, "buy", "0.0000001", "20")  # 10 sats: a tenth of a lot
    with pytest.raises(errors.InputError, match="declares no base/quote decimals"):
        order_payload(MARKETS[0], "buy", "0.001", 59_000_000_000)
    with pytest.raises(errors.InputError, match="size must be text, a Decimal or an int"):
        order_payload(HUMAN_BTC, "buy", 0.001, "20")  # type: ignore[arg-type]


def test_order_operation_resolves_the_market_then_sends() -> None:
    sent: list[SignedTx] = []

    def send_raw(call: Call) -> str:
        sent.append(_sent_tx(call))
        return "0x" + sent[-1].hash().hex()

    script = Script(
        {
            (L2, "rollup_getMarkets"): MARKETS,
            (L2, "rollup_chainId"): 901,
            (L2, "rollup_getNonce"): 0,
            (L2, "rollup_sendRawTransaction"): send_raw,
        }
    )
    result = script.run(OPS.order(KEY, "BTC-PERP", "buy", 3, price=59_000_000_000, wait=None))
    assert result.kind == "place_order"
    assert sent[0].payload == PlaceOrder(0, Side.BUY, 3, 59_000_000_000, OrderType.GTC, False, 0)
    assert [c.method for c in script.calls][0] == "rollup_getMarkets"


def test_a_failed_l1_receipt_raises_its_code() -> None:
    from node.client.sends import L1_RECEIPT, wait_l1_receipt

    failed = {"transactionHash": TX, "blockNumber": 4, "status": 0, "error": -32085}
    script = Script({(L1, "l1_getTransactionReceipt"): failed})
    with pytest.raises(errors.WithdrawalAlreadyFinalized) as caught:
        script.run(wait_l1_receipt(L1, TX, end=float("inf"), timeout=1))
    assert caught.value.method == L1_RECEIPT and "failed in L1 block 4" in caught.value.message
    pending = Script({(L1, "l1_getTransactionReceipt"): None})
    with pytest.raises(errors.WaitTimeout, match="waiting for L1 transaction"):
        pending.run(wait_l1_receipt(L1, TX, end=0.0, timeout=1))
