"""The client's typed exceptions: every JSON-RPC error code has its own class, carrying the code.

    from node.client import errors
    try:
        client.transfer(key, to, 1, nonce=0)
    except errors.NonceTooLow as exc:      # -32012
        print(exc.code, exc.message, exc.method)

Hierarchy:

    ClientError                         everything the client raises
      InputError                        bad input, refused before any request (also a ValueError)
      TransportError                    no usable reply from a URL (refused, timed out, bad HTTP)
      ResponseError                     a reply that does not have the documented shape
      WaitTimeout                       a wait did not reach its level in time (also a TimeoutError)
      ProofError                        a proof that does not verify against its block's state root
      TransactionFailed                 a receipt with status 0 that carries no error code
      WithdrawalFailed                  a withdrawal that cannot be completed on L1
      RpcCallError                      the server answered a JSON-RPC error: .code .message .data .method
        NonceTooLow, InsufficientBalance, ControlDisabled, ...   one class per code of node.error_codes

A code without a class here still raises RpcCallError with its code. The
classes are written out (for IDEs and mypy); tests/client/test_errors.py
keeps them in step with node.error_codes.ERROR_CODES. A wait that finds the
transaction's receipt with status 0 raises the class of the receipt's error
code, with the receipt in `.receipt`.

RpcCallError is also a node.rpc.errors.RpcError and TransportError a
node.rpc.client.RpcTransportError, so code written against the low-level
JSON-RPC clients keeps catching them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from node.devnet.errors import InputError as DevnetInputError
from node.rpc.client import RpcTransportError
from node.rpc.errors import RpcError

if TYPE_CHECKING:
    from node.client.models import Receipt


class ClientError(Exception):
    """Base class of every error the client raises."""


class InputError(ClientError, DevnetInputError):
    """An argument is malformed or out of range; raised before any request is sent."""


class TransportError(ClientError, RpcTransportError):
    """No usable JSON-RPC reply from `url`: connection refused, timeout, HTTP error, malformed body."""

    def __init__(self, url: str, message: str) -> None:
        RpcTransportError.__init__(self, url, message)
        self.reason = message


class ResponseError(ClientError):
    """The server's reply does not have the documented shape (names the method and field)."""


class WaitTimeout(ClientError, TimeoutError):
    """A wait did not reach its confirmation level (or state) within its timeout."""


class ProofError(ClientError):
    """A fetched proof does not verify; `.proof` is the AccountProof with `verified` False and the reason."""

    def __init__(self, message: str, proof: Any = None) -> None:
        super().__init__(message)
        self.proof = proof


class TransactionFailed(ClientError):
    """A transaction was included with receipt status 0 and no error code."""

    def __init__(self, message: str, receipt: Receipt | None = None) -> None:
        super().__init__(message)
        self.receipt = receipt


class WithdrawalFailed(ClientError):
    """A withdrawal cannot be completed on L1 (failed on L2, refused by the L1)."""


class RpcCallError(ClientError, RpcError):
    """The server answered `method` with a JSON-RPC error: `.code`, `.message`, `.data`, `.method`.

    Subclasses fix `ERROR_CODE` (not `CODE`, the server classes' attribute); the plain class carries
    any code (one this module has no class for).
    `.receipt` is set when the error is the code of an included transaction's status-0 receipt.
    """

    ERROR_CODE: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        data: Any = None,
        method: str | None = None,
        code: int | None = None,
        receipt: Receipt | None = None,
    ) -> None:
        actual = code if code is not None else self.ERROR_CODE
        if actual is None:
            raise TypeError("RpcCallError needs a code")
        RpcError.__init__(self, actual, message, data)
        self.method = method
        self.receipt = receipt

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        return f"{where}{self.message} (code {self.code})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.code, self.message, self.data, self.method))


def _rebuild(cls: type[RpcCallError], code: int, message: str, data: Any, method: str | None) -> RpcCallError:
    return cls(message, data, method, code)


class ParseError(RpcCallError):
    """-32700: The body is not valid JSON (or NaN/Infinity, nested too deeply, an unreadable encoding)."""

    ERROR_CODE = -32700


class InvalidRequest(RpcCallError):
    """-32600: Not a JSON-RPC 2.0 request (bad jsonrpc, method, id or params; empty or oversized batch or ...."""

    ERROR_CODE = -32600


class MethodNotFound(RpcCallError):
    """-32601: No such method (or a WebSocket-only method over HTTP)."""

    ERROR_CODE = -32601


class InvalidParams(RpcCallError):
    """-32602: A parameter is missing, extra or malformed."""

    ERROR_CODE = -32602


class InternalError(RpcCallError):
    """-32603: The server failed; details are in its log, never in the answer."""

    ERROR_CODE = -32603


