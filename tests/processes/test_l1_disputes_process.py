"""Disputes and withdrawals against a real `python -m l1` process: the new RPC methods and a bad input per kind.

A small L2 chain is built in-process (its genesis output root goes into the
L1's config) and posted as a batch, so the L1 derives its blocks; its honest
output of block 1 is proposed and a withdrawal in
it is proven and paid; a bogus output of block 2 is disputed, the defender
stays silent and anyone resolves the game on time.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from l1.contracts.client import L1Client, L1TxReceipt
from l1.contracts.errors import (
    GameNotFound,
    L2BlockNotDerived,
    OutputMismatch,
    OutputNotFound,
    WithdrawalNotProven,
)
from l1.contracts.payloads import (
    Deposit,
    DisputeOutput,
    FinalizeWithdrawal,
    GameMove,
    PostBatch,
    ProposeOutput,
    ProveStepTx,
    ProveWithdrawal,
    ResolveGame,
)
from node.batch import BatchBlock, encode_batch
from node.chain import Chain
from node.crypto import Hash32
from node.fraud.game import Claim, Side
from node.fraud.trace import get_block_output
from node.keys.hd import dev_account
from node.rpc.client import SyncRpcClient
from node.rpc.errors import RpcError
from node.state.schema import get_withdrawal, withdrawal_key
from node.store.chain import ChainStore
from node.tx import Withdrawal
from tests.fraud.support import ALLOC, CONFIG, KEYS, L1_RECIPIENT, rtx_of
from tests.processes.test_l1_process import free_port

ROOT = Path(__file__).resolve().parents[2]
BLOCK_TIME_MS = 100
WINDOW = 25
CLOCK = 3
BOND = 1000
USER, BATCHER, PROPOSER, CHALLENGER, HELPER = (dev_account(i) for i in range(5))


class L2:
    """An honest L2 chain on the L1's genesis block: a withdrawal in block 1, an empty block 2 (origin L1 block 0)."""

    def __init__(self, path: Path, l1_genesis_timestamp_ms: int, l1_genesis_hash: bytes) -> None:
        self.chain = Chain(ChainStore(path), CONFIG)
        self.chain.init_genesis(ALLOC, l1_genesis_timestamp_ms, (0, l1_genesis_hash))
        self.withdrawal = rtx_of(KEYS[2], 0, Withdrawal(L1_RECIPIENT, 321))
        self.chain.seal_block([self.withdrawal], l1_genesis_timestamp_ms + 1, (0, l1_genesis_hash))
        self.chain.seal_block([], l1_genesis_timestamp_ms + 2, (0, l1_genesis_hash))

    def batch(self) -> bytes:
        blocks = [self.chain.store.get_block(n) for n in (1, 2)]
        return encode_batch(
            [BatchBlock(b.number, b.header.timestamp_ms, 0, b.transactions) for b in blocks if b is not None],
            CONFIG.chain_id,
        )

    def output(self, number: int) -> bytes:
        return get_block_output(self.chain.store, number).output_root

    def prove_payload(self, index: int) -> ProveWithdrawal:
        store = self.chain.store
        record = get_withdrawal(store.state_at(1), self.withdrawal.hash)
        assert record is not None
        _, proof = store.prove(withdrawal_key(self.withdrawal.hash), 1)
        out = get_block_output(store, 1)
        return ProveWithdrawal(
            index, Hash32(self.withdrawal.hash), record, Hash32(out.state_root), Hash32(out.block_hash), proof.encode()
        )


def write_config(directory: Path, port: int) -> Path:
    """No l2_genesis_output_root: the L1 computes it from [l1.rollup.genesis] and its own block 0."""
    alloc = "\n".join(f'"0x{address.hex()}" = "{balance}"' for address, balance in ALLOC.items())
    path = directory / "l1.toml"
    path.write_text(
        f"""
[node]
data_dir = "{directory / "data"}"
rpc_host = "127.0.0.1"
rpc_port = {port}
log_level = "DEBUG"

[l1]
chain_id = 900
block_time_ms = {BLOCK_TIME_MS}
min_fee = "1"
batcher = "dev1"
proposer_bond = "{BOND}"
challenge_window = {WINDOW}
max_batch_bytes = 4096
game_clock_blocks = {CLOCK}

[l1.rollup]
chain_id = {CONFIG.chain_id}
fee_recipient = "0x{CONFIG.fee_recipient.hex()}"
min_fee = "{CONFIG.min_fee}"
max_block_txs = {CONFIG.max_block_txs}
sequencing_window = 100000

[l1.rollup.genesis]
{alloc}
"""
    )
    return path


