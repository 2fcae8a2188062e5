"""End-of-block hooks: state changes the protocol itself makes after a block's transactions.

The venue registers its liquidation engine here. Every path that executes a
block runs the same hooks, in registration order: block building and
execution (node.stf.blocks) and the fraud proofs' end-of-block steps
(node.fraud.steps), so a skipped hook is provable fraud. Like the
transaction handler table, the registry is written once at import time.

The end-of-block phase runs in chunks, so that a block can do unbounded work
(every account a price move pushes under maintenance) while each chunk, one
fraud-proof step, reads and writes a bounded number of keys:

    chunk 0, 1, ..., E-1        E >= 1, at most MAX_END_OF_BLOCK_CHUNKS

A hook does a bounded amount of work per call and returns whether it is
done. When a hook is not done, the chunk ends and the phase stays open: the
index of the hook in progress is stored under END_OF_BLOCK_KEY, and the next
chunk resumes that hook (`resume=True`; the hook keeps its own continuation
state). The chunk in which every hook is done deletes the key, so between
blocks the key is always absent. The last chunk allowed (`final=True`) must
finish: a hook then defers what is left to the next block.

Two rules make a wrong chunk count provable (node.fraud.steps): a chunk
j > 0 that starts with the phase closed is an overrun (EndOfBlockOverrun),
and the step declared last must close the phase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mypy_extensions import mypyc_attr

from node.encoding import DecodeError, expect_int, pack, unpack
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.errors import StateInvariantViolated

END_OF_BLOCK_KEY = bytes([0x04])  # core namespace 0x04: the end-of-block phase in progress (node.state.schema)
MAX_END_OF_BLOCK_CHUNKS = 4096


@dataclass(frozen=True, slots=True)
class Chunk:
    """Which call this is for a hook: resuming its own unfinished work, and whether it must finish now."""

    resume: bool
    final: bool


EndOfBlockHook = Callable[[Overlay, ChainConfig, BlockContext, Chunk], bool]

_HOOKS: list[tuple[str, EndOfBlockHook]] = []


class EndOfBlockOverrun(Exception):
    """A chunk j > 0 ran with the end-of-block phase already closed: the block has no such chunk."""


@mypyc_attr(native_class=False)  # its base (node.stf.errors) is not compiled
class EndOfBlockStateError(StateInvariantViolated):
    """The end-of-block key holds something no honest execution writes (the pre-state is unreachable)."""


def register_end_of_block_hook(name: str, hook: EndOfBlockHook) -> None:
    if any(existing == name for existing, _ in _HOOKS):
        raise ValueError(f"end-of-block hook {name!r} is already registered")
    _HOOKS.append((name, hook))


def get_end_of_block_hooks() -> tuple[tuple[str, EndOfBlockHook], ...]:
    return tuple(_HOOKS)


def is_end_of_block_open(reader: StateReader) -> bool:
    """Whether a block's end-of-block phase is in progress (between two of its chunks)."""
    return reader.get(END_OF_BLOCK_KEY) is not None


def apply_end_of_block_chunk(overlay: Overlay, config: ChainConfig, ctx: BlockContext, chunk: int) -> bool:
    """Run chunk `chunk` of the end-of-block phase into `overlay`; True when it closed the phase."""
    if not 0 <= chunk < MAX_END_OF_BLOCK_CHUNKS:
        raise ValueError(f"end-of-block chunk {chunk} is outside [0, {MAX_END_OF_BLOCK_CHUNKS})")
    hooks = _HOOKS
    first = get_hook_in_progress(overlay, len(hooks)) if chunk > 0 else 0
    if chunk == 0 and is_end_of_block_open(overlay):
        raise EndOfBlockStateError("a block starts its end-of-block phase while the previous one is still open")
    final = chunk == MAX_END_OF_BLOCK_CHUNKS - 1
    for index in range(first, len(hooks)):
        _, hook = hooks[index]
        done = hook(overlay, config, ctx, Chunk(resume=chunk > 0 and index == first, final=final))
        if not done and not final:
            overlay.set(END_OF_BLOCK_KEY, pack(index))
            return False
    if chunk > 0:
        overlay.delete(END_OF_BLOCK_KEY)
    return True


def get_hook_in_progress(reader: StateReader, hook_count: int) -> int:
    raw = reader.get(END_OF_BLOCK_KEY)
    if raw is None:
        raise EndOfBlockOverrun("the end-of-block phase is already closed")
    try:
        index = expect_int(unpack(raw), "end-of-block hook index", hook_count - 1) if hook_count else -1
    except DecodeError as exc:
        raise EndOfBlockStateError(f"the end-of-block key is malformed: {exc}") from None
    if index < 0:
        raise EndOfBlockStateError("the end-of-block key names a hook, but none is registered")
    return index


def apply_end_of_block(overlay: Overlay, config: ChainConfig, ctx: BlockContext) -> int:
    """Run the whole end-of-block phase over the block's overlay; return its number of chunks."""
    chunk = 0
    while not apply_end_of_block_chunk(overlay, config, ctx, chunk):
        chunk += 1
    return chunk + 1
