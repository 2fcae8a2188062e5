"""`devnet up` mines the L1 block that carries the settler's first batch at once (node.devnet.readiness.
FirstBatchMiner): only once a batcher transaction is in the L1 (its pending nonce), a bounded number
of times and MINE_RETRY_S apart, and not at all on an L1 that refuses devnet_mine."""

from __future__ import annotations

from pathlib import Path

from node.devnet.layout import ROLE_L1, DevnetLayout, ProcessSpec
from node.devnet.readiness import MAX_STARTUP_MINES, MINE_RETRY_S, FirstBatchMiner


class FakeL1:
    """The batcher's pending nonce as the test sets it, the mines counted, a manual clock."""

    def __init__(self, mine_ok: bool = True) -> None:
        self.nonce: int | None = None
        self.mines = 0
        self.mine_ok = mine_ok
        self.now = 100.0

    def probe(self, spec: ProcessSpec) -> int | None:
        assert spec.role == ROLE_L1
        return self.nonce

    def mine(self, spec: ProcessSpec) -> bool:
        assert spec.role == ROLE_L1
        self.mines += 1
        return self.mine_ok

    def miner(self) -> FirstBatchMiner:
        l1 = DevnetLayout.at(Path("/tmp/never-written")).spec("l1", ROLE_L1, 2)
        return FirstBatchMiner(l1, self.probe, self.mine, lambda: self.now)


def test_mines_once_the_first_batch_is_sent() -> None:
    l1 = FakeL1()
    miner = l1.miner()
    miner.step()  # the L1 does not answer
    l1.nonce = 0
    miner.step()  # nothing sent yet
    assert l1.mines == 0
    l1.nonce = 1
    miner.step()
    assert l1.mines == 1
    miner.step()  # too soon to try again
    l1.now += MINE_RETRY_S / 2
    miner.step()
    assert l1.mines == 1
    l1.now += MINE_RETRY_S  # still called: the executors are still not safe, mine once more
    miner.step()
    assert l1.mines == 2


def test_retries_a_bounded_number_of_times() -> None:
    l1 = FakeL1()
    miner = l1.miner()
    l1.nonce = 1
    for _ in range(10 * MAX_STARTUP_MINES):
        miner.step()
        l1.now += MINE_RETRY_S
    assert l1.mines == MAX_STARTUP_MINES


def test_an_l1_without_devnet_mine_is_left_to_its_timer() -> None:
    l1 = FakeL1(mine_ok=False)
    miner = l1.miner()
    l1.nonce = 1
    for _ in range(5):
        miner.step()
        l1.now += MINE_RETRY_S
    assert l1.mines == 1
