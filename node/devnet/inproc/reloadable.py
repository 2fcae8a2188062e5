"""What a role process implements so it can snapshot and revert itself in place (node.devnet.inproc.control).

The control drives it so, for a revert:

    await role.hold()          # reach a block boundary; make no block (nor accept gossip) until release()
    await role.stop_loops()    # cancel the loops that read or write the store
    role.close_stores()        # close every store and file under data_dir
    ... the data dir is exchanged for the snapshot's copy (node.devnet.inproc.swap) ...
    await role.reopen()        # open data_dir again and rebuild every in-memory structure derived from it
    await role.hold()          # held again, on the rebuilt parts
    role.start_loops()         # the loops run, waiting on the hold
    role.release()             # unless the caller asked to stay held (the devnet reverts every process first)

and for a snapshot: hold(), a checkpoint of `stores()` and the side files, release(). After reopen()
the role must be indistinguishable from one freshly started on the same data dir.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from node.store.kv import KVStore


class Reloadable(Protocol):
    @property
    def data_dir(self) -> Path: ...

    @property
    def held(self) -> bool: ...

    async def hold(self) -> None: ...

    def release(self) -> None: ...

    def stores(self) -> Sequence[KVStore]: ...

    async def stop_loops(self) -> None: ...

    def close_stores(self) -> None: ...

    async def reopen(self) -> None: ...

    def start_loops(self) -> None: ...

    def fail(self, exc: BaseException) -> None:
        """The role cannot go on (a revert failed half-way): end the process, so the devnet restarts it."""
        ...


__all__ = ["Reloadable"]
