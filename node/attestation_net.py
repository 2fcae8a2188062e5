"""The attestation topic on a running P2PNode: sign and publish our output roots, validate and pool others'.

Config, an optional `[attestation]` table next to `[p2p]` (without it a node
neither publishes nor collects attestations):

    [attestation]
    key = "0x..."               # secp256k1 key this node signs its output roots with (omit: collect only)
    output_interval = 10        # the settler's output interval: attestations exist only at its multiples
    attesters = ["0x..", ...]   # accepted signers; empty or absent = any signer
    max_ahead = 256             # accept heights up to our L2 head + this
    max_behind = 4096           # ... and down to our L2 head - this

On receipt the topic validator (node.attestation.validate_attestation) runs
on the p2p thread before relay: a rejected message is counted under
`attestations_rejected_total{reason}` and counts toward the forwarding
peer's invalid limit (node.p2p bans it after `invalid_limit`), except
`future` and `stale`, which depend on our own head: those are ignored
(dropped, not relayed, not held against the peer: a lagging node must not
ban honest peers). Accepted
messages go to the pool (node.attestation_pool: one per signer and height,
equivocation evidence, token-bucket rate limits per signer and per
originating peer), whose outcome is counted under `attestations_received_total{outcome}`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from node.attestation import (
    DEFAULT_MAX_AHEAD,
    DEFAULT_MAX_BEHIND,
    Attestation,
    AttestationRejected,
    AttestationRules,
    attestation_topic,
    sign_attestation,
    validate_attestation,
)
from node.attestation_pool import AttestationJournal, AttestationPool, Outcome
from node.attestation_sync import AttestationSync, sync_protocol
from node.crypto import CryptoError, PrivateKey, parse_address, to_checksum_address
from node.encoding import DecodeError
from node.p2p import IgnoreMessage, P2PError, P2PNode
from node.rpc.metrics import Metrics
from node.service import ConfigError

log = logging.getLogger(__name__)

REJECT_REASONS = (
    "too_large",
    "malformed",
    "wrong_chain",
    "bad_signature",
    "unknown_signer",
    "not_output_height",
    "future",
    "stale",
)
# Verdicts on the receiver's own head: ignored (dropped, not relayed) but never held against the peer,
# so a node that lags behind does not ban the honest peers whose attestations it cannot place yet.
RECEIVER_STATE_REASONS = frozenset({"future", "stale"})


@dataclass(frozen=True, slots=True)
class AttestationSection:
    key: PrivateKey | None
    output_interval: int
    attesters: frozenset[bytes]
    max_ahead: int = DEFAULT_MAX_AHEAD
    max_behind: int = DEFAULT_MAX_BEHIND
    journal: Path | None = None  # where the pool is kept across restarts (None: memory only)


def load_attestation_section(doc: Mapping[str, Any]) -> AttestationSection | None:
    section = doc.get("attestation")
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise ConfigError("[attestation] must be a table")
    unknown = set(section) - {"key", "output_interval", "attesters", "max_ahead", "max_behind", "journal"}
    if unknown:
        raise ConfigError(f"[attestation] has unknown keys: {', '.join(sorted(unknown))}")
    key_text = section.get("key")
    if key_text is not None and not isinstance(key_text, str):
        raise ConfigError("attestation.key must be a 0x-hex string")
    try:
        key = PrivateKey.from_hex(key_text) if key_text is not None else None
    except (CryptoError, ValueError) as exc:
        raise ConfigError(f"attestation.key: {exc}") from None
    attesters = section.get("attesters", [])
    if not isinstance(attesters, list) or not all(isinstance(a, str) for a in attesters):
        raise ConfigError("attestation.attesters must be a list of addresses")
    try:
        addresses = frozenset(bytes(parse_address(a)) for a in attesters)
    except CryptoError as exc:
        raise ConfigError(f"attestation.attesters: {exc}") from None
    journal = section.get("journal")
    if journal is not None and (not isinstance(journal, str) or not journal):
        raise ConfigError("attestation.journal must be a file path")
    return AttestationSection(
        key,
        _int(section, "output_interval", 10, 1),
        addresses,
        _int(section, "max_ahead", DEFAULT_MAX_AHEAD, 0),
        _int(section, "max_behind", DEFAULT_MAX_BEHIND, 0),
        Path(journal) if journal is not None else None,
    )


def _int(section: Mapping[str, Any], name: str, default: int, minimum: int) -> int:
    value = section.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= 10**9:
        raise ConfigError(f"attestation.{name} must be an integer in [{minimum}, 1000000000]")
    return value


ATTESTATION_JOURNAL = "attestations.journal"  # the default journal file in a data dir


class AttestationNetwork:
    """Publishes this node's attestations and collects the valid ones it receives."""

    def __init__(
        self,
        node: P2PNode,
        section: AttestationSection,
        chain_id: int,
        head: Callable[[], int],
        metrics: Metrics,
        on_new: Callable[[Attestation], None] | None = None,
        journal: Path | None = None,
    ) -> None:
        """`journal` (or `section.journal`): the file the pool is kept in across restarts."""
        self.node = node
        self.section = section
        self.rules = AttestationRules(
            chain_id, section.output_interval, section.attesters, section.max_ahead, section.max_behind
        )
        self.topic = attestation_topic(chain_id)
        self.pool = AttestationPool()
        self._head = head
        self._on_new = on_new  # called with each attestation newly pooled from a peer
        self.m_rejected = metrics.counter("attestations_rejected_total", "attestation gossip rejected, by reason")
        self.m_received = metrics.counter("attestations_received_total", "valid attestations received, by outcome")
        self.m_published = metrics.counter("attestations_published_total", "output roots this node attested to")
        self.m_synced = metrics.counter("attestations_synced_total", "attestations from range sync, by outcome")
        path = journal if journal is not None else section.journal
        self.journal = AttestationJournal(path) if path is not None else None
        self.sync = AttestationSync(self)

    async def start(self) -> None:
        """Replay the journal, then serve and follow the topic, and catch up from a peer (node.attestation_net)."""
        self.replay_journal()
        self.node.register_handler(sync_protocol(self.rules.chain_id), self.sync.serve)
        self.node.set_validator(self.topic, self._validate)
        await self.node.subscribe(self.topic, self._on_message)
        self.sync.start()

    async def close(self) -> None:
        await self.sync.stop()
        if self.journal is not None:
            self.journal.close()

    def replay_journal(self, known: Mapping[bytes, Attestation] | None = None) -> None:
        """Re-validate every journaled message (any height: our head is not known yet) into the pool, compact.

        `known`: messages this process validated already, by their exact bytes (a devnet revert replaying
        its own snapshot's journal, node.devnet.inproc.known): taken without checking them again."""
        if self.journal is None:
            return
        rules = replace(self.rules, max_ahead=2**62, max_behind=2**62)
        known = known or {}
        kept = 0
        for data in self.journal.read():
            try:
                attestation = known.get(data)
                if attestation is None:
                    attestation = validate_attestation(data, rules, 0)
            except AttestationRejected as exc:
                log.warning("attestation journal: dropping a record that no longer validates: %s", exc)
                continue
            if self.pool.add(attestation, "journal", 0.0, limited=False) in (Outcome.NEW, Outcome.EQUIVOCATION):
                kept += 1
        self.journal.rewrite(a.encode() for a in self.pool.held() + [e.second for e in self.pool.equivocations()])
        if kept:
            log.info(
                "attestation journal: %d attestations restored, %d equivocations", kept, len(self.pool.equivocations())
            )

    def keep(self, attestation: Attestation, peer: str, limited: bool = True) -> Outcome:
        """Add a validated attestation to the pool, and to the journal when it was stored or is evidence."""
        outcome = self.pool.add(attestation, peer, time.monotonic(), limited)
        if self.journal is not None and outcome in (Outcome.NEW, Outcome.EQUIVOCATION):
            self.journal.append(attestation.encode())
        return outcome

    def head(self) -> int:
        """Our L2 head, as the height window's reference."""
        return self._head()

    @property
    def signer(self) -> bytes | None:
        return None if self.section.key is None else bytes(self.section.key.address)

    def is_output_height(self, number: int) -> bool:
        return number > 0 and number % self.rules.output_interval == 0

    async def attest(self, l2_block_number: int, output_root: bytes) -> Attestation | None:
        """Sign and gossip our output root at an output height (no-op without a key or off-height)."""
        if self.section.key is None or not self.is_output_height(l2_block_number):
            return None
        attestation = sign_attestation(self.section.key, self.rules.chain_id, l2_block_number, output_root)
        outcome = self.keep(attestation, "self")
        if outcome is Outcome.EQUIVOCATION:
            log.error("our own output root at block %d changed (L1 reorg?): not re-attesting", l2_block_number)
            return None
        if outcome is not Outcome.NEW:
            return None
        try:
            await self.node.publish(self.topic, attestation.encode())
        except P2PError as exc:
            log.warning("could not gossip our attestation for block %d: %s", l2_block_number, exc)
            return attestation
        self.m_published.inc()
        return attestation

    def _validate(self, data: bytes) -> bool:  # the p2p thread: no pool access
        try:
            validate_attestation(data, self.rules, self._head())
        except AttestationRejected as exc:
            self.m_rejected.inc(reason=exc.reason)
            if exc.reason in RECEIVER_STATE_REASONS:
                raise IgnoreMessage(exc.reason) from None  # our head, not the sender, decides these
            return False
        return True

    async def _on_message(self, data: bytes, peer: str) -> None:
        try:
            attestation = validate_attestation(data, self.rules, self._head())
        except (AttestationRejected, DecodeError):
            return  # validated on the p2p thread already; our head moved since
        self.received(attestation, self.keep(attestation, peer))

    def received(self, attestation: Attestation, outcome: Outcome) -> None:
        """What follows a peer's attestation's outcome (gossip or sync): metrics, the callback, the warning."""
        self.m_received.inc(outcome=outcome.value)
        if outcome is Outcome.NEW and self._on_new is not None:
            self._on_new(attestation)
        if outcome is Outcome.EQUIVOCATION:
            log.warning(
                "attester %s signed two output roots at block %d; evidence kept, its attestations now ignored",
                to_checksum_address(attestation.signer),
                attestation.l2_block_number,
            )

    def rejected(self) -> dict[str, int]:
        return {reason: int(self.m_rejected.value(reason=reason)) for reason in REJECT_REASONS}


def attestation_json(attestation: Attestation) -> dict[str, Any]:
    return {
        "signer": to_checksum_address(attestation.signer),
        "outputRoot": "0x" + attestation.output_root.hex(),
        "signature": "0x" + attestation.signature.hex(),
    }


def attestations_report(pool: AttestationPool, l2_block_number: int, own_root: bytes | None) -> dict[str, Any]:
    """What `rollup_getAttestations` answers for one height."""
    held = pool.at(l2_block_number)
    report: dict[str, Any] = {
        "l2BlockNumber": l2_block_number,
        "ownRoot": None if own_root is None else "0x" + own_root.hex(),
        "attestations": [
            {**attestation_json(a), "agrees": None if own_root is None else a.output_root == own_root} for a in held
        ],
        "equivocations": [
            {
                "signer": to_checksum_address(e.signer),
                "first": attestation_json(e.first) | {"l2BlockNumber": e.first.l2_block_number},
                "second": attestation_json(e.second) | {"l2BlockNumber": e.second.l2_block_number},
            }
            for e in pool.equivocations()
            if l2_block_number in (e.first.l2_block_number, e.second.l2_block_number)
        ],
    }
    return report
