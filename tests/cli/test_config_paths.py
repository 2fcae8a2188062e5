"""Every process resolves a relative data_dir against its config file's directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from l1.chain.config import load_l1_config
from l1.settler.config import load_settler_config
from node.executor.process import load_executor_config
from node.service import ConfigError
from sequencer.config import load_sequencer_config
from tests.support.processes import write_toml

ROLLUP = {"chain_id": 901, "l1_chain_id": 900, "fee_recipient": "0x" + "fe" * 20, "min_fee": 1}


def configs(tmp: Path) -> dict[str, Path]:
    node = {"data_dir": "data/x", "rpc_port": 0}
    return {
        "l1": write_toml(tmp / "l1.toml", {"node": node, "l1": {"chain_id": 900}}),
        "sequencer": write_toml(
            tmp / "seq.toml", {"node": node, "rollup": ROLLUP, "sequencer": {"l1_rpc": "http://127.0.0.1:1"}}
        ),
        "settler": write_toml(
            tmp / "settler.toml",
            {
                "node": node,
                "rollup": ROLLUP,
                "settler": {
                    "l1_rpc": "http://127.0.0.1:1",
                    "sequencer_rpc": "http://127.0.0.1:2",
                    "batcher_key": "dev8",
                    "proposer_key": "dev9",
                },
            },
        ),
        "executor": write_toml(
            tmp / "ex.toml", {"node": node, "rollup": ROLLUP, "executor": {"l1_rpc": "http://127.0.0.1:1"}}
        ),
    }


def test_relative_data_dir_is_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cfg").mkdir()
    files = configs(tmp_path / "cfg")
    monkeypatch.chdir(tmp_path)  # somewhere else than the configs
    expected = tmp_path / "cfg" / "data" / "x"
    assert load_l1_config(files["l1"]).data_dir == expected
    assert load_sequencer_config(files["sequencer"]).node.data_dir == expected
    assert load_settler_config(files["settler"]).node.data_dir == expected
    assert load_executor_config(files["executor"]).node.data_dir == expected


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    for loader in (load_l1_config, load_sequencer_config, load_settler_config, load_executor_config):
        with pytest.raises(ConfigError, match="does not exist"):
            loader(tmp_path / "nope.toml")
