"""The settler's pure decisions: what became of a transaction in flight, what to post and propose next.

Each case reads as: what L1 holds (derivable head, own proposals, the
account's next nonce counting the mempool), what is in flight, then the
decision.
"""

from __future__ import annotations

import pytest

from l1.settler.plan import (
    BACKOFF_MAX_S,
    BatchIntent,
    Hold,
    InFlight,
    OutputFacts,
    OutputIntent,
    Propose,
    Role,
    TxFate,
    classify_inflight,
    compute_backoff_s,
    compute_next_nonce,
    compute_replacement_fee,
    next_output_block,
    plan_batch,
    plan_outputs,
    prune_refusal,
    record_refusal,
)
from node.crypto import Hash32, keccak256

ROOT = Hash32(keccak256(b"root"))
H1, H2 = Hash32(keccak256(b"tx1")), Hash32(keccak256(b"tx2"))
NOW = 1_000_000.0
STALE_S = 10.0
INTERVAL = 4
LIMIT = 16


def batch(first: int, last: int, nonce: int = 5, sent_at: float = NOW, hashes: tuple[Hash32, ...] = (H1,)) -> InFlight:
    return InFlight(nonce, 1, hashes, sent_at, BatchIntent(first, last))


def output(block: int, nonce: int = 3, sent_at: float = NOW) -> InFlight:
    return InFlight(nonce, 1, (H2,), sent_at, OutputIntent(block, ROOT))


# -- transactions in flight --


@pytest.mark.parametrize(
    ("landed", "pending_nonce", "age_s", "fate"),
    [
        (True, 5, 0.0, TxFate.LANDED),  # a receipt: whatever the nonce says
        (True, 9, 99.0, TxFate.LANDED),
        (False, 6, 0.0, TxFate.PENDING),  # nonce 5 counted by the mempool, no receipt yet
        (False, 6, STALE_S - 0.1, TxFate.PENDING),
        (False, 6, STALE_S, TxFate.STALE),  # pending too long: replace it, same nonce
        (False, 5, 0.0, TxFate.LOST),  # nonce 5 is free again: never sent, or the L1 lost its mempool
        (False, 4, 99.0, TxFate.LOST),
    ],
)
def test_classify_inflight(landed: bool, pending_nonce: int, age_s: float, fate: TxFate) -> None:
    entry = batch(1, 9, nonce=5, sent_at=NOW - age_s)
    assert classify_inflight(entry, landed, pending_nonce, NOW, STALE_S) is fate


def test_new_nonces_follow_the_mempool_and_our_own_in_flight() -> None:
    assert compute_next_nonce(7, []) == 7
    assert compute_next_nonce(7, [output(12, nonce=7), output(16, nonce=8)]) == 9
    assert compute_next_nonce(10, [output(12, nonce=7)]) == 10  # an older one of ours landed meanwhile


def test_a_replacement_always_outbids() -> None:
    assert compute_replacement_fee(1, 1) == 2
    assert compute_replacement_fee(1000, 1) == 2000
    assert compute_replacement_fee(0, 5) == 5


def test_replaced_entry_keeps_every_hash_to_follow() -> None:
    entry = batch(1, 9).replaced(2, H2, NOW + 20, BatchIntent(1, 8))
    assert entry.hashes == (H1, H2) and entry.tx_hash == H2 and entry.fee == 2 and entry.nonce == 5
    assert entry.intent == BatchIntent(1, 8) and entry.sent_at == NOW + 20


# -- refusals --


def test_refusals_back_off_exponentially_per_block_up_to_a_cap() -> None:
    first = record_refusal(None, 12, "refused", NOW)
    second = record_refusal(first, 12, "refused", NOW)
    lower = record_refusal(second, 8, "refused", NOW)
    assert (first.attempts, second.attempts, lower.attempts, lower.block) == (1, 2, 1, 8)
    assert first.retry_at == NOW + compute_backoff_s(1) < second.retry_at == NOW + compute_backoff_s(2)
    assert compute_backoff_s(50) == BACKOFF_MAX_S


