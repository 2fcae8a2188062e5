"""Where the L1 finds an L2 block's transactions in its own inbox: the one-step proof's `step_ref`.

The L1 rebuilds the opened block's step inputs itself (l1.dispute_tx.StepRef):
- `system`: present iff the block opens its epoch; the L1 takes every
  deposit of the origin L1 block plus the forced transactions listed here
  by log index (those derivation included: the block's system transactions
  after the deposits, matched in log order);
- `batch`: the `batch` event (L1 block, log index) holding the block
  (also when it has no user transactions: the opening's check needs the
  batch's timestamp); None only when no batch holds it (a default block).

    compute_step_ref(block, parent_origin, origin, candidates, chain_id) -> StepRef    (pure)
    find_step_ref(rpc, block, parent_origin, rules)                        (fetches the L1 blocks)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from node.batch import BatchError, decode_batch
from node.block import Block
from node.crypto import parse_hex
from node.derivation import RollupRules
from node.rpc.client import RpcClient
from l1.dispute_tx import StepRef

MAX_RANGE = 64


class StepRefError(Exception):
    """The L1 inbox does not hold the block's transactions as we derived them."""


@dataclass(frozen=True, slots=True)
class InboxBlock:
    """One L1 block's inbox events with their log indices."""

    number: int
    deposit_count: int
    forced: tuple[tuple[int, bytes], ...]  # (log index, encoded L2 tx)
    batches: tuple[tuple[int, bytes], ...]  # (log index, batch data)


def parse_inbox_block(item: Any) -> InboxBlock:
    return InboxBlock(
        number=int(item["number"]),
        deposit_count=len(item.get("deposits", [])),
        forced=tuple((int(f["log_index"]), parse_hex(f["tx"], None, "forced tx")) for f in item.get("forced_txs", [])),
        batches=tuple((int(b["log_index"]), parse_hex(b["data"], None, "batch")) for b in item.get("batches", [])),
    )


def compute_step_ref(
    block: Block, parent_origin: int, origin: InboxBlock | None, candidates: Sequence[InboxBlock], chain_id: int
) -> StepRef:
    header = block.header
    system: tuple[int, ...] | None = None
    system_count = 0
    if header.l1_origin_number == parent_origin + 1:
        if origin is None or origin.number != header.l1_origin_number:
            raise StepRefError(f"L1 block {header.l1_origin_number} (origin of L2 block {header.number}) is missing")
        system = match_forced(block, origin)
        system_count = origin.deposit_count + len(system)
    user_txs = block.transactions[system_count:]
    try:
        batch = find_batch(block.number, header.timestamp_ms, header.l1_origin_number, user_txs, candidates, chain_id)
    except StepRefError:
        if user_txs:
            raise
        return StepRef(None, system)  # no batch holds it: a default block (the L1 then checks its timestamp)
    return StepRef(batch, system)


def match_forced(block: Block, origin: InboxBlock) -> tuple[int, ...]:
    """The log indices of the origin's forced transactions that the block includes, in order."""
    section = block.transactions[origin.deposit_count:]
    included: list[int] = []
    for log_index, tx in origin.forced:
        if len(included) < len(section) and section[len(included)] == tx:
            included.append(log_index)
    return tuple(included)


def find_batch(
    number: int, timestamp_ms: int, origin: int, user_txs: Sequence[bytes], candidates: Sequence[InboxBlock], chain_id: int
) -> tuple[int, int]:
    wanted = tuple(user_txs)
    for inbox in candidates:
        for log_index, data in inbox.batches:
            try:
                blocks = decode_batch(data, chain_id)
            except BatchError:
                continue
            for b in blocks:
                if (b.number, b.timestamp_ms, b.l1_origin_number, b.transactions) == (number, timestamp_ms, origin, wanted):
                    return inbox.number, log_index
    raise StepRefError(f"no batch on L1 holds L2 block {number} as derived")


async def fetch_inbox(rpc: RpcClient, first: int, count: int) -> list[InboxBlock]:
    result: list[InboxBlock] = []
    while count > 0:
        chunk = min(count, MAX_RANGE)
        raw = await rpc.call("l1_getDerivationData", first, chunk)
        result.extend(parse_inbox_block(item) for item in raw)
        if len(raw) < chunk:
            break
        first, count = first + chunk, count - chunk
    return result


async def find_step_ref(rpc: RpcClient, block: Block, parent_origin: int, rules: RollupRules) -> StepRef:
    """Fetch the L1 blocks derivation could have taken `block` from and compute its StepRef."""
    origin = block.header.l1_origin_number
    inbox = await fetch_inbox(rpc, origin, rules.sequencing_window + 1)
    first = inbox[0] if inbox and inbox[0].number == origin else None
    return compute_step_ref(block, parent_origin, first, inbox, rules.chain_id)