class ResourceNotFound(RpcCallError):
    """-32004: Not found: a block not there yet, state outside the history window, a withdrawal not in state."""

    ERROR_CODE = -32004


class LimitExceeded(RpcCallError):
    """-32005: A limit is exceeded (a range's count, subscriptions per connection)."""

    ERROR_CODE = -32005


class Unavailable(RpcCallError):
    """-32006: Unavailable: no sequencer to forward to (or it is unreachable), a sync send not sealed in time ...."""

    ERROR_CODE = -32006


class ControlRefused(RpcCallError):
    """-32003: Devnet control refused: unknown role, a role that is down, or a foreground devnet."""

    ERROR_CODE = -32003


class ControlDisabled(RpcCallError):
    """-32008: Devnet control is disabled: the process was not started as part of a devnet."""

    ERROR_CODE = -32008


class UnknownSnapshot(RpcCallError):
    """-32009: Unknown snapshot id (never taken, reverted past, or lost to a reset)."""

    ERROR_CODE = -32009


class TransactionDropped(RpcCallError):
    """-32007: The transaction was in a block L1 replaced and is no longer valid on the healed chain."""

    ERROR_CODE = -32007


class StfError(RpcCallError):
    """-32000: Base class of the state transition's errors (never raised itself)."""

    ERROR_CODE = -32000


class InvalidTransaction(RpcCallError):
    """-32001: Base class of invalid transactions (never raised itself)."""

    ERROR_CODE = -32001


class InvalidBlock(RpcCallError):
    """-32002: Base class of invalid blocks (never raised itself)."""

    ERROR_CODE = -32002


class BadSignature(RpcCallError):
    """-32010: The signature does not recover a sender."""

    ERROR_CODE = -32010


class WrongChainId(RpcCallError):
    """-32011: The transaction is for another chain id."""

    ERROR_CODE = -32011


class NonceTooLow(RpcCallError):
    """-32012: The nonce is below the account's."""

    ERROR_CODE = -32012


class NonceTooHigh(RpcCallError):
    """-32013: The nonce is above the account's (in a block)."""

    ERROR_CODE = -32013


class InsufficientBalance(RpcCallError):
    """-32014: The sender cannot pay the amount and the fee."""

    ERROR_CODE = -32014


class FeeTooLow(RpcCallError):
    """-32015: The fee is below the chain's minimum."""

    ERROR_CODE = -32015


class AmountOverflow(RpcCallError):
    """-32016: A balance would exceed 2^256 - 1."""

    ERROR_CODE = -32016


class UnknownKind(RpcCallError):
    """-32017: No transaction kind with that number."""

    ERROR_CODE = -32017


class MalformedTransaction(RpcCallError):
    """-32018: The bytes do not decode as a transaction."""

    ERROR_CODE = -32018


class ZeroAmount(RpcCallError):
    """-32019: A transfer, withdrawal or deposit of zero."""

    ERROR_CODE = -32019


class NonceOverflow(RpcCallError):
    """-32030: The account has used every nonce."""

    ERROR_CODE = -32030


class MempoolFull(RpcCallError):
    """-32020: Mempool full: the newcomer outbids nothing evictable (also the mempool errors' base class)."""

    ERROR_CODE = -32020


class SenderQueueFull(RpcCallError):
    """-32021: The sender's pending or queued cap is reached."""

    ERROR_CODE = -32021


class ReplacementUnderpriced(RpcCallError):
    """-32022: Same sender and nonce as a pooled transaction without the required fee bump."""

    ERROR_CODE = -32022


class AlreadyKnown(RpcCallError):
    """-32023: This exact transaction is pooled (or, on L1, included)."""

    ERROR_CODE = -32023


class NonceGapTooLarge(RpcCallError):
    """-32024: The nonce is too far ahead of the account's."""

    ERROR_CODE = -32024


class TransactionTooLarge(RpcCallError):
    """-32025: The transaction is above the size limit."""

    ERROR_CODE = -32025


class Overdraft(RpcCallError):
    """-32026: Overdraft: each is affordable, but the sender's pooled transactions and this one together cost ...."""

    ERROR_CODE = -32026


class DepositsNotFirst(RpcCallError):
    """-32040: A deposit follows a signed transaction."""

    ERROR_CODE = -32040


class InvalidTransactionInBlock(RpcCallError):
    """-32041: A transaction of the block is invalid (carries its index and cause)."""

    ERROR_CODE = -32041


class TxRootMismatch(RpcCallError):
    """-32042: The header's transactions root does not match its transactions."""

    ERROR_CODE = -32042


class TooManyTransactions(RpcCallError):
    """-32043: More transactions than a block may hold."""

    ERROR_CODE = -32043


