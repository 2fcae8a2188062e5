"""Messages a role validated already, by their exact bytes: a devnet revert reloads them without checking again.

A snapshot is taken while the role is held, so what the role holds in memory at a hold (the
settler's held blocks, an executor's or the challenger's attestation pool) is what the snapshot
copy's files hold. Remembered at each hold, those messages need no second signature check when a
revert loads the copy's files: the same bytes, validated by this process under the same rules
(l1.settler.blockstore, node.attestation_net take them as `known`). Anything else in the files is
validated as at start-up. Bounded: the oldest are forgotten first (then checked again).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from node.attestation import Attestation
    from node.attestation_pool import AttestationPool

T = TypeVar("T")
DEFAULT_LIMIT = 16384


class KnownMessages(Generic[T]):
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._by_bytes: dict[bytes, T] = {}

    def remember(self, messages: Iterable[tuple[bytes, T]]) -> None:
        by_bytes = self._by_bytes
        for data, message in messages:
            by_bytes[data] = message
        excess = len(by_bytes) - self.limit
        if excess > 0:
            for data in list(by_bytes)[:excess]:
                del by_bytes[data]

    def snapshot(self) -> dict[bytes, T]:
        """A copy (safe to read from another thread while the role goes on)."""
        return dict(self._by_bytes)

    def __len__(self) -> int:
        return len(self._by_bytes)


def pool_messages(pool: AttestationPool) -> list[tuple[bytes, Attestation]]:
    """An attestation pool's messages as its journal holds them (node.attestation_net: a.encode())."""
    held = pool.held() + [equivocation.second for equivocation in pool.equivocations()]
    return [(attestation.encode(), attestation) for attestation in held]


__all__ = ["KnownMessages", "pool_messages"]
