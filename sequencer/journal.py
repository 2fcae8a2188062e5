"""The mempool journal: an accepted transaction is on disk before its hash is returned.

One append-only file, `<data_dir>/mempool.journal`, of framed records:

    frame   = length(4, big-endian) crc32(4, of the payload) payload
    payload = pack([1, raw_tx, sender(20), added_ms])                 JournalAdd: entered the pool
            | pack([2, tx_hash(32), reason, detail, at_ms])           JournalDrop: left it, not included

Inclusion is not journaled: the chain store's transaction index records it.
A frame that is short or fails its checksum ends the journal (a write cut
by a crash): `open_journal` cuts the file there and returns the records before it.

Durability. Without `fsync` (the default) `append` writes through: the
records are in the OS page cache when it returns, which survives `kill -9` of
the process, as the chain store's RocksDB writes do (`sync=False`), not a
power cut; one small `write` costs less than a trip through the writer task
(scripts/bench_mempool.py). With `fsync` it is a group commit: `append`
buffers and waits, one writer task writes and syncs everything buffered in a
worker thread while the next group gathers, so concurrent submissions share
one disk sync and throughput does not collapse to one transaction per sync.
While a rotation writes the new file, appends wait for it in both modes.

Rotation (`rotate`): the caller's current records (the pool's content and the
drops it still reports) go to `mempool.journal.new`, which is synced and
renamed over the journal, so a crash leaves the old file or the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from node.encoding import DecodeError, expect_bytes, expect_int, expect_list, pack, unpack

log = logging.getLogger(__name__)

JOURNAL_NAME = "mempool.journal"
TAG_ADD = 1
TAG_DROP = 2
MAX_PAYLOAD_BYTES = 64 * 1024
MAX_DETAIL_CHARS = 240
_HEADER = struct.Struct(">II")


DEFAULT_ROTATE_MS = 60_000
DEFAULT_DROPPED_HISTORY = 100_000


@dataclass(frozen=True, slots=True)
class JournalSettings:
    enabled: bool = True
    fsync: bool = False  # sync every group commit (survives a power cut, not only kill -9)
    rotate_ms: int = DEFAULT_ROTATE_MS  # rewrite the journal to the pool's content this often
    dropped_history: int = DEFAULT_DROPPED_HISTORY  # drops remembered (and rewritten) for status queries

    def __post_init__(self) -> None:
        if self.rotate_ms < 1 or self.dropped_history < 0:
            raise ValueError("journal rotate_ms must be positive and dropped_history not negative")


class JournalError(Exception):
    """The journal could not be written: the transaction is not durable, so it is not accepted."""


@dataclass(frozen=True, slots=True)
class JournalAdd:
    raw: bytes
    sender: bytes
    added_ms: int


@dataclass(frozen=True, slots=True)
class JournalDrop:
    tx_hash: bytes
    reason: str
    detail: str
    at_ms: int


JournalRecord = JournalAdd | JournalDrop
Frame = bytes  # a record already encoded by encode_record (callers that keep frames skip re-encoding)


# -- encoding -------------------------------------------------------------------------------


def encode_record(record: JournalRecord) -> bytes:
    if isinstance(record, JournalAdd):
        payload = pack([TAG_ADD, record.raw, record.sender, record.added_ms])
    else:
        payload = pack([TAG_DROP, record.tx_hash, record.reason, record.detail[:MAX_DETAIL_CHARS], record.at_ms])
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def as_frame(item: JournalRecord | Frame) -> Frame:
    return item if isinstance(item, bytes) else encode_record(item)


def decode_payload(payload: bytes) -> JournalRecord:
    fields = unpack(payload)
    if not isinstance(fields, list) or not fields:
        raise DecodeError("a journal record is a non-empty list")
    tag = fields[0]
    if tag == TAG_ADD:
        expect_list(fields, 4, "journal add")
        return JournalAdd(
            expect_bytes(fields[1], "raw"), expect_bytes(fields[2], "sender", 20), expect_int(fields[3], "added_ms")
        )
    if tag == TAG_DROP:
        expect_list(fields, 5, "journal drop")
        if not isinstance(fields[2], str) or not isinstance(fields[3], str):
            raise DecodeError("journal drop reason and detail are strings")
        return JournalDrop(expect_bytes(fields[1], "tx_hash", 32), fields[2], fields[3], expect_int(fields[4], "at_ms"))
    raise DecodeError(f"unknown journal record tag {tag!r}")


def decode_records(data: bytes) -> tuple[list[JournalRecord], int]:
    """The records in `data` up to the first torn or corrupt frame, and the length they span."""
    records: list[JournalRecord] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if length > MAX_PAYLOAD_BYTES or end > len(data):
            break
        payload = data[offset + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            break
        try:
            records.append(decode_payload(payload))
        except DecodeError:
            break
        offset = end
    return records, offset


# -- the file -------------------------------------------------------------------------------


class Journal:
    """Appends records with group commit; one writer task owns the file."""

    def __init__(self, path: Path, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.size = path.stat().st_size if path.exists() else 0
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._buffer: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._rotation: tuple[Callable[[], Iterable[JournalRecord | Frame]], asyncio.Future[int]] | None = None
        self._wake = asyncio.Event()
        self._rotating = False  # a rotation is writing the new file: appends wait for it
        self._writer: asyncio.Task[None] | None = None
        self._failed: BaseException | None = None
        self.groups = 0  # writes made (one per group): append count / groups = the batching achieved

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._run(), name="mempool-journal")

    async def append(self, records: Sequence[JournalRecord | Frame]) -> None:
        """Return once `records` are written (and synced, with fsync); raise JournalError if they cannot be."""
        if self._failed is not None:
            raise JournalError(f"the mempool journal failed earlier: {self._failed}")
        self._buffer.extend(as_frame(r) for r in records)
        if not self.fsync and not self._rotating:
            self._write_now()  # write-through: one system call costs less than waiting for the writer task
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        self._wake.set()
        await future

    def append_nowait(self, records: Iterable[JournalRecord | Frame]) -> None:
        """Buffer `records` for the next group (drops: a crash before they are written is harmless,
        replaying the journal finds the same transactions gone)."""
        if self._failed is None:
            self._buffer.extend(as_frame(r) for r in records)
            self._wake.set()

    async def rotate(self, snapshot: Callable[[], Iterable[JournalRecord | Frame]]) -> int:
        """Replace the file with `snapshot()`'s records, taken once everything buffered before is written;
        return the new size in bytes."""
        if self._rotation is not None:
            return await asyncio.shield(self._rotation[1])
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._rotation = (snapshot, future)
        self._wake.set()
        return await future

    async def close(self) -> None:
        """Write what is buffered, stop the writer, close the file."""
        if self._writer is not None:
            self._wake.set()
            while (self._buffer or self._rotation is not None) and self._failed is None and not self._writer.done():
                await asyncio.sleep(0.001)
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    # -- the writer task --

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._buffer or self._rotation is not None:
                if self._rotation is not None:
                    snapshot, future = self._rotation
                    await self._rotate_now(snapshot, future)
                    self._rotation = None
                else:
                    await self._write_group()

    async def _write_group(self) -> None:
        if not self.fsync:
            with contextlib.suppress(JournalError):  # the waiters got it
                self._write_now()
            return
        data = b"".join(self._buffer)
        waiters = self._waiters
        self._buffer, self._waiters = [], []
        try:
            await asyncio.to_thread(_write_all, self._fd, data, True)
        except OSError as exc:
            self._recover_from(exc)
            _fail(waiters, JournalError(f"the mempool journal could not be written: {exc}"))
            return
        self.size += len(data)
        self.groups += 1
        _succeed(waiters)

    def _write_now(self) -> None:
        """Write everything buffered on the event loop (no fsync: a page-cache write); raise JournalError."""
        data = b"".join(self._buffer)
        waiters = self._waiters
        self._buffer, self._waiters = [], []
        try:
            _write_all(self._fd, data, False)
        except OSError as exc:
            self._recover_from(exc)
            error = JournalError(f"the mempool journal could not be written: {exc}")
            _fail(waiters, error)
            raise error from None
        self.size += len(data)
        self.groups += 1
        _succeed(waiters)

    def _recover_from(self, exc: OSError) -> None:
        """Cut a partly written group, so later records stay readable; if even that fails, stop accepting."""
        log.error("mempool journal %s: write failed: %s", self.path, exc)
        try:
            os.ftruncate(self._fd, self.size)
        except OSError as cut:
            self._failed = cut
            log.error("mempool journal %s: cannot cut the partial write (%s); refusing transactions", self.path, cut)

    async def _rotate_now(
        self, snapshot: Callable[[], Iterable[JournalRecord | Frame]], future: asyncio.Future[int]
    ) -> None:
        """The snapshot covers everything buffered (the pool changed before its records were appended),
        so the buffer is replaced by it; its waiters are answered once the new file is in place."""
        data = b"".join(as_frame(r) for r in snapshot())
        superseded, waiters = self._buffer, self._waiters
        self._buffer, self._waiters = [], []
        fresh = self.path.with_name(self.path.name + ".new")
        self._rotating = True
        try:
            fd = await asyncio.to_thread(_write_new_file, fresh, self.path, data)
        except OSError as exc:
            log.warning("mempool journal %s: rotation failed (%s); appending to the old file", self.path, exc)
            with contextlib.suppress(OSError):
                fresh.unlink()
            self._buffer, self._waiters = superseded + self._buffer, waiters + self._waiters
            self._rotating = False
            if not future.done():
                future.set_exception(JournalError(f"rotation failed: {exc}"))
            return
        self._rotating = False
        os.close(self._fd)
        self._fd = fd
        self.size = len(data)
        _succeed(waiters)
        if not future.done():
            future.set_result(len(data))


def _succeed(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


def _fail(waiters: list[asyncio.Future[None]], error: Exception) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_exception(error)


def _write_all(fd: int, data: bytes, sync: bool) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    if sync:
        os.fsync(fd)


def _write_new_file(fresh: Path, target: Path, data: bytes) -> int:
    """Write `data` to `fresh`, sync it, rename it over `target`, sync the directory; return an append fd."""
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
    try:
        _write_all(fd, data, True)
        os.replace(fresh, target)
    except BaseException:
        os.close(fd)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return fd


def open_journal(data_dir: Path, fsync: bool = False) -> tuple[Journal, list[JournalRecord]]:
    """Read `<data_dir>/mempool.journal` (cutting a torn tail) and open it for appending."""
    path = data_dir / JOURNAL_NAME
    records: list[JournalRecord] = []
    if path.exists():
        data = path.read_bytes()
        records, valid = decode_records(data)
        if valid < len(data):
            log.warning("mempool journal %s: %d torn or corrupt byte(s) at the end cut off", path, len(data) - valid)
            os.truncate(path, valid)
    return Journal(path, fsync), records


__all__ = [
    "DEFAULT_DROPPED_HISTORY",
    "DEFAULT_ROTATE_MS",
    "JOURNAL_NAME",
    "Frame",
    "JournalSettings",
    "Journal",
    "JournalAdd",
    "JournalDrop",
    "JournalError",
    "JournalRecord",
    "decode_records",
    "as_frame",
    "encode_record",
    "open_journal",
]