class StateRootMismatch(RpcCallError):
    """-32044: Executing the block gives another state root than it claims."""

    ERROR_CODE = -32044


class PlacementError(RpcCallError):
    """-32045: The block breaks the origin, timestamp, window or size rules."""

    ERROR_CODE = -32045


class StateInvariantViolated(RpcCallError):
    """-32050: Stored state breaks an invariant: stop, do not retry."""

    ERROR_CODE = -32050


class NotBatcher(RpcCallError):
    """-32060: Not the batcher (also the kind rules' base class)."""

    ERROR_CODE = -32060


class BondTooLow(RpcCallError):
    """-32061: The bond (or counter-bond) is below the proposer bond."""

    ERROR_CODE = -32061


class ProposalOutOfOrder(RpcCallError):
    """-32062: Retired, no longer produced: a proposal not above every live proposal (L1s before issue 10)."""

    ERROR_CODE = -32062


class BatchTooLarge(RpcCallError):
    """-32063: The batch is above the size limit."""

    ERROR_CODE = -32063


class OutputNotFound(RpcCallError):
    """-32064: No output proposal with that index."""

    ERROR_CODE = -32064


class OutputNotDisputable(RpcCallError):
    """-32065: The output is settled or its window closed (a defence: and no game of it runs)."""

    ERROR_CODE = -32065


class NoAgreedOutput(RpcCallError):
    """-32066: No agreed output to start a game from (no l2_genesis_output_root)."""

    ERROR_CODE = -32066


class DisputesDisabled(RpcCallError):
    """-32067: Disputes are disabled: the L1 has no [l1.rollup] config."""

    ERROR_CODE = -32067


class GameNotFound(RpcCallError):
    """-32068: No dispute game with that id."""

    ERROR_CODE = -32068


class GameAlreadyOver(RpcCallError):
    """-32069: The game is over."""

    ERROR_CODE = -32069


class NotYourTurn(RpcCallError):
    """-32070: The move's side is not the side on turn."""

    ERROR_CODE = -32070


class NotThePlayer(RpcCallError):
    """-32071: Not this game's player for that side."""

    ERROR_CODE = -32071


class ClockExpired(RpcCallError):
    """-32072: The side on turn ran out of time: only resolve_game is left."""

    ERROR_CODE = -32072


class ClockNotExpired(RpcCallError):
    """-32073: Resolve_game while the side on turn still has time."""

    ERROR_CODE = -32073


class IllegalMove(RpcCallError):
    """-32074: The game's rules refuse the move (phase, opening, root shape)."""

    ERROR_CODE = -32074


class StepInputMismatch(RpcCallError):
    """-32075: The step the L1 rebuilds is not the one the game disputes."""

    ERROR_CODE = -32075


class InvalidWitness(RpcCallError):
    """-32076: The witness is malformed, incomplete or does not verify against the pre-root."""

    ERROR_CODE = -32076


class UnprovableStep(RpcCallError):
    """-32077: The proven pre-state cannot be run by the state transition."""

    ERROR_CODE = -32077


class UnderivableOpening(RpcCallError):
    """-32078: The opened header is not the L2 block the L1 derived."""

    ERROR_CODE = -32078


class OutputMismatch(RpcCallError):
    """-32080: State root and block hash do not open the output root."""

    ERROR_CODE = -32080


class InvalidWithdrawalProof(RpcCallError):
    """-32081: The withdrawal record is not proven under the state root."""

    ERROR_CODE = -32081


class WithdrawalAlreadyProven(RpcCallError):
    """-32082: The withdrawal is proven against an output that is not defeated."""

    ERROR_CODE = -32082


class WithdrawalNotProven(RpcCallError):
    """-32083: The withdrawal is not proven."""

    ERROR_CODE = -32083


class OutputNotFinalized(RpcCallError):
    """-32084: The withdrawal's output is pending or disputed."""

    ERROR_CODE = -32084


class WithdrawalAlreadyFinalized(RpcCallError):
    """-32085: The withdrawal is paid already."""

    ERROR_CODE = -32085


class OutputDefeated(RpcCallError):
    """-32086: The output is defeated: prove again against a finalized one."""

    ERROR_CODE = -32086


class PortalInsufficient(RpcCallError):
    """-32087: The portal holds less than the withdrawal."""

    ERROR_CODE = -32087


class NotProposer(RpcCallError):
    """-32088: Not the proposer, before the fallback opens."""

    ERROR_CODE = -32088


class L2BlockNotDerived(RpcCallError):
    """-32089: The output's L2 block is not derived from the inbox yet."""

    ERROR_CODE = -32089


class AlreadyAParty(RpcCallError):
    """-32090: The address already plays in this output's dispute."""

    ERROR_CODE = -32090


