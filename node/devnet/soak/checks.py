"""The soak's end-of-run checks, functions of RPC answers returning `Check`s.

acknowledged_accounted: every acknowledged transaction is in the final chain (its receipt on an
  executor, at or below the common safe height) or the sequencer reports it dropped with a reason
  (rollup_getTransactionStatus, where the sequencer has it); the rest are lost.
receipted_not_lost: every transaction the sequencer served a receipt for (a soft confirmation) is
  included: dropped with a reason does not excuse it, unless its sender then signed another transaction
  with the same nonce that is included (the load re-syncs its nonce stream after a heal, as a wallet does).
roots_agree: the sequencer, every executor and the challenger have the same block hash and state
  root at the common safe height and at sampled heights below it.
balances_conserved: the senders' and recipients' balances plus the fees their included transfers
  paid (fee x nonce: every included transfer bumps its sender's nonce once and pays one fee; a
  skipped one does neither) equal what the senders were funded with.
no_honest_output_defeated: no output root the settler proposed was defeated (the figures also say
  how many differ from the final chain's output root at their block).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from node.devnet.soak.load import Ledger
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import METHOD_NOT_FOUND, RpcError

BATCH = 100
SAMPLED_HEIGHTS = 8
OUTPUT_PAGE = 256  # the L1's l1_getOutputs cap
POLL_S = 0.5

Report = Callable[[str], None]


@dataclass
class Check:
    name: str
    ok: bool
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, **self.figures}


class SettleTimeout(Exception):
    """The devnet did not drain and reach a common safe height in time."""


def _batch(client: SyncRpcClient, method: str, params: list[list[Any]]) -> list[Any]:
    """`method` over every params list, in batches; transport failures retried a few times."""
    out: list[Any] = []
    for start in range(0, len(params), BATCH):
        calls = [(method, p) for p in params[start : start + BATCH]]
        for attempt in range(5):
            try:
                out += client.batch(calls)
                break
            except RpcTransportError:
                if attempt == 4:
                    raise
                time.sleep(1.0)
    return out


@dataclass(frozen=True, slots=True)
class Settled:
    height: int  # the common safe height: the lowest safe head of every node
    stranded: int  # transactions left queued in the mempool behind a nonce gap


def settle(
    nodes: dict[str, str], sequencer: str, timeout_s: float, report: Report, watched: Collection[str] = ()
) -> Settled:
    """Wait until nothing executable is left in the sequencer's mempool (up to a third of `timeout_s`), then
    until every node's safe head (`nodes`: name -> RPC URL) reaches the sequencer's head then. A heal can
    re-queue the transactions of replaced blocks after the mempool first looked drained (the heal that made
    the safe head reach the target, say): while any block above that height carries one of the `watched`
    transaction hashes, or the sequencer still has one coming (pending, waiting in its re-queue backlog, or
    included above the height), drain and wait again, until the deadline."""
    seq = SyncRpcClient(sequencer, timeout=10)
    deadline = time.monotonic() + timeout_s
    queued = _drain_mempool(seq, timeout_s / 3, report)
    target = _unsafe_head(seq)
    while True:
        report(f"waiting for every node's safe head to reach the sequencer's head {target}")
        height = _wait_safe(nodes, target, deadline)
        head = _unsafe_head(seq)
        later = _blocks_carrying(seq, range(target + 1, head + 1), set(watched))
        coming = _still_coming(seq, watched, height)
        if not later and not coming:
            return Settled(height, queued)
        if time.monotonic() > deadline:
            report(f"{coming} acknowledged transactions still coming at the drain's end: going on")
            return Settled(height, queued)
        if later:
            report(
                f"blocks {later[0]}..{later[-1]} above {target} carry transactions re-queued by a heal: waiting again"
            )
        else:
            report(f"{coming} acknowledged transactions are still coming (re-queued by a heal): waiting again")
        queued = _drain_mempool(seq, max(1.0, min(timeout_s / 3, deadline - time.monotonic())), report)
        target = max(head, _unsafe_head(seq))


def _still_coming(seq: SyncRpcClient, watched: Collection[str], height: int) -> int:
    """How many `watched` transactions the sequencer still has coming: pending in its mempool, waiting in its
    heal's re-queue backlog (queued, reason "reorged"), or included above `height`."""
    hashes = list(watched)
    if not hashes:
        return 0
    try:
        statuses = _batch(seq, "rollup_getTransactionStatus", [[h] for h in hashes])
    except RpcTransportError:
        return 0
    coming = 0
    for status in statuses:
        if not isinstance(status, dict):
            continue
        waiting = status.get("status") == "queued" and status.get("reason") == "reorged"
        above = status.get("status") == "included" and int(status.get("blockNumber", 0)) > height
        if status.get("status") == "pending" or waiting or above:
            coming += 1
    return coming