def test_a_later_block_refused_in_the_same_burst_does_not_replace_the_first() -> None:
    # proposals 4, 8, 12 sent together, all refused (not the proposer): the plan retries 4 first, so 4 is held
    refusal = None
    for block in (4, 8, 12):
        refusal = record_refusal(refusal, block, f"refused {block}", NOW)
    assert refusal is not None and refusal.block == 4 and refusal.attempts == 1
    hold = plan_outputs(facts(own=0, head=13), INTERVAL, [], refusal, NOW + 0.1, LIMIT)
    assert isinstance(hold, Hold) and hold.problem
    assert plan_outputs(facts(own=0, head=13), INTERVAL, [], refusal, refusal.retry_at, LIMIT) == Propose((4,))
    # while that retry is in flight nothing else goes out (8 and 12 would only be refused too)
    probing = plan_outputs(facts(own=0, head=13), INTERVAL, [output(4)], refusal, refusal.retry_at, LIMIT)
    assert isinstance(probing, Hold) and probing.problem and "retry 2 in flight" in probing.reason


def test_a_refusal_is_dropped_once_the_plan_starts_after_its_block() -> None:
    refusal = record_refusal(None, 12, "refused", NOW)
    assert prune_refusal(refusal, 12) is refusal
    assert prune_refusal(refusal, 16) is None  # 12 landed, or the base moved above it
    assert prune_refusal(None, 4) is None


# -- batches --


def test_batch_starts_after_the_derivable_head() -> None:
    assert plan_batch(derivable_head=41, in_flight=[], refusal=None, now=NOW) == 42


def test_no_new_batch_while_one_is_in_flight_so_nothing_is_posted_twice() -> None:
    hold = plan_batch(41, [batch(42, 50)], None, NOW)
    assert isinstance(hold, Hold) and not hold.problem and "42..50" in hold.reason


def test_batch_after_a_restart_waits_for_the_one_in_the_mempool() -> None:
    # the L1 derives up to 41; our batch of 42..50 is in the mempool (nonce 5 < next nonce 6)
    entry = batch(42, 50, nonce=5)
    assert classify_inflight(entry, False, 6, NOW, STALE_S) is TxFate.PENDING
    assert isinstance(plan_batch(41, [entry], None, NOW), Hold)
    # it lands, the inbox now derives up to 50: the next batch starts at 51
    assert classify_inflight(entry, True, 6, NOW, STALE_S) is TxFate.LANDED
    assert plan_batch(50, [], None, NOW) == 51


def test_refused_batch_is_held_back_until_its_backoff_passed() -> None:
    refusal = record_refusal(None, 42, "the L1 refused the batch", NOW)
    hold = plan_batch(41, [], refusal, NOW + 0.5)
    assert isinstance(hold, Hold) and hold.problem and "the L1 refused the batch" in hold.reason
    assert plan_batch(41, [], refusal, refusal.retry_at) == 42
    assert plan_batch(45, [], refusal, NOW) == 46  # L1 moved on: the refusal no longer applies


# -- outputs --


def facts(own: int, head: int, floor: int | None = None) -> OutputFacts:
    return OutputFacts(
        own_newest_live=own, proposable_head=head, ordering_floor=floor, floor_holder=None if floor is None else "0xAtt"
    )


def test_next_output_block_is_the_next_multiple_above() -> None:
    assert [next_output_block(b, 4) for b in (0, 3, 4, 7, 8)] == [4, 4, 8, 8, 12]


def test_outputs_above_our_newest_live_proposal_up_to_the_derivable_head() -> None:
    assert plan_outputs(facts(own=8, head=21), INTERVAL, [], None, NOW, LIMIT) == Propose((12, 16, 20))


def test_outputs_only_for_derivable_blocks() -> None:
    hold = plan_outputs(facts(own=8, head=11), INTERVAL, [], None, NOW, LIMIT)
    assert isinstance(hold, Hold) and not hold.problem and "12" in hold.reason


