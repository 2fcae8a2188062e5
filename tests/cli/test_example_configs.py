"""configs/devnet/ holds exactly what the devnet generator writes, and every file loads."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from l1.chain.config import load_l1_config
from l1.settler.config import load_settler_config
from node.devnet.configs import config_documents
from node.devnet.layout import DevnetLayout
from node.devnet.params import DevnetSettings
from node.executor.process import load_executor_config
from node.service import ConfigError
from prover.config import load_challenger_config
from sequencer.config import load_sequencer_config, sequencer_config_from_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "configs" / "devnet"
LOADERS = {
    "l1": load_l1_config,
    "sequencer": load_sequencer_config,
    "settler": load_settler_config,
    "executor-0": load_executor_config,
    "executor-1": load_executor_config,
    "challenger": load_challenger_config,
}


def generated() -> dict[str, dict]:  # type: ignore[type-arg]
    settings = DevnetSettings()
    docs = config_documents(DevnetLayout.at(Path("/unused")).processes(settings), settings)
    for name, doc in docs.items():
        doc["node"]["data_dir"] = f"data/{name}"
    return docs


def test_examples_are_what_the_generator_writes() -> None:
    docs = generated()
    assert sorted(p.stem for p in EXAMPLES.glob("*.toml")) == sorted(docs)
    for name, doc in docs.items():
        assert tomllib.loads((EXAMPLES / f"{name}.toml").read_text()) == tomllib.loads(_dump(doc)), name


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_each_example_loads_with_its_process_loader(name: str) -> None:
    config = LOADERS[name](EXAMPLES / f"{name}.toml")
    assert config is not None


def _dump(doc: dict) -> str:  # type: ignore[type-arg]
    from node.devnet.toml import dumps

    return dumps(doc)


@pytest.mark.parametrize("value, message", [(0, "max_seal_txs"), (10**9, "max_seal_txs"), ("2000", "integer")])
def test_sequencer_rejects_a_bad_max_seal_txs(value: object, message: str) -> None:
    doc = tomllib.loads((EXAMPLES / "sequencer.toml").read_text())
    doc["sequencer"]["max_seal_txs"] = value
    with pytest.raises(ConfigError, match=message):
        sequencer_config_from_dict(doc, EXAMPLES)
    doc["sequencer"]["max_seal_txs"] = 500
    assert sequencer_config_from_dict(doc, EXAMPLES).sequencer.max_seal_txs == 500
