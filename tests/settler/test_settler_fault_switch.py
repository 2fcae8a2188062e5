"""devnet_setFaultyProposer's switch (l1.faults.proposer.FaultyProposer.set_fault_mode) and the settler's checks.

Pure parts, no processes: which outputs get a wrong root before and after
the switch, re-arming after a settled fault, the switch saved on disk, and
the settler's parameter validation and refusal when run without fault modes
(tests/processes/test_process_control.py runs it on a real devnet).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from l1.contracts.reports import OutputReport
from l1.contracts.state import OutputProposal, OutputStatus
from l1.faults.proposer import SWITCH_FILE, FaultState, FaultyProposer, load_switch, save_fault_state
from l1.faults.settler import FaultySettlerConfig, make_faulty_settler
from l1.faults.trace import FaultMode
from l1.settler.config import SettlerConfig, settler_config_from_dict
from l1.settler.process import Settler
from node.crypto import Hash32
from node.keys.hd import dev_account
from node.rpc.errors import ControlRefused, InvalidParams

PROPOSER = dev_account(2)
WRONG = "0x" + "ab" * 32


def settler_config(tmp_path: Path) -> SettlerConfig:
    doc = {
        "node": {"data_dir": str(tmp_path), "devnet": True},
        "rollup": {"chain_id": 901, "l1_chain_id": 900, "fee_recipient": "0x000000000000000000000000000000000000fee1"},
        "settler": {
            "l1_rpc": "http://127.0.0.1:9/",
            "sequencer_rpc": "http://127.0.0.1:9/",
            "batcher_key": "dev1",
            "proposer_key": "dev2",
            "output_interval": 4,
        },
    }
    return settler_config_from_dict(doc)


async def close(settler: Settler) -> None:
    await settler.l1.close()
    await settler.sequencer.close()


@pytest.fixture
async def faulty(tmp_path: Path) -> AsyncIterator[tuple[Settler, FaultyProposer]]:
    settler = make_faulty_settler(FaultySettlerConfig(settler_config(tmp_path), None, FaultMode.TX_POST_STATE))
    assert isinstance(settler.faulty, FaultyProposer)
    yield settler, settler.faulty
    await close(settler)


def report(block: int, status: OutputStatus, root: str = WRONG, index: int = 0) -> OutputReport:
    proposal = OutputProposal(index, block, Hash32(bytes.fromhex(root[2:])), PROPOSER.address, 1000, 10, status)
    return OutputReport(proposal, 30, None)


def test_disarmed_until_switched_on_then_from_the_given_output(faulty: tuple[Settler, FaultyProposer]) -> None:
    _, proposer = faulty
    assert not proposer.wants_fault(4) and not proposer.wants_fault(10**6)
    assert proposer.limit_due([4, 8, 12]) == [4, 8, 12]
    assert proposer.set_fault_mode("garbage", 8) == 8
    assert proposer.mode is FaultMode.GARBAGE and proposer.switch == "garbage"
    assert not proposer.wants_fault(4) and proposer.wants_fault(8)
    assert proposer.limit_due([4, 8, 12]) == [4, 8]  # nothing past the wrong one while it is out
    assert proposer.set_fault_mode("tx", 12) == 12
    assert proposer.mode is FaultMode.TX_POST_STATE and not proposer.wants_fault(8) and proposer.wants_fault(12)
    assert proposer.set_fault_mode(None, 12) == 12
    assert not proposer.wants_fault(12) and proposer.limit_due([4, 8, 12]) == [4, 8, 12]


def test_the_switch_is_saved_for_a_restart(faulty: tuple[Settler, FaultyProposer], tmp_path: Path) -> None:
    _, proposer = faulty
    assert load_switch(tmp_path / SWITCH_FILE) == (None, None)
    proposer.set_fault_mode("tx", 16)
    assert load_switch(tmp_path / SWITCH_FILE) == ("tx", 16)
    proposer.set_fault_mode(None, 20)
    assert load_switch(tmp_path / SWITCH_FILE) == (None, None)
    (tmp_path / SWITCH_FILE).write_text(json.dumps({"mode": "bogus", "from_block": 3}))
    with pytest.raises(Exception, match="invalid switch"):
        load_switch(tmp_path / SWITCH_FILE)


async def test_a_settled_fault_rearms_while_switched_on(faulty: tuple[Settler, FaultyProposer], tmp_path: Path) -> None:
    settler, proposer = faulty
    proposer.set_fault_mode("garbage", 8)
    state = FaultState(8, 5, WRONG, True, 5)
    proposer.state = state  # as wrong_root records it when the wrong proposal is made
    save_fault_state(proposer.state_path, state)
    assert proposer.needs_attention and proposer.limit_due([8, 12]) == [8]
    assert proposer.set_fault_mode("garbage", 12) == 9  # a wrong output is out: the switch applies after it

    await proposer.play(settler.section.proposer_key, [report(8, OutputStatus.FINALIZED)])  # it stood unchallenged
    assert proposer.state is None and not proposer.needs_attention
    assert (tmp_path / "settler_fault.8.json").exists() and not proposer.state_path.exists()
    assert not proposer.wants_fault(8) and proposer.wants_fault(12)  # re-armed from block 9: the next output, 12
    assert proposer.limit_due([12, 16]) == [12]


async def test_a_defeated_fault_is_proposed_again_alone_then_the_next_output_is_wrong(
    faulty: tuple[Settler, FaultyProposer],
) -> None:
    settler, proposer = faulty
    proposer.set_fault_mode("tx", 8)
    proposer.state = FaultState(8, 5, WRONG, False, 5)
    save_fault_state(proposer.state_path, proposer.state)
    key = settler.section.proposer_key
    await proposer.play(key, [report(8, OutputStatus.DEFEATED)])
    assert proposer.state is not None and proposer.state.settled == "defeated"
    assert proposer.limit_due([8, 12, 16]) == [8]  # the correct root for 8 first, nothing after it yet
    right = "0x" + "cd" * 32
    await proposer.play(key, [report(8, OutputStatus.DEFEATED), report(8, OutputStatus.PENDING, right, 1)])
    assert proposer.state is None and proposer.from_block == 9  # re-armed once the correct one is live
    assert proposer.limit_due([12, 16]) == [12] and proposer.wants_fault(12)


async def test_a_settled_fault_stays_honest_when_switched_off(
    faulty: tuple[Settler, FaultyProposer], tmp_path: Path
) -> None:
    settler, proposer = faulty
    proposer.set_fault_mode("tx", 8)
    proposer.state = FaultState(8, 5, WRONG, False, 5)
    save_fault_state(proposer.state_path, proposer.state)
    assert proposer.set_fault_mode(None, 12) == 9
    await proposer.play(settler.section.proposer_key, [report(8, OutputStatus.FINALIZED)])
    assert proposer.state is not None and proposer.state.settled == "finalized"
    assert not proposer.needs_attention and not proposer.wants_fault(12) and proposer.limit_due([12]) == [12]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bogus", 'mode must be "tx", "garbage" or null, got \'bogus\''),
        ("tx_post_state", 'mode must be "tx", "garbage" or null, got \'tx_post_state\''),
        (1, 'mode must be "tx", "garbage" or null, got int'),
        (True, 'mode must be "tx", "garbage" or null, got bool'),
        (["tx"], 'mode must be "tx", "garbage" or null, got list'),
    ],
)
async def test_bad_modes_are_invalid_params(faulty: tuple[Settler, FaultyProposer], value: Any, message: str) -> None:
    settler, proposer = faulty
    with pytest.raises(InvalidParams) as raised:
        await settler.devnet_set_faulty_proposer([value])
    assert raised.value.message == message
    assert proposer.switch is None


async def test_a_settler_without_fault_modes_refuses_the_switch(tmp_path: Path) -> None:
    settler = Settler(settler_config(tmp_path))  # python -m l1.settler: no proposal policy
    try:
        with pytest.raises(ControlRefused, match="runs without fault modes"):
            await settler.devnet_set_faulty_proposer(["tx"])
        with pytest.raises(InvalidParams):
            await settler.devnet_set_faulty_proposer([])
    finally:
        await close(settler)
