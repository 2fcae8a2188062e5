"""End-of-block hooks: state changes the protocol itself makes after a block's transactions.

The venue registers its liquidation engine here. Every path that executes a
block runs the same hooks, in registration order: block building and
execution (node.stf.blocks) and the fraud proofs' end-of-block step
(node.fraud.steps), so a skipped hook is provable fraud. Like the
transaction handler table, the registry is written once at import time.
"""

from __future__ import annotations

from typing import Callable

from node.state.view import Overlay
from node.stf.config import BlockContext, ChainConfig

EndOfBlockHook = Callable[[Overlay, ChainConfig, BlockContext], None]

_HOOKS: list[tuple[str, EndOfBlockHook]] = []


def register_end_of_block_hook(name: str, hook: EndOfBlockHook) -> None:
    if any(existing == name for existing, _ in _HOOKS):
        raise ValueError(f"end-of-block hook {name!r} is already registered")
    _HOOKS.append((name, hook))


def get_end_of_block_hooks() -> tuple[tuple[str, EndOfBlockHook], ...]:
    return tuple(_HOOKS)


def apply_end_of_block(overlay: Overlay, config: ChainConfig, ctx: BlockContext) -> None:
    """Run every registered hook over the block's overlay."""
    for _, hook in _HOOKS:
        hook(overlay, config, ctx)
