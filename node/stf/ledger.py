"""The account ledger both chains run: credit, debit, the fee-and-nonce step, and the checks of a signed transaction.

A `Ledger` moves value over one chain's account records (an AccountStore,
node.state.schema): the L2's (L2_LEDGER, whose methods are this module's
`process_credit` / `process_debit`) and the L1 chain's (l1.chain.accounts).
Amounts are checked both ways: a credit never takes a balance past 2^256 - 1
(AmountOverflow), a debit never below zero (InsufficientBalance). Zero
amounts write nothing.

The checks every signed transaction passes, on either chain, before its
kind's rule runs (`validate_*`, read-only, raising node.stf.errors types):
chain id, fee >= min_fee, nonce == account nonce (and not the last one),
balance >= what it may spend.

The L2 also keeps a supply key (`process_mint` / `process_burn`); its
invariant, kept by every caller: the sum of all balances equals the supply.
Minting (deposits) and burning (withdrawals) change both; everything else
moves value between accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from node.crypto import to_checksum_address
from node.encoding import UINT64_MAX, UINT256_MAX
from node.state.schema import ACCOUNTS, Account, AccountStore, get_supply, set_supply
from node.state.view import Overlay, StateReader
from node.stf.errors import (
    AmountOverflow,
    FeeTooLow,
    InsufficientBalance,
    NonceOverflow,
    NonceTooHigh,
    NonceTooLow,
    StateInvariantViolated,
    WrongChainId,
)


class ChainRules(Protocol):
    """What the checks read from a chain's configuration (node.stf.config.ChainConfig, l1.chain.runtime.ChainParams)."""

    @property
    def chain_id(self) -> int: ...

    @property
    def min_fee(self) -> int: ...


class Signed(Protocol):
    """What the checks read from a signed transaction (node.envelope.SignedEnvelope)."""

    @property
    def chain_id(self) -> int: ...

    @property
    def nonce(self) -> int: ...

    @property
    def fee(self) -> int: ...

    @property
    def value(self) -> int: ...


def compute_envelope_cost(tx: Signed) -> int:
    """What the sender must hold for `tx` at least: its fee and its value (the L1's whole cost; on L2 the
    value is 0 and the kind adds its own, node.stf.handlers)."""
    return tx.fee + tx.value


# -- checks (read-only) --


def validate_chain_id(rules: ChainRules, tx: Signed) -> None:
    if tx.chain_id != rules.chain_id:
        raise WrongChainId(rules.chain_id, tx.chain_id)


def validate_fee(rules: ChainRules, tx: Signed) -> None:
    if tx.fee < rules.min_fee:
        raise FeeTooLow(rules.min_fee, tx.fee)


def validate_nonce(sender: bytes, account: Account, tx: Signed) -> None:
    if tx.nonce < account.nonce:
        raise NonceTooLow(sender, account.nonce, tx.nonce)
    if tx.nonce > account.nonce:
        raise NonceTooHigh(sender, account.nonce, tx.nonce)
    if account.nonce == UINT64_MAX:
        raise NonceOverflow(sender, account.nonce)


def validate_balance(address: bytes, account: Account, required: int) -> None:
    if account.balance < required:
        raise InsufficientBalance(address, account.balance, required)


# -- moving value --


@dataclass(frozen=True, slots=True)
class Ledger:
    """Value and nonces over one chain's account records."""

    accounts: AccountStore

    def process_credit(self, overlay: Overlay, address: bytes, amount: int) -> None:
        if amount == 0:
            return
        account = self.accounts.get(overlay, address)
        balance = account.balance + amount
        if balance > UINT256_MAX:
            raise AmountOverflow(f"account {to_checksum_address(address)}", account.balance, amount)
        self.accounts.set(overlay, address, Account(balance, account.nonce))

    def process_debit(self, overlay: Overlay, address: bytes, amount: int) -> None:
        if amount == 0:
            return
        account = self.accounts.get(overlay, address)
        validate_balance(address, account, amount)
        self.accounts.set(overlay, address, Account(account.balance - amount, account.nonce))

    def process_fee_and_nonce(self, overlay: Overlay, sender: bytes, fee: int) -> None:
        """Debit the fee and bump the nonce in one account write; where the fee goes is the chain's business."""
        self.process_fee_and_nonce_of(overlay, sender, self.accounts.get(overlay, sender), fee)

    def process_fee_and_nonce_of(self, overlay: Overlay, sender: bytes, account: Account, fee: int) -> None:
        """`process_fee_and_nonce` given the sender's current `account` (already read by the caller's checks)."""
        validate_balance(sender, account, fee)
        self.accounts.set(overlay, sender, Account(account.balance - fee, account.nonce + 1))


L2_LEDGER = Ledger(ACCOUNTS)
process_credit = L2_LEDGER.process_credit
process_debit = L2_LEDGER.process_debit


# -- the L2's supply --


def validate_mint_fits(reader: StateReader, amount: int) -> None:
    supply = get_supply(reader)
    if supply + amount > UINT256_MAX:
        raise AmountOverflow("the total supply", supply, amount)


def process_mint(overlay: Overlay, amount: int) -> None:
    if amount == 0:
        return
    validate_mint_fits(overlay, amount)
    set_supply(overlay, get_supply(overlay) + amount)


def process_burn(overlay: Overlay, amount: int) -> None:
    if amount == 0:
        return
    supply = get_supply(overlay)
    if supply < amount:
        raise StateInvariantViolated(f"burning {amount} from a total supply of {supply}")
    set_supply(overlay, supply - amount)


__all__ = [
    "ChainRules",
    "L2_LEDGER",
    "Ledger",
    "Signed",
    "compute_envelope_cost",
    "process_burn",
    "process_credit",
    "process_debit",
    "process_mint",
    "validate_balance",
    "validate_chain_id",
    "validate_fee",
    "validate_mint_fits",
    "validate_nonce",
]
