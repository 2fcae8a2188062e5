"""Typed errors of the state transition, each with a JSON-RPC error code.

    StfError                      -32000
    ├── InvalidTransaction        -32001  the transaction cannot be applied; state is untouched
    │   ├── BadSignature          -32010
    │   ├── WrongChainId          -32011
    │   ├── NonceTooLow           -32012
    │   ├── NonceTooHigh          -32013
    │   ├── InsufficientBalance   -32014
    │   ├── FeeTooLow             -32015
    │   ├── AmountOverflow        -32016
    │   ├── UnknownKind           -32017
    │   │   └── BalanceOverridesDisabled (-32017) a balance override on a chain whose genesis does not enable them
    │   ├── MalformedTransaction  -32018
    │   ├── ZeroAmount            -32019
    │   └── NonceOverflow         -32030
    ├── InvalidBlock              -32002  the block cannot be applied as a whole
    │   ├── DepositsNotFirst      -32040
    │   ├── InvalidTransactionInBlock -32041 (carries the index and the cause)
    │   ├── TxRootMismatch        -32042
    │   └── TooManyTransactions   -32043
    └── StateInvariantViolated    -32050  stored state breaks an invariant: stop, do not retry

-32020..-32029 are left free for the sequencer's mempool errors.

Every error pickles (a recovery worker process may raise one), and its
message names the offending values.
"""

from __future__ import annotations

from typing import Any, ClassVar

from node.crypto import to_checksum_address


def _show(address: bytes) -> str:
    return to_checksum_address(address) if len(address) == 20 else "0x" + address.hex()


def _restore(cls: type[StfError], args: tuple[Any, ...], state: dict[str, Any]) -> StfError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class StfError(Exception):
    rpc_code: ClassVar[int] = -32000

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))


# -- transactions --


class InvalidTransaction(StfError):
    rpc_code = -32001


class BadSignature(InvalidTransaction):
    rpc_code = -32010

    def __init__(self, reason: str) -> None:
        super().__init__(f"bad signature: {reason}")


class WrongChainId(InvalidTransaction):
    rpc_code = -32011

    def __init__(self, expected: int, got: int) -> None:
        self.expected, self.got = expected, got
        super().__init__(f"wrong chain id: chain is {expected}, transaction has {got}")


class NonceTooLow(InvalidTransaction):
    rpc_code = -32012

    def __init__(self, account: bytes, account_nonce: int, tx_nonce: int) -> None:
        self.account, self.account_nonce, self.tx_nonce = account, account_nonce, tx_nonce
        super().__init__(
            f"nonce too low: account {_show(account)} has nonce {account_nonce}, transaction has {tx_nonce}"
        )


class NonceTooHigh(InvalidTransaction):
    rpc_code = -32013

    def __init__(self, account: bytes, account_nonce: int, tx_nonce: int) -> None:
        self.account, self.account_nonce, self.tx_nonce = account, account_nonce, tx_nonce
        super().__init__(
            f"nonce too high: account {_show(account)} has nonce {account_nonce}, transaction has {tx_nonce}"
        )


class InsufficientBalance(InvalidTransaction):
    rpc_code = -32014

    def __init__(self, account: bytes, balance: int, required: int) -> None:
        self.account, self.balance, self.required = account, balance, required
        super().__init__(f"insufficient balance: account {_show(account)} has {balance}, needs {required}")


class FeeTooLow(InvalidTransaction):
    rpc_code = -32015

    def __init__(self, min_fee: int, fee: int) -> None:
        self.min_fee, self.fee = min_fee, fee
        super().__init__(f"fee too low: minimum is {min_fee}, transaction pays {fee}")


class AmountOverflow(InvalidTransaction):
    rpc_code = -32016

    def __init__(self, what: str, current: int, amount: int) -> None:
        self.what, self.current, self.amount = what, current, amount
        super().__init__(f"amount overflow: {what} holds {current}, adding {amount} exceeds 2^256 - 1")


class UnknownKind(InvalidTransaction):
    rpc_code = -32017

    def __init__(self, reason: str) -> None:
        super().__init__(f"unknown transaction kind: {reason}")


class BalanceOverridesDisabled(UnknownKind):
    """A balance override (node.tx.BalanceOverrideTx) on a chain whose genesis does not enable them
    (node.stf.chain_rules): there it is no transaction kind at all, so it carries UnknownKind's code."""

    def __init__(self) -> None:
        super().__init__(
            "balance overrides are a devnet-only kind, and this chain's genesis does not enable them "
            "(chain rule devnet_overrides is off)"
        )


class MalformedTransaction(InvalidTransaction):
    rpc_code = -32018

    def __init__(self, reason: str) -> None:
        super().__init__(f"malformed transaction: {reason}")


class ZeroAmount(InvalidTransaction):
    rpc_code = -32019

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"zero amount: a {kind} must move a positive amount")


class NonceOverflow(InvalidTransaction):
    rpc_code = -32030

    def __init__(self, account: bytes, account_nonce: int) -> None:
        self.account, self.account_nonce = account, account_nonce
        super().__init__(f"nonce overflow: account {_show(account)} has used every nonce up to {account_nonce}")


# -- blocks --


class InvalidBlock(StfError):
    rpc_code = -32002


class DepositsNotFirst(InvalidBlock):
    rpc_code = -32040

    def __init__(self, index: int) -> None:
        self.index = index
        super().__init__(f"deposits must come before signed transactions: deposit at index {index} follows one")


class InvalidTransactionInBlock(InvalidBlock):
    rpc_code = -32041

    def __init__(self, index: int, cause: InvalidTransaction) -> None:
        self.index, self.cause = index, cause
        super().__init__(f"transaction {index} is invalid: {cause}")


class TxRootMismatch(InvalidBlock):
    rpc_code = -32042

    def __init__(self, header_root: bytes, computed_root: bytes) -> None:
        self.header_root, self.computed_root = header_root, computed_root
        super().__init__(
            f"transactions root mismatch: header has 0x{header_root.hex()}, transactions give 0x{computed_root.hex()}"
        )


class TooManyTransactions(InvalidBlock):
    rpc_code = -32043

    def __init__(self, count: int, limit: int) -> None:
        self.count, self.limit = count, limit
        super().__init__(f"too many transactions: block has {count}, limit is {limit}")


# -- state --


class StateInvariantViolated(StfError):
    rpc_code = -32050

    def __init__(self, reason: str) -> None:
        super().__init__(f"state invariant violated: {reason}")
