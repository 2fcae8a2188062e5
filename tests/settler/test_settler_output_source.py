"""Where the settler's output roots come from: verified held blocks, the RPC fallback, or a wait.

The settler runs without its network and without an L1 here: its inbox walk
is fed hand-made L1 blocks (tests.settler.test_settler_verified_outputs),
its feed is a stand-in holding the sequencer's signed blocks, and a
stand-in sequencer RPC answers `rollup_syncStatus` and
`rollup_outputAtBlock` from the same chain, so the sources can be compared.
The config part: `sequencer_rpc` may be left out with `[p2p]`, and a
config with neither is refused with a clear error.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from l1.settler.blockstore import BlockStore
from l1.settler.config import settler_config_from_dict
from l1.settler.process import Settler
from node.chain import Chain
from node.crypto import to_checksum_address
from node.l2rpc import _Reader
from node.service import ConfigError
from tests.settler.test_settler_block_source import FakeFeed
from tests.settler.test_settler_gossip_blocks import RULES, SEQUENCER_KEY, SequencerNode, sealed_chain, signed_blocks
from tests.settler.test_settler_verified_outputs import rpc_root, walked

P2P = {"seed": "settler", "sequencer": to_checksum_address(SEQUENCER_KEY.address), "listen_port": 0}


class OutputSequencer:
    """The sequencer's RPC as the output duty reads it."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.calls: list[str] = []

    async def call(self, method: str, *params: Any) -> Any:
        self.calls.append(method)
        head = self.chain.head().number
        if method == "rollup_syncStatus":
            return {"safe": {"number": head}}
        assert method == "rollup_outputAtBlock"
        return _Reader(SequencerNode(self.chain)).outputAtBlock(list(params))

    async def close(self) -> None:
        return None


def config_doc(tmp_path: Path, with_rpc: bool, fallback_ms: int, p2p: bool = True) -> dict[str, Any]:
    settler: dict[str, Any] = {
        "l1_rpc": "http://127.0.0.1:9/",
        "batcher_key": "dev1",
        "proposer_key": "dev2",
        "gossip_fallback_ms": fallback_ms,
        "output_interval": 5,
    }
    if with_rpc:
        settler["sequencer_rpc"] = "http://127.0.0.1:9/"
    doc: dict[str, Any] = {
        "node": {"data_dir": str(tmp_path / "settler")},
        "rollup": {"chain_id": RULES.chain_id, "l1_chain_id": 900, "fee_recipient": "0x" + "fe" * 20},
        "settler": settler,
    }
    if p2p:
        doc["p2p"] = dict(P2P)
    return doc


async def make(tmp_path: Path, with_rpc: bool, fallback_ms: int, held: bool) -> tuple[Settler, OutputSequencer]:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    settler = Settler(settler_config_from_dict(config_doc(tmp_path, with_rpc, fallback_ms)))
    settler.walker = walked(seq, 12)
    store = BlockStore(tmp_path / "held", RULES)
    if held:
        for signed in signed_blocks(seq.chain):
            store.add(signed)
    settler.feed = FakeFeed(store, [])  # type: ignore[assignment]
    sequencer = OutputSequencer(seq.chain)
    if with_rpc:
        settler.sequencer = sequencer  # type: ignore[assignment]
    await settler._verify_held()
    return settler, sequencer


async def test_outputs_come_from_verified_held_blocks_without_the_rpc(tmp_path: Path) -> None:
    settler, sequencer = await make(tmp_path, with_rpc=False, fallback_ms=0, held=True)
    assert settler.sequencer is None and settler.verified.tip_number == 12
    assert await settler._proposable_head([]) == 12
    for k in (5, 10):
        outgoing, source = await settler.output_outgoing(k, 0)
        assert source == "gossip" and outgoing.intent.root == rpc_root(sequencer.chain, k)  # type: ignore[union-attr]
    assert sequencer.calls == []
    await settler.l1.close()


async def test_unverified_blocks_wait_for_gossip_and_then_fall_back_to_the_rpc(tmp_path: Path) -> None:
    settler, sequencer = await make(tmp_path, with_rpc=True, fallback_ms=60_000, held=False)
    assert settler.verified.tip_number == 0  # anchored at genesis, nothing held to move on
    assert await settler._proposable_head([]) == 0 and sequencer.calls == []  # gossip is not late yet
    settler.section = replace(settler.section, gossip_fallback_ms=0)  # as if the wait had lasted that long
    assert await settler._proposable_head([]) == 12 and sequencer.calls == ["rollup_syncStatus"]
    outgoing, source = await settler.output_outgoing(10, 0)
    assert source == "rpc" and outgoing.intent.root == rpc_root(sequencer.chain, 10)  # type: ignore[union-attr]
    await settler.l1.close()


async def test_without_an_rpc_a_long_wait_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    settler, _ = await make(tmp_path, with_rpc=False, fallback_ms=0, held=False)
    assert await settler._proposable_head([]) == 0
    problem = settler._gossip_only_wait("the block of the output due", settler._output_starvation)
    assert problem is not None and "no sequencer_rpc to fall back to" in problem
    with pytest.raises(Exception, match="no settler.sequencer_rpc"):
        await settler.fetch_output_root(5)
    await settler.l1.close()


def test_sequencer_rpc_is_optional_with_p2p_and_required_without(tmp_path: Path) -> None:
    config = settler_config_from_dict(config_doc(tmp_path, with_rpc=False, fallback_ms=3000))
    assert config.settler.sequencer_rpc is None and config.p2p is not None
    with pytest.raises(ConfigError, match="set settler.sequencer_rpc, or a \\[p2p\\] section"):
        settler_config_from_dict(config_doc(tmp_path, with_rpc=False, fallback_ms=3000, p2p=False))
    bad = config_doc(tmp_path, with_rpc=False, fallback_ms=3000)
    bad["settler"]["sequencer_rpc"] = "ftp://x"
    with pytest.raises(ConfigError, match="settler.sequencer_rpc must be an http"):
        settler_config_from_dict(bad)


def test_a_test_policy_needs_the_rpc(tmp_path: Path) -> None:
    config = settler_config_from_dict(config_doc(tmp_path, with_rpc=False, fallback_ms=3000))
    with pytest.raises(Exception, match="needs settler.sequencer_rpc"):
        Settler(config, lambda *_: None)  # type: ignore[arg-type,return-value]