class NotDisputed(RpcCallError):
    """-32091: A defence of an output no challenger disputes."""

    ERROR_CODE = -32091


class BalanceOverridesDisabled(RpcCallError):
    """-32092: A balance override on a chain without the genesis rule devnet_overrides (every chain but a devnet's)."""

    ERROR_CODE = -32092


class ForcedDeposit(RpcCallError):
    """-32093: A forced transaction that encodes a deposit."""

    ERROR_CODE = -32093


class VenueError(RpcCallError):
    """-31070: Base class of the venue's errors (never raised itself)."""

    ERROR_CODE = -31070


class UnknownMarket(RpcCallError):
    """-31071: No market with that id."""

    ERROR_CODE = -31071


class InvalidSide(RpcCallError):
    """-31072: Side is not 0 (buy) or 1 (sell)."""

    ERROR_CODE = -31072


class InvalidOrderType(RpcCallError):
    """-31073: Order type is not 0 (GTC), 1 (IOC) or 2 (post-only)."""

    ERROR_CODE = -31073


class InvalidSize(RpcCallError):
    """-31074: Size is 0 or above the limit."""

    ERROR_CODE = -31074


class InvalidPrice(RpcCallError):
    """-31075: Price is 0, above the limit or off the tick."""

    ERROR_CODE = -31075


class InvalidFlag(RpcCallError):
    """-31076: Reduce_only is not 0 or 1."""

    ERROR_CODE = -31076


class ReduceOnlyRejected(RpcCallError):
    """-31077: Reduce-only with a resting type, or with nothing to reduce."""

    ERROR_CODE = -31077


class PostOnlyWouldCross(RpcCallError):
    """-31078: A post-only order would take liquidity."""

    ERROR_CODE = -31078


class InsufficientMargin(RpcCallError):
    """-31079: The order leaves the account below its margin requirement."""

    ERROR_CODE = -31079


class UnknownOrder(RpcCallError):
    """-31080: No resting order with that id."""

    ERROR_CODE = -31080


class NotOrderOwner(RpcCallError):
    """-31081: The order belongs to another account."""

    ERROR_CODE = -31081


class TooManyOpenOrders(RpcCallError):
    """-31082: The account's resting-order limit is reached."""

    ERROR_CODE = -31082


class TooManyMarkets(RpcCallError):
    """-31083: The account's market limit is reached."""

    ERROR_CODE = -31083


class NotOracle(RpcCallError):
    """-31084: An oracle update not signed by the oracle key."""

    ERROR_CODE = -31084


class StaleOraclePrice(RpcCallError):
    """-31085: The oracle timestamp is not newer than the stored one."""

    ERROR_CODE = -31085


class OracleTimestampInFuture(RpcCallError):
    """-31086: The oracle timestamp is too far ahead of the block's."""

    ERROR_CODE = -31086


class OraclePriceOutOfBand(RpcCallError):
    """-31087: The oracle price moves more than the market's band."""

    ERROR_CODE = -31087


class OraclePriceNotSet(RpcCallError):
    """-31088: The market has no oracle price yet: no trading."""

    ERROR_CODE = -31088


class WithdrawalBreaksMargin(RpcCallError):
    """-31089: A transfer or withdrawal would break initial margin or the liquidation reserve."""

    ERROR_CODE = -31089


class VenueNotConfigured(RpcCallError):
    """-31090: The chain has no venue (genesis without markets)."""

    ERROR_CODE = -31090


def _subclasses(cls: type[RpcCallError]) -> list[type[RpcCallError]]:
    found: list[type[RpcCallError]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


CLASSES: dict[int, type[RpcCallError]] = {
    cls.ERROR_CODE: cls
    for cls in _subclasses(RpcCallError)
    if cls.__module__ == __name__ and cls.ERROR_CODE is not None
}
"""Code -> the class raised for it (every class of this module)."""


def class_for(code: int) -> type[RpcCallError]:
    """The class of `code`, or RpcCallError for a code this module does not know."""
    return CLASSES.get(code, RpcCallError)


def from_code(code: int, message: str, data: Any = None, method: str | None = None) -> RpcCallError:
    """The typed exception for a JSON-RPC error with `code`."""
    return class_for(code)(message, data, method, code)


def from_rpc_error(exc: RpcError, method: str | None) -> RpcCallError:
    """A low-level RpcError (node.rpc.client) as this module's typed exception, naming the method."""
    if isinstance(exc, RpcCallError):
        return exc
    return from_code(exc.code, exc.message, exc.data, method)


def from_transport_error(exc: RpcTransportError) -> TransportError:
    if isinstance(exc, TransportError):
        return exc
    prefix = f"{exc.url}: "
    text = str(exc)
    return TransportError(exc.url, text[len(prefix) :] if text.startswith(prefix) else text)
