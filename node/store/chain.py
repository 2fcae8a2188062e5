"""The chain store: L2 blocks, receipts, transaction index and versioned state in one RocksDB.

Every block is committed in one atomic write batch holding the block, its
receipts, its transaction index entries, the state tree's new nodes and flat
values, the pruning of state older than the history window, and the head
pointer. A process killed at any moment reopens at exactly the last
committed block (tests/processes/test_crash_safety.py).

Keys (one-letter namespaces; N/R/S/V belong to the state tree, node.smt.nodes):
    B number(8)      -> block encoding
    H block_hash     -> number(8)
    T tx_hash        -> pack([number, index])
    C number(8)      -> pack([receipt encoding, ...])
    Y number(8)      -> count of L1-derived transactions (deposits, forced) heading the block
    U number(8)      -> pack([[key_hash, value before the block or nil], ...]): undo record for rewinds
    G number(8)      -> the sequencer's gossip signature over the block (node.unsafe)
    E number(8)      -> equivocation evidence at that height (node.unsafe)
    M head           -> pack([number, block_hash, state_root])
    M pruned_below   -> version(8): state of versions below this is pruned
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from node.block import Block, decode_block
from node.crypto import keccak256
from node.encoding import pack, unpack
from node.smt.hashing import hash_key
from node.smt.nodes import NODE_PREFIX, ROOT_PREFIX, STALE_PREFIX, decode_stale_list, root_key, value_key
from node.smt.proof import Proof
from node.smt.versioned import DEFAULT_CACHE_NODES, TreeUpdate, VersionedTree
from node.store.kv import KVStore

RewindHook = Callable[[int, int], None]  # (target, head): called before a rewind writes anything

HEAD_KEY = b"Mhead"
PRUNED_KEY = b"Mpruned_below"
DEFAULT_HISTORY_WINDOW = 2048
PRUNE_EVERY = 64


@dataclass(frozen=True, slots=True)
class Head:
    number: int
    hash: bytes
    state_root: bytes


class LatestState:
    """StateReader over the newest committed state (application keys).

    It remembers what it read (by key hash): handed to the tree update as
    `known_values`, that saves re-reading the leaves a block overwrites.
    """

    __slots__ = ("_tree", "reads")

    def __init__(self, tree: VersionedTree) -> None:
        self._tree = tree
        self.reads: dict[bytes, bytes | None] = {}

    def get(self, key: bytes) -> bytes | None:
        key_hash = hash_key(key)
        reads = self.reads
        if key_hash in reads:
            return reads[key_hash]
        value = reads[key_hash] = self._tree.get_latest(key_hash)
        return value


class HistoricalState:
    """StateReader over the state after block `version` (walks that version's root)."""

    __slots__ = ("_tree", "version")

    def __init__(self, tree: VersionedTree, version: int) -> None:
        self._tree = tree
        self.version = version

    def get(self, key: bytes) -> bytes | None:
        return self._tree.get(hash_key(key), self.version)


def _num(n: int) -> bytes:
    return n.to_bytes(8, "big")


class ChainStore:
    def __init__(
        self,
        path: Path | str,
        history_window: int = DEFAULT_HISTORY_WINDOW,
        cache_nodes: int = DEFAULT_CACHE_NODES,
        sync: bool = False,
    ) -> None:
        if history_window < 1:
            raise ValueError("history_window must be at least 1 block")
        self.kv = KVStore(path, sync=sync)
        self.tree = VersionedTree(self.kv, cache_nodes)
        self.history_window = history_window
        self.before_rewind: RewindHook | None = None  # the sequencer records what a rewind drops (sequencer.healing)
        self._head = self._load_head()

    # -- heads and reads --------------------------------------------------------

    def _load_head(self) -> Head | None:
        raw = self.kv.get(HEAD_KEY)
        if raw is None:
            return None
        number, block_hash, state_root = unpack(raw)
        return Head(number, block_hash, state_root)

    def head(self) -> Head | None:
        return self._head

    def latest_state(self) -> LatestState:
        return LatestState(self.tree)

    def state_at(self, number: int) -> HistoricalState:
        self.tree.root_ref(number)  # raises MissingVersionError when absent or pruned
        return HistoricalState(self.tree, number)

    def pruned_below(self) -> int:
        raw = self.kv.get(PRUNED_KEY)
        return int.from_bytes(raw, "big") if raw else 0

    def get_block(self, number: int) -> Block | None:
        raw = self.kv.get(b"B" + _num(number))
        return decode_block(raw) if raw is not None else None

    def get_block_number(self, block_hash: bytes) -> int | None:
        raw = self.kv.get(b"H" + block_hash)
        return int.from_bytes(raw, "big") if raw is not None else None

    def get_system_count(self, number: int) -> int:
        raw = self.kv.get(b"Y" + _num(number))
        return int.from_bytes(raw, "big") if raw is not None else 0

    def get_tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        raw = self.kv.get(b"T" + tx_hash)
        if raw is None:
            return None
        number, index = unpack(raw)
        return number, index

    def get_receipts(self, number: int) -> list[bytes]:
        raw = self.kv.get(b"C" + _num(number))
        return list(unpack(raw)) if raw is not None else []

    def prove(self, app_key: bytes, number: int) -> tuple[bytes | None, Proof]:
        key_hash = hash_key(app_key)
        return self.tree.get(key_hash, number), self.tree.prove(key_hash, number)

    # -- writes -----------------------------------------------------------------

    def compute_state_update(
        self, number: int, writes: Mapping[bytes, bytes | None], base_reads: LatestState | None = None
    ) -> TreeUpdate:
        """The tree update for block `number` from the state transition's writes (app keys).

        `base_reads`: the LatestState the block was executed against, if any.
        """
        base = self._head.number if self._head is not None else None
        known = base_reads.reads if base_reads is not None else None
        return self.tree.compute_update(base, number, {hash_key(k): v for k, v in writes.items()}, known)

    def commit_block(
        self,
        block: Block,
        receipts: list[bytes],
        tx_hashes: list[bytes],
        state: TreeUpdate,
        extra_puts: Mapping[bytes, bytes] | None = None,
        system_count: int = 0,
    ) -> Head:
        """Write the block and its state atomically and advance the head."""
        number = block.number
        self._validate_next(block, state)
        block_hash = block.hash()
        puts = dict(state.puts)
        deletes = list(state.deletes)
        puts[b"B" + _num(number)] = block.encode()
        puts[b"H" + block_hash] = _num(number)
        puts[b"C" + _num(number)] = pack(receipts)
        if system_count:
            puts[b"Y" + _num(number)] = _num(system_count)
        for index, tx_hash in enumerate(tx_hashes):
            puts[b"T" + tx_hash] = pack([number, index])
        puts[b"U" + _num(number)] = pack([[key, old] for key, old in state.previous.items()])
        if extra_puts:
            puts.update(extra_puts)
        head = Head(number, block_hash, state.root_hash)
        puts[HEAD_KEY] = pack([head.number, head.hash, head.state_root])
        self._add_pruning(number, puts, deletes)
        self.kv.write(puts, deletes)
        self.tree.on_committed(state)
        self._head = head
        return head

    def _validate_next(self, block: Block, state: TreeUpdate) -> None:
        expected = self._head.number + 1 if self._head is not None else 0
        if block.number != expected:
            raise ValueError(f"block {block.number} does not extend the head (expected {expected})")
        if state.version != block.number or state.root_hash != block.header.state_root:
            raise ValueError("state update does not belong to this block")

    def _add_pruning(self, number: int, puts: dict[bytes, bytes], deletes: list[bytes]) -> None:
        if number % PRUNE_EVERY != 0:
            return
        keep_from = number - self.history_window
        already = self.pruned_below()
        if keep_from <= already:
            return
        for key, retired in self.kv.scan(STALE_PREFIX, STALE_PREFIX + _num(keep_from + 1)):
            deletes.append(key)
            deletes.extend(decode_stale_list(retired))
        for key, _ in self.kv.scan(root_key(already), root_key(keep_from)):
            deletes.append(key)
        for key, _ in self.kv.scan(b"U" + _num(already), b"U" + _num(keep_from)):
            deletes.append(key)
        puts[PRUNED_KEY] = _num(keep_from)

    def rewind_to(self, number: int) -> Head:
        """Drop every block above `number` and restore its state, in one atomic write.

        Used when L1 data decides against the unsafe chain (a reorg). Blocks
        within the history window can be rewound; their nodes, roots, stale
        marks, receipts and index entries go, flat values come back from the
        undo records.
        """
        head = self._head
        if head is None or number >= head.number:
            raise ValueError(f"cannot rewind to {number}: the head is {head.number if head else None}")
        if number < self.pruned_below():
            raise ValueError(f"cannot rewind to {number}: state below {self.pruned_below()} is pruned")
        target = self.get_block(number)
        if target is None:
            raise ValueError(f"cannot rewind to {number}: block missing")
        if self.before_rewind is not None:
            self.before_rewind(number, head.number)  # the blocks above `number` are still readable here
        puts: dict[bytes, bytes] = {}
        deletes: list[bytes] = []
        restored: dict[bytes, bytes | None] = {}
        for n in range(head.number, number, -1):  # newest first: older undo values win
            restored.update(self._undo_record(n))
            deletes.extend(self._block_keys(n))
        for key_hash, value in restored.items():
            if value is None:
                deletes.append(value_key(key_hash))
            else:
                puts[value_key(key_hash)] = value
        new_head = Head(number, target.hash(), target.header.state_root)
        puts[HEAD_KEY] = pack([new_head.number, new_head.hash, new_head.state_root])
        self.kv.write(puts, deletes)
        self.tree.forget_cache()
        self._head = new_head
        return new_head

    def _undo_record(self, number: int) -> dict[bytes, bytes | None]:
        raw = self.kv.get(b"U" + _num(number))
        if raw is None:
            raise ValueError(f"block {number} has no undo record")
        return {key: old for key, old in unpack(raw)}

    def _block_keys(self, number: int) -> list[bytes]:
        """Every key block `number` added: block, indexes, receipts, undo, root, nodes, stale marks."""
        block = self.get_block(number)
        if block is None:
            raise ValueError(f"block {number} is missing")
        keys = [
            b"B" + _num(number),
            b"H" + block.hash(),
            b"C" + _num(number),
            b"Y" + _num(number),
            b"U" + _num(number),
            b"G" + _num(number),
            root_key(number),
        ]
        keys.extend(b"T" + keccak256(raw) for raw in block.transactions)
        keys.extend(k for k, _ in self.kv.scan(NODE_PREFIX + _num(number), NODE_PREFIX + _num(number + 1)))
        keys.extend(k for k, _ in self.kv.scan(STALE_PREFIX + _num(number), STALE_PREFIX + _num(number + 1)))
        return keys

    def close(self) -> None:
        self.kv.close()


__all__ = ["ChainStore", "Head", "HistoricalState", "LatestState", "ROOT_PREFIX"]
