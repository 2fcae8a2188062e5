"""A steady transfer load that survives a restarting sequencer, and the book of what it was told.

Each sender account has its own thread and nonce stream (so its transactions reach the sequencer
in nonce order) and sends, every SEND_TICK_S, the transfers its share of the rate has made due, as
one JSON-RPC batch. Transfers are signed ahead of time (`sign_transfers`, run on a process pool
before the threads start); only a stream that must start over signs on demand.

What the sequencer answers decides what happens next:
  a hash (or "already known")          acknowledged: recorded in the Ledger;
  replacement fee too low              a transaction of an earlier stream holds that nonce: move on;
  nonce too low / too high / gap       the sequencer's nonce is not ours (it lost transactions in a
                                       crash, or a reorg undid some): start a new stream, a new
                                       generation of transfers (other amounts, so other hashes), from
                                       the state nonce; the lost acknowledged ones stay lost;
  mempool full, unavailable, no reply  retry the same transfers at the next tick.
A sender also starts a new stream when its state nonce has not moved for STUCK_AFTER_S while it has
acknowledged transfers beyond it (a wallet that notices its transaction never lands): after a crash
that lost the transfer at the state nonce, its later ones would otherwise wait behind the gap forever.
A sender that falls more than SHED_AFTER_S behind (the sequencer was down) drops the missed
slots instead of bursting them. `ReceiptTracker` polls the sequencer for the receipt of every
acknowledged hash.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from node.crypto import Address, PrivateKey, keccak256, to_checksum_address
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError
from node.tx import Transfer, sign_tx

SEND_TICK_S = 0.2
STUCK_AFTER_S = 5.0
SHED_AFTER_S = 1.0
MAX_SEND_BATCH = 50  # under the mempool's 64 per sender
HTTP_TIMEOUT_S = 10.0
ON_DEMAND_CHUNK = 32
RECEIPT_POLL_S = 0.25
RECEIPT_BATCH = 100  # the RPC server's batch cap
RECEIPT_SLOW_AFTER_S = 30.0  # an acknowledged hash without a receipt this long is polled every RECEIPT_SLOW_POLL_S
RECEIPT_SLOW_POLL_S = 5.0

ALREADY_KNOWN = -32023
REPLACEMENT_UNDERPRICED = -32022
NONCE_MISMATCH = frozenset({-32012, -32013, -32024})  # too low, too high, gap too large


def derive_key(seed: int, label: str, index: int) -> PrivateKey:
    return PrivateKey(keccak256(f"rollup soak {seed} {label} {index}".encode()))


def transfer_amount(nonce: int, generation: int) -> int:
    """Wei sent by the transfer at `nonce` of a stream: a new generation gives new hashes."""
    return 1 + nonce % 100 + 1000 * generation


SignJob = tuple[bytes, int, int, bytes, int, int, int]  # secret, chain id, fee, recipient, generation, nonce, count


def sign_transfers(job: SignJob) -> list[tuple[str, str]]:
    """(hash, raw) hex of `count` transfers from nonce on (a process-pool worker)."""
    secret, chain_id, fee, recipient, generation, nonce, count = job
    key = PrivateKey(secret)
    out = []
    for n in range(nonce, nonce + count):
        raw = sign_tx(key, chain_id, n, fee, Transfer(Address(recipient), transfer_amount(n, generation))).encode()
        out.append(("0x" + keccak256(raw).hex(), "0x" + raw.hex()))
    return out


@dataclass(frozen=True, slots=True)
class Ack:
    sender: int
    nonce: int
    generation: int
    at: float  # time.monotonic()


@dataclass(frozen=True, slots=True)
class ServedReceipt:
    block: int
    block_hash: str
    status: int
    at: float


@dataclass
class Ledger:
    """Everything the sequencer told the load; written by the sender and tracker threads."""

    acks: dict[str, Ack] = field(default_factory=dict)
    receipts: dict[str, ServedReceipt] = field(default_factory=dict)
    rejections: Counter[str] = field(default_factory=Counter)
    offered: int = 0
    shed: int = 0
    failed_sends: int = 0  # batches without an answer (the sequencer down or restarting)
    resyncs: int = 0  # new streams after a nonce error
    unstuck: int = 0  # new streams after the state nonce stood still behind acknowledged transfers
    new_acks: queue.SimpleQueue[str] = field(default_factory=queue.SimpleQueue)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, tx_hash: str, ack: Ack) -> None:
        with self.lock:
            if tx_hash in self.acks:
                return
            self.acks[tx_hash] = ack
        self.new_acks.put(tx_hash)

    def reject(self, error: RpcError) -> None:
        with self.lock:
            self.rejections[f"{error.code} {error.message.split(':')[0]}"] += 1

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + n)


class NonceStream:
    """One sender's transfers by nonce, in generations; generation 0 comes pre-signed."""

    def __init__(self, job: SignJob, presigned: list[tuple[str, str]]) -> None:
        self.job = job
        self.generation = job[4]
        self.base = self.cursor = job[5]
        self.signed = presigned

    def peek(self, n: int) -> list[tuple[int, str, str]]:
        """The next `n` (nonce, hash, raw) from the cursor, signing more on demand."""
        need = self.cursor - self.base + n - len(self.signed)
        if need > 0:
            secret, chain_id, fee, recipient, _, _, _ = self.job
            start = self.base + len(self.signed)
            self.signed += sign_transfers(
                (secret, chain_id, fee, recipient, self.generation, start, max(need, ON_DEMAND_CHUNK))
            )
        first = self.cursor - self.base
        return [(self.cursor + i, *self.signed[first + i]) for i in range(n)]

    def restart_at(self, nonce: int) -> None:
        self.generation += 1
        self.base = self.cursor = nonce
        self.signed = []


