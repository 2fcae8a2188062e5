"""Signing and sending transactions (sans-IO, see node.client.sansio): L2 payloads, L1 payloads, deposits.

The transactions are built by the node's own builders (node.tx.sign_tx over
node.tx / node.venue.payloads payloads, l1.chain.tx.sign_l1_tx over
l1.contracts.payloads): this module only fills in chain id, nonce and fee.
"""

from __future__ import annotations

import time
from typing import Any

from node.client.errors import InputError, ResponseError, TransactionFailed, TransportError, WaitTimeout, class_for
from node.client.inputs import AddressLike, AmountLike, KeyLike, to_address, to_amount, to_key, to_optional_amount
from node.client.models import SentDeposit, SentTx, WaitResult
from node.client.reads import chain_id
from node.client.sansio import Call, Endpoints, Op, Sleep
from node.client.waits import POLL_S, Progress, Throttle, wait
from node.crypto import Address, PrivateKey, to_checksum_address
from node.devnet.params import L2_MIN_FEE
from node.records import to_hex
from node.tx import DepositTx, SignedTx, Transfer, Withdrawal, sign_tx


def l2_fee(endpoints: Endpoints, fee: AmountLike | None) -> int:
    """`fee`, else the devnet's L2 minimum fee."""
    return fee_or_minimum(to_optional_amount(fee, "fee"), endpoints.l2_min_fee)


def fee_or_minimum(fee: int | None, l2_min_fee: int | None) -> int:
    """A given fee, else the chain's minimum (the devnet's default when the devnet does not say)."""
    if fee is not None:
        return fee
    return l2_min_fee if l2_min_fee is not None else L2_MIN_FEE


def sign_l2(endpoints: Endpoints, key: PrivateKey, payload: Any, fee: int, nonce: int | None) -> Op[SignedTx]:
    """`payload` signed for the L2's chain id, at the sender's latest nonce unless given."""
    chain = yield from chain_id(endpoints.l2.rpc)
    if nonce is None:
        reply = yield Call(endpoints.l2.rpc, "rollup_getNonce", (to_checksum_address(key.address), "latest"))
        nonce = int(reply)
    return sign_tx(key, chain, nonce, fee, payload)


def submit_l2(endpoints: Endpoints, tx: SignedTx) -> Op[str]:
    """rollup_sendRawTransaction; the hash the node returns (checked against the transaction's)."""
    returned = str((yield Call(endpoints.l2.rpc, "rollup_sendRawTransaction", ("0x" + tx.encode().hex(),))))
    expected = "0x" + tx.hash().hex()
    if returned.lower() != expected:
        raise ResponseError(f"the node returned hash {returned}, expected {expected}")
    return returned.lower()


def send_l2(
    endpoints: Endpoints,
    key: KeyLike,
    payload: Any,
    fee: AmountLike | None = None,
    nonce: int | None = None,
    wait_level: str | None = "unsafe",
    timeout: float = 120.0,
    progress: Progress | None = None,
) -> Op[SentTx]:
    """Sign, send and (unless wait_level is None) wait for an L2 transaction; status 0 raises its code's class."""
    signer = to_key(key)
    if nonce is not None and (isinstance(nonce, bool) or not isinstance(nonce, int) or not 0 <= nonce < 2**64):
        raise InputError(f"nonce must be an int in [0, 2^64-1], got {nonce!r}")
    end = time.monotonic() + timeout
    tx = yield from sign_l2(endpoints, signer, payload, l2_fee(endpoints, fee), nonce)
    tx_hash = yield from submit_l2(endpoints, tx)
    waited: WaitResult | None = None
    if wait_level is not None:
        waited = yield from wait(endpoints, tx_hash, wait_level, timeout, True, progress, end)
    return SentTx(tx_hash, to_checksum_address(signer.address), tx.nonce, tx.fee, tx.chain_id, payload.NAME, waited)


def transfer_payload(to: AddressLike, amount: AmountLike) -> Transfer:
    return Transfer(to_address(to, "to"), to_amount(amount))


def withdrawal_payload(key: KeyLike, amount: AmountLike, to: AddressLike | None) -> Withdrawal:
    recipient = to_address(to, "to") if to is not None else to_key(key).address
    return Withdrawal(recipient, to_amount(amount))


# ---------------------------------------------------------------- L1


