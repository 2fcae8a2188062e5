"""The challenger's config, the devnet's generated configs for disputes, and the pure verdict rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from node.crypto import to_checksum_address
from node.devnet.configs import write_configs
from node.devnet.layout import DevnetLayout
from node.devnet.params import DevnetSettings
from node.devnet.state import build_state
from node.fraud.game import Phase, Side, Status
from node.keys.hd import dev_account
from node.service import ConfigError
from prover.config import challenger_config_from_dict, load_challenger_config
from prover.games import GameView, OutputView
from prover.verdicts import Verdict, choose_side, find_anchor, is_window_open, should_defend, should_dispute

ROLLUP = {
    "chain_id": 901,
    "l1_chain_id": 900,
    "fee_recipient": to_checksum_address(dev_account(7).address),
    "min_fee": "1",
    "genesis": {},
}


def doc(**challenger: object) -> dict[str, object]:
    return {
        "node": {"data_dir": "data"},
        "rollup": ROLLUP,
        "challenger": {"l1_rpc": "http://127.0.0.1:8545/", "key": "dev6", **challenger},
    }


def test_config_defaults(tmp_path: Path) -> None:
    config = challenger_config_from_dict(doc(), tmp_path)
    section = config.challenger
    assert section.key.address == dev_account(6).address
    assert section.defend and section.bond is None
    assert config.node.data_dir == tmp_path / "data"
    other = challenger_config_from_dict(doc(bond="5", poll_ms=50, defend=False), tmp_path).challenger
    assert other.bond == 5 and other.poll_ms == 50 and not other.defend


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"mode": "dispute_all"}, "unknown key"),  # test-only conduct: l1.faults.challenger, not a config key
        ({"key": ""}, "challenger.key"),
        ({"l1_rpc": "ftp://x"}, "challenger.l1_rpc"),
        ({"poll_ms": 1}, "challenger.poll_ms"),
        ({"bond": "-1"}, "challenger.bond"),
        ({"defend": "yes"}, "challenger.defend"),
        ({"surprise": 1}, "unknown key"),
    ],
)
def test_config_errors_name_the_key(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        challenger_config_from_dict(doc(**values))


def test_devnet_writes_loadable_dispute_configs(tmp_path: Path) -> None:
    from l1.chain.config import load_l1_config
    from l1.faults.settler import load_faulty_settler_config
    from l1.faults.trace import FaultMode
    from l1.settler.config import load_settler_config

    layout = DevnetLayout.at(tmp_path / "net")
    settings = DevnetSettings(
        base_port=30000,
        executors=1,
        l1_block_time_ms=250,
        challenge_window=40,
        game_clock=12,
        faulty_proposer=35,
        fault_mode="garbage",
        faulty_challenger=True,
    )
    specs = layout.processes(settings)
    write_configs(specs, settings)
    by_name = {spec.name: spec for spec in specs}
    assert by_name["challenger"].port == 31150 and by_name["dispute-all"].port == 31151

    honest = load_challenger_config(by_name["challenger"].config)
    faulty = load_challenger_config(by_name["dispute-all"].config)
    assert honest.challenger.key.address == dev_account(6).address and by_name["challenger"].entry_module == "prover"
    assert faulty.challenger.key.address == dev_account(5).address
    assert by_name["dispute-all"].entry_module == "l1.faults.challenger"  # the test-only conduct runs apart
    assert honest.challenger.l1_rpc == "http://127.0.0.1:30000/"

    l1 = load_l1_config(by_name["l1"].config)
    assert l1.block_time_ms == 250 and l1.params.challenge_window == 40
    assert l1.params.disputes.game_clock_blocks == 12
    assert l1.params.disputes.rollup == honest.rollup.chain_config()

    settler = load_faulty_settler_config(by_name["settler"].config)
    assert (settler.from_block, settler.mode) == (35, FaultMode.GARBAGE) and by_name[
        "settler"
    ].entry_module == "l1.faults.settler"
    assert settler.settler.rollup == honest.rollup
    assert load_settler_config(by_name["settler"].config).settler.proposer_key  # production ignores [faults]

    state = build_state(layout, settings, specs, {}, "running", True, None)
    assert [(c["name"], c["mode"]) for c in state["challengers"]] == [
        ("challenger", "honest"),
        ("dispute-all", "dispute_all"),
    ]
    assert state["params"]["game_clock_blocks"] == 12 and state["settings"]["faulty_proposer"] == 35


def test_honest_devnet_has_one_challenger_and_no_fault(tmp_path: Path) -> None:
    from l1.faults.settler import load_faulty_settler_config

    layout = DevnetLayout.at(tmp_path / "net")
    settings = DevnetSettings(base_port=30000, executors=2)
    specs = layout.processes(settings)
    write_configs(specs, settings)
    assert [s.name for s in specs if s.role == "challenger"] == ["challenger"]
    spec = next(s for s in specs if s.name == "settler")
    assert spec.entry_module == "l1.faults.settler"  # always: honest until devnet_setFaultyProposer
    assert load_faulty_settler_config(spec.config).from_block is None  # no [faults]: faults off until switched on


def test_settings_reject_bad_dispute_values() -> None:
    with pytest.raises(ValueError, match="--fault-mode"):
        DevnetSettings(fault_mode="bad")
    with pytest.raises(ValueError, match="--game-clock"):
        DevnetSettings(game_clock=1)
    with pytest.raises(ValueError, match="--l1-block-time-ms"):
        DevnetSettings(l1_block_time_ms=5)


# -- verdicts --

ME, OTHER = b"\x01" * 20, b"\x02" * 20


def output(
    index: int,
    block: int,
    status: str = "pending",
    root: bytes = b"\xaa" * 32,
    challengers: tuple[bytes, ...] = (),
    proposer: bytes = OTHER,
    defenders: tuple[bytes, ...] = (),
) -> OutputView:
    return OutputView(
        index,
        block,
        root,
        proposer,
        10,
        5 * index,
        5 * index + 40,
        status,
        challengers,
        defenders or ((proposer,) if challengers else ()),
    )


def test_should_dispute_rules() -> None:
    pending, disputed = output(1, 20), output(2, 30, status="disputed", challengers=(b"\x07" * 20,))
    assert should_dispute(pending, Verdict.WRONG, ME)
    assert not should_dispute(pending, Verdict.CORRECT, ME)
    assert not should_dispute(pending, Verdict.UNKNOWN, ME)
    # a wrong output disputed by someone else (maybe its proposer's puppet): we join as a challenger
    assert should_dispute(disputed, Verdict.WRONG, ME)
    assert not should_dispute(output(2, 30, challengers=(ME,)), Verdict.WRONG, ME)  # once
    assert not should_dispute(output(2, 30, status="finalized"), Verdict.WRONG, ME)


def test_should_defend_rules() -> None:
    attacked = output(1, 20, "disputed", challengers=(b"\x07" * 20,))
    assert should_defend(attacked, Verdict.CORRECT, ME)
    assert not should_defend(attacked, Verdict.WRONG, ME)
    assert not should_defend(attacked, Verdict.UNKNOWN, ME)
    assert not should_defend(output(1, 20), Verdict.CORRECT, ME)  # nobody disputes it
    assert not should_defend(replace(attacked, defenders=(OTHER, ME)), Verdict.CORRECT, ME)  # once
    assert not should_defend(replace(attacked, status="finalized"), Verdict.CORRECT, ME)


def test_anchor_is_the_newest_finalized_output_before() -> None:
    outputs = [
        output(0, 10, "finalized", b"\x10" * 32),
        output(1, 20, "finalized", b"\x20" * 32),
        output(2, 30, "pending"),
        output(3, 40, "pending"),
    ]
    assert find_anchor(outputs[3], outputs, None) == (20, b"\x20" * 32)
    assert find_anchor(output(0, 10), [output(0, 10)], None) is None
    assert find_anchor(output(0, 10), [output(0, 10)], b"\x00" * 32) == (0, b"\x00" * 32)
    assert is_window_open(outputs[3], 54) and not is_window_open(outputs[3], 55)


def test_choose_side() -> None:
    game = GameView(
        game_id=0,
        output_index=1,
        challenger=ME,
        defender=OTHER,
        status=Status.IN_PROGRESS,
        phase=Phase.BLOCKS,
        lo=10,
        hi=20,
        lo_claim=b"\x00" * 32,
        hi_claim=b"\x01" * 32,
        mid_claim=None,
        turn=Side.DEFENDER,
        remaining={Side.DEFENDER: 5, Side.CHALLENGER: 5},
        now=1,
        block_number=None,
        step_count=0,
        start_block=10,
        end_block=20,
        moves=0,
        created_at=1,
        resolved_at=None,
        bonds={},
        raw={},
    )
    assert choose_side(game, ME) is Side.CHALLENGER
    assert choose_side(game, OTHER) is Side.DEFENDER
    assert choose_side(game, b"\x03" * 20) is None  # fixed players: we move only where we are one
    assert not game.has_run_out(Side.DEFENDER)
    assert replace(game, remaining={Side.DEFENDER: 0, Side.CHALLENGER: 0}).has_run_out(Side.DEFENDER)