class SenderThread(threading.Thread):
    """Sends one account's stream at `rate` transfers/s from `t0` until `stop` is set."""

    def __init__(
        self,
        index: int,
        stream: NonceStream,
        address: str,
        url: str,
        rate: float,
        phase: float,
        t0: float,
        ledger: Ledger,
        stop: threading.Event,
    ) -> None:
        super().__init__(daemon=True, name=f"sender-{index}")
        self.index, self.stream, self.address = index, stream, address
        self.client = SyncRpcClient(url, timeout=HTTP_TIMEOUT_S)
        self.rate, self.phase, self.t0 = rate, phase, t0
        self.ledger, self.stop = ledger, stop
        self.slots_used = 0
        self.state_nonce, self.state_nonce_since, self.next_nonce_check = -1, time.monotonic(), 0.0

    def run(self) -> None:
        while not self.stop.wait(SEND_TICK_S):
            self._unstick()
            due = math.floor((time.monotonic() - self.t0) * self.rate + self.phase) - self.slots_used
            if due <= 0:
                continue
            behind = due - math.ceil(self.rate * SHED_AFTER_S)
            if behind > 0:
                self.ledger.count("shed", behind)
                self.slots_used += behind
                due -= behind
            n = min(due, MAX_SEND_BATCH)
            self.slots_used += n
            self.ledger.count("offered", n)
            self._send(self.stream.peek(n))

    def _send(self, txs: list[tuple[int, str, str]]) -> None:
        try:
            replies = self.client.batch([("rollup_sendRawTransaction", [raw]) for _, _, raw in txs])
        except (RpcTransportError, RpcError):
            self.ledger.count("failed_sends")
            return  # the same transfers again at the next tick
        retry_from: int | None = None
        mismatch = False
        for (nonce, tx_hash, _), reply in zip(txs, replies):
            if not isinstance(reply, RpcError) or reply.code == ALREADY_KNOWN:
                self.ledger.acknowledge(tx_hash, Ack(self.index, nonce, self.stream.generation, time.monotonic()))
                continue
            self.ledger.reject(reply)
            if reply.code in NONCE_MISMATCH:
                mismatch = True
            elif reply.code != REPLACEMENT_UNDERPRICED and retry_from is None:
                retry_from = nonce
        if mismatch:
            self._restart_stream()
        else:
            self.stream.cursor = retry_from if retry_from is not None else txs[-1][0] + 1

    def _restart_stream(self) -> None:
        nonce = self._state_nonce()
        if nonce is None:
            return  # keep the cursor: the next tick tries again
        self.stream.restart_at(nonce)
        self.ledger.count("resyncs")

    def _state_nonce(self) -> int | None:
        try:
            return int(self.client.call("rollup_getNonce", self.address, "latest"))
        except (RpcTransportError, RpcError):
            return None

    def _unstick(self) -> None:
        """Once a second: a new stream if the state nonce stood still for STUCK_AFTER_S behind our cursor."""
        now = time.monotonic()
        if now < self.next_nonce_check:
            return
        self.next_nonce_check = now + 1.0
        nonce = self._state_nonce()
        if nonce is None:
            return
        if nonce != self.state_nonce:
            self.state_nonce, self.state_nonce_since = nonce, now
        elif nonce < self.stream.cursor and now - self.state_nonce_since >= STUCK_AFTER_S:
            self.stream.restart_at(nonce)
            self.ledger.count("unstuck")
            self.state_nonce_since = now