def _drain_mempool(seq: SyncRpcClient, timeout_s: float, report: Report) -> int:
    """Wait (up to `timeout_s`) until the mempool has nothing executable twice in a row; the queued count."""
    drained_by = time.monotonic() + timeout_s
    quiet, queued = 0, 0
    while quiet < 2 and time.monotonic() < drained_by:
        try:
            status = seq.call("rollup_mempoolStatus")
            queued = int(status.get("queued", 0))
            quiet = quiet + 1 if int(status["pending"]) == 0 else 0
        except (RpcTransportError, RpcError, KeyError, TypeError, ValueError):
            quiet = 0
        time.sleep(POLL_S)
    if quiet < 2:
        report(f"the mempool still had executable transactions after {timeout_s:.0f} s: going on")
    if queued:
        report(f"{queued} transactions stay queued in the mempool behind a nonce gap")
    return queued


def _unsafe_head(seq: SyncRpcClient) -> int:
    return int(seq.call("rollup_syncStatus")["unsafe"]["number"])


def _wait_safe(nodes: dict[str, str], target: int, deadline: float) -> int:
    """Wait until every node's safe head is at or above `target`; the lowest of them."""
    while True:
        safe = {name: _safe_head(url) for name, url in nodes.items()}
        if all(s is not None and s >= target for s in safe.values()):
            return min(s for s in safe.values() if s is not None)
        if time.monotonic() > deadline:
            raise SettleTimeout(f"safe heads {safe} did not reach {target} within the drain time")
        time.sleep(POLL_S)


def _blocks_carrying(seq: SyncRpcClient, numbers: range, watched: set[str]) -> list[int]:
    """The blocks among `numbers` whose transactions include one of the `watched` hashes."""
    if not watched or not numbers:
        return []
    blocks = _batch(seq, "rollup_getBlockByNumber", [[n, False] for n in numbers])
    return [
        n
        for n, block in zip(numbers, blocks)
        if isinstance(block, dict) and watched.intersection(block.get("transactions", []))
    ]


def wait_stable(sequencer: str, timeout_s: float, report: Report) -> int:
    """Wait until a block the sequencer sealed became safe unchanged (its batch landed within the sequencing
    window) and return its number. A devnet started on a loaded machine can come up after its first
    windows closed, and then heals onto default blocks until the settler catches up; a soak that started
    its load meanwhile would measure that start-up, not the chaos it plans."""
    seq = SyncRpcClient(sequencer, timeout=10)
    deadline = time.monotonic() + timeout_s
    mark = int(seq.call("rollup_syncStatus")["unsafe"]["number"]) + 1
    sealed = None
    while time.monotonic() < deadline:
        try:
            status = seq.call("rollup_syncStatus")
            block = seq.call("rollup_getBlockByNumber", mark, False)
        except (RpcTransportError, RpcError):
            time.sleep(POLL_S)
            continue
        if block is None:
            time.sleep(POLL_S)
            continue
        if sealed is not None and block["hash"] != sealed:
            report(f"L2 block {mark} was replaced by the L1-derived chain: waiting for a later one to become safe")
            mark, sealed = int(status["unsafe"]["number"]) + 1, None
            continue
        if sealed is not None and int(status["safe"]["number"]) >= mark:
            return mark  # seen unsafe first, then safe with the same hash
        sealed = block["hash"]
        time.sleep(POLL_S)
    raise SettleTimeout(f"no block the sequencer sealed became safe unchanged within {timeout_s:.0f} s")


def _safe_head(url: str) -> int | None:
    try:
        return int(SyncRpcClient(url, timeout=5).call("rollup_syncStatus")["safe"]["number"])
    except (RpcTransportError, RpcError, KeyError, TypeError, ValueError):
        return None


def check_transactions(
    ledger: Ledger, executor: str, sequencer: str, height: int, sequencer_kills: list[float]
) -> list[Check]:
    """Two checks: every acknowledged transaction accounted for (included, or dropped with a reason), and every
    one the sequencer served a receipt for included (a soft confirmation is not excused by a reason).
    `sequencer_kills`: time.monotonic() of each kill of the sequencer, to say why a transaction is missing."""
    found = _find_receipts(ledger, executor, height)
    dropped, lost, lost_statuses = _dropped_or_lost(found.missing, sequencer)
    why = _why_missing(ledger, found.missing, executor, sequencer_kills)
    receipted = set(ledger.receipts)
    lost_receipted = [h for h in lost if h in receipted]
    receipted_missing = [h for h in found.missing if h in receipted]
    replaced = _replaced_by_sender(ledger, [h for h in receipted_missing if h not in lost], found.included_hashes)
    unexcused = [h for h in receipted_missing if h not in replaced]
    accounted = Check(
        "acknowledged_accounted",
        not lost,
        {
            "acknowledged": len(ledger.acks),
            "receipted_by_sequencer": len(receipted),
            "included": found.included,
            "included_skipped": found.skipped,
            "skip_codes": dict(found.skip_codes),
            "above_safe_height": found.above,
            "dropped": sum(dropped.values()),
            "dropped_reasons": dict(dropped),
            "lost": len(lost),
            "lost_receipted": len(lost_receipted),
            "lost_sequencer_says": dict(lost_statuses),
            "lost_causes": dict(Counter(why[h] for h in lost)),
            "receipt_status_changed": found.status_changed,
            "lost_examples": [_describe(ledger, h) for h in lost[:5]],
        },
    )
    return [
        accounted,
        Check(
            "receipted_not_lost",
            not unexcused,
            {
                "receipted_not_included": len(receipted_missing),
                "replaced_by_sender": len(replaced),
                "lost_receipted": len(lost_receipted),
                "dropped_receipted": len(receipted_missing) - len(lost_receipted),
                "causes": dict(Counter(why[h] for h in receipted_missing)),
                "examples": [_describe(ledger, h) for h in unexcused[:5]],
            },
        ),
    ]


