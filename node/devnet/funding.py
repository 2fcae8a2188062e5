"""Set an account's L1 or L2 balance on a devnet (the control endpoint's setL1Balance / setL2Balance).

L1: the L1's own `devnet_setBalance`.

L2: one balance override, for any address and any amount, up or down, no key
needed. L2 state is derived from L1 and re-executed by every node, so the
override is an L1 transaction, `set_l2_balance` (kind 13,
l1.contracts.devnet_overrides), that a devnet's chain alone accepts (its
chain rule devnet_overrides, node.stf.chain_rules). Derivation turns its
event into a node.tx.BalanceOverrideTx among the epoch's deposits; the
sequencer includes it like a deposit, executors and the challenger replay it
and the one-step proof covers it.

1. read the balance now on the sequencer; the increase (if any, up to
   MAX_LOCKED_WEI) is locked in the L1 portal as the transaction's value, so
   an overridden balance can be withdrawn like a deposited one (the faucet,
   topped up on L1 with `devnet_setBalance` when short, pays it);
2. send set_l2_balance(address, wei) from the faucet and mine an L1 block;
   a status-0 receipt (a chain without the rule) is refused with its error;
3. wait for the L2 receipt of the override on the sequencer (mining an L1
   block now and then: the sequencer takes a new L1 origin as L1 moves on);
   a status-0 receipt is refused with its reason (a balance that would take
   the L2 supply past 2^256-1).

The result: {address, before, balance, l1Tx, l1Block, l2Tx, l2Block, locked}.
`balance` is the sequencer's balance once the override is in a block (a
transaction of the account's in the same block may already have moved it).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from node.crypto import Address, Hash32, to_checksum_address
from node.devnet import params as p
from node.devnet.errors import ControlRefusedError
from node.encoding import UINT256_MAX
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from node.tx import BalanceOverrideTx

CREDIT_TIMEOUT_S = 60.0
POLL_S = 0.05
MINE_EVERY_S = 0.5  # while waiting for the override on L2, mine an L1 block this often (derivation needs L1 progress)
FAUCET_FEE_ROOM = 100  # L1 fees the faucet keeps beside what it locks
MAX_LOCKED_WEI = 2**200  # a larger increase is not backed on L1 (the L1's amounts stop at 2^256-1 too)
SKIP_REASONS = {
    -32016: "the L2's total supply would pass 2^256-1 (every balance counts toward it)",
    -32017: "the L2's chain rule devnet_overrides is off while the L1's is on (configs from different devnets?)",
}


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


def set_l2_balance(l1_rpc: str, sequencer_rpc: str, address: Address, wei: int) -> dict[str, Any]:
    """Set `address`'s L2 balance to exactly `wei` with one balance override (module docstring)."""
    validate_wei(wei)
    validate_overrides_enabled(l1_rpc)
    before = l2_balance(sequencer_rpc, address)
    increase = max(0, wei - before)
    locked = increase if increase <= MAX_LOCKED_WEI else 0
    ensure_faucet_holds(l1_rpc, locked + FAUCET_FEE_ROOM * p.L1_MIN_FEE)
    l1_tx, l1_block, override = send_override(l1_rpc, address, wei, locked)
    receipt = wait_l2_receipt(l1_rpc, sequencer_rpc, override.hash())
    return {
        "address": to_checksum_address(address),
        "before": str(before),
        "balance": str(l2_balance(sequencer_rpc, address)),
        "locked": str(locked),
        "l1Tx": l1_tx,
        "l1Block": l1_block,
        "l2Tx": "0x" + override.hash().hex(),
        "l2Block": int(receipt["blockNumber"]),
    }


def validate_wei(wei: int) -> None:
    if isinstance(wei, bool) or not isinstance(wei, int) or not 0 <= wei <= UINT256_MAX:
        raise ControlRefusedError(f"an L2 balance is a whole number of wei in [0, 2^256-1], got {wei!r}")


