"""The settler: posts the sequencer's L2 blocks to L1 as batches, and proposes output roots.

    python -m l1.settler_main --config FILE

Each round:
  1. fetch the blocks after `posted_upto` from the sequencer
     (rollup_getBatchBlocks), pack the longest prefix that fits in
     max_batch_bytes into one batch, post it (post_batch) and wait for its
     L1 receipt; only a receipt with status 1 advances `posted_upto`;
  2. for every multiple k of output_interval with proposed_upto < k <= posted_upto,
     fetch rollup_outputAtBlock(k) and propose it (propose_output, with the bond).

Test mode `faulty_from_block` (l1.settler_faulty): the first output due at
or after that block gets a wrong root, later ones wait, the settler defends
the wrong output in its dispute game, and after a defeat proposes the
correct root for that block again. Correct outputs under dispute are
defended by the challenger process (defender moves may come from anyone).

Both cursors live in `<data_dir>/settler_state.json`, rewritten atomically
after each L1 receipt. A crash between a receipt and the write only means the
batch (or output) is posted again on restart: derivation skips blocks it
already has, and proposals resume from the highest live proposal on L1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from node.batch import BatchBlock, encode_batch
from node.crypto import Hash32, parse_hex, to_checksum_address
from node.rpc.client import RpcClient, RpcTransportError
from node.rpc.errors import RpcError
from node.rpc.server import RpcServer
from node.service import BackgroundTasks, ProblemTracker, sleep_or_stop
from l1.client import L1Client, L1ResponseError, L1TxReceipt, ReceiptTimeout
from l1.settler_config import SettlerConfig
from l1.settler_faulty import FaultyProposer
from l1.tx import PostBatch, ProposeOutput

log = logging.getLogger("settler")

STATE_FILE = "settler_state.json"
FETCH_BLOCKS = 256
BLOCK_OVERHEAD_BYTES = 16  # a batch block's header fields, in raw-byte terms
FILL_TARGET = 0.97  # aim a little under the limit so the first sized attempt usually fits
OUTPUTS_PAGE = 256
RECEIPT_TIMEOUT_S = 30.0
RETRY_S = 1.0
MAX_PROPOSALS_IN_FLIGHT = 16
LIVE_STATUSES = frozenset({"pending", "finalized", "disputed"})


class SettlerError(Exception):
    """The settler cannot make progress without an operator (config or data problem)."""


class BlockTooLarge(SettlerError):
    def __init__(self, number: int, size: int, limit: int) -> None:
        super().__init__(
            f"L2 block {number} alone encodes to {size} batch bytes, above max_batch_bytes {limit}; "
            "raise the L1's max_batch_bytes or lower the rollup's max_block_txs"
        )


class L1Rejected(Exception):
    """An L1 transaction of the settler was included with status 0."""


# -- the persisted cursors -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    posted_upto: int = 0  # newest L2 block in a batch with an L1 receipt (genesis is never posted)
    proposed_upto: int = 0  # newest L2 block with an output proposal on L1


def load_cursor(path: Path) -> Cursor:
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return Cursor()
    except (OSError, ValueError) as exc:
        raise SettlerError(f"settler state {path} is unreadable: {exc}") from None
    try:
        return Cursor(int(doc["posted_upto"]), int(doc["proposed_upto"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise SettlerError(f"settler state {path} is malformed: {exc}") from None


def save_cursor(path: Path, cursor: Cursor) -> None:
    """Write the cursor atomically: a crash leaves the old or the new file, never a torn one."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        json.dump({"posted_upto": cursor.posted_upto, "proposed_upto": cursor.proposed_upto}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- packing (pure) ----------------------------------------------------------------------------


