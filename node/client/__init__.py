"""The public Python client of the rollup devnet: one set of calls, a blocking and an asyncio flavour.

    from node.client import RollupClient, AsyncRollupClient, errors

    c = RollupClient(rpc="http://127.0.0.1:9545/", l1_rpc="http://127.0.0.1:8545/")   # l1_rpc optional
    c = RollupClient.from_devnet(".devnet")          # sequencer, executors, L1, challenger of DIR/devnet.json

    c.chain_id(); c.sync_status(); c.block_number("latest" | "safe" | "finalized"); c.chain_time_ms()
    c.increase_time(3600)                            # a devnet's time, every process (from_devnet clients)
    c.balance(addr, block="latest"); c.nonce(addr); c.l1_balance(addr); c.l1_nonce(addr); c.l1_block_number()
    c.block(number_or_tag, full=False); c.transaction(hash); c.receipt(hash); c.transaction_status(hash)
    c.proof(addr, block="latest")                    # verified against the block's state root, else ProofError
    c.transfer(key, to, amount, fee=None, nonce=None, wait="unsafe" | "safe" | "finalized" | None, timeout=120)
    c.deposit(key, amount, to=None, wait=...); c.withdraw(key, amount, to=None, wait=...)
    c.complete_withdrawal(key, withdrawal_id)        # prove and finalize on L1 once an output is finalized
    c.order(key, market, side, size, price=None, type=None, reduce_only=False, wait=...)   # "0.001", "20.5": human
    c.cancel(key, order_id, wait=...); c.cancel_all(key, market, wait=...); c.set_oracle_price(key, market, price)
    c.wait(tx_hash, level="unsafe", timeout=120)     # WaitTimeout; a status-0 receipt raises its code's class
    c.markets(); c.book(market, depth=10); c.positions(addr); c.orders(addr); c.insurance()
    c.outputs(); c.games(); c.game(id); c.withdrawals(); c.withdrawal(id)
    c.call(method, *params); c.l1_call(method, *params)   # anything else, errors typed the same way

    async with AsyncRollupClient.from_devnet(".devnet") as ac:   # the same calls, awaited, plus:
        async for head in ac.subscribe_new_heads(): ...          # rollup_subscribe ["newHeads"] over /ws

Arguments: `key` a node.crypto.PrivateKey or a 0x hex private key; addresses
0x text (EIP-55 checked when mixed case), dev0..dev9, or 20 bytes; amounts
int wei or text with a unit (`"1.5eth"`, `"20gwei"`, node.units); blocks a
number or latest/safe/finalized; markets a symbol (`"BTC-PERP"`) or an id.
Bad arguments raise errors.InputError before any request is sent.

Results are frozen dataclasses (node.client.models: SyncStatus, Block,
Receipt, TxStatus, AccountProof, SentTx, SentDeposit, WaitResult, NewHead;
each keeps the node's JSON in `raw`), L1 records (l1.contracts.reports),
and plain dicts for the venue reads. Sending returns a SentTx (`.hash`,
`.nonce`, `.fee`, `.receipt` once waited for).

Errors (node.client.errors): a JSON-RPC error raises the class of its
code (errors.NonceTooLow is -32012, ...) with `.code`, `.message`, `.data`,
`.method`; transport failures raise errors.TransportError naming the URL.

Design: every call is a sans-IO operation (node.client.api over
node.client.sansio), a generator of JSON-RPC requests; RollupClient
(node.client.sync, urllib) and AsyncRollupClient (node.client.aio, aiohttp)
are two drivers of the same operations.
"""

from __future__ import annotations

from node.client import errors
from node.client.aio import AsyncRollupClient
from node.client.models import (
    AccountProof,
    Block,
    Head,
    NewHead,
    Receipt,
    SentDeposit,
    SentTx,
    SyncStatus,
    TxStatus,
    WaitResult,
)
from node.client.sync import RollupClient

__all__ = [
    "AccountProof",
    "AsyncRollupClient",
    "Block",
    "Head",
    "NewHead",
    "Receipt",
    "RollupClient",
    "SentDeposit",
    "SentTx",
    "SyncStatus",
    "TxStatus",
    "WaitResult",
    "errors",
]
