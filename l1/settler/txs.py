"""The settler's L1 transactions in flight: recorded before they are sent, followed until they land.

    book = TxBook(l1, {Role.BATCHER: key1, Role.PROPOSER: key2}, chain_id, min_fee, persist)
    await book.send([Outgoing(intent, payload, value), ...])   # one key's transactions, in nonce order
    for resolution in await book.reconcile(now, stale_after_s, rebuild):
        ...  # LANDED (with its receipt) or LOST (forgotten: decide again from L1)

Each round `reconcile` reads a key's next nonce counting the L1 mempool
(l1_getNonce) and then the receipts of all our hashes, and classifies every
entry with l1.settler.plan.classify_inflight: a pending transaction is left
alone, a stale one is replaced with the same nonce and intent and a higher
fee (so at most one of the two can land: never a double post), a lost one
is forgotten. Every change of the in-flight set is persisted (`persist`)
before the transaction it describes goes out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from l1.chain.tx import sign_l1_tx
from l1.contracts.client import L1Client, L1TxReceipt, parse_receipt
from l1.settler.plan import (
    InFlight,
    Intent,
    Role,
    TxFate,
    classify_inflight,
    compute_next_nonce,
    compute_replacement_fee,
)
from node.crypto import Hash32, PrivateKey, to_checksum_address
from node.mempool_errors import AlreadyKnown, ReplacementUnderpriced
from node.rpc.errors import RpcError
from node.stf.errors import NonceTooLow

log = logging.getLogger("settler.txs")

MAX_FEE_BUMPS = 4  # replacement-fee retries for one send


class TxRefused(Exception):
    """The L1 would not take a transaction of ours into its mempool (it is not in flight)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    intent: Intent
    payload: Any
    value: int


@dataclass(frozen=True, slots=True)
class Resolution:
    entry: InFlight
    fate: TxFate  # LANDED or LOST
    receipt: L1TxReceipt | None = None
    note: str = ""


Rebuild = Callable[[Intent], Awaitable[Outgoing]]


