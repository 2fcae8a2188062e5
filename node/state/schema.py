"""Application key layout and value codecs: what every key under the state root means.

Every key starts with a one-byte namespace. Values are canonical encodings
(see `node.encoding`): decoders reject any bytes that do not re-encode to
themselves, so one state has exactly one root.

Accounts, read and written several times by every transaction, use a fixed
40-byte layout instead of msgpack: decoding is two int.from_bytes calls
(~0.3 us against ~3 us for a canonical msgpack round trip), and a fixed
length is canonical by construction. The price is ~28 bytes more per leaf.

| prefix | key                          | value                                                     |
|--------|------------------------------|-----------------------------------------------------------|
| 0x01   | 0x01 || address(20)          | balance (32 bytes big-endian) || nonce (8 bytes big-endian) |
| 0x02   | 0x02 || withdrawal_id(32)    | msgpack [l2_sender(20), l1_recipient(20), amount_bytes, l2_block_number] |
| 0x03   | 0x03                         | total L2 supply: minimal big-endian amount bytes          |
| 0x04   | 0x04                         | only between two end-of-block chunks of one block: msgpack int, the hook in progress (node.stf.end_of_block) |
| 0x05   | 0x05 || rule name            | chain rules fixed at genesis, e.g. devnet_overrides = 0x01 (node.stf.chain_rules) |
| 0x06-0x0f | reserved for the rollup core                                                            |
| 0x10+  | the perpetuals venue (markets, orders, positions, oracle, insurance fund, ...)           |

Amounts in msgpack values (`amount_bytes`, the supply) are minimal big-endian
byte strings of integers in [0, 2^256): zero is the empty string, no leading
zero byte. A withdrawal's id is the hash of the withdrawal transaction, which
is unique because the sender's nonce is part of it; the L1 proves the record
with an inclusion proof of this key and value.

Zero values are not stored: an account with balance 0 and nonce 0 and a
supply of 0 are deletions, so a key is present exactly when it holds
something (and empty accounts do not bloat state).
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import ADDRESS_LEN, Address, Hash32
from node.encoding import (
    UINT64_MAX,
    UINT256_MAX,
    DecodeError,
    decode_uint,
    encode_uint,
    expect_bytes,
    expect_int,
    expect_list,
    pack,
    unpack,
)
from node.state.view import Overlay, StateReader

NS_ACCOUNT = 0x01
NS_WITHDRAWAL = 0x02
NS_SUPPLY = 0x03
NS_VENUE_FIRST = 0x10

ACCOUNT_PREFIX = bytes([NS_ACCOUNT])
WITHDRAWAL_PREFIX = bytes([NS_WITHDRAWAL])
SUPPLY_KEY = bytes([NS_SUPPLY])

WITHDRAWAL_ID_LEN = 32
ACCOUNT_BYTES = 40
MAX_WITHDRAWAL_BYTES = 128


@dataclass(frozen=True, slots=True)
class Account:
    balance: int
    nonce: int

    def is_empty(self) -> bool:
        return self.balance == 0 and self.nonce == 0


EMPTY_ACCOUNT = Account(balance=0, nonce=0)


@dataclass(frozen=True, slots=True)
class WithdrawalRecord:
    """A burn on L2, payable once on L1 after the output root covering it is final."""

    l2_sender: Address
    l1_recipient: Address
    amount: int
    l2_block_number: int


# -- keys --


def withdrawal_key(withdrawal_id: bytes) -> bytes:
    if len(withdrawal_id) != WITHDRAWAL_ID_LEN:
        raise ValueError(f"withdrawal id must be {WITHDRAWAL_ID_LEN} bytes, got {len(withdrawal_id)}")
    return WITHDRAWAL_PREFIX + withdrawal_id


# -- codecs --


def encode_account(account: Account) -> bytes:
    """Canonical bytes of a non-empty account (the empty account is stored as absence)."""
    if account.is_empty():
        raise ValueError("the empty account is not stored; delete its key instead")
    if not 0 <= account.nonce <= UINT64_MAX:
        raise ValueError(f"nonce {account.nonce} is outside [0, 2^64)")
    if not 0 <= account.balance <= UINT256_MAX:
        raise ValueError(f"balance {account.balance} is outside [0, 2^256)")
    return account.balance.to_bytes(32, "big") + account.nonce.to_bytes(8, "big")


def decode_account(raw: bytes) -> Account:
    if not isinstance(raw, bytes) or len(raw) != ACCOUNT_BYTES:
        raise DecodeError(f"an account value must be {ACCOUNT_BYTES} bytes")
    account = Account(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    if account.is_empty():
        raise DecodeError("an empty account is stored as absence, not as a value")
    return account


def encode_withdrawal(record: WithdrawalRecord) -> bytes:
    return pack(
        [
            _checked_address(record.l2_sender, "l2_sender"),
            _checked_address(record.l1_recipient, "l1_recipient"),
            encode_uint(record.amount),
            _checked_uint64(record.l2_block_number, "l2_block_number"),
        ]
    )


def decode_withdrawal(raw: bytes) -> WithdrawalRecord:
    fields = expect_list(unpack(raw, MAX_WITHDRAWAL_BYTES), 4, "withdrawal record")
    return WithdrawalRecord(
        l2_sender=Address(expect_bytes(fields[0], "l2_sender", ADDRESS_LEN)),
        l1_recipient=Address(expect_bytes(fields[1], "l1_recipient", ADDRESS_LEN)),
        amount=decode_uint(fields[2], "amount"),
        l2_block_number=expect_int(fields[3], "l2_block_number"),
    )


def encode_supply(supply: int) -> bytes:
    """Minimal big-endian bytes; a zero supply is not stored (see `set_supply`)."""
    return encode_uint(supply)


def decode_supply(raw: bytes) -> int:
    if not isinstance(raw, bytes) or not raw:
        raise DecodeError("stored supply must be non-empty bytes (zero is stored as absence)")
    return decode_uint(raw, "supply")


def _checked_address(value: bytes, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != ADDRESS_LEN:
        raise ValueError(f"{what} must be {ADDRESS_LEN} bytes")
    return value


def _checked_uint64(value: int, what: str) -> int:
    if not 0 <= value <= UINT64_MAX:
        raise ValueError(f"{what} {value} is outside [0, 2^64)")
    return value


# -- reads and writes --


@dataclass(frozen=True, slots=True)
class AccountStore:
    """Account records under one key prefix: prefix || address(20) -> the 40-byte value, absent when empty.

    The L2's are under 0x01 (ACCOUNTS; `get_account` and friends below are
    its methods); the L1 chain keeps the same records under its own prefix
    (l1.chain.accounts). Moving value and nonces is node.stf.ledger's.
    """

    prefix: bytes

    def key(self, address: bytes) -> bytes:
        if len(address) != ADDRESS_LEN:
            raise ValueError(f"address must be {ADDRESS_LEN} bytes, got {len(address)}")
        return self.prefix + address

    def is_key(self, key: bytes) -> bool:
        return len(key) == len(self.prefix) + ADDRESS_LEN and key.startswith(self.prefix)

    def address_of(self, key: bytes) -> Address:
        if not self.is_key(key):
            raise ValueError("not an account key")
        return Address(key[len(self.prefix) :])

    def get(self, reader: StateReader, address: bytes) -> Account:
        """The account at `address`; a missing key is the empty account.

        Through an Overlay, each value's bytes are decoded once per block (Overlay.decoded_accounts).
        """
        raw = reader.get(self.key(address))
        if raw is None:
            return EMPTY_ACCOUNT
        if not isinstance(reader, Overlay):
            return decode_account(raw)
        decoded = reader.decoded_accounts
        account: Account | None = decoded.get(raw)
        if account is None:
            account = decoded[raw] = decode_account(raw)
        return account

    def set(self, overlay: Overlay, address: bytes, account: Account) -> None:
        """Store `account`; the empty account (balance 0, nonce 0) is a deletion."""
        key = self.key(address)
        if account.is_empty():
            overlay.delete(key)
        else:
            raw = encode_account(account)
            overlay.set(key, raw)
            overlay.decoded_accounts[raw] = account


ACCOUNTS = AccountStore(ACCOUNT_PREFIX)
account_key = ACCOUNTS.key
is_account_key = ACCOUNTS.is_key
address_of_account_key = ACCOUNTS.address_of
get_account = ACCOUNTS.get
set_account = ACCOUNTS.set


def get_supply(reader: StateReader) -> int:
    raw = reader.get(SUPPLY_KEY)
    return 0 if raw is None else decode_supply(raw)


def set_supply(overlay: Overlay, supply: int) -> None:
    if supply == 0:
        overlay.delete(SUPPLY_KEY)
    else:
        overlay.set(SUPPLY_KEY, encode_supply(supply))


def get_withdrawal(reader: StateReader, withdrawal_id: bytes) -> WithdrawalRecord | None:
    raw = reader.get(withdrawal_key(withdrawal_id))
    return None if raw is None else decode_withdrawal(raw)


def set_withdrawal(overlay: Overlay, withdrawal_id: Hash32 | bytes, record: WithdrawalRecord) -> None:
    overlay.set(withdrawal_key(withdrawal_id), encode_withdrawal(record))
