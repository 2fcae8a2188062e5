"""`devnet up` mines the L1 block that carries the settler's first batch at once (node.devnet.readiness.
FirstBatchMiner): only once the batch is sent, never for a chain already posted, a bounded number of
times, and not at all on an L1 that refuses devnet_mine."""

from __future__ import annotations

from pathlib import Path

from node.devnet.layout import ROLE_L1, ROLE_SETTLER, DevnetLayout, ProcessSpec
from node.devnet.readiness import MAX_STARTUP_MINES, MINE_RETRY_S, FirstBatchMiner


class FakeDevnet:
    """The settler's (batches sent, posted up to) as the test sets it, the L1's mines counted, a manual clock."""

    def __init__(self, mine_ok: bool = True) -> None:
        self.counts: tuple[int, int] | None = None
        self.mines = 0
        self.mine_ok = mine_ok
        self.now = 100.0

    def probe(self, spec: ProcessSpec) -> tuple[int, int] | None:
        assert spec.role == ROLE_SETTLER
        return self.counts

    def mine(self, spec: ProcessSpec) -> bool:
        assert spec.role == ROLE_L1
        self.mines += 1
        return self.mine_ok

    def miner(self) -> FirstBatchMiner:
        layout = DevnetLayout.at(Path("/tmp/never-written"))
        settler = layout.spec("settler", ROLE_SETTLER, 1)
        l1 = layout.spec("l1", ROLE_L1, 2)
        return FirstBatchMiner(settler, l1, self.probe, self.mine, lambda: self.now)


def test_mines_once_the_first_batch_is_sent() -> None:
    net = FakeDevnet()
    miner = net.miner()
    miner.step()  # the settler does not answer yet
    net.counts = (0, 0)
    miner.step()  # answers, nothing sent yet
    assert net.mines == 0
    net.counts = (1, 0)
    miner.step()
    assert net.mines == 1
    miner.step()  # too soon to try again
    net.now += MINE_RETRY_S
    net.counts = (1, 19)  # the batch is in an L1 block: done
    miner.step()
    net.now += 10 * MINE_RETRY_S
    miner.step()
    assert net.mines == 1


def test_retries_a_bounded_number_of_times() -> None:
    net = FakeDevnet()
    miner = net.miner()
    net.counts = (1, 0)
    for _ in range(10 * MAX_STARTUP_MINES):
        miner.step()
        net.now += MINE_RETRY_S
    assert net.mines == MAX_STARTUP_MINES


def test_a_posted_chain_is_not_mined() -> None:
    net = FakeDevnet()
    miner = net.miner()
    net.counts = (1, 40)  # a resumed chain: its batches are on L1 already
    for _ in range(5):
        miner.step()
        net.now += MINE_RETRY_S
    net.counts = (2, 40)
    miner.step()
    assert net.mines == 0


def test_an_l1_without_devnet_mine_is_left_to_its_timer() -> None:
    net = FakeDevnet(mine_ok=False)
    miner = net.miner()
    net.counts = (1, 0)
    for _ in range(5):
        miner.step()
        net.now += MINE_RETRY_S
    assert net.mines == 1