class TxBook:
    def __init__(
        self,
        l1: L1Client,
        keys: Mapping[Role, PrivateKey],
        chain_id: int,
        min_fee: int,
        persist: Callable[[], None],
        entries: Sequence[InFlight] = (),
    ) -> None:
        self.l1 = l1
        self.keys = dict(keys)
        self.chain_id = chain_id
        self.min_fee = min_fee
        self.persist = persist
        self.entries: list[InFlight] = sorted(entries, key=lambda e: (e.role.value, e.nonce))

    def of(self, role: Role) -> list[InFlight]:
        return [e for e in self.entries if e.role is role]

    async def pending_nonce(self, role: Role) -> int:
        return await self.l1.get_nonce(self.keys[role].address)

    # -- sending --

    async def send(self, outgoing: Sequence[Outgoing], now: float | None = None) -> list[InFlight]:
        """Record, then send, transactions of one key with consecutive nonces after those in flight."""
        if not outgoing:
            return []
        role = outgoing[0].intent.role
        nonce = compute_next_nonce(await self.pending_nonce(role), self.of(role))
        when = time.time() if now is None else now
        planned = [self._sign(item, nonce + i, self.min_fee, when) for i, item in enumerate(outgoing)]
        self.entries.extend(entry for entry, _ in planned)
        self.persist()
        sent: list[InFlight] = []
        for (entry, raw), item in zip(planned, outgoing):
            try:
                sent.append(await self._submit(entry, raw, item))
            except TxRefused:
                self._forget([e for e, _ in planned if e.nonce >= entry.nonce])  # later ones would wait behind a gap
                raise
        return sent

    def _sign(self, item: Outgoing, nonce: int, fee: int, now: float) -> tuple[InFlight, bytes]:
        tx = sign_l1_tx(self.keys[item.intent.role], self.chain_id, nonce, fee, item.value, item.payload)
        return InFlight(nonce, fee, (tx.hash(),), now, item.intent), tx.encode()

    async def _submit(self, entry: InFlight, raw: bytes, item: Outgoing) -> InFlight:
        """Send; if a leftover of ours holds the nonce in the mempool, outbid it. Returns the entry as sent."""
        for _ in range(MAX_FEE_BUMPS):
            try:
                await self.l1.send_raw_transaction(raw)
                return entry
            except RpcError as exc:
                if exc.code == AlreadyKnown.rpc_code:
                    return entry
                if exc.code != ReplacementUnderpriced.rpc_code:
                    raise TxRefused(f"the L1 refused {entry.describe()}: {exc.message} (code {exc.code})") from None
            fee = compute_replacement_fee(entry.fee, self.min_fee)
            fresh, raw = self._sign(item, entry.nonce, fee, entry.sent_at)
            entry = self._swap(entry, entry.replaced(fee, fresh.tx_hash, entry.sent_at, item.intent))
            log.info(
                "nonce %d of the %s holds an older transaction of ours: outbidding it with fee %d",
                entry.nonce,
                entry.role.value,
                fee,
            )
        raise TxRefused(
            f"the L1 keeps refusing {entry.describe()}: replacement fee too low after {MAX_FEE_BUMPS} bumps"
        )

    def _swap(self, old: InFlight, new: InFlight) -> InFlight:
        self.entries[self.entries.index(old)] = new
        self.persist()
        return new

    def _forget(self, gone: Sequence[InFlight]) -> None:
        """Drop `gone` from the book; persisted only when that changes it (a round that settled nothing
        writes nothing: each persist is a file write and two fsyncs on the event loop)."""
        kept = [e for e in self.entries if e not in gone]
        if len(kept) != len(self.entries):
            self.entries = kept
            self.persist()

    # -- following --

    async def reconcile(self, now: float, stale_after_s: float, rebuild: Rebuild) -> list[Resolution]:
        """Settle what became of every transaction in flight; replace the stale ones."""
        resolutions: list[Resolution] = []
        for role in Role:
            entries = self.of(role)
            if entries:
                resolutions.extend(await self._reconcile_role(role, entries, now, stale_after_s, rebuild))
        return resolutions

    async def _reconcile_role(
        self, role: Role, entries: list[InFlight], now: float, stale_after_s: float, rebuild: Rebuild
    ) -> list[Resolution]:
        pending_nonce = await self.pending_nonce(role)  # before the receipts: see classify_inflight
        receipts = await self._receipts([h for e in entries for h in e.hashes])
        resolutions: list[Resolution] = []
        for entry in entries:
            receipt = next((receipts[h] for h in entry.hashes if receipts.get(h) is not None), None)
            fate = classify_inflight(entry, receipt is not None, pending_nonce, now, stale_after_s)
            if fate is TxFate.LANDED:
                resolutions.append(Resolution(entry, fate, receipt))
            elif fate is TxFate.LOST:
                resolutions.append(
                    Resolution(
                        entry,
                        fate,
                        note=f"the {role.value}'s next nonce is {pending_nonce}: not in the "
                        "L1 mempool (never sent, or the L1 dropped it)",
                    )
                )
            elif fate is TxFate.STALE:
                lost = await self._replace(entry, now, rebuild)
                if lost is not None:
                    resolutions.append(lost)
        self._forget([r.entry for r in resolutions])
        return resolutions

    async def _receipts(self, hashes: list[Hash32]) -> dict[Hash32, L1TxReceipt | None]:
        replies = await self.l1.rpc.batch([("l1_getTransactionReceipt", ["0x" + h.hex()]) for h in hashes])
        found: dict[Hash32, L1TxReceipt | None] = {}
        for tx_hash, reply in zip(hashes, replies):
            if isinstance(reply, RpcError):
                raise reply
            found[tx_hash] = None if reply is None else parse_receipt(reply)
        return found

    async def _replace(self, entry: InFlight, now: float, rebuild: Rebuild) -> Resolution | None:
        """Same nonce, same intent, higher fee. Returns a LOST resolution if the nonce turns out taken by another tx."""
        item = await rebuild(entry.intent)
        fee = compute_replacement_fee(entry.fee, self.min_fee)
        fresh, raw = self._sign(item, entry.nonce, fee, now)
        replacement = self._swap(entry, entry.replaced(fee, fresh.tx_hash, now, item.intent))
        log.warning(
            "%s has been pending in the L1 mempool for %.0f s: replacing it (same nonce, fee %d -> %d, tx 0x%s)",
            entry.describe(),
            now - entry.sent_at,
            entry.fee,
            fee,
            fresh.tx_hash.hex()[:16],
        )
        try:
            await self.l1.send_raw_transaction(raw)
        except RpcError as exc:
            if exc.code == NonceTooLow.rpc_code:
                return await self._check_nonce_taken(replacement)
            if exc.code not in (AlreadyKnown.rpc_code, ReplacementUnderpriced.rpc_code):
                log.warning(
                    "the L1 refused the replacement of %s: %s (code %d)", entry.describe(), exc.message, exc.code
                )
        return None

    async def _check_nonce_taken(self, entry: InFlight) -> Resolution | None:
        """Nonce too low for a replacement: ours landed meanwhile (next round sees it), or another tx took it."""
        receipts = await self._receipts(list(entry.hashes))
        if any(r is not None for r in receipts.values()):
            return None
        address = to_checksum_address(self.keys[entry.role].address)
        return Resolution(
            entry,
            TxFate.LOST,
            note=f"nonce {entry.nonce} of {address} was used by a transaction the settler "
            "did not send (is its key used elsewhere?)",
        )


def describe_receipt_error(receipt: L1TxReceipt) -> str:
    return f"{receipt.error} (code {receipt.error_code})" if receipt.error_code is not None else str(receipt.error)