def _replaced_by_sender(ledger: Ledger, dropped: list[str], included: set[str]) -> set[str]:
    """The dropped transactions whose nonce another transaction of the same sender took, one that is included:
    after a heal replaced a soft-confirmed transaction's block, the load's sender re-synced its nonce stream
    and signed a different transfer with that nonce (as any wallet does after a reorg), so the original was
    not lost by the devnet but replaced by its own sender."""
    taken = {(ledger.acks[h].sender, ledger.acks[h].nonce) for h in included if h in ledger.acks}
    return {h for h in dropped if (ledger.acks[h].sender, ledger.acks[h].nonce) in taken}


@dataclass
class _Found:
    included_hashes: set[str] = field(default_factory=set)  # status 1 at or below the height: nonce taken
    included: int = 0  # status 1 at or below the height
    skipped: int = 0  # status 0: in the chain, invalid at its point
    above: int = 0  # in a block above the height (counted missing)
    status_changed: int = 0  # the final status differs from the one the sequencer's receipt had
    skip_codes: Counter[str] = field(default_factory=Counter)
    missing: list[str] = field(default_factory=list)


def _find_receipts(ledger: Ledger, executor: str, height: int) -> _Found:
    hashes = list(ledger.acks)
    receipts = _batch(SyncRpcClient(executor, timeout=30), "rollup_getTransactionReceipt", [[h] for h in hashes])
    found = _Found()
    for tx_hash, receipt in zip(hashes, receipts):
        if not isinstance(receipt, dict) or int(receipt["blockNumber"]) > height:
            if isinstance(receipt, dict):
                found.above += 1
            found.missing.append(tx_hash)
            continue
        status = int(receipt.get("status", 1))
        served = ledger.receipts.get(tx_hash)
        if served is not None and served.status != status:
            found.status_changed += 1
        if status == 1:
            found.included += 1
            found.included_hashes.add(tx_hash)
        else:
            found.skipped += 1
            found.skip_codes[str(receipt.get("error"))] += 1
    return found


def _why_missing(ledger: Ledger, missing: list[str], executor: str, sequencer_kills: list[float]) -> dict[str, str]:
    """Why each transaction is not in the final chain, as far as the soak can tell."""
    served = {h: ledger.receipts[h] for h in missing if h in ledger.receipts}
    numbers = sorted({r.block for r in served.values()})
    blocks = _batch(SyncRpcClient(executor, timeout=30), "rollup_getBlockByNumber", [[n, False] for n in numbers])
    final = {n: b["hash"] if isinstance(b, dict) else None for n, b in zip(numbers, blocks)}
    why: dict[str, str] = {}
    for tx_hash in missing:
        receipt = served.get(tx_hash)
        if receipt is not None:
            kept = final[receipt.block] == receipt.block_hash
            why[tx_hash] = (
                "receipted; its block is still in the chain" if kept else "receipted; its block was reorged out"
            )
        elif any(ledger.acks[tx_hash].at < kill for kill in sequencer_kills):
            why[tx_hash] = "in the mempool when the sequencer was killed"
        else:
            why[tx_hash] = "acknowledged after the last sequencer kill, never receipted"
    return why


def _describe(ledger: Ledger, tx_hash: str) -> dict[str, Any]:
    """A lost transaction: who sent it, and the block the sequencer's receipt named (if it served one)."""
    ack, served = ledger.acks[tx_hash], ledger.receipts.get(tx_hash)
    return {
        "hash": tx_hash,
        "sender": ack.sender,
        "nonce": ack.nonce,
        "generation": ack.generation,
        "served_block": served.block if served else None,
        "served_block_hash": served.block_hash if served else None,
    }


