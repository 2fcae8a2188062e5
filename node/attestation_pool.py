"""The attestations a node has received: one per (signer, height), equivocation kept as evidence.

In memory, and optionally journaled on disk (AttestationJournal: every
attestation the pool stores, and both messages of each equivocation, as the
signed bytes; replayed through validation at start, so a restart keeps the
pool and the evidence). Kept small: heights more than `keep_heights` below
the newest one seen are pruned (the journal is compacted to what is kept at
each start).

Outcomes of `add` (counted by the caller under `attestations_<outcome>_total`):

- `new`: stored;
- `duplicate`: the same root from the same signer at the same height (already stored);
- `equivocation`: a second, different root from the signer at a height: both signed
  messages are kept as evidence and the signer's later attestations are ignored;
- `equivocator`: from a signer already caught equivocating (ignored);
- `rate_limited`: the signer or the peer that originated it exceeded its token bucket (ignored).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import BinaryIO

from node.attestation import Attestation


class Outcome(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    EQUIVOCATION = "equivocation"
    EQUIVOCATOR = "equivocator"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class Equivocation:
    signer: bytes
    first: Attestation
    second: Attestation


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second; `take` spends one if there is one."""

    capacity: float
    rate: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.updated = self.capacity, now
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass(frozen=True, slots=True)
class PoolLimits:
    burst: int = 16  # attestations a signer (or an originating peer) may send at once
    per_second: float = 2.0  # sustained rate; honest attesters send one per output interval
    keep_heights: int = 4096  # blocks below the newest attested height that are kept


@dataclass(frozen=True, slots=True)
class Tally:
    """Who attested at one height, relative to a root."""

    agree: tuple[Attestation, ...]
    disagree: tuple[Attestation, ...]


@dataclass
class AttestationPool:
    limits: PoolLimits = field(default_factory=PoolLimits)
    _by_height: dict[int, dict[bytes, Attestation]] = field(default_factory=dict)
    _equivocations: dict[bytes, Equivocation] = field(default_factory=dict)
    _buckets: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    _newest: int = 0

    def add(self, attestation: Attestation, peer: str, now: float, limited: bool = True) -> Outcome:
        """Record a validated attestation originated by `peer` (a peer id, or "self"); `limited=False` skips the
        rate limits (replayed from our journal, or a bounded range-sync answer)."""
        signer = bytes(attestation.signer)
        if signer in self._equivocations:
            return Outcome.EQUIVOCATOR
        at_height = self._by_height.get(attestation.l2_block_number, {})
        held = at_height.get(signer)
        if held is not None and held.output_root == attestation.output_root:
            return Outcome.DUPLICATE
        if (
            limited
            and peer != "self"
            and not (self._take(("signer", signer.hex()), now) and self._take(("peer", peer), now))
        ):
            return Outcome.RATE_LIMITED
        if held is not None:
            self._equivocations[signer] = Equivocation(signer, held, attestation)
            return Outcome.EQUIVOCATION
        self._by_height.setdefault(attestation.l2_block_number, {})[signer] = attestation
        self._newest = max(self._newest, attestation.l2_block_number)
        self._prune()
        return Outcome.NEW

    def at(self, l2_block_number: int) -> list[Attestation]:
        """Attestations held for a height, excluding equivocators', sorted by signer."""
        held = self._by_height.get(l2_block_number, {})
        return [held[s] for s in sorted(held) if s not in self._equivocations]

    def tally(self, l2_block_number: int, output_root: bytes, trusted: Iterable[bytes] | None = None) -> Tally:
        """Split the attestations at a height into those for `output_root` and those for another root;
        only signers in `trusted` when given."""
        allowed = None if trusted is None else {bytes(t) for t in trusted}
        chosen = [a for a in self.at(l2_block_number) if allowed is None or bytes(a.signer) in allowed]
        return Tally(
            agree=tuple(a for a in chosen if a.output_root == output_root),
            disagree=tuple(a for a in chosen if a.output_root != output_root),
        )

    def held(self) -> list[Attestation]:
        """Everything stored (equivocators' first messages included), by height then signer."""
        return [self._by_height[h][s] for h in sorted(self._by_height) for s in sorted(self._by_height[h])]

    def since(self, l2_block_number: int, limit: int) -> list[Attestation]:
        """Up to `limit` stored attestations at heights >= `l2_block_number`, evidence included, oldest first."""
        found = [a for a in self.held() if a.l2_block_number >= l2_block_number]
        found += [e.second for e in self.equivocations() if e.second.l2_block_number >= l2_block_number]
        found.sort(key=lambda a: (a.l2_block_number, bytes(a.signer), a.output_root))
        return found[:limit]

    def equivocations(self) -> list[Equivocation]:
        return list(self._equivocations.values())

    def heights(self) -> list[int]:
        return sorted(self._by_height)

    def _take(self, key: tuple[str, str], now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= 4096:  # bounded: forget the idle ones
                self._buckets = {k: b for k, b in self._buckets.items() if now - b.updated < 60}
            bucket = self._buckets[key] = TokenBucket(self.limits.burst, self.limits.per_second)
        return bucket.take(now)

    def _prune(self) -> None:
        floor = self._newest - self.limits.keep_heights
        for height in [h for h in self._by_height if h < floor]:
            del self._by_height[height]


class AttestationJournal:
    """An append-only file of the signed attestations a pool stored: records `uint16_be(len) || message`.

    `read()` returns the messages of the complete records (a record torn by a crash is dropped); the caller
    validates them again before use. `rewrite(messages)` replaces the file atomically (compaction).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: BinaryIO | None = None

    def read(self) -> list[bytes]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        messages, offset = [], 0
        while offset + 2 <= len(data):
            size = int.from_bytes(data[offset : offset + 2], "big")
            if offset + 2 + size > len(data):
                break
            messages.append(data[offset + 2 : offset + 2 + size])
            offset += 2 + size
        return messages

    def rewrite(self, messages: Iterable[bytes]) -> None:
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(b"".join(_record(m) for m in messages))
        os.replace(tmp, self.path)

    def append(self, message: bytes) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        self._file.write(_record(message))
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _record(message: bytes) -> bytes:
    if len(message) > 0xFFFF:
        raise ValueError(f"an attestation of {len(message)} bytes does not fit a journal record")
    return len(message).to_bytes(2, "big") + message
