"""What a settler lets a proposal policy change: only test-only fault modes use it (l1.faults.settler).

The settler proposes correct roots unless a policy is injected; the policy
may make one proposal wrong, hold later ones back while it plays its games,
and ask for a block to be proposed again (honestly) after a defeat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from node.crypto import Hash32, PrivateKey


class ProposalPolicy(Protocol):
    @property
    def needs_attention(self) -> bool: ...

    async def open(self) -> None: ...

    def close(self) -> None: ...

    def limit_due(self, blocks: list[int]) -> list[int]: ...

    def wants_fault(self, block: int) -> bool: ...

    async def wrong_root(self, block: int, own_newest_live: int) -> Hash32: ...

    async def play(self, key: PrivateKey, outputs: list[Any]) -> int | None: ...


@runtime_checkable
class SwitchablePolicy(Protocol):
    """A policy whose faults can be switched at run time (devnet_setFaultyProposer, l1.settler.control)."""

    def set_fault_mode(self, mode: str | None, next_output: int) -> int: ...


# (settler config, its L1 client, its sequencer RPC client) -> the policy
ProposalPolicyFactory = Callable[[Any, Any, Any], ProposalPolicy]

__all__ = ["ProposalPolicy", "ProposalPolicyFactory", "SwitchablePolicy"]
