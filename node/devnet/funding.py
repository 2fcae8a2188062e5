"""Set an account's L1 or L2 balance on a devnet (the control endpoint's setL1Balance / setL2Balance).

L1: the L1's own `devnet_setBalance`. L2 has no such override (its state is derived from L1 and
replayed by every node), so the balance is moved by real transactions:

- up: mint on the devnet's faucet account on L1 (`devnet_setBalance`), deposit the difference to the
  account through the portal, and wait until the sequencer has credited it;
- down: only where the devnet holds the key (dev0..dev9): transfer the excess, minus the fee, to the
  fee recipient (dev7 itself sends it to the insurance fund); when the excess is smaller than the fee,
  a 1 wei transfer goes below the target and a deposit brings the balance back up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from node.crypto import Address, PrivateKey, to_checksum_address
from node.devnet import params as p
from node.devnet.errors import ControlRefusedError
from node.keys.hd import DEV_ACCOUNT_COUNT, dev_accounts
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from node.tx import Transfer, sign_tx

CREDIT_TIMEOUT_S = 60.0
POLL_S = 0.05
MINE_EVERY_S = 0.5  # while waiting for a deposit, mine an L1 block this often (derivation needs L1 progress)


def call(url: str, method: str, *params: Any, timeout: float = 10.0) -> Any:
    try:
        return SyncRpcClient(url, timeout=timeout).call(method, *params)
    except RpcTransportError as exc:
        raise ControlRefusedError(f"{url} does not answer {method}: {exc}") from None


def set_l1_balance(l1_rpc: str, address: Address, wei: int) -> dict[str, Any]:
    result = call(l1_rpc, "devnet_setBalance", to_checksum_address(address), str(wei))
    return {"address": to_checksum_address(address), "balance": str(wei), "l1": result}


def l2_balance(sequencer_rpc: str, address: Address) -> int:
    return int(call(sequencer_rpc, "rollup_getBalance", to_checksum_address(address), "latest"))


def dev_key(address: Address) -> PrivateKey | None:
    return next((a.private_key for a in dev_accounts(DEV_ACCOUNT_COUNT) if a.address == address), None)


def set_l2_balance(l1_rpc: str, sequencer_rpc: str, address: Address, wei: int) -> dict[str, Any]:
    """Move `address`'s L2 balance to exactly `wei`; returns {address, before, balance, actions}."""
    before = l2_balance(sequencer_rpc, address)
    actions: list[dict[str, Any]] = []
    current = before
    if current > wei:
        current = _lower(sequencer_rpc, address, current, wei, actions)
    if current < wei:
        current = _deposit(l1_rpc, sequencer_rpc, address, current, wei - current, actions)
    return {"address": to_checksum_address(address), "before": str(before), "balance": str(current), "actions": actions}


def _lower(sequencer_rpc: str, address: Address, current: int, target: int, actions: list[dict[str, Any]]) -> int:
    key = dev_key(address)
    if key is None:
        raise ControlRefusedError(
            f"cannot lower the L2 balance of {to_checksum_address(address)} from {current} to {target} wei: "
            "the devnet holds no key for it (only dev0..dev9's balances can be lowered; raising works for any address)"
        )
    client = SyncRpcClient(sequencer_rpc)
    fee = p.L2_MIN_FEE
    excess = current - target
    if address == p.fee_recipient():
        to, amount = p.insurance_fund_address(), excess  # the fee comes back to dev7
    else:
        to, amount = p.fee_recipient(), max(1, excess - fee)  # transfers move at least 1 wei
    chain_id = int(client.call("rollup_chainId"))
    nonce = int(client.call("rollup_getNonce", to_checksum_address(address), "pending"))
    tx = sign_tx(key, chain_id, nonce, fee, Transfer(to, amount))
    tx_hash = str(client.call("rollup_sendRawTransaction", "0x" + tx.encode().hex()))
    _wait_receipt(client, tx_hash)
    actions.append({"transfer": tx_hash, "to": to_checksum_address(to), "amount": str(amount), "fee": str(fee)})
    return l2_balance(sequencer_rpc, address)


def _wait_receipt(client: SyncRpcClient, tx_hash: str) -> dict[str, Any]:
    deadline = time.monotonic() + CREDIT_TIMEOUT_S
    while True:
        receipt = client.call("rollup_getTransactionReceipt", tx_hash)
        if receipt is not None:
            if int(receipt.get("status", 0)) != 1:
                raise ControlRefusedError(f"the balance transfer {tx_hash} failed on L2: {receipt.get('error')}")
            return dict(receipt)
        if time.monotonic() > deadline:
            raise ControlRefusedError(
                f"the balance transfer {tx_hash} was not included within {CREDIT_TIMEOUT_S:.0f} s"
            )
        time.sleep(POLL_S)


def _deposit(
    l1_rpc: str, sequencer_rpc: str, address: Address, current: int, amount: int, actions: list[dict[str, Any]]
) -> int:
    from l1.contracts.client import L1Client
    from l1.contracts.payloads import Deposit

    faucet = p.faucet_key()
    l1 = SyncRpcClient(l1_rpc)
    faucet_balance = int(l1.call("l1_getBalance", to_checksum_address(faucet.address)))
    needed = amount + 100 * p.L1_MIN_FEE
    if faucet_balance < needed:
        set_l1_balance(l1_rpc, faucet.address, needed)

    async def send() -> str:
        async with L1Client(l1_rpc) as client:
            return "0x" + (await client.send_tx(faucet, Deposit(address), amount, None)).hex()

    try:
        l1_hash = asyncio.run(send())
    except RpcError as exc:
        raise ControlRefusedError(f"the L1 rejected the faucet's deposit: {exc.message} (code {exc.code})") from None
    actions.append({"deposit": l1_hash, "amount": str(amount)})
    target = current + amount
    deadline = time.monotonic() + CREDIT_TIMEOUT_S
    next_mine = time.monotonic() + MINE_EVERY_S
    while True:
        balance = l2_balance(sequencer_rpc, address)
        if balance >= target:
            return balance
        now = time.monotonic()
        if now > deadline:
            raise ControlRefusedError(
                f"the deposit {l1_hash} of {amount} wei was not credited on L2 within {CREDIT_TIMEOUT_S:.0f} s "
                f"(balance {balance}, want {target})"
            )
        if now >= next_mine:
            next_mine = now + MINE_EVERY_S
            try:
                l1.call("devnet_mine", 1)
            except (RpcError, RpcTransportError):
                pass  # an L1 without devnet_mine: its block timer moves it on
        time.sleep(POLL_S)