class ReceiptTracker(threading.Thread):
    """Polls the sequencer for the receipt of each acknowledged hash until it has one."""

    def __init__(self, url: str, ledger: Ledger, stop: threading.Event) -> None:
        super().__init__(daemon=True, name="receipts")
        self.client = SyncRpcClient(url, timeout=HTTP_TIMEOUT_S)
        self.ledger, self.stop = ledger, stop
        self.pending: dict[str, float] = {}  # hash -> next poll time

    def run(self) -> None:
        while not self.stop.wait(RECEIPT_POLL_S):
            self.poll_once()

    def poll_once(self) -> None:
        while True:
            try:
                self.pending[self.ledger.new_acks.get_nowait()] = 0.0
            except queue.Empty:
                break
        now = time.monotonic()
        due = [h for h, at in self.pending.items() if at <= now][: RECEIPT_BATCH * 10]
        for start in range(0, len(due), RECEIPT_BATCH):
            chunk = due[start : start + RECEIPT_BATCH]
            try:
                replies = self.client.batch([("rollup_getTransactionReceipt", [h]) for h in chunk])
            except (RpcTransportError, RpcError):
                return
            self._record(chunk, replies, time.monotonic())

    def _record(self, hashes: list[str], replies: list[Any], now: float) -> None:
        for tx_hash, reply in zip(hashes, replies):
            if isinstance(reply, dict):
                self.ledger.receipts[tx_hash] = ServedReceipt(
                    int(reply["blockNumber"]), str(reply.get("blockHash")), int(reply.get("status", 1)), now
                )
                del self.pending[tx_hash]
            else:
                young = now - self.ledger.acks[tx_hash].at < RECEIPT_SLOW_AFTER_S
                self.pending[tx_hash] = now + (RECEIPT_POLL_S if young else RECEIPT_SLOW_POLL_S)


@dataclass(frozen=True, slots=True)
class Accounts:
    senders: list[PrivateKey]
    recipients: list[Address]

    @classmethod
    def derive(cls, seed: int, senders: int) -> Accounts:
        return cls(
            [derive_key(seed, "sender", i) for i in range(senders)],
            [derive_key(seed, "recipient", i).address for i in range(senders)],
        )

    def addresses(self) -> list[str]:
        return [to_checksum_address(a) for a in [*(k.address for k in self.senders), *self.recipients]]


class FundingError(Exception):
    """The senders' funding did not land."""


def fund(
    client: SyncRpcClient,
    chain_id: int,
    fee: int,
    funders: list[PrivateKey],
    accounts: list[PrivateKey],
    amount: int,
    timeout_s: float = 60.0,
) -> None:
    """Send `amount` to each account from the funders (round robin) and wait until every balance shows it."""
    nonces = {f.address: int(client.call("rollup_getNonce", to_checksum_address(f.address), "latest")) for f in funders}
    calls = []
    for i, key in enumerate(accounts):
        funder = funders[i % len(funders)]
        raw = sign_tx(funder, chain_id, nonces[funder.address], fee, Transfer(key.address, amount)).encode()
        nonces[funder.address] += 1
        calls.append(("rollup_sendRawTransaction", ["0x" + raw.hex()]))
    for start in range(0, len(calls), RECEIPT_BATCH):
        refused = [r for r in client.batch(calls[start : start + RECEIPT_BATCH]) if isinstance(r, RpcError)]
        if refused:
            raise FundingError(f"{len(refused)} funding transfers refused, first: {refused[0].message}")
    deadline = time.monotonic() + timeout_s
    addresses = [to_checksum_address(k.address) for k in accounts]
    while True:
        balances = client.batch([("rollup_getBalance", [a, "latest"]) for a in addresses])
        if all(not isinstance(b, RpcError) and int(b) >= amount for b in balances):
            return
        if time.monotonic() > deadline:
            raise FundingError(f"the senders' funding was not included within {timeout_s:.0f} s")
        time.sleep(0.2)