def validate_overrides_enabled(l1_rpc: str) -> None:
    """Refuse early, with the reason, on a chain whose L1 does not accept overrides (the L1 would too)."""
    info = call(l1_rpc, "l1_config")
    if not info.get("devnetOverrides", False):
        raise ControlRefusedError(
            "this devnet's chain does not enable balance overrides ([l1.rollup] devnet_overrides is off: "
            "a data directory made before they existed?); start a fresh devnet with `rollup devnet up`"
        )


def ensure_faucet_holds(l1_rpc: str, needed: int) -> None:
    faucet = p.faucet_key().address
    if int(call(l1_rpc, "l1_getBalance", to_checksum_address(faucet))) < needed:
        set_l1_balance(l1_rpc, faucet, needed)


def send_override(l1_rpc: str, address: Address, wei: int, locked: int) -> tuple[str, int, BalanceOverrideTx]:
    """Send set_l2_balance from the faucet and wait for its L1 receipt; return (L1 hash, L1 block, the L2
    system transaction derivation makes of it)."""
    from l1.contracts.client import L1Client
    from l1.contracts.events import L2BalanceSet
    from l1.contracts.payloads import SetL2Balance

    async def send() -> tuple[str, int, BalanceOverrideTx]:
        async with L1Client(l1_rpc) as client:
            tx_hash = await client.send_tx(p.faucet_key(), SetL2Balance(address, wei), locked, None)
            mine(l1_rpc)
            receipt = await client.wait_receipt(tx_hash, timeout=CREDIT_TIMEOUT_S)
        shown = "0x" + tx_hash.hex()
        if receipt.status != 1:
            raise ControlRefusedError(
                f"the L1 refused the balance override {shown}: {receipt.error} (code {receipt.error_code})"
            )
        event = next(e for e in receipt.events if isinstance(e, L2BalanceSet))
        override = BalanceOverrideTx(receipt.block_number, event.log_index, event.sender, event.l2_to, event.balance)
        return shown, receipt.block_number, override

    try:
        return asyncio.run(send())
    except RpcError as exc:
        raise ControlRefusedError(f"the L1 rejected the balance override: {exc.message} (code {exc.code})") from None
    except TimeoutError as exc:
        raise ControlRefusedError(f"the balance override was not included on L1: {exc}") from None


def wait_l2_receipt(l1_rpc: str, sequencer_rpc: str, l2_hash: Hash32) -> dict[str, Any]:
    """The sequencer's receipt of the override, once included; mine L1 blocks meanwhile."""
    shown = "0x" + l2_hash.hex()
    deadline = time.monotonic() + CREDIT_TIMEOUT_S
    next_mine = time.monotonic() + MINE_EVERY_S
    while True:
        receipt = call(sequencer_rpc, "rollup_getTransactionReceipt", shown)
        if receipt is not None:
            if int(receipt.get("status", 0)) != 1:
                code = receipt.get("error")
                why = SKIP_REASONS.get(code, "the state transition refused it") if isinstance(code, int) else "?"
                raise ControlRefusedError(f"the L2 skipped the balance override {shown} (error code {code}): {why}")
            return dict(receipt)
        now = time.monotonic()
        if now > deadline:
            raise ControlRefusedError(
                f"the balance override {shown} was not included on L2 within {CREDIT_TIMEOUT_S:.0f} s"
            )
        if now >= next_mine:
            next_mine = now + MINE_EVERY_S
            mine(l1_rpc)
        time.sleep(POLL_S)


def mine(l1_rpc: str) -> None:
    try:
        SyncRpcClient(l1_rpc).call("devnet_mine", 1)
    except (RpcError, RpcTransportError):
        pass  # an L1 without devnet_mine: its block timer moves it on


__all__ = [
    "call",
    "ensure_faucet_holds",
    "l2_balance",
    "send_override",
    "set_l1_balance",
    "set_l2_balance",
    "validate_overrides_enabled",
    "validate_wei",
    "wait_l2_receipt",
]
