"""The settler as a real process, killed with its transactions in the L1 mempool, and refused by the L1.

- kill -9 right after it sent a proposal, then right after it sent a batch
  (slow L1 blocks, so the transaction is in the L1 mempool, not in a block):
  the restarted settler waits for it instead of sending it again, proposes
  the next outputs, never gets a refusal, never posts an L2 block twice,
  and the safe head keeps advancing (issue 10);
- an attacker's output for a far L2 block: on an L1 that orders proposals
  (-32062) the settler cannot propose and its /health says "stuck" with the
  reason (without a tight retry loop); on an L1 where proposals coexist or
  the attacker is refused, it keeps proposing and stays "ok";
- an L1 whose permissioned proposer is another key: the settler's health is
  "stuck" (not the proposer), then its proposals go through once the L1's
  permissionless fallback opens, and its health is "ok" again.

Processes run on free loopback ports and are killed in the fixtures' teardown.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from l1.contracts.client import L1Client
from l1.contracts.payloads import ProposeOutput
from node.batch import decode_batch
from node.crypto import Hash32, keccak256, parse_hex, to_checksum_address
from node.keys.hd import dev_account
from node.rpc.client import RpcClient
from node.rpc.metrics import parse_exposition
from tests.processes.test_sequencer_process import L2_CHAIN_ID, DevnetConfigs, Service, devnet_configs

pytestmark = pytest.mark.slow

BATCHER, PROPOSER, ATTACKER, OTHER_PROPOSER = dev_account(1), dev_account(2), dev_account(7), dev_account(5)
BOND = 1000  # devnet_configs' proposer_bond
STUCK_AFTER = 5


# -- configs and processes --


# [l1.rollup] as devnet_configs' [rollup]: the L1 then derives the L2 blocks of its inbox and refuses outputs for others
L1_ROLLUP = f"""
[l1.rollup]
chain_id = {L2_CHAIN_ID}
fee_recipient = "0x000000000000000000000000000000000000fee1"
min_fee = "1000"
max_block_txs = 2000
sequencing_window = 50
max_sequencer_drift_ms = 10000
"""


def configure(
    directory: Path,
    *,
    l1_block_ms: int,
    output_interval: int,
    l1_extra: str = "",
    l1_tables: str = "",
    challenge_window: int = 5,
) -> DevnetConfigs:
    cfg = devnet_configs(directory, challenge_window=challenge_window, output_interval=output_interval)
    l1_toml = directory / "l1.toml"
    text = re.sub(
        r"(\[l1\]\n(?:.*\n)*?)block_time_ms = \d+", rf"\g<1>block_time_ms = {l1_block_ms}", l1_toml.read_text(), count=1
    )
    l1_toml.write_text(text.replace("[l1]\n", f"[l1]\n{l1_extra}", 1) + l1_tables)
    with (directory / "settler.toml").open("a") as f:
        f.write(f"stuck_after_rounds = {STUCK_AFTER}\n")
    return cfg


@pytest.fixture
def processes() -> Iterator[list[Service]]:
    started: list[Service] = []
    try:
        yield started
    finally:
        for service in reversed(started):
            service.stop()


def start_all(cfg: DevnetConfigs, started: list[Service]) -> tuple[Service, Service, Service]:
    l1, seq, settler = cfg.l1(), cfg.sequencer(), cfg.settler()
    for service in (l1, seq, settler):
        started.append(service)
        service.start()
    return l1, seq, settler


async def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def get_health(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url + "health", timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def get_metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url + "metrics", timeout=2) as response:
        return parse_exposition(response.read().decode())


# -- what L1 holds --


async def our_outputs(l1: RpcClient, proposer: bytes = PROPOSER.address) -> list[dict[str, Any]]:
    ours = to_checksum_address(proposer)
    return [o for o in await l1.call("l1_getOutputs", 0, 256) if o["proposer"] == ours]


async def posted_blocks(l1: RpcClient) -> list[int]:
    """Every L2 block number in every batch on L1, re-posts included."""
    head = await l1.call("l1_blockNumber")
    numbers: list[int] = []
    for first in range(0, head + 1, 64):
        for block in await l1.call("l1_getDerivationData", first, 64):
            for batch in block["batches"]:
                numbers.extend(b.number for b in decode_batch(parse_hex(batch["data"], None, "batch"), L2_CHAIN_ID))
    return numbers


async def refused_receipts(l1: RpcClient, senders: tuple[bytes, ...]) -> list[dict[str, Any]]:
    """Status-0 receipts of the given senders, over the whole L1 chain."""
    wanted = {to_checksum_address(s) for s in senders}
    refused = []
    for number in range(1, await l1.call("l1_blockNumber") + 1):
        block = await l1.call("l1_getBlockByNumber", number)
        for tx_hash in block["transactions"]:
            receipt = await l1.call("l1_getTransactionReceipt", tx_hash)
            if receipt["from"] in wanted and receipt["status"] != 1:
                refused.append(receipt)
    return refused


async def kill_with_tx_in_mempool(
    settler: Service, settler_rpc: RpcClient, l1: RpcClient, role: str, min_nonce: int = 0
) -> dict[str, Any]:
    """SIGKILL the settler as soon as a transaction of `role` of its (nonce >= min_nonce) is in the L1 mempool."""
    key = BATCHER if role == "batcher" else PROPOSER

    async def in_mempool() -> dict[str, Any] | None:
        status = await settler_rpc.call("settler_status")
        entries = [e for e in status["inFlight"] if e["role"] == role and e["nonce"] >= min_nonce]
        if not entries:
            return None
        entry = entries[0]
        pending = await l1.call("l1_getNonce", to_checksum_address(key.address))
        receipt = await l1.call("l1_getTransactionReceipt", entry["hashes"][-1])
        return entry if pending > entry["nonce"] and receipt is None else None

    entry = await wait_for(in_mempool, 30, f"a {role} transaction of the settler in the L1 mempool", interval=0.005)
    settler.kill(signal.SIGKILL)
    assert await l1.call("l1_getTransactionReceipt", entry["hashes"][-1]) is None, "the L1 mined it before the kill"
    return entry


# -- the tests --


async def test_killed_with_its_proposal_then_its_batch_in_the_l1_mempool_it_resumes_without_duplicates(
    tmp_path: Path, processes: list[Service]
) -> None:
    interval = 2
    cfg = configure(tmp_path, l1_block_ms=1500, output_interval=interval)
    _, _, settler = start_all(cfg, processes)
    async with RpcClient(cfg.l1_url) as l1, RpcClient(cfg.seq_url) as seq, RpcClient(cfg.settler_url) as settler_rpc:
        proposal = await kill_with_tx_in_mempool(settler, settler_rpc, l1, "proposer")
        killed_block = proposal["intent"]["block"]
        safe_at_kill = (await seq.call("rollup_syncStatus"))["safe"]["number"]
        batcher_nonce = await l1.call("l1_getNonce", to_checksum_address(BATCHER.address))
        settler.start()

        # a batch sent by the restarted settler (not one still in flight from its first life)
        batch = await kill_with_tx_in_mempool(settler, settler_rpc, l1, "batcher", min_nonce=batcher_nonce)
        settler.start()

        async def proposed_past() -> bool:
            return any(o["l2BlockNumber"] >= killed_block + 4 * interval for o in await our_outputs(l1))

        await wait_for(proposed_past, 40, f"outputs past L2 block {killed_block + 4 * interval}")
        batch_last = batch["intent"]["last"]

        async def safe_past() -> bool:
            return bool((await seq.call("rollup_syncStatus"))["safe"]["number"] > max(safe_at_kill, batch_last) + 2)

        await wait_for(safe_past, 30, "the safe head to advance past the killed batch")

        outputs = await our_outputs(l1)
        numbers = [o["l2BlockNumber"] for o in outputs]
        assert numbers == list(range(interval, numbers[-1] + 1, interval)), "an output proposed twice or skipped"
        assert killed_block in numbers
        posted = await posted_blocks(l1)
        assert len(posted) == len(set(posted)), (
            f"L2 blocks posted twice: {sorted(n for n in set(posted) if posted.count(n) > 1)}"
        )
        assert sorted(posted) == list(range(1, max(posted) + 1))
        assert await refused_receipts(l1, (BATCHER.address, PROPOSER.address)) == []
        status, health = get_health(cfg.settler_url)
        assert status == 200 and health["status"] == "ok", health
    log = settler.log()
    assert "waiting for it before deciding again" in log and "-32062" not in log


@pytest.mark.parametrize(
    "l1_rules",
    [
        pytest.param({}, id="permissionless"),
        pytest.param(
            {"l1_extra": f'proposer = "{to_checksum_address(PROPOSER.address)}"\n', "l1_tables": L1_ROLLUP},
            id="permissioned-and-derived",
        ),
    ],
)
async def test_an_attacker_output_for_a_far_l2_block_stops_honest_proposals_only_where_the_l1_orders_them(
    tmp_path: Path, processes: list[Service], l1_rules: dict[str, str]
) -> None:
    interval = 4
    cfg = configure(tmp_path, l1_block_ms=200, output_interval=interval, **l1_rules)
    _, _, settler = start_all(cfg, processes)
    async with L1Client(cfg.l1_url) as l1_client, RpcClient(cfg.settler_url) as settler_rpc:
        l1 = l1_client.rpc
        await wait_for(lambda: proposed_upto(settler_rpc, 2 * interval), 20, "the settler's first outputs")
        far = 10**9
        tx_hash = await l1_client.send_tx(ATTACKER, ProposeOutput(far, Hash32(keccak256(b"fake state"))), value=BOND)
        attack = await l1_client.wait_receipt(tx_hash, 10)
        before = await settler_rpc.call("settler_status")

        async def ordered_or_moved_on() -> str | None:
            status = await settler_rpc.call("settler_status")
            if status["l1OrdersProposals"]:
                return "ordered"
            return "coexist" if status["proposedUpto"] >= before["proposedUpto"] + 3 * interval else None

        outcome = await wait_for(ordered_or_moved_on, 30, "the settler to be refused or to keep proposing")
        if outcome == "ordered":
            # an L1 that takes proposals above every live one only (before issue 10): the settler cannot propose
            assert attack.status == 1
            code, health = await wait_for(lambda: stuck_health(cfg.settler_url), 20, "health to say stuck")
            assert code == 503 and health["status"] == "stuck" and str(far) in health["problem"], health
            assert to_checksum_address(ATTACKER.address) in health["problem"]
            assert get_metrics(cfg.settler_url)['settler_stuck{duty="outputs"}'] == 1
            refusals = get_metrics(cfg.settler_url).get('settler_refusals_total{code="-32062",duty="outputs"}', 0)
            await asyncio.sleep(8)
            later = get_metrics(cfg.settler_url).get('settler_refusals_total{code="-32062",duty="outputs"}', 0)
            assert later - refusals <= 2, "the settler retries a refused proposal in a tight loop"
            posted = (await settler_rpc.call("settler_status"))["postedUpto"]
            assert posted > before["postedUpto"], "batches must go on while proposals are blocked"
        else:
            # the attacker was refused (not the proposer, block not derived) or proposals coexist: nothing stops us
            assert attack.status == (0 if l1_rules else 1), attack
            code, health = get_health(cfg.settler_url)
            assert code == 200 and health["status"] == "ok", health
            assert await refused_receipts(l1, (PROPOSER.address,)) == []
    assert "Traceback" not in settler.log()


async def test_refused_as_not_the_proposer_it_reports_stuck_then_recovers_when_the_fallback_opens(
    tmp_path: Path, processes: list[Service]
) -> None:
    interval, fallback = 4, 40
    other = to_checksum_address(OTHER_PROPOSER.address)
    cfg = configure(
        tmp_path,
        l1_block_ms=200,
        output_interval=interval,
        challenge_window=1000,
        l1_extra=f'proposer = "{other}"\nproposer_fallback_blocks = {fallback}\n',
    )
    _, _, settler = start_all(cfg, processes)
    async with RpcClient(cfg.l1_url) as l1, RpcClient(cfg.settler_url) as settler_rpc:
        code, health = await wait_for(lambda: stuck_health(cfg.settler_url), 20, "health to say stuck")
        assert code == 503 and health["status"] == "stuck" and "not the proposer" in health["problem"], health
        assert health["duties"]["batches"]["status"] == "ok"
        assert await l1.call("l1_blockNumber") < fallback, "the fallback opened before the settler was seen stuck"
        assert await our_outputs(l1) == []
        await wait_for(lambda: l1_past(l1, fallback), 30, "the L1 to reach the fallback block")
        refused = await refused_receipts(l1, (PROPOSER.address,))
        assert 1 <= len(refused) <= 8, f"{len(refused)} refused proposals: a retry loop, not a backoff"
        assert all(r["errorCode"] == -32088 for r in refused)

        await wait_for(lambda: has_outputs(l1), 60, "an output of ours once the fallback is open")
        assert (await our_outputs(l1))[0]["proposedAt"] >= fallback
        first = (await our_outputs(l1))[0]["l2BlockNumber"]
        await wait_for(lambda: ok_health(cfg.settler_url), 30, "health back to ok")
        await wait_for(lambda: proposed_upto(settler_rpc, first + 2 * interval), 30, "proposals to go on")
    assert "not the proposer" in settler.log()


async def proposed_upto(settler_rpc: RpcClient, number: int) -> bool:
    return bool((await settler_rpc.call("settler_status"))["proposedUpto"] >= number)


async def l1_past(l1: RpcClient, number: int) -> bool:
    return bool(await l1.call("l1_blockNumber") >= number)


async def has_outputs(l1: RpcClient) -> bool:
    return bool(await our_outputs(l1))


async def stuck_health(url: str) -> tuple[int, dict[str, Any]] | None:
    code, health = get_health(url)
    return (code, health) if health.get("status") == "stuck" else None


async def ok_health(url: str) -> bool:
    code, health = get_health(url)
    return code == 200 and health.get("status") == "ok"