@pytest.fixture(scope="module")
def l2(tmp_path_factory: pytest.TempPathFactory, node_url: str) -> Iterator[L2]:
    genesis = SyncRpcClient(node_url, timeout=2.0).call("l1_getBlockByNumber", 0)
    chain = L2(tmp_path_factory.mktemp("l2") / "chain", genesis["timestamp"], bytes.fromhex(genesis["hash"][2:]))
    yield chain
    chain.chain.store.close()


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("l1d")
    port = free_port()
    config = write_config(directory, port)
    log = (directory / "l1.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "l1.chain", "--config", str(config)], cwd=ROOT, stdout=log, stderr=log
    )
    log.close()
    url = f"http://127.0.0.1:{port}/"
    try:
        rpc = SyncRpcClient(url, timeout=1.0)
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError((directory / "l1.log").read_text()[-2000:])
            try:
                rpc.call("l1_blockNumber")
                break
            except Exception:
                time.sleep(0.05)
        yield url
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
async def l1(node_url: str) -> AsyncIterator[L1Client]:
    async with L1Client(node_url) as client:
        yield client


async def run(l1: L1Client, key, payload, value: int = 0) -> L1TxReceipt:  # type: ignore[no-untyped-def]
    return await l1.wait_receipt(await l1.send_tx(key, payload, value), timeout=10, poll_s=0.02)


async def expect_code(l1: L1Client, key, payload, error: type, value: int = 0) -> None:  # type: ignore[no-untyped-def]
    receipt = await run(l1, key, payload, value)
    assert (receipt.status, receipt.error_code) == (0, error.rpc_code), receipt.error  # type: ignore[attr-defined]


async def test_config_rpc_and_bad_input_per_kind(l1: L1Client, l2: L2) -> None:
    info = await l1.config()
    assert (info.game_clock_blocks, info.l2_genesis_output_root, info.rollup_chain_id) == (
        CLOCK,
        l2.output(0),
        CONFIG.chain_id,
    )
    assert await l1.get_game(0) is None and await l1.get_games(0, 10) == []
    assert await l1.get_withdrawal(b"\x05" * 32) is None and await l1.get_withdrawals(0, 10) == []
    await expect_code(l1, CHALLENGER, DisputeOutput(99), OutputNotFound, BOND)
    await expect_code(l1, PROPOSER, GameMove(42, Claim(Side.DEFENDER, b"\x01" * 32)), GameNotFound)
    await expect_code(l1, HELPER, ProveStepTx(42, b""), GameNotFound)
    await expect_code(l1, HELPER, ResolveGame(42), GameNotFound)
    await expect_code(l1, HELPER, FinalizeWithdrawal(Hash32(b"\x05" * 32)), WithdrawalNotProven)
    await expect_code(l1, HELPER, l2.prove_payload(99), OutputNotFound)
    with pytest.raises(RpcError) as info_error:  # malformed params keep the standard code
        await l1.rpc.call("l1_getGame", "zero")
    assert info_error.value.code == -32602
    with pytest.raises(RpcError) as limit_error:
        await l1.rpc.call("l1_getGames", 0, 100_000)
    assert limit_error.value.code == -32005


