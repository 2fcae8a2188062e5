"""The settler's decisions, pure: what to post and propose next, given what L1 holds and what is in flight.

No I/O and no clock: the L1 facts (the inbox's derivable L2 head, the
settler's own proposals, the account nonces counting the L1 mempool), the
transactions in flight and the time arrive as arguments.

    classify_inflight(entry, landed, pending_nonce, now, stale_after_s) -> TxFate
    plan_batch(derivable_head, in_flight, refusal, now)                  -> first block to post | Hold
    plan_outputs(OutputFacts, interval, in_flight, refusal, now, limit)  -> Propose | Hold

The rules:
- A transaction of ours in flight is LANDED (a receipt for one of its
  hashes), PENDING (its nonce is below the account's next nonce counting the
  mempool, so it sits there or was just included), STALE (pending for longer
  than `stale_after_s`: replace it, same nonce and intent, higher fee) or
  LOST (its nonce is not taken: never sent, or the L1 dropped its mempool;
  forget it and decide again from L1).
- Batches go out one at a time, from the block after the L2 head the L1
  inbox derives (so never a block already on L1), once nothing is in flight.
- Outputs: the next multiple of output_interval above the settler's own
  newest non-defeated proposal (or one in flight), and only for blocks the
  inbox already derives. If the L1 has shown that it orders proposals
  (-32062), the base is also above every live proposal, whoever made it.
- A refused batch or output (a kind-rule error, or a batch derivation did
  not take) holds that block back with an exponential backoff; the plan
  then tries it again, alone, when the backoff has passed, and the hold is
  dropped as soon as L1 facts make the plan start after that block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum, StrEnum

from node.crypto import Hash32

BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 30.0


class Role(StrEnum):
    """Which of the settler's keys sends a transaction (each has its own nonce sequence)."""

    BATCHER = "batcher"
    PROPOSER = "proposer"


@dataclass(frozen=True, slots=True)
class BatchIntent:
    first: int
    last: int
    size: int = 0  # batch bytes
    txs: int = 0  # L2 user transactions in it

    @property
    def role(self) -> Role:
        return Role.BATCHER

    def describe(self) -> str:
        return f"batch of L2 blocks {self.first}..{self.last}"


@dataclass(frozen=True, slots=True)
class OutputIntent:
    block: int
    root: Hash32

    @property
    def role(self) -> Role:
        return Role.PROPOSER

    def describe(self) -> str:
        return f"output 0x{self.root.hex()[:16]} for L2 block {self.block}"


Intent = BatchIntent | OutputIntent


@dataclass(frozen=True, slots=True)
class InFlight:
    """One of our L1 transactions that has no receipt yet (recorded before it is sent)."""

    nonce: int
    fee: int
    hashes: tuple[Hash32, ...]  # the first send, then each replacement (same nonce, higher fee)
    sent_at: float  # unix time of the latest send
    intent: Intent

    @property
    def role(self) -> Role:
        return self.intent.role

    @property
    def tx_hash(self) -> Hash32:
        return self.hashes[-1]

    def replaced(self, fee: int, tx_hash: Hash32, now: float, intent: Intent | None = None) -> InFlight:
        """The same nonce sent again: a higher fee, maybe a rebuilt intent (the hashes of both stay followed)."""
        return replace(self, fee=fee, hashes=(*self.hashes, tx_hash), sent_at=now, intent=intent or self.intent)

    def describe(self) -> str:
        return f"{self.intent.describe()} (nonce {self.nonce}, tx 0x{self.tx_hash.hex()[:16]})"


class TxFate(Enum):
    LANDED = "landed"
    PENDING = "pending"
    STALE = "stale"
    LOST = "lost"


def classify_inflight(entry: InFlight, landed: bool, pending_nonce: int, now: float, stale_after_s: float) -> TxFate:
    """What became of a transaction in flight. `pending_nonce` must be read before the receipts."""
    if landed:
        return TxFate.LANDED
    if entry.nonce >= pending_nonce:
        return TxFate.LOST
    if now - entry.sent_at >= stale_after_s:
        return TxFate.STALE
    return TxFate.PENDING


def compute_next_nonce(pending_nonce: int, in_flight: Sequence[InFlight]) -> int:
    """The nonce for a new transaction of one key: after the mempool's and after our own in flight."""
    return max([pending_nonce] + [e.nonce + 1 for e in in_flight])


def compute_replacement_fee(fee: int, min_fee: int) -> int:
    """A fee the L1 mempool accepts as a replacement (strictly higher)."""
    return max(min_fee, 2 * fee, fee + 1)


# -- refusals ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """The L1 refused this block's batch or output (or derivation did not take the batch)."""

    block: int
    reason: str
    attempts: int
    retry_at: float


def compute_backoff_s(attempts: int) -> float:
    return float(min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(0, attempts - 1)))


def record_refusal(previous: Refusal | None, block: int, reason: str, now: float) -> Refusal:
    """A refusal of `block`; repeated refusals of the same block back off exponentially.

    The plan always tries the lowest block first, so the refusal of a later
    block (sent in the same burst) does not replace that of an earlier one.
    """
    if previous is not None and previous.block < block:
        return previous
    attempts = previous.attempts + 1 if previous is not None and previous.block == block else 1
    return Refusal(block, reason, attempts, now + compute_backoff_s(attempts))