def test_a_sequencer_lagging_the_l1_derivable_head_is_a_wait_that_holds_outputs_back() -> None:
    lagging = OutputFacts(own_newest_live=8, proposable_head=10, derivable_head=30)
    hold = plan_outputs(lagging, INTERVAL, [], None, NOW, LIMIT)
    # a normal wait (the sequencer derives the L1 block a moment after us): a problem only if it lasts
    assert isinstance(hold, Hold) and not hold.problem and hold.wait_key == "derived:12" and "safe head" in hold.reason
    caught_up = OutputFacts(own_newest_live=8, proposable_head=11, derivable_head=11)
    hold = plan_outputs(caught_up, INTERVAL, [], None, NOW, LIMIT)
    assert isinstance(hold, Hold) and not hold.problem


def test_restart_with_a_proposal_in_the_mempool_does_not_propose_it_again() -> None:
    # Issue 10: killed after sending the proposal for 12. L1 holds our 8; 12 is in flight (journal).
    assert plan_outputs(facts(own=8, head=21), INTERVAL, [output(12)], None, NOW, LIMIT) == Propose((16, 20))
    # after it lands, L1 says our newest is 12: still never 12 again
    assert plan_outputs(facts(own=12, head=21), INTERVAL, [], None, NOW, LIMIT) == Propose((16, 20))


def test_a_defeated_own_proposal_is_proposed_again() -> None:
    # own_newest_live skips defeated proposals (l1.settler.outputs): 12 defeated, 8 live
    assert plan_outputs(facts(own=8, head=13), INTERVAL, [], None, NOW, LIMIT) == Propose((12,))


def test_at_most_limit_proposals_in_flight() -> None:
    assert plan_outputs(facts(own=0, head=100), INTERVAL, [], None, NOW, 3) == Propose((4, 8, 12))
    assert plan_outputs(facts(own=0, head=100), INTERVAL, [output(4), output(8)], None, NOW, 3) == Propose((12,))
    hold = plan_outputs(facts(own=0, head=100), INTERVAL, [output(4), output(8), output(12)], None, NOW, 3)
    assert isinstance(hold, Hold) and not hold.problem


def test_refused_output_is_not_retried_until_its_backoff_passed() -> None:
    refusal = record_refusal(None, 12, "the L1 refused the output for L2 block 12: not the proposer (code -32088)", NOW)
    hold = plan_outputs(facts(own=8, head=21), INTERVAL, [], refusal, NOW + 0.2, LIMIT)
    assert isinstance(hold, Hold) and hold.problem and "-32088" in hold.reason
    # once the backoff passed, one proposal probes the L1; the rest follow once it lands
    assert plan_outputs(facts(own=8, head=21), INTERVAL, [], refusal, refusal.retry_at, LIMIT) == Propose((12,))
    assert plan_outputs(facts(own=12, head=21), INTERVAL, [], None, NOW, LIMIT) == Propose((16, 20))


def test_ordering_floor_of_a_huge_foreign_proposal_blocks_and_is_a_problem() -> None:
    # Issue 10: an attacker's live proposal for L2 block 10^9 on an L1 that orders proposals (-32062)
    hold = plan_outputs(facts(own=8, head=21, floor=10**9), INTERVAL, [], None, NOW, LIMIT)
    assert isinstance(hold, Hold) and hold.problem
    assert "1000000000" in hold.reason and "0xAtt" in hold.reason and "-32062" in hold.reason


def test_ordering_floor_below_the_derivable_head_lets_proposals_resume_above_it() -> None:
    assert plan_outputs(facts(own=8, head=33, floor=22), INTERVAL, [], None, NOW, LIMIT) == Propose((24, 28, 32))


def test_ordering_floor_that_is_our_own_newest_is_no_problem() -> None:
    hold = plan_outputs(facts(own=20, head=22, floor=20), INTERVAL, [], None, NOW, LIMIT)
    assert isinstance(hold, Hold) and not hold.problem


def test_intents_describe_what_an_operator_needs() -> None:
    assert BatchIntent(3, 9).describe() == "batch of L2 blocks 3..9" and BatchIntent(3, 9).role is Role.BATCHER
    assert "L2 block 12" in OutputIntent(12, ROOT).describe() and OutputIntent(12, ROOT).role is Role.PROPOSER
    assert "nonce 3" in output(12).describe()
