"""The settler's `[p2p]` section and gossip fallback key: loaded like the executors', bad values rejected.

Also the devnet's settler config (node.devnet.configs): a gossip peer at
base+1299 bootstrapping to the sequencer only, its port in the devnet's
port checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from l1.settler.config import DEFAULT_GOSSIP_FALLBACK_MS, load_settler_config, settler_config_from_dict
from node.crypto import to_checksum_address
from node.devnet import params as p
from node.devnet.configs import p2p_multiaddr, p2p_ports, write_configs
from node.devnet.layout import DevnetLayout
from node.devnet.params import DevnetSettings
from node.p2p.identity import derive_seed
from node.service import ConfigError

SEQUENCER = to_checksum_address(p.sequencer_gossip_key().address)
BOOTSTRAP = p2p_multiaddr("sequencer", 9645)


def doc(p2p: dict[str, Any] | None = None, **settler: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "node": {"data_dir": "/tmp/settler-test"},
        "rollup": {"chain_id": 901, "l1_chain_id": 900, "fee_recipient": "0x000000000000000000000000000000000000fee1"},
        "settler": {
            "l1_rpc": "http://127.0.0.1:8545/",
            "sequencer_rpc": "http://127.0.0.1:9545/",
            "batcher_key": "dev1",
            "proposer_key": "dev2",
            **settler,
        },
    }
    if p2p is not None:
        out["p2p"] = p2p
    return out


def test_without_p2p_the_settler_follows_the_rpc() -> None:
    config = settler_config_from_dict(doc())
    assert config.p2p is None
    assert config.settler.gossip_fallback_ms == DEFAULT_GOSSIP_FALLBACK_MS


def test_p2p_section_as_the_executors() -> None:
    section = {"listen_port": 9646, "seed": "settler", "bootstrap": [BOOTSTRAP], "sequencer": SEQUENCER}
    config = settler_config_from_dict(doc(section, gossip_fallback_ms=500))
    assert config.p2p is not None
    assert config.p2p.listen_port == 9646 and config.p2p.seed == derive_seed("settler")
    assert config.p2p.bootstrap == (BOOTSTRAP,)
    assert config.p2p.sequencer == p.sequencer_gossip_key().address
    assert config.settler.gossip_fallback_ms == 500


@pytest.mark.parametrize(
    ("p2p", "settler", "message"),
    [
        ({"listen_port": 1, "seed": "s"}, {}, "p2p.sequencer"),  # whose signature to check
        ({"listen_port": 70000, "seed": "s", "sequencer": SEQUENCER}, {}, "p2p.listen_port"),
        ({"seed": "", "sequencer": SEQUENCER}, {}, "p2p.seed"),
        ({"seed": "s", "bootstrap": ["not a multiaddr"], "sequencer": SEQUENCER}, {}, "p2p.bootstrap"),
        ({"seed": "s", "bootstrap": "x", "sequencer": SEQUENCER}, {}, "p2p.bootstrap"),
        ({"seed": "s", "sequencer": "0x1234"}, {}, "p2p.sequencer"),
        (None, {"gossip_fallback_ms": -1}, "gossip_fallback_ms"),
        (None, {"gossip_fallback_ms": 10**9}, "gossip_fallback_ms"),
        (None, {"gossip_fallback_ms": "3s"}, "gossip_fallback_ms"),
        (None, {"gossip_fallback": 3}, "unknown key"),
    ],
)
def test_bad_values_are_rejected(p2p: dict[str, Any] | None, settler: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settler_config_from_dict(doc(p2p, **settler))


def test_p2p_must_be_a_table() -> None:
    bad = doc()
    bad["p2p"] = "yes"
    with pytest.raises(ConfigError, match=r"\[p2p\]"):
        settler_config_from_dict(bad)


def test_devnet_settler_is_a_gossip_peer_of_the_sequencer(tmp_path: Path) -> None:
    layout = DevnetLayout.at(tmp_path / "net")
    settings = DevnetSettings(base_port=30000, executors=2)
    specs = layout.processes(settings)
    write_configs(specs, settings)
    settler = next(spec for spec in specs if spec.name == "settler")
    config = load_settler_config(settler.config)
    assert config.p2p is not None
    assert config.p2p.listen_port == 30000 + p.SETTLER_P2P_PORT_OFFSET
    assert config.p2p.bootstrap == (p2p_multiaddr("sequencer", 30000 + p.P2P_PORT_OFFSET),)
    assert config.p2p.sequencer == p.sequencer_gossip_key().address
    planned = dict(p2p_ports(specs, settings))
    assert planned[30000 + p.SETTLER_P2P_PORT_OFFSET] == "settler p2p"
    assert len(planned) == len(p2p_ports(specs, settings))  # no two listeners share a port
