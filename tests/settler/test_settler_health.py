"""Health of a retrying loop (node.service.ProblemTracker) and how the settler turns refusals into it.

A problem that lasts `stuck_after_rounds` rounds turns the health from "ok"
to "stuck" with the reason; the settler records an L1 refusal as a held-back
block (and learns from -32062 that the L1 orders proposals), and a landed
batch that derivation did not take as a refusal too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from l1.contracts.client import L1TxReceipt, OutputReport
from l1.contracts.state import OutputProposal, OutputStatus
from l1.settler.config import settler_config_from_dict
from l1.settler.outcomes import BATCHES, OUTPUTS, LandedBatch
from l1.settler.plan import BatchIntent, Hold, InFlight, OutputFacts, OutputIntent, plan_outputs
from l1.settler.process import DutyOutcome, Settler, Waits
from l1.settler.txs import TxBook
from node.crypto import Address, Hash32, keccak256, to_checksum_address
from node.devnet.readiness import health_state
from node.keys.hd import dev_account
from node.rpc.client import RpcTransportError
from node.rpc.metrics import Metrics, parse_exposition
from node.rpc.server import RpcServer
from node.service import ProblemTracker, register_problem_metrics
from node.shape import ShapeHead

ROOT = Hash32(keccak256(b"root"))
ATTACKER = dev_account(7).address
STUCK_AFTER = 3
NOW = 1_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


# -- the tracker --


def test_a_problem_turns_stuck_after_its_rounds_and_clears_on_progress(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    tracker = ProblemTracker("settler outputs", logging.getLogger("t"), STUCK_AFTER, clock)
    caplog.set_level(logging.INFO, "t")
    for _ in range(STUCK_AFTER - 1):
        tracker.note("the L1 refused the output for L2 block 8")
        clock.now += 1
    assert tracker.status == "ok" and not tracker.stuck
    assert tracker.report() == {
        "status": "ok",
        "problem": "the L1 refused the output for L2 block 8",
        "problemRounds": STUCK_AFTER - 1,
        "problemSince": NOW,
    }
    tracker.note("the L1 refused the output for L2 block 8")
    assert tracker.stuck and tracker.report()["status"] == "stuck"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(warnings) == 1 and len(errors) == 1 and "STUCK" in errors[0].getMessage()
    tracker.clear()
    assert tracker.report() == {"status": "ok"} and tracker.rounds == 0
    assert "making progress again" in caplog.records[-1].getMessage()


def test_a_loop_failing_in_new_ways_every_round_is_stuck_too() -> None:
    tracker = ProblemTracker("settler batches", logging.getLogger("t"), STUCK_AFTER)
    for i in range(STUCK_AFTER):
        tracker.note(f"L1 unreachable (attempt {i})")
    assert tracker.stuck and tracker.problem == f"L1 unreachable (attempt {STUCK_AFTER - 1})"


def test_stuck_duties_are_a_metric() -> None:
    metrics = Metrics()
    trackers = {
        "batches": ProblemTracker("b", logging.getLogger("t"), 1),
        "outputs": ProblemTracker("o", logging.getLogger("t"), 1),
    }
    register_problem_metrics(metrics, "settler", trackers)
    trackers["outputs"].note("refused")
    values = parse_exposition(metrics.render())
    assert values['settler_stuck{duty="outputs"}'] == 1 and values['settler_stuck{duty="batches"}'] == 0
    assert values['settler_problem_rounds{duty="outputs"}'] == 1


# -- the settler --


@pytest.fixture
async def settler(tmp_path: Path) -> AsyncIterator[Settler]:
    doc = {
        "node": {"data_dir": str(tmp_path)},
        "rollup": {"chain_id": 901, "l1_chain_id": 900, "fee_recipient": "0x000000000000000000000000000000000000fee1"},
        "settler": {
            "l1_rpc": "http://127.0.0.1:9/",
            "sequencer_rpc": "http://127.0.0.1:9/",
            "batcher_key": "dev1",
            "proposer_key": "dev2",
            "output_interval": 4,
            "stuck_after_rounds": STUCK_AFTER,
        },
    }
    settler = Settler(settler_config_from_dict(doc))
    yield settler
    await settler.l1.close()
    await settler.sequencer.close()


def receipt(block: int, status: int, error_code: int | None = None, error: str | None = None) -> L1TxReceipt:
    return L1TxReceipt(ROOT, block, ROOT, 0, dev_account(2).address, "propose_output", status, error, error_code, ())


def output_entry(block: int) -> InFlight:
    return InFlight(3, 1, (ROOT,), NOW, OutputIntent(block, ROOT))


async def test_an_out_of_order_refusal_makes_the_settler_plan_above_the_blocking_proposal(settler: Settler) -> None:
    settler.outcomes.take_receipt(output_entry(8), receipt(40, 0, -32062, "proposal out of order"), NOW)
    assert settler.outcomes.l1_orders_proposals
    refusal = settler.outcomes.refusals[OUTPUTS]
    assert refusal is not None and refusal.block == 8 and "-32062" in refusal.reason
    settler.ledger.apply(
        [
            OutputReport(OutputProposal(0, 4, ROOT, dev_account(2).address, 1000, 1, OutputStatus.FINALIZED), 6, None),
            OutputReport(OutputProposal(1, 10**9, ROOT, Address(ATTACKER), 1000, 30, OutputStatus.PENDING), 35, None),
        ]
    )
    floor = settler.ledger.newest_live()
    assert floor is not None and floor.l2_block_number == 10**9
    facts = OutputFacts(
        settler.ledger.own_newest_live(), 40, floor.l2_block_number, to_checksum_address(floor.proposer)
    )
    hold = plan_outputs(facts, 4, [], settler.outcomes.refusals[OUTPUTS], NOW + 100, 16)
    assert isinstance(hold, Hold) and hold.problem and to_checksum_address(ATTACKER) in hold.reason


async def test_health_says_stuck_with_the_reason_after_the_threshold(settler: Settler) -> None:
    async def blocked() -> DutyOutcome:
        return DutyOutcome(problem="proposals blocked: a live proposal for L2 block 1000000000")

    async def fine() -> DutyOutcome:
        return DutyOutcome(progressed=True)

    for _ in range(STUCK_AFTER - 1):
        await settler._run_duty(OUTPUTS, blocked)
        await settler._run_duty(BATCHES, fine)
    assert settler._health()["status"] == "ok" and "1000000000" in settler._health()["problem"]
    await settler._run_duty(OUTPUTS, blocked)
    health = settler._health()
    assert health["status"] == "stuck" and health["problem"].startswith("outputs: proposals blocked")
    assert (
        health["duties"]["batches"] == {"status": "ok"} and health["duties"]["outputs"]["problemRounds"] == STUCK_AFTER
    )
    await settler._run_duty(OUTPUTS, fine)
    assert settler._health()["status"] == "ok" and "problem" not in settler._health()


async def test_a_failing_duty_call_is_a_problem_round(settler: Settler) -> None:
    async def unreachable() -> DutyOutcome:
        raise RpcTransportError("http://127.0.0.1:9/", "connection refused")

    for _ in range(STUCK_AFTER):
        assert await settler._run_duty(BATCHES, unreachable) is False
    assert settler._health()["status"] == "stuck" and "connection refused" in settler._health()["problem"]


async def test_a_landed_batch_derivation_did_not_take_is_held_back(settler: Settler) -> None:
    settler.walker.head = ShapeHead(4, 0, 0)
    settler.walker.last_l1 = 12
    settler.outcomes.landed_batches = [LandedBatch(BatchIntent(5, 9), 12), LandedBatch(BatchIntent(10, 12), 13)]
    settler.outcomes.check_batches_derived(settler.walker, NOW)
    refusal = settler.outcomes.refusals[BATCHES]
    assert refusal is not None and refusal.block == 5 and "derivation does not take L2 block 5" in refusal.reason
    assert settler.outcomes.landed_batches == [LandedBatch(BatchIntent(10, 12), 13)]  # its L1 block is not walked yet


async def test_a_batch_that_landed_and_derived_is_no_refusal(settler: Settler) -> None:
    settler.walker.head = ShapeHead(9, 0, 0)
    settler.walker.last_l1 = 12
    settler.outcomes.landed_batches = [LandedBatch(BatchIntent(5, 9), 12)]
    settler.outcomes.check_batches_derived(settler.walker, NOW)
    assert settler.outcomes.refusals[BATCHES] is None and settler.outcomes.landed_batches == []


async def test_an_unreachable_l1_makes_every_duty_stuck(settler: Settler) -> None:
    settler.book = TxBook(settler.l1, {}, 900, 1, lambda: None)  # nothing in flight; the L1 URL refuses connections
    for _ in range(STUCK_AFTER):
        assert await settler.run_round() is False
    health = settler._health()
    assert health["status"] == "stuck" and health["problem"].startswith(
        "batches: cannot read the L1 at http://127.0.0.1:9/"
    )
    assert all(report["status"] == "stuck" for report in health["duties"].values())


async def test_devnet_status_shows_a_stuck_settler_as_stuck_not_unreachable() -> None:
    report = {"status": "stuck", "problem": "outputs: refused"}
    server = RpcServer("settler", health=lambda: report)
    await server.start("127.0.0.1", 0)
    try:
        spec = SimpleNamespace(rpc=server.url)
        assert await asyncio.to_thread(health_state, spec) == "stuck"  # type: ignore[arg-type]
        report["status"] = "ok"
        assert await asyncio.to_thread(health_state, spec) == "ok"  # type: ignore[arg-type]
    finally:
        await server.stop()
    assert await asyncio.to_thread(health_state, spec) is None  # type: ignore[arg-type]


def test_a_normal_wait_becomes_a_problem_only_if_the_same_wait_lasts() -> None:
    waits = Waits()
    assert waits.observe("outputs", "derived:12", NOW) == 0.0
    assert waits.observe("outputs", "derived:12", NOW + 3) == 3.0
    assert waits.observe("outputs", "derived:16", NOW + 4) == 0.0  # another block: a new wait
    assert waits.observe("batches", "landing:ab", NOW + 4) == 0.0  # per duty
    assert waits.observe("outputs", None, NOW + 5) == 0.0
    assert waits.observe("outputs", "derived:16", NOW + 6) == 0.0