def prune_refusal(refusal: Refusal | None, first: int) -> Refusal | None:
    """Drop a refusal once L1 facts make the plan start after its block (it landed, or the base moved past it)."""
    return None if refusal is None or refusal.block < first else refusal


def check_held_back(refusal: Refusal | None, block: int, now: float) -> Hold | None:
    """A problem Hold while `block` was refused and its backoff has not passed, else None."""
    if refusal is None or refusal.block != block or now >= refusal.retry_at:
        return None
    return Hold(
        f"{refusal.reason}; retrying with backoff (attempt {refusal.attempts + 1} "
        f"in {compute_backoff_s(refusal.attempts):.0f} s)",
        True,
    )


# -- plans ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold:
    """Nothing to send this round.

    `problem`: a condition the health report counts at once. `wait_key`: a
    normal wait (e.g. for the sequencer to derive the L1 block we just read)
    that becomes a problem only if the same wait lasts too long.
    """

    reason: str
    problem: bool = False
    wait_key: str | None = None


@dataclass(frozen=True, slots=True)
class Propose:
    blocks: tuple[int, ...]


def plan_batch(derivable_head: int, in_flight: Sequence[InFlight], refusal: Refusal | None, now: float) -> int | Hold:
    """The first L2 block of the next batch, or why none goes out now."""
    if in_flight:
        return Hold(f"waiting for {in_flight[0].describe()} to land", wait_key=f"landing:{in_flight[0].tx_hash.hex()}")
    first = derivable_head + 1
    return check_held_back(refusal, first, now) or first


def next_output_block(base: int, interval: int) -> int:
    """The next multiple of `interval` above L2 block `base`."""
    return (base // interval + 1) * interval


@dataclass(frozen=True, slots=True)
class OutputFacts:
    """What the output plan reads of L1 (and of the sequencer's L1-derived chain)."""

    own_newest_live: int  # our newest non-defeated proposal's L2 block (0: none)
    proposable_head: int  # newest L2 block derivable from L1 batches and derived by the sequencer (and the L1)
    ordering_floor: int | None = None  # when the L1 orders proposals: the newest live proposal's block, anyone's
    floor_holder: str | None = None  # who holds that floor, for the operator
    derivable_head: int | None = None  # the inbox's derivable head alone, when the others lag it


def compute_own_base(facts: OutputFacts, in_flight: Sequence[InFlight]) -> int:
    """Our newest proposal: live on L1, or in flight."""
    return max([facts.own_newest_live] + [e.intent.block for e in in_flight if isinstance(e.intent, OutputIntent)])


def compute_next_output(facts: OutputFacts, interval: int, in_flight: Sequence[InFlight]) -> int:
    """The L2 block of the next output to propose."""
    return next_output_block(max(compute_own_base(facts, in_flight), facts.ordering_floor or 0), interval)


def plan_outputs(
    facts: OutputFacts, interval: int, in_flight: Sequence[InFlight], refusal: Refusal | None, now: float, limit: int
) -> Propose | Hold:
    """The L2 blocks to propose outputs for now (in order, at most `limit` in flight), or why none.

    After a refusal of the first block, the retry (once its backoff passed) is that one proposal alone.
    """
    probe = _probe_in_flight(refusal, in_flight)
    if probe is not None:
        return probe
    first = compute_next_output(facts, interval, in_flight)
    if first > facts.proposable_head:
        return _hold_nothing_due(facts, compute_own_base(facts, in_flight), first, interval)
    room = limit - len(in_flight)
    if room <= 0:
        return Hold(f"{len(in_flight)} proposals in flight, the most at once")
    held = check_held_back(refusal, first, now)
    if held is not None:
        return held
    if refusal is not None and refusal.block == first:
        room = 1
    return Propose(tuple(range(first, facts.proposable_head + 1, interval))[:room])


def _probe_in_flight(refusal: Refusal | None, in_flight: Sequence[InFlight]) -> Hold | None:
    """While the retry of a refused block is in flight, nothing else goes out: it decides whether the L1 takes ours."""
    if refusal is None or not any(
        isinstance(e.intent, OutputIntent) and e.intent.block == refusal.block for e in in_flight
    ):
        return None
    return Hold(f"{refusal.reason}; retry {refusal.attempts + 1} in flight", True)


def _hold_nothing_due(facts: OutputFacts, own_base: int, first: int, interval: int) -> Hold:
    blocked = facts.ordering_floor is not None and facts.ordering_floor > own_base
    if blocked and next_output_block(own_base, interval) <= facts.proposable_head:
        return Hold(
            f"proposals blocked: the L1 refuses proposals at or below the live proposal for L2 block "
            f"{facts.ordering_floor} by {facts.floor_holder or 'another proposer'} (-32062, out of order); our "
            "newest is "
            f"L2 block {own_base}; next at L2 block {first} once derivable (derivable head {facts.proposable_head})",
            True,
        )
    if facts.derivable_head is not None and first <= facts.derivable_head:
        return Hold(
            f"L2 block {first} is derivable from L1 (up to {facts.derivable_head}) but the blocks whose roots "
            f"it may propose (verified held blocks, the sequencer's safe head, the L1's own L2 head) end at "
            f"{facts.proposable_head}: waiting to propose it",
            wait_key=f"derived:{first}",
        )
    return Hold(f"next output at L2 block {first}; derivable head {facts.proposable_head}")
