"""Every JSON-RPC error code of every process, in one table: its number, class(es), meaning and where it shows.

    from node.error_codes import ERROR_CODES, lookup
    lookup(-32014).meaning        # "the sender cannot pay the amount and the fee"
    python -m node.error_codes    # the rows of docs/protocol.md section 6

A code means one thing whichever process answers it. The numbers live on
the typed exception classes (`rpc_code` on domain errors, `CODE` on
`node.rpc.errors` classes); this table reads them from the classes and adds
each code's meaning and where a client meets it. A code carried by two
classes (a base class and its first subclass) has one entry naming both.
tests/rpc/test_error_codes.py checks that every error class of node/, l1/,
sequencer/ and prover/ is listed under its code and that docs/protocol.md
section 6 lists every code.

Blocks: -32768..-32000 JSON-RPC's own (-32700, -32600..-32603) and the
server-defined -32000..-32099 (rpc, state transition, mempool, block, L1
rules); the venue's application codes -31070..-31099 lie outside the
reserved range (until issue 11 they were -32070..-32090, the numbers of L1
dispute receipts).

This module imports the role packages' error modules (sequencer, l1); no
module imports it, so it adds no cycle.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from l1.chain import errors as l1_chain
from l1.contracts import errors as l1_rules
from node import chain, mempool_errors, shape
from node.rpc import errors as rpc
from node.stf import errors as stf
from node.venue import errors as venue
from sequencer import dropped


class Surface(enum.Enum):
    """Where a client meets a code: one group of docs/protocol.md section 6 each, in this order."""

    RPC = "JSON-RPC errors of every process"
    SEQUENCER = "JSON-RPC errors of the sequencer (executors forward them)"
    SUBMISSION = (
        "Transaction rejections: refused at submission (L2 and L1), or the code of an L2 status-0 receipt "
        "(a transaction invalid at its point in a block is skipped)"
    )
    MEMPOOL = "Mempool refusals at submission: the sequencer's (-32020..-32025 also the L1's); never in a receipt"
    BLOCK = "Block rejections (gossip, derivation, replay, one-step proofs): in logs and health, not a client's answer"
    L1_RECEIPT = "L1 kind rules: the code of an L1 status-0 receipt (included, nonce and fee spent, no effect)"
    VENUE = "The venue's transaction rejections (L2): refused at submission, or the code of an L2 status-0 receipt"


class ErrorTableError(Exception):
    """The table is inconsistent: a code twice, or an entry whose classes carry different codes."""


def compute_class_code(cls: type[BaseException]) -> int | None:
    """The JSON-RPC code a class carries (`rpc_code`, or `CODE` on node.rpc.errors classes), or None."""
    for attribute in ("rpc_code", "CODE"):
        code = getattr(cls, attribute, None)
        if isinstance(code, int) and not isinstance(code, bool):
            return code
    return None


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: int
    name: str
    meaning: str
    surface: Surface
    classes: tuple[type[BaseException], ...]

    def describe_classes(self) -> str:
        """`Name`, `Other` (module, module): the classes that carry the code, or `-` for none."""
        if not self.classes:
            return "-"
        names = dict.fromkeys(f"`{cls.__qualname__}`" for cls in self.classes)
        modules = dict.fromkeys(cls.__module__ for cls in self.classes)
        return f"{', '.join(names)} ({', '.join(modules)})"


def _entry(surface: Surface, meaning: str, *classes: type[BaseException]) -> ErrorCode:
    codes = {compute_class_code(cls) for cls in classes}
    code = next(iter(codes)) if len(codes) == 1 else None
    if code is None:
        names = ", ".join(cls.__qualname__ for cls in classes)
        raise ErrorTableError(f"the classes of one entry must carry one code: {names} carry {codes}")
    return ErrorCode(code, classes[-1].__qualname__, meaning, surface, classes)


def _codeless(code: int, name: str, meaning: str, surface: Surface) -> ErrorCode:
    """A code no class carries (a retired one)."""
    return ErrorCode(code, name, meaning, surface, ())


_S = Surface
ENTRIES: tuple[ErrorCode, ...] = (
    # -- JSON-RPC 2.0 (node.rpc.errors) --
    _entry(
        _S.RPC,
        "the body is not valid JSON (or NaN/Infinity, nested too deeply, an unreadable encoding)",
        rpc.ParseError,
    ),
    _entry(
        _S.RPC,
        "not a JSON-RPC 2.0 request (bad jsonrpc, method, id or params; empty or oversized batch or body)",
        rpc.InvalidRequest,
    ),
    _entry(_S.RPC, "no such method (or a WebSocket-only method over HTTP)", rpc.MethodNotFound),
    _entry(_S.RPC, "a parameter is missing, extra or malformed", rpc.InvalidParams),
    _entry(_S.RPC, "the server failed; details are in its log, never in the answer", rpc.InternalError),
    # -- server-defined (node.rpc.errors, sequencer.dropped) --
    _entry(
        _S.RPC,
        "not found: a block not there yet, state outside the history window, a withdrawal not in state",
        rpc.ResourceNotFound,
    ),
    _entry(_S.RPC, "a limit is exceeded (a range's count, subscriptions per connection)", rpc.LimitExceeded),
    _entry(
        _S.RPC,
        "unavailable: no sequencer to forward to (or it is unreachable), a sync send not sealed in time or dropped",
        rpc.Unavailable,
    ),
    _entry(
        _S.RPC,
        "devnet control refused: unknown role, a role that is down, or a foreground devnet",
        rpc.ControlRefused,
    ),
    _entry(
        _S.RPC,
        "devnet control is disabled: the process was not started as part of a devnet",
        rpc.ControlDisabled,
    ),
    _entry(_S.RPC, "unknown snapshot id (never taken, reverted past, or lost to a reset)", rpc.UnknownSnapshot),
    _entry(
        _S.SEQUENCER,
        "the transaction was in a block L1 replaced and is no longer valid on the healed chain",
        dropped.TransactionDropped,
    ),
    # -- the state transition (node.stf.errors): classes --
    _entry(_S.BLOCK, "base class of the state transition's errors (never raised itself)", stf.StfError),
    _entry(_S.SUBMISSION, "base class of invalid transactions (never raised itself)", stf.InvalidTransaction),
    _entry(_S.BLOCK, "base class of invalid blocks (never raised itself)", stf.InvalidBlock),
    # -- transaction rejections (node.stf.errors) --
    _entry(_S.SUBMISSION, "the signature does not recover a sender", stf.BadSignature),
    _entry(_S.SUBMISSION, "the transaction is for another chain id", stf.WrongChainId),
    _entry(_S.SUBMISSION, "the nonce is below the account's", stf.NonceTooLow),
    _entry(_S.SUBMISSION, "the nonce is above the account's (in a block)", stf.NonceTooHigh),
    _entry(_S.SUBMISSION, "the sender cannot pay the amount and the fee", stf.InsufficientBalance),
    _entry(_S.SUBMISSION, "the fee is below the chain's minimum", stf.FeeTooLow),
    _entry(_S.SUBMISSION, "a balance would exceed 2^256 - 1", stf.AmountOverflow),
    _entry(_S.SUBMISSION, "no transaction kind with that number", stf.UnknownKind),
    _entry(_S.SUBMISSION, "the bytes do not decode as a transaction", stf.MalformedTransaction),
    _entry(_S.SUBMISSION, "a transfer, withdrawal or deposit of zero", stf.ZeroAmount),
    _entry(_S.SUBMISSION, "the account has used every nonce", stf.NonceOverflow),
    # -- mempool refusals (node.mempool_errors: the sequencer's and the L1's) --
    _entry(
        _S.MEMPOOL,
        "mempool full: the newcomer outbids nothing evictable (also the mempool errors' base class)",
        mempool_errors.MempoolError,
        mempool_errors.MempoolFull,
    ),
    _entry(_S.MEMPOOL, "the sender's pending or queued cap is reached", mempool_errors.SenderQueueFull),
    _entry(
        _S.MEMPOOL,
        "same sender and nonce as a pooled transaction without the required fee bump",
        mempool_errors.ReplacementUnderpriced,
    ),
    _entry(_S.MEMPOOL, "this exact transaction is pooled (or, on L1, included)", mempool_errors.AlreadyKnown),
    _entry(_S.MEMPOOL, "the nonce is too far ahead of the account's", mempool_errors.NonceGapTooLarge),
    _entry(_S.MEMPOOL, "the transaction is above the size limit", mempool_errors.TransactionTooLarge),
    _entry(
        _S.MEMPOOL,
        "overdraft: each is affordable, but the sender's pooled transactions and this one together "
        "cost more than its balance (one that alone costs more gets -32014)",
        mempool_errors.Overdraft,
    ),
    # -- block rejections (node.stf.errors, node.chain, node.shape) --
    _entry(_S.BLOCK, "a deposit follows a signed transaction", stf.DepositsNotFirst),
    _entry(
        _S.BLOCK, "a transaction of the block is invalid (carries its index and cause)", stf.InvalidTransactionInBlock
    ),
    _entry(_S.BLOCK, "the header's transactions root does not match its transactions", stf.TxRootMismatch),
    _entry(_S.BLOCK, "more transactions than a block may hold", stf.TooManyTransactions),
    _entry(_S.BLOCK, "executing the block gives another state root than it claims", chain.StateRootMismatch),
    _entry(_S.BLOCK, "the block breaks the origin, timestamp, window or size rules", shape.PlacementError),
    _entry(_S.BLOCK, "stored state breaks an invariant: stop, do not retry", stf.StateInvariantViolated),
    # -- L1 kind rules (l1.contracts.errors) --
    _entry(
        _S.L1_RECEIPT, "not the batcher (also the kind rules' base class)", l1_chain.KindRuleError, l1_rules.NotBatcher
    ),
    _entry(_S.L1_RECEIPT, "the bond (or counter-bond) is below the proposer bond", l1_rules.BondTooLow),
    _codeless(
        -32062,
        "ProposalOutOfOrder",
        "retired, no longer produced: a proposal not above every live proposal (L1s before issue 10)",
        _S.L1_RECEIPT,
    ),
    _entry(_S.L1_RECEIPT, "the batch is above the size limit", l1_rules.BatchTooLarge),
    _entry(_S.L1_RECEIPT, "no output proposal with that index", l1_rules.OutputNotFound),
    _entry(
        _S.L1_RECEIPT,
        "the output is settled or its window closed (a defence: and no game of it runs)",
        l1_rules.OutputNotDisputable,
    ),
    _entry(_S.L1_RECEIPT, "no agreed output to start a game from (no l2_genesis_output_root)", l1_rules.NoAgreedOutput),
    _entry(_S.L1_RECEIPT, "disputes are disabled: the L1 has no [l1.rollup] config", l1_rules.DisputesDisabled),
    _entry(_S.L1_RECEIPT, "no dispute game with that id", l1_rules.GameNotFound),
    _entry(_S.L1_RECEIPT, "the game is over", l1_rules.GameAlreadyOver),
    _entry(_S.L1_RECEIPT, "the move's side is not the side on turn", l1_rules.NotYourTurn),
    _entry(_S.L1_RECEIPT, "not this game's player for that side", l1_rules.NotThePlayer),
    _entry(_S.L1_RECEIPT, "the side on turn ran out of time: only resolve_game is left", l1_rules.ClockExpired),
    _entry(_S.L1_RECEIPT, "resolve_game while the side on turn still has time", l1_rules.ClockNotExpired),
    _entry(_S.L1_RECEIPT, "the game's rules refuse the move (phase, opening, root shape)", l1_rules.IllegalMove),
    _entry(_S.L1_RECEIPT, "the step the L1 rebuilds is not the one the game disputes", l1_rules.StepInputMismatch),
    _entry(
        _S.L1_RECEIPT,
        "the witness is malformed, incomplete or does not verify against the pre-root",
        l1_rules.InvalidWitness,
    ),
    _entry(_S.L1_RECEIPT, "the proven pre-state cannot be run by the state transition", l1_rules.UnprovableStep),
    _entry(_S.L1_RECEIPT, "the opened header is not the L2 block the L1 derived", l1_rules.UnderivableOpening),
    _entry(_S.L1_RECEIPT, "state root and block hash do not open the output root", l1_rules.OutputMismatch),
    _entry(_S.L1_RECEIPT, "the withdrawal record is not proven under the state root", l1_rules.InvalidWithdrawalProof),
    _entry(
        _S.L1_RECEIPT,
        "the withdrawal is proven against an output that is not defeated",
        l1_rules.WithdrawalAlreadyProven,
    ),
    _entry(_S.L1_RECEIPT, "the withdrawal is not proven", l1_rules.WithdrawalNotProven),
    _entry(_S.L1_RECEIPT, "the withdrawal's output is pending or disputed", l1_rules.OutputNotFinalized),
    _entry(_S.L1_RECEIPT, "the withdrawal is paid already", l1_rules.WithdrawalAlreadyFinalized),
    _entry(_S.L1_RECEIPT, "the output is defeated: prove again against a finalized one", l1_rules.OutputDefeated),
    _entry(_S.L1_RECEIPT, "the portal holds less than the withdrawal", l1_rules.PortalInsufficient),
    _entry(_S.L1_RECEIPT, "not the proposer, before the fallback opens", l1_rules.NotProposer),
    _entry(_S.L1_RECEIPT, "the output's L2 block is not derived from the inbox yet", l1_rules.L2BlockNotDerived),
    _entry(_S.L1_RECEIPT, "the address already plays in this output's dispute", l1_rules.AlreadyAParty),
    _entry(_S.L1_RECEIPT, "a defence of an output no challenger disputes", l1_rules.NotDisputed),
    _entry(
        _S.L1_RECEIPT,
        "a balance override on a chain without the genesis rule devnet_overrides (every chain but a devnet's)",
        l1_rules.BalanceOverridesDisabled,
    ),
    _entry(_S.L1_RECEIPT, "a forced transaction that encodes a deposit", l1_rules.ForcedDeposit),
    # -- the venue (node.venue.errors) --
    _entry(_S.VENUE, "base class of the venue's errors (never raised itself)", venue.VenueError),
    _entry(_S.VENUE, "no market with that id", venue.UnknownMarket),
    _entry(_S.VENUE, "side is not 0 (buy) or 1 (sell)", venue.InvalidSide),
    _entry(_S.VENUE, "order type is not 0 (GTC), 1 (IOC) or 2 (post-only)", venue.InvalidOrderType),
    _entry(_S.VENUE, "size is 0 or above the limit", venue.InvalidSize),
    _entry(_S.VENUE, "price is 0, above the limit or off the tick", venue.InvalidPrice),
    _entry(_S.VENUE, "reduce_only is not 0 or 1", venue.InvalidFlag),
    _entry(_S.VENUE, "reduce-only with a resting type, or with nothing to reduce", venue.ReduceOnlyRejected),
    _entry(_S.VENUE, "a post-only order would take liquidity", venue.PostOnlyWouldCross),
    _entry(_S.VENUE, "the order leaves the account below its margin requirement", venue.InsufficientMargin),
    _entry(_S.VENUE, "no resting order with that id", venue.UnknownOrder),
    _entry(_S.VENUE, "the order belongs to another account", venue.NotOrderOwner),
    _entry(_S.VENUE, "the account's resting-order limit is reached", venue.TooManyOpenOrders),
    _entry(_S.VENUE, "the account's market limit is reached", venue.TooManyMarkets),
    _entry(_S.VENUE, "an oracle update not signed by the oracle key", venue.NotOracle),
    _entry(_S.VENUE, "the oracle timestamp is not newer than the stored one", venue.StaleOraclePrice),
    _entry(_S.VENUE, "the oracle timestamp is too far ahead of the block's", venue.OracleTimestampInFuture),
    _entry(_S.VENUE, "the oracle price moves more than the market's band", venue.OraclePriceOutOfBand),
    _entry(_S.VENUE, "the market has no oracle price yet: no trading", venue.OraclePriceNotSet),
    _entry(
        _S.VENUE,
        "a transfer or withdrawal would break initial margin or the liquidation reserve",
        venue.WithdrawalBreaksMargin,
    ),
    _entry(_S.VENUE, "the chain has no venue (genesis without markets)", venue.VenueNotConfigured),
)


def build_table(entries: Iterable[ErrorCode]) -> dict[int, ErrorCode]:
    """Code -> entry; raises ErrorTableError if a code appears twice."""
    table: dict[int, ErrorCode] = {}
    for entry in entries:
        if entry.code in table:
            raise ErrorTableError(f"code {entry.code} is both {table[entry.code].name} and {entry.name}")
        table[entry.code] = entry
    return table


ERROR_CODES: dict[int, ErrorCode] = build_table(ENTRIES)


def lookup(code: int) -> ErrorCode | None:
    """The entry of `code`, or None if no process uses it."""
    return ERROR_CODES.get(code)


def render_markdown() -> str:
    """The table as docs/protocol.md section 6 shows it: one table per surface, entries in the table's order."""
    parts: list[str] = []
    for surface in Surface:
        entries = [entry for entry in ERROR_CODES.values() if entry.surface is surface]
        rows = [f"| {e.code} | {e.describe_classes()} | {e.meaning} |" for e in entries]
        parts.append(
            "\n".join([f"{surface.value}:", "", "| code | class (module) | meaning |", "|---|---|---|", *rows])
        )
    return "\n\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    print(render_markdown())
