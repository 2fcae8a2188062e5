"""A faulty proposer past a balance override on a real devnet is still defeated by the honest challenger.

The devnet (fast L1 blocks, short windows: tests/processes/test_fraud_devnet.py's helpers) sets a keyless
address's balance; once an honest output covers the override, the control endpoint makes the proposer faulty
from its next output (one transaction's post-state wrong, under background transfers). The challenger
re-derives the chain from L1, override included, disputes, bisects and wins with a one-step proof; the output
is defeated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.devnet.handle import Devnet as Handle
from node.rpc.client import SyncRpcClient
from tests.processes.test_fraud_devnet import Devnet, TransferLoad, challenger, games, outputs, report
from tests.support.processes import wait_for

pytestmark = pytest.mark.slow

FRESH = "0x00000000000000000000000000000000000fee03"


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Devnet]:
    devnet = Devnet(tmp_path / "net", "--challenge-window", "40", "--game-clock", "20")
    try:
        yield devnet
    finally:
        devnet.down()


def test_a_faulty_output_past_an_override_is_defeated(net: Devnet) -> None:
    handle = Handle.from_dir(net.directory)
    doc = net.doc
    try:
        override = handle.set_l2_balance(FRESH, 3 * 10**18)
        lowered = handle.set_l2_balance(FRESH, 5)
        assert int(lowered["balance"]) == 5
        honest = challenger(doc, "honest")
        past = int(lowered["l2Block"])
        wait_for(
            lambda: any(int(o["l2BlockNumber"]) >= past for o in outputs(doc)),
            120,
            f"an honest output at or past the override's L2 block {past}",
        )
        with TransferLoad(doc["sequencer"]["rpc"]):
            handle.faulty_proposer("tx")  # from the settler's next output on, past the override
            defeated: Callable[[], dict[str, object] | None] = lambda: next(  # noqa: E731
                (o for o in outputs(doc) if o["status"] == "defeated"), None
            )
            output = wait_for(defeated, 180, "the wrong output to be defeated")
        handle.faulty_proposer("off")
        assert int(str(output["l2BlockNumber"])) > int(lowered["l2Block"]) > int(override["l2Block"])
        game = next(g for g in games(doc) if g["outputIndex"] == output["index"])
        assert game["status"] == "challenger_won" and game["winner"] == honest["address"]
        status = SyncRpcClient(honest["rpc"]).call("challenger_status")
        assert status["stats"]["lost"] == 0
        executor = SyncRpcClient(doc["executors"][0]["rpc"])
        assert int(executor.call("rollup_getBalance", FRESH, "latest")) == 5
        report(
            f"override at L2 blocks {override['l2Block']}, {lowered['l2Block']}; faulty output at L2 block "
            f"{output['l2BlockNumber']} defeated in game {game['gameId']} (one-step proof on step {game['lo']})"
        )
    except BaseException:
        report(net.logs("challenger"))
        report(net.logs("settler"))
        raise
