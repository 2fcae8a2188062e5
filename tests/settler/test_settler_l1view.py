"""What the settler reads of L1: the L2 head derivable from the inbox, and the output proposals.

The inbox walk is checked against node.derivation's rules on hand-made L1
blocks (re-posts skipped, a gap drops the rest of a batch, a closed
sequencing window gives default blocks), and against a checkpoint restore.
"""

from __future__ import annotations

from l1.contracts.client import BatchEvent, DepositEvent, DerivationBlock, OutputReport
from l1.contracts.state import OutputProposal, OutputStatus
from l1.settler.inbox import InboxCheckpoint, InboxWalker
from l1.settler.outputs import OutputsLedger
from node.batch import BatchBlock, encode_batch
from node.crypto import Address, Hash32, keccak256
from node.shape import RollupRules, ShapeHead

CHAIN_ID = 901
WINDOW = 4
RULES = RollupRules(chain_id=CHAIN_ID, max_sequencer_drift_ms=10_000, sequencing_window=WINDOW)
L1_BLOCK_MS = 1000
US, THEM = Address(b"\x02" * 20), Address(b"\x07" * 20)
ROOT = Hash32(keccak256(b"root"))


def l2(number: int, origin: int, offset_ms: int = 100) -> BatchBlock:
    return BatchBlock(number, origin * L1_BLOCK_MS + offset_ms * number, origin, ())


def l1_block(number: int, *batches: list[BatchBlock], deposits: int = 0) -> DerivationBlock:
    events = tuple(BatchEvent(i, encode_batch(blocks, CHAIN_ID)) for i, blocks in enumerate(batches))
    deposit_events = tuple(DepositEvent(100 + i, US, US, 1) for i in range(deposits))
    return DerivationBlock(
        number, Hash32(keccak256(number.to_bytes(8, "big"))), number * L1_BLOCK_MS, deposit_events, (), events
    )


def walk(*blocks: DerivationBlock) -> InboxWalker:
    walker = InboxWalker(RULES)
    walker.start_at_genesis(l1_block(0))
    for block in blocks:
        walker.process_l1_block(block)
    return walker


# -- the inbox --


def test_batches_make_their_blocks_derivable_in_order() -> None:
    walker = walk(l1_block(1), l1_block(2, [l2(1, 0), l2(2, 1), l2(3, 1)]))
    assert walker.head_number == 3 and walker.last_l1 == 2 and walker.last_drop is None


def test_a_reposted_batch_is_skipped_and_the_next_one_extends_the_head() -> None:
    first = [l2(1, 0), l2(2, 1)]
    walker = walk(l1_block(1), l1_block(2, first), l1_block(3, first, [l2(3, 2)]))
    assert walker.head_number == 3 and walker.last_drop is None


def test_a_batch_that_skips_blocks_is_dropped_with_its_reason() -> None:
    walker = walk(l1_block(1), l1_block(2, [l2(1, 0)]), l1_block(3, [l2(5, 2)]))
    assert walker.head_number == 1
    assert walker.last_drop is not None and walker.last_drop.l1_block == 3 and walker.last_drop.block == 5
    assert "skips" in walker.last_drop.reason


def test_a_batch_posted_after_its_window_is_not_derivable() -> None:
    late = 1 + WINDOW + 1  # block 2's origin is 1: posted after L1 block 1 + WINDOW
    walker = walk(*[l1_block(n) for n in range(1, late)], l1_block(late, [l2(1, 0), l2(2, 1)]))
    # epoch 1's window closed with L1 block 5 (default block 1), epoch 2's with 6 (default block 2)
    assert walker.head_number == 2 and walker.default_blocks == 2
    assert walker.last_drop is not None and walker.last_drop.l1_block == late and walker.last_drop.block == 2
    assert "window" in walker.last_drop.reason


def test_closed_sequencing_windows_give_default_blocks() -> None:
    walker = walk(*[l1_block(n, deposits=1) for n in range(1, 2 + WINDOW + 1)])
    # after L1 block n, every epoch e with e + WINDOW <= n has a default block
    assert walker.default_blocks == 2 and walker.head_number == 2 and walker.head is not None
    assert walker.head.l1_origin_number == 2


def test_a_checkpoint_restores_the_walk_where_it_was() -> None:
    blocks = [l1_block(1), l1_block(2, [l2(1, 0), l2(2, 1)]), l1_block(3, [l2(3, 2)]), l1_block(4, [l2(4, 3)])]
    straight = walk(*blocks)
    halfway = walk(*blocks[:2])
    checkpoint = InboxCheckpoint.from_json(halfway.checkpoint().to_json())  # type: ignore[union-attr]
    assert checkpoint.head == ShapeHead(2, l2(2, 1).timestamp_ms, 1) and checkpoint.l1_block == 2
    resumed = InboxWalker(RULES)
    resumed.restore(checkpoint, [blocks[0], blocks[1]])  # from the head's origin (1) to the checkpoint (2)
    for block in blocks[2:]:
        resumed.process_l1_block(block)
    assert resumed.head == straight.head and resumed.last_l1 == 4


# -- the output proposals --


def proposal(index: int, block: int, status: str = "pending", proposer: Address = US) -> OutputReport:
    return OutputReport(
        OutputProposal(index, block, ROOT, proposer, 1000, 10 + index, OutputStatus(status)), 15 + index, None
    )


def test_own_newest_live_ignores_defeated_and_foreign_proposals() -> None:
    ledger = OutputsLedger(US)
    ledger.apply([proposal(0, 4, "finalized"), proposal(1, 8, "pending"), proposal(2, 10**9, "pending", THEM)])
    assert ledger.own_newest_live() == 8
    ledger.apply([proposal(1, 8, "defeated")])
    assert ledger.own_newest_live() == 4
    assert ledger.own_counts() == {"finalized": 1, "defeated": 1}


def test_newest_live_is_anyones_and_drops_defeated_ones() -> None:
    ledger = OutputsLedger(US)
    ledger.apply([proposal(0, 4, "finalized"), proposal(1, 8), proposal(2, 10**9, "disputed", THEM)])
    newest = ledger.newest_live()
    assert newest is not None and newest.l2_block_number == 10**9 and newest.proposer == THEM
    ledger.apply([proposal(2, 10**9, "defeated", THEM)])
    newest = ledger.newest_live()
    assert newest is not None and newest.l2_block_number == 8


def test_rereads_start_at_the_oldest_open_proposal() -> None:
    ledger = OutputsLedger(US)
    assert ledger.rescan_from() == 0
    ledger.apply([proposal(0, 4, "finalized"), proposal(1, 8, "disputed"), proposal(2, 12)])
    assert ledger.rescan_from() == 1 and ledger.next_index == 3
    ledger.apply([proposal(1, 8, "finalized"), proposal(2, 12, "finalized")])
    assert ledger.rescan_from() == 3
    newest = ledger.newest_live()
    assert newest is not None and newest.l2_block_number == 12
