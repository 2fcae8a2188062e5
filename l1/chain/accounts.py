"""The L1 chain's accounts and burned fees, in its state (plain keys under `S`, next to the blocks).

| key                  | value                                                    |
|----------------------|----------------------------------------------------------|
| S a address(20)      | msgpack [balance_bytes, nonce] (node.state.schema codec) |
| S burned             | fees burned so far                                       |

Empty accounts and zero amounts are stored as absence. The contracts keep
their own state under other `S` keys (l1.contracts.state).
"""

from __future__ import annotations

from node.crypto import ADDRESS_LEN
from node.encoding import decode_uint, encode_uint
from node.state.schema import EMPTY_ACCOUNT, Account, decode_account, encode_account
from node.state.view import Overlay, StateReader

ACCOUNT_PREFIX = b"Sa"
BURNED_KEY = b"Sburned"


def account_key(address: bytes) -> bytes:
    if len(address) != ADDRESS_LEN:
        raise ValueError(f"address must be {ADDRESS_LEN} bytes, got {len(address)}")
    return ACCOUNT_PREFIX + bytes(address)


def get_account(reader: StateReader, address: bytes) -> Account:
    raw = reader.get(account_key(address))
    return EMPTY_ACCOUNT if raw is None else decode_account(raw)


def set_account(overlay: Overlay, address: bytes, account: Account) -> None:
    key = account_key(address)
    if account.is_empty():
        overlay.delete(key)
    else:
        overlay.set(key, encode_account(account))


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
    "ACCOUNT_PREFIX", "BURNED_KEY", "account_key", "get_account", "get_amount", "get_balance", "get_fees_burned",
    "get_nonce", "set_account", "set_amount", "set_fees_burned",
]
