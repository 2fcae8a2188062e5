"""The L1 chain's accounts and burned fees, in its state (plain keys under `S`, next to the blocks).

| key                  | value                                                          |
|----------------------|----------------------------------------------------------------|
| S a address(20)      | the account record: balance(32) nonce(8) (node.state.schema)   |
| S burned             | fees burned so far                                             |

The records and the ledger that moves value over them are the L2's, written
once (node.state.schema.AccountStore, node.stf.ledger.Ledger): L1_ACCOUNTS
keeps them under `Sa`, L1_LEDGER credits, debits and takes fees and nonces.
Empty accounts and zero amounts are stored as absence. The contracts keep
their own state under other `S` keys (l1.contracts.state).
"""

from __future__ import annotations

from node.encoding import decode_uint, encode_uint
from node.state.schema import AccountStore
from node.state.view import Overlay, StateReader
from node.stf.ledger import Ledger

ACCOUNT_PREFIX = b"Sa"
BURNED_KEY = b"Sburned"

L1_ACCOUNTS = AccountStore(ACCOUNT_PREFIX)
L1_LEDGER = Ledger(L1_ACCOUNTS)
account_key = L1_ACCOUNTS.key
get_account = L1_ACCOUNTS.get
set_account = L1_ACCOUNTS.set


def get_balance(reader: StateReader, address: bytes) -> int:
    return get_account(reader, address).balance


def get_nonce(reader: StateReader, address: bytes) -> int:
    return get_account(reader, address).nonce


def get_amount(reader: StateReader, key: bytes) -> int:
    """An amount kept under `key` (0 when absent)."""
    raw = reader.get(key)
    return 0 if raw is None else decode_uint(raw, key.decode())


def set_amount(overlay: Overlay, key: bytes, amount: int) -> None:
    if amount == 0:
        overlay.delete(key)
    else:
        overlay.set(key, encode_uint(amount))


def get_fees_burned(reader: StateReader) -> int:
    return get_amount(reader, BURNED_KEY)


def set_fees_burned(overlay: Overlay, amount: int) -> None:
    set_amount(overlay, BURNED_KEY, amount)


__all__ = [
    "ACCOUNT_PREFIX",
    "BURNED_KEY",
    "L1_ACCOUNTS",
    "L1_LEDGER",
    "account_key",
    "get_account",
    "get_amount",
    "get_balance",
    "get_fees_burned",
    "get_nonce",
    "set_account",
    "set_amount",
    "set_fees_burned",
]