def _dropped_or_lost(hashes: list[str], sequencer: str) -> tuple[Counter[str], list[str], Counter[str]]:
    """Ask the sequencer about each hash: dropped (with a reason) or lost (anything else); for the lost,
    what the sequencer said ("no status method" where it has no rollup_getTransactionStatus)."""
    dropped: Counter[str] = Counter()
    lost: list[str] = []
    said: Counter[str] = Counter()
    if not hashes:
        return dropped, lost, said
    replies = _batch(SyncRpcClient(sequencer, timeout=30), "rollup_getTransactionStatus", [[h] for h in hashes])
    for tx_hash, reply in zip(hashes, replies):
        if isinstance(reply, dict) and reply.get("status") == "dropped" and reply.get("reason"):
            dropped[str(reply["reason"])] += 1
            continue
        lost.append(tx_hash)
        if isinstance(reply, RpcError):
            said["no status method" if reply.code == METHOD_NOT_FOUND else f"error {reply.code}"] += 1
        else:
            said[str(reply.get("status")) if isinstance(reply, dict) else "null"] += 1
    return dropped, lost, said


def sample_heights(rng: random.Random, height: int, extra: list[int]) -> list[int]:
    """The common safe height, SAMPLED_HEIGHTS random ones below it and `extra` (e.g. around an outage)."""
    picks = {height, *(h for h in extra if 1 <= h <= height)}
    picks.update(rng.randint(1, height) for _ in range(min(SAMPLED_HEIGHTS, height)))
    return sorted(picks)


def check_roots(nodes: dict[str, str], heights: list[int]) -> Check:
    seen: dict[int, dict[str, tuple[str, str] | None]] = {h: {} for h in heights}
    for name, url in nodes.items():
        blocks = _batch(SyncRpcClient(url, timeout=30), "rollup_getBlockByNumber", [[h, False] for h in heights])
        for h, block in zip(heights, blocks):
            seen[h][name] = (block["hash"], block["stateRoot"]) if isinstance(block, dict) else None
    disagree = {
        h: {name: list(v) if v else None for name, v in by_node.items()}
        for h, by_node in seen.items()
        if len(set(by_node.values())) != 1 or None in by_node.values()
    }
    first = min(disagree, default=None)
    return Check(
        "roots_agree",
        not disagree,
        {
            "heights": heights,
            "nodes": list(nodes),
            "disagreeing_heights": sorted(disagree),
            "first_disagreement": {str(first): disagree[first]} if first is not None else None,
        },
    )


def check_balances(executor: str, addresses: list[str], senders: int, funded_each: int, fee: int, height: int) -> Check:
    """`addresses`: the senders then the recipients, all fresh when the senders were funded."""
    client = SyncRpcClient(executor, timeout=30)
    balances = [int(b) for b in _batch(client, "rollup_getBalance", [[a, height] for a in addresses])]
    nonces = [int(n) for n in _batch(client, "rollup_getNonce", [[a, height] for a in addresses[:senders]])]
    funded = senders * funded_each
    held, fees = sum(balances), fee * sum(nonces)
    return Check(
        "balances_conserved",
        held + fees == funded,
        {
            "height": height,
            "funded": str(funded),
            "balances": str(held),
            "fees": str(fees),
            "transfers_included": sum(nonces),
            "difference": str(held + fees - funded),
        },
    )


def check_outputs(l1: str, proposer: str, executor: str, height: int) -> Check:
    client = SyncRpcClient(l1, timeout=30)
    outputs: list[dict[str, Any]] = []
    while True:
        page = client.call("l1_getOutputs", len(outputs), OUTPUT_PAGE)
        outputs += page
        if len(page) < OUTPUT_PAGE:
            break
    ours = [o for o in outputs if str(o["proposer"]).lower() == proposer.lower()]
    statuses = Counter(str(o["status"]) for o in ours)
    checkable = [o for o in ours if int(o["l2BlockNumber"]) <= height]
    roots = _batch(
        SyncRpcClient(executor, timeout=30), "rollup_outputAtBlock", [[int(o["l2BlockNumber"])] for o in checkable]
    )
    mismatched = [
        int(o["l2BlockNumber"])
        for o, root in zip(checkable, roots)
        if isinstance(root, (str, dict)) and _root_of(root) != o["outputRoot"]
    ]
    unanswered = sum(1 for root in roots if not isinstance(root, (str, dict)))
    defeated = statuses.get("defeated", 0)
    return Check(
        "no_honest_output_defeated",
        defeated == 0,
        {
            "proposed": len(ours),
            "statuses": dict(statuses),
            "defeated": defeated,
            "checked_against_chain": len(checkable) - unanswered,
            "mismatched_blocks": mismatched[:10],
            "mismatched": len(mismatched),
        },
    )


def _root_of(answer: Any) -> str:
    return str(answer["outputRoot"]) if isinstance(answer, dict) else str(answer)