def send_l1(l1: str, key: PrivateKey, payload: Any, value: int = 0, fee: int | None = None) -> Op[str]:
    """Sign `payload` with the key's next L1 nonce (the L1's min fee unless `fee`) and submit it; its hash."""
    from l1.chain.tx import sign_l1_tx  # the L1's codec, only needed for L1 transactions
    from l1.contracts.client import CHAIN_INFO, L1ResponseError, parse

    try:
        info = parse(CHAIN_INFO, (yield Call(l1, "l1_config")))
    except L1ResponseError as exc:
        raise ResponseError(str(exc)) from None
    nonce = int((yield Call(l1, "l1_getNonce", (to_checksum_address(key.address),))))
    tx = sign_l1_tx(key, info.chain_id, nonce, info.min_fee if fee is None else fee, value, payload)
    return str((yield Call(l1, "l1_sendRawTransaction", (to_hex(tx.encode()),))))


L1_RECEIPT = "l1 receipt"  # the `method` of the error a status-0 L1 receipt raises


def wait_l1_receipt(
    l1: str, tx_hash: str, end: float, timeout: float, progress: Progress | None = None
) -> Op[dict[str, Any]]:
    """Poll the L1 for the receipt; status 0 raises its code's class (or TransactionFailed)."""
    throttle = Throttle(progress)
    while True:
        try:
            receipt = yield Call(l1, "l1_getTransactionReceipt", (tx_hash,))
        except TransportError:
            receipt = None
        if receipt is not None:
            if int(receipt.get("status", 0)) != 1:
                error = receipt.get("error")
                message = (
                    f"L1 transaction {tx_hash} failed in L1 block {receipt.get('blockNumber')}: {error or 'status 0'}"
                )
                if isinstance(error, int) and not isinstance(error, bool):
                    raise class_for(error)(message, None, L1_RECEIPT, error)
                raise TransactionFailed(message)
            return dict(receipt)
        throttle.say(f"L1: waiting for {tx_hash[:18]}... to be included")
        if time.monotonic() >= end:
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for L1 transaction {tx_hash}")
        yield Sleep(POLL_S)


def deposit_l2_hash(l1_receipt: dict[str, Any], sender: bytes, to: bytes, amount: int) -> str:
    """The hash of the L2 system transaction derivation makes from this deposit's L1 event."""
    from l1.contracts.client import L1ResponseError, parse_receipt
    from l1.contracts.events import DepositLocked

    try:
        receipt = parse_receipt(l1_receipt)
    except L1ResponseError as exc:
        raise ResponseError(f"the L1 receipt of {l1_receipt.get('transactionHash')} does not parse: {exc}") from None
    for event in receipt.events:
        if isinstance(event, DepositLocked):
            deposit = DepositTx(receipt.block_number, event.log_index, event.sender, event.l2_to, event.amount)
            if deposit.to == to and deposit.amount == amount and deposit.l1_sender == sender:
                return to_hex(deposit.hash())
    raise ResponseError(f"the L1 receipt of {to_hex(receipt.tx_hash)} has no matching deposit event")


def deposit(
    endpoints: Endpoints,
    key: KeyLike,
    amount: AmountLike,
    to: AddressLike | None = None,
    fee: AmountLike | None = None,
    wait_level: str | None = "unsafe",
    timeout: float = 120.0,
    progress: Progress | None = None,
) -> Op[SentDeposit]:
    """Lock `amount` in the L1 portal for `to` on L2 (default: the sender); with a wait level, wait for the
    L1 receipt, then for the L2 deposit transaction at that level."""
    from l1.contracts.payloads import Deposit

    signer = to_key(key)
    value = to_amount(amount)
    recipient: Address = to_address(to, "to") if to is not None else signer.address
    l1_fee = to_optional_amount(fee, "fee")
    l1 = endpoints.require_l1()
    end = time.monotonic() + timeout
    l1_hash = yield from send_l1(l1, signer, Deposit(recipient), value, l1_fee)
    sent = SentDeposit(l1_hash, to_checksum_address(signer.address), to_checksum_address(recipient), value)
    if wait_level is None:
        return sent
    l1_receipt = yield from wait_l1_receipt(l1, l1_hash, end, timeout, progress)
    l2_hash = deposit_l2_hash(l1_receipt, signer.address, recipient, value)
    waited = yield from wait(endpoints, l2_hash, wait_level, timeout, True, progress, end)
    return SentDeposit(sent.l1_tx_hash, sent.sender, sent.to, value, int(l1_receipt["blockNumber"]), l2_hash, waited)
