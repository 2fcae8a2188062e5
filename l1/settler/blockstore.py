"""The settler's copy of the sequencer's signed blocks: `<data_dir>/held_blocks/<number>.blk`, crash-safe.

Each file is one signed gossip message (node.gossip), written to a temporary
file and renamed into place, so a kill -9 at any moment leaves either the
whole message or none. There is no fsync (it would stall the event loop at
every block): a power loss may lose the newest blocks or leave a torn file,
which the check at start deletes; they are fetched again (range sync, or the
RPC fallback), as nothing on L1 depends on them. At start every file is checked again with
the gossip validation (the sequencer's signature, canonical encoding, this
chain; not its age) and one that fails is deleted. Nothing here is trusted
further: what is posted is decided from L1 (l1.settler.inbox), and a held
block only supplies the bytes of a batch.

    store = BlockStore(dir, rules)        # loads and re-validates what a previous run held
    store.add(signed)                     # -> Added (new, duplicate, replaced: the sequencer re-sealed it)
    store.blocks[n]                       # the Block at height n
    store.prune_upto(n)                   # forget blocks at or below n (posted and derived on L1)
    store.drop_from(n)                    # forget blocks at and above n (L1 derived another block at n)

A block that differs from the one held at its height replaces it (the
sequencer re-sealed that height, e.g. after L1 derived default blocks) and
the held blocks above it are dropped: they were built on the old one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from node.block import Block
from node.clock import PROCESS_CLOCK
from node.gossip import MAX_RANGE_RESPONSE_BYTES, GossipRejected, GossipRules, SignedBlock, validate_gossip

log = logging.getLogger("settler.blocks")

BLOCK_SUFFIX = ".blk"
MAX_HELD = 8192  # blocks beyond this many are not kept (range sync fetches them once the store drains)
NO_AGE_LIMIT_MS = 2**62


class Added(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    REPLACED = "replaced"
    FULL = "full"


@dataclass(frozen=True, slots=True)
class LoadReport:
    loaded: int
    deleted: int


class BlockStore:
    def __init__(
        self, directory: Path, rules: GossipRules, max_held: int = MAX_HELD, known: Mapping[bytes, Block] | None = None
    ) -> None:
        """`known`: messages this process validated already, by their exact bytes (a devnet revert reloading the
        files of its own snapshot, l1.settler.revert): taken without checking them again."""
        self.directory = directory
        self.rules = GossipRules(rules.chain_id, rules.sequencer, rules.max_bytes, max_past_ms=NO_AGE_LIMIT_MS)
        self.max_held = max_held
        self.blocks: dict[int, Block] = {}
        self.raw: dict[int, bytes] = {}
        self.directory.mkdir(parents=True, exist_ok=True)
        self.load_report = self._load(known or {})

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:016d}{BLOCK_SUFFIX}"

    def _load(self, known: Mapping[bytes, Block]) -> LoadReport:
        loaded = deleted = 0
        for path in sorted(self.directory.iterdir()):
            if path.suffix != BLOCK_SUFFIX:
                path.unlink(missing_ok=True)  # a temporary file a crash left behind
                continue
            try:
                data = path.read_bytes()
                block = known.get(data)
                if block is None:
                    block = validate_gossip(data, self.rules, PROCESS_CLOCK.now_ms()).block
                if path.name != self._path(block.number).name:
                    raise GossipRejected("misplaced", f"block {block.number} in {path.name}")
            except (OSError, GossipRejected) as exc:
                log.warning("deleting held block file %s: %s", path.name, exc)
                path.unlink(missing_ok=True)
                deleted += 1
                continue
            self.blocks[block.number] = block
            self.raw[block.number] = data
            loaded += 1
        return LoadReport(loaded, deleted)

    def __len__(self) -> int:
        return len(self.blocks)

    def newest(self) -> int | None:
        return max(self.blocks) if self.blocks else None

    def add(self, signed: SignedBlock) -> Added:
        """Hold a block that passed gossip validation (replacing a different one at its height)."""
        number = signed.block.number
        ours = self.blocks.get(number)
        if ours is not None and ours.hash() == signed.block.hash():
            return Added.DUPLICATE
        if ours is None and len(self.blocks) >= self.max_held:
            return Added.FULL
        if ours is not None:
            above = [n for n in self.blocks if n > number]
            log.warning(
                "the sequencer re-sealed L2 block %d (0x%s, was 0x%s): dropping %d held block(s) above it",
                number,
                signed.block.hash().hex()[:16],
                ours.hash().hex()[:16],
                len(above),
            )
            self._delete(above)
        self._write(number, signed.encode())
        self.blocks[number] = signed.block
        return Added.NEW if ours is None else Added.REPLACED

    def drop_from(self, number: int) -> int:
        """Forget the blocks at and above `number` (L1 derived another block there: they are stale)."""
        stale = [n for n in self.blocks if n >= number]
        self._delete(stale)
        return len(stale)

    def prune_upto(self, number: int) -> int:
        old = [n for n in self.blocks if n <= number]
        self._delete(old)
        return len(old)

    def _delete(self, numbers: list[int]) -> None:
        for n in numbers:
            self.blocks.pop(n, None)
            self.raw.pop(n, None)
            self._path(n).unlink(missing_ok=True)

    def _write(self, number: int, data: bytes) -> None:
        path = self._path(number)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self.raw[number] = data

    def serve_range(self, first: int, count: int) -> list[bytes]:
        """Signed messages first.. that are held contiguously (a peer's range request)."""
        out: list[bytes] = []
        size = 0
        for number in range(first, first + count):
            data = self.raw.get(number)
            size += len(data or b"")
            if data is None or (out and size > MAX_RANGE_RESPONSE_BYTES // 2):
                break
            out.append(data)
        return out