async def test_dispute_timeout_and_withdrawal_over_rpc(l1: L1Client, l2: L2) -> None:
    assert (await run(l1, USER, Deposit(KEYS[2].address), 10_000)).status == 1
    await expect_code(l1, PROPOSER, ProposeOutput(1, l2.output(1)), L2BlockNotDerived, BOND)  # no batch yet
    assert (await run(l1, BATCHER, PostBatch(l2.batch()))).status == 1
    assert (await l1.rpc.call("l1_getL2Head"))["number"] == 2 == await l1.get_l2_head()
    honest = await run(l1, PROPOSER, ProposeOutput(1, l2.output(1)), BOND)
    honest_index = honest.events[0].index  # type: ignore[attr-defined]
    bogus = await run(l1, PROPOSER, ProposeOutput(2, b"\x0b" * 32), BOND)
    bogus_index = bogus.events[0].index  # type: ignore[attr-defined]
    # withdrawals: a bad opening of the output, then the real proof
    bad = l2.prove_payload(honest_index)
    await expect_code(
        l1,
        HELPER,
        ProveWithdrawal(
            bad.output_index, bad.withdrawal_id, bad.record, bad.state_root, Hash32(b"\x01" * 32), bad.proof
        ),
        OutputMismatch,
    )
    assert (await run(l1, HELPER, l2.prove_payload(honest_index))).status == 1
    (listed,) = await l1.get_withdrawals(0, 10)
    assert (listed.status, listed.output_index, listed.recipient, listed.amount) == (
        "proven",
        honest_index,
        L1_RECIPIENT,
        321,
    )
    # the dispute: the defender stays silent and loses on time
    disputed = await run(l1, CHALLENGER, DisputeOutput(bogus_index), BOND)
    assert disputed.status == 1, disputed.error
    game_id = disputed.events[0].game_id  # type: ignore[attr-defined]
    outputs = await l1.get_outputs(0, 10)
    assert (outputs[bogus_index].status, outputs[bogus_index].game_ids) == ("disputed", (game_id,))
    assert [p.address for p in outputs[bogus_index].defenders] == [PROPOSER.address]
    assert outputs[honest_index].game_ids == () and outputs[honest_index].challengers == ()
    game = await l1.get_game(game_id)
    assert game is not None and game.in_progress and game.phase == "blocks" and game.turn == "defender"
    assert (game.start_block, game.end_block, game.output_index, game.defender, game.challenger) == (
        0,
        2,
        bogus_index,
        PROPOSER.address,
        CHALLENGER.address,
    )
    assert game.bonds == {"challenger": BOND, "defender": BOND} and game.clocks == {
        "challenger": CLOCK,
        "defender": CLOCK,
    }
    assert game.raw["claims"]["mid"] is None and game.lo_claim == l2.output(0)
    while (await l1.block_number()) <= game.turn_started_at + CLOCK:
        await asyncio.sleep(0.05)
    resolved = await run(l1, HELPER, ResolveGame(game_id))
    assert resolved.status == 1, resolved.error
    assert [e.type for e in resolved.events] == ["game_resolved"]
    game = await l1.get_game(game_id)
    assert game is not None and (game.status, game.phase, game.winner) == ("challenger_won", "over", CHALLENGER.address)
    assert game.resolved_at == resolved.block_number and game.clocks_now["defender"] < 0
    assert [g.game_id for g in await l1.get_games(0, 10)] == [game_id]
    while (await l1.get_outputs(bogus_index, 1))[0].status != "defeated":  # settled when its window passes
        await asyncio.sleep(0.05)
    (settled,) = await l1.get_outputs(bogus_index, 1)
    assert settled.challengers[0].wins == 1 and settled.defenders[0].beaten_by == 0
    # the honest output finalizes, then the withdrawal is paid once
    while (await l1.get_outputs(honest_index, 1))[0].status != "finalized":
        await asyncio.sleep(0.05)
    paid = await run(l1, USER, FinalizeWithdrawal(Hash32(l2.withdrawal.hash)))
    assert paid.status == 1 and [e.type for e in paid.events] == ["withdrawal_finalized"]
    assert await l1.get_balance(L1_RECIPIENT) == 321
    info = await l1.get_withdrawal(l2.withdrawal.hash)
    assert info is not None and info.status == "finalized" and info.finalized_at == paid.block_number
    assert info.output_status == "finalized"
    again = await run(l1, USER, FinalizeWithdrawal(Hash32(l2.withdrawal.hash)))
    assert again.status == 0 and again.error_code == -32085