def parse_batch_block(item: Any) -> BatchBlock:
    """One entry of rollup_getBatchBlocks."""
    try:
        return BatchBlock(
            number=int(item["number"]),
            timestamp_ms=int(item["timestamp"]),
            l1_origin_number=int(item["l1Origin"]),
            transactions=tuple(parse_hex(raw, None, "transaction") for raw in item["transactions"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise L1ResponseError(f"malformed rollup_getBatchBlocks entry: {exc}") from None


def validate_contiguous(blocks: Sequence[BatchBlock], first: int) -> None:
    for offset, block in enumerate(blocks):
        if block.number != first + offset:
            raise L1ResponseError(f"sequencer returned block {block.number} where {first + offset} was expected")


def pack_batch(blocks: Sequence[BatchBlock], chain_id: int, max_bytes: int) -> tuple[bytes, int]:
    """A batch of a prefix of `blocks` that encodes within `max_bytes`, and its length.

    Encoding is the expensive part (~6 us per transaction), so instead of a
    binary search the prefix is sized from the encoded-to-raw ratio of the
    first attempt and trimmed until it fits: one to three encodings.
    """
    data = encode_batch(blocks, chain_id)
    if len(data) <= max_bytes:
        return data, len(blocks)
    weights = [BLOCK_OVERHEAD_BYTES + sum(len(tx) for tx in b.transactions) for b in blocks]
    count = _prefix_within(weights, max_bytes * FILL_TARGET * sum(weights) / len(data))
    while count >= 1:
        data = encode_batch(blocks[:count], chain_id)
        if len(data) <= max_bytes:
            return data, count
        count = min(count - 1, int(count * max_bytes * FILL_TARGET / len(data)))
    raise BlockTooLarge(blocks[0].number, len(encode_batch(blocks[:1], chain_id)), max_bytes)


def _prefix_within(weights: Sequence[int], budget: float) -> int:
    total = 0
    for count, weight in enumerate(weights):
        total += weight
        if total > budget:
            return count
    return len(weights)


def next_output_block(proposed_upto: int, interval: int) -> int:
    return (proposed_upto // interval + 1) * interval


# -- the process ------------------------------------------------------------------------------


class Settler:
    def __init__(self, config: SettlerConfig) -> None:
        self.config = config
        self.section = config.settler
        self.stop = asyncio.Event()
        self.tasks = BackgroundTasks()
        self.server = RpcServer("settler", health=self._health)
        self.l1 = L1Client(self.section.l1_rpc)
        self.sequencer = RpcClient(self.section.sequencer_rpc)
        self.state_path = config.node.data_dir / STATE_FILE
        self.cursor = Cursor()
        self.max_batch_bytes = self.section.max_batch_bytes
        self.bond = 0
        self.problems = ProblemTracker("settler", log)
        self.faulty = FaultyProposer(config, self.l1, self.sequencer) if self.section.faulty_from_block is not None else None
        self._init_metrics()

    def _init_metrics(self) -> None:
        m = self.server.metrics
        self.m_posted = m.gauge("settler_posted_upto", "Newest L2 block posted to L1 in a batch")
        self.m_proposed = m.gauge("settler_proposed_upto", "Newest L2 block with an output proposal on L1")
        self.m_batches = m.counter("settler_batches_total", "Batches posted (L1 receipt status 1)")
        self.m_batch_bytes = m.counter("settler_batch_bytes_total", "Batch data bytes posted to L1")
        self.m_txs = m.counter("settler_txs_posted_total", "L2 user transactions posted in batches")
        self.m_bytes_per_tx = m.gauge("settler_l1_bytes_per_tx", "Batch bytes per posted L2 transaction (since start)")
        self.m_outputs = m.counter("settler_outputs_total", "Output roots proposed (L1 receipt status 1)")

    # -- lifecycle --

    async def __aenter__(self) -> "Settler":
        try:
            await self._start()
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._shutdown()

    async def _start(self) -> None:
        self.config.node.data_dir.mkdir(parents=True, exist_ok=True)
        self.cursor = load_cursor(self.state_path)
        await self._load_l1_params()
        await self._resume_proposals()
        if self.faulty is not None:
            await self.faulty.open()
        self._set_cursor_metrics()
        self.tasks.spawn("settle-loop", self.run())
        self.server.register("settler_status", self.status)
        await self.server.start(self.config.node.rpc_host, self.config.node.rpc_port)
        log.info(
            "settler up: posted_upto %d, proposed_upto %d, batcher %s, proposer %s, max batch %d bytes, "
            "output every %d blocks, bond %d, RPC %s",
            self.cursor.posted_upto, self.cursor.proposed_upto,
            to_checksum_address(self.section.batcher_key.address), to_checksum_address(self.section.proposer_key.address),
            self.max_batch_bytes, self.section.output_interval, self.bond, self.server.url,
        )

    async def _load_l1_params(self) -> None:
        while True:
            try:
                info = await self.l1.config()
                break
            except (RpcTransportError, RpcError, L1ResponseError) as exc:
                self.problems.note(f"waiting for the L1 at {self.section.l1_rpc}: {exc}")
                await asyncio.sleep(RETRY_S)
        if info.batcher != self.section.batcher_key.address:
            log.warning("batcher key %s is not the L1's batcher %s: batches will be rejected",
                        to_checksum_address(self.section.batcher_key.address), to_checksum_address(info.batcher))
        self.max_batch_bytes = min(self.section.max_batch_bytes, info.max_batch_bytes)
        self.bond = info.proposer_bond if self.section.bond is None else self.section.bond

    async def _resume_proposals(self) -> None:
        highest, index = 0, 0
        while True:
            page = await self.l1.get_outputs(index, OUTPUTS_PAGE)
            for output in page:
                if output.status in LIVE_STATUSES:
                    highest = max(highest, output.l2_block_number)
            if len(page) < OUTPUTS_PAGE:
                break
            index += OUTPUTS_PAGE
        if highest > self.cursor.proposed_upto:
            log.info("L1 already holds an output proposal for L2 block %d: resuming after it", highest)
            self.cursor = replace(self.cursor, proposed_upto=highest)

    async def _shutdown(self) -> None:
        self.stop.set()
        await self.server.stop()
        await self.tasks.cancel_all()
        await self.sequencer.close()
        await self.l1.close()
        if self.faulty is not None:
            self.faulty.close()
        log.info("settler stopped at posted_upto %d, proposed_upto %d", self.cursor.posted_upto, self.cursor.proposed_upto)

    # -- the loop --

    async def run(self) -> None:
        while not self.stop.is_set():
            progressed = False
            try:
                progressed = await self.post_next_batch()
                progressed = await self.propose_due_outputs() or progressed
                if self.faulty is not None:
                    await self.play_faulty()
                self.problems.clear()
            except (RpcTransportError, RpcError, L1ResponseError, ReceiptTimeout, L1Rejected) as exc:
                self.problems.note(str(exc))
                if await sleep_or_stop(RETRY_S, self.stop):
                    return
            if not progressed and await sleep_or_stop(self.section.poll_ms / 1000, self.stop):
                return

    async def post_next_batch(self) -> bool:
        first = self.cursor.posted_upto + 1
        blocks = [parse_batch_block(item) for item in await self.sequencer.call("rollup_getBatchBlocks", first, FETCH_BLOCKS)]
        if not blocks:
            return False
        validate_contiguous(blocks, first)
        data, count = pack_batch(blocks, self.config.rollup.chain_id, self.max_batch_bytes)
        posted = blocks[:count]
        receipt = await self._send_and_wait(self.section.batcher_key, PostBatch(data), 0, f"batch of L2 blocks {first}..{posted[-1].number}")
        txs = sum(len(b.transactions) for b in posted)
        self._advance(replace(self.cursor, posted_upto=posted[-1].number))
        self._count_batch(len(data), txs)
        log.log(
            logging.INFO if txs else logging.DEBUG,
            "posted L2 blocks %d..%d (%d txs) in L1 block %d: %d bytes%s",
            first, posted[-1].number, txs, receipt.block_number, len(data),
            f", {len(data) / txs:.1f} bytes/tx" if txs else "",
        )
        return True

    async def propose_due_outputs(self) -> bool:
        """Propose the due outputs, up to MAX_PROPOSALS_IN_FLIGHT sent before waiting for receipts."""
        due = self.due_outputs()
        if not due:
            return False
        sent = [(k, await self._send_proposal(k)) for k in due]
        for k, (tx_hash, root) in sent:
            receipt = await self._wait_accepted(tx_hash, f"output for L2 block {k}")
            self._advance(replace(self.cursor, proposed_upto=k))
            self.m_outputs.inc()
            log.info("proposed output root 0x%s for L2 block %d in L1 block %d", root.hex()[:16], k, receipt.block_number)
        return True

    def due_outputs(self) -> list[int]:
        interval = self.section.output_interval
        first = next_output_block(self.cursor.proposed_upto, interval)
        last = min(self.cursor.posted_upto, first + (MAX_PROPOSALS_IN_FLIGHT - 1) * interval)
        due = list(range(first, last + 1, interval))
        return self.faulty.limit_due(due) if self.faulty is not None else due

    async def play_faulty(self) -> None:
        """Test mode: defend the wrong output; after its defeat, propose that block again."""
        if self.faulty is None or not self.faulty.needs_attention:
            return
        outputs, index = [], 0
        while True:
            page = await self.l1.get_outputs(index, OUTPUTS_PAGE)
            outputs.extend(page)
            if len(page) < OUTPUTS_PAGE:
                break
            index += OUTPUTS_PAGE
        again = await self.faulty.play(self.section.proposer_key, outputs)
        if again is not None and self.cursor.proposed_upto >= again:
            self._advance(replace(self.cursor, proposed_upto=again - self.section.output_interval))

    async def _send_proposal(self, k: int) -> tuple[Hash32, Hash32]:
        if self.faulty is not None and self.faulty.wants_fault(k):
            root = await self.faulty.wrong_root(k, self.cursor.proposed_upto)
            tx_hash = await self.l1.send_tx(self.section.proposer_key, ProposeOutput(k, root), value=self.bond)
            return tx_hash, root
        output = await self.sequencer.call("rollup_outputAtBlock", k)
        root = Hash32(parse_hex(output["outputRoot"], 32, "outputRoot"))
        tx_hash = await self.l1.send_tx(self.section.proposer_key, ProposeOutput(k, root), value=self.bond)
        return tx_hash, root

    async def _send_and_wait(self, key: Any, payload: Any, value: int, what: str) -> L1TxReceipt:
        tx_hash = await self.l1.send_tx(key, payload, value=value)
        return await self._wait_accepted(tx_hash, what)

    async def _wait_accepted(self, tx_hash: Hash32, what: str) -> L1TxReceipt:
        receipt = await self.l1.wait_receipt(tx_hash, RECEIPT_TIMEOUT_S)
        if receipt.status != 1:
            raise L1Rejected(f"L1 rejected the {what} (tx 0x{tx_hash.hex()}): {receipt.error} (code {receipt.error_code})")
        return receipt

    # -- bookkeeping --

    def _advance(self, cursor: Cursor) -> None:
        save_cursor(self.state_path, cursor)
        self.cursor = cursor
        self._set_cursor_metrics()

    def _set_cursor_metrics(self) -> None:
        self.m_posted.set(self.cursor.posted_upto)
        self.m_proposed.set(self.cursor.proposed_upto)

    def _count_batch(self, size: int, txs: int) -> None:
        self.m_batches.inc()
        self.m_batch_bytes.inc(size)
        self.m_txs.inc(txs)
        total_txs = self.m_txs.value()
        if total_txs:
            self.m_bytes_per_tx.set(self.m_batch_bytes.value() / total_txs)

    def status(self, params: list[Any]) -> dict[str, Any]:
        txs = self.m_txs.value()
        return {
            "postedUpto": self.cursor.posted_upto,
            "proposedUpto": self.cursor.proposed_upto,
            "batches": int(self.m_batches.value()),
            "batchBytes": int(self.m_batch_bytes.value()),
            "txsPosted": int(txs),
            "l1BytesPerTx": self.m_batch_bytes.value() / txs if txs else None,
        }

    def _health(self) -> dict[str, Any]:
        report: dict[str, Any] = {"status": "ok", "postedUpto": self.cursor.posted_upto, "proposedUpto": self.cursor.proposed_upto}
        if self.problems.problem is not None:
            report["problem"] = self.problems.problem
        return report
