"""The archive file: a plain POSIX tar (pax format), written and read here with the digest of every member.

A plain tar, so that an operator can list an archive, or take one blob out of it, with ``tar`` itself. Members
are written in order (the database dump, the blobs, the shred ledger, the manifest, its signature); the
manifest comes last because it holds the digests of everything before it. Reading never extracts by a
member's name: callers say where each member goes, so a hostile archive cannot write outside its target.

Throughput matters (bench/backup.py compares it with ``tar``), and SHA-256 is the slowest step. Both hashing and
writing let go of the interpreter's lock, so they run on every core: a second thread writes the archive while
files up to :data:`READ_AHEAD_BYTES` are read and hashed ahead by a pool of threads, several at once (when
restoring: checked against their digests and written out by the pool); larger ones are streamed in 1 MiB chunks.
A digest is always computed over the very bytes that are written.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import queue
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from airlock.backup.errors import ArchiveError
from airlock.backup.manifest import MANIFEST_MEMBER, SIGNATURE_MEMBER, Member

CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
QUEUED_CHUNKS = 8
READ_AHEAD_BYTES = 16 << 20
"""Files up to this size are read whole and hashed ahead, in parallel."""
READ_AHEAD_FILES = 8
"""How many such files may be in hand at once (so at most 128 MiB of memory)."""
WORKERS = max(2, os.cpu_count() or 2)
FLUSH_EVERY = 16 << 20
"""How much of an archive is written before the disk is told to start writing it back, while the rest is still
being hashed."""
SYNC_FILE_RANGE_WRITE = 2


def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Linux's ``sync_file_range`` (which Python's ``os`` lacks), or None where the C library has none."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int, int], int], function)


_SYNC_FILE_RANGE = _sync_file_range()


def start_writeback(descriptor: int, offset: int = 0, length: int = 0) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` (0: to the end) of the file to disk, and
    return at once: the final ``fsync`` then waits only for what is left, and the disk works meanwhile. Only a hint:
    nothing is promised durable until that ``fsync``."""
    if _SYNC_FILE_RANGE is not None:
        _SYNC_FILE_RANGE(descriptor, offset, length, SYNC_FILE_RANGE_WRITE)


@dataclass(frozen=True)
class ReadAhead:
    """A file read and hashed ahead (``data`` and ``sha256`` set), or one to stream (too large), or gone."""

    path: Path
    data: bytes | None
    sha256: str | None
    missing: bool = False


def read_ahead(paths: Iterable[Path]) -> Iterator[ReadAhead]:
    """``paths`` in order, the small files already read and hashed by a pool of threads, several at once."""
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="airlock-archive-reader") as pool:
        pending: deque[Future[ReadAhead]] = deque()
        for path in paths:
            pending.append(pool.submit(_read_and_hash, path))
            if len(pending) >= READ_AHEAD_FILES:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _read_and_hash(path: Path) -> ReadAhead:
    try:
        with path.open("rb") as source:
            if os.fstat(source.fileno()).st_size > READ_AHEAD_BYTES:
                return ReadAhead(path, None, None)
            data = source.read()
    except FileNotFoundError:
        return ReadAhead(path, None, None, missing=True)
    return ReadAhead(path, data, hashlib.sha256(data).hexdigest())


class BackgroundWriter:
    """Writes chunks to a file descriptor in a thread of its own, so the caller can hash the next chunk meanwhile.

    With ``flush_every``, the thread also starts the disk writing back each that many bytes (without waiting for
    it): the disk then works while the caller hashes, instead of all at once in the final ``fsync``.
    """

    def __init__(self, descriptor: int, flush_every: int | None = None) -> None:
        self._descriptor = descriptor
        self._flush_every = flush_every
        self._unflushed = 0
        self._written = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(QUEUED_CHUNKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="airlock-archive-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the caller learns of the error at its next write or at close
            try:
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self._descriptor, view) :]
                self._unflushed += len(chunk)
                self._written += len(chunk)
                if self._flush_every is not None and self._unflushed >= self._flush_every:
                    start_writeback(self._descriptor, self._written - self._unflushed, self._unflushed)
                    self._unflushed = 0
            except BaseException as error:  # handed to the caller's thread, which raises it
                self._error = error

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        if chunk:
            self._queue.put(chunk)

    def close(self) -> None:
        """Wait for every chunk to be written; raise what writing raised."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class ArchiveWriter:
    """Writes a tar archive member by member, returning each member's size and SHA-256."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor
        self._writer = BackgroundWriter(descriptor, flush_every=FLUSH_EVERY)
        self._offset = 0
        self._mtime = int(time.time())

    def add(self, name: str, size: int, chunks: Iterable[bytes], sha256: str | None = None) -> Member:
        """Add a member of exactly ``size`` bytes; fails (leaving the archive unfinished) if ``chunks`` differ.

        ``sha256`` is the digest of ``chunks`` when it was computed already (:func:`read_ahead`).
        """
        info = tarfile.TarInfo(name)
        info.size = size
        info.mode = 0o600
        info.mtime = self._mtime
        self._put(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
        digest = hashlib.sha256() if sha256 is None else None
        written = 0
        for chunk in chunks:
            if digest is not None:
                digest.update(chunk)
            written += len(chunk)
            if written > size:
                break
            self._put(chunk)
        if written != size:
            raise ArchiveError(f"{name} changed size while it was being archived ({written} bytes, not {size}).")
        self._put(bytes(-size % BLOCK))
        return Member(name=name, size=size, sha256=sha256 if digest is None else digest.hexdigest())

    def add_file(self, name: str, source: BinaryIO, size: int) -> Member:
        return self.add(name, size, read_chunks(source))

    def finish(self) -> None:
        """End the archive (two zero blocks, then zeros to a whole record, as tar does) and flush it to disk."""
        end = 2 * BLOCK
        self._put(bytes(end + (-(self._offset + end) % RECORD)))
        self._writer.close()
        os.fsync(self._descriptor)

    def abandon(self) -> None:
        """Stop the writing thread after a failure (the caller removes the file)."""
        with suppress(OSError):
            self._writer.close()

    def _put(self, chunk: bytes) -> None:
        self._writer.write(chunk)
        self._offset += len(chunk)


def read_chunks(source: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
    """The bytes of ``source`` in chunks of :data:`CHUNK` (at most ``limit`` bytes in all)."""
    left = limit
    while left is None or left > 0:
        chunk = source.read(CHUNK if left is None else min(CHUNK, left))
        if not chunk:
            return
        if left is not None:
            left -= len(chunk)
        yield chunk


@dataclass
class ArchiveReader:
    """An archive opened for reading: its members listed, the manifest and its signature read."""

    path: Path
    tar: tarfile.TarFile
    members: dict[str, tarfile.TarInfo]
    manifest: bytes
    signature: str

    def _info(self, member: Member) -> tarfile.TarInfo:
        info = self.members.get(member.name)
        if info is None or not info.isreg() or info.issparse() or info.size != member.size:
            raise _damaged(self.path, f"its member {member.name} is missing or not the size the manifest records")
        return info

    def member_chunks(self, member: Member) -> Iterator[bytes]:
        """The bytes of ``member``, whose SHA-256 and size are checked at the end: a mismatch raises."""
        info = self._info(member)
        digest = hashlib.sha256()
        size = 0
        for chunk in _read_range(self.tar, info, self.path):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
        if size != member.size or digest.hexdigest() != member.sha256:
            raise _damaged(self.path, f"{member.name} does not match the digest in the manifest")

    def member_bytes(self, member: Member) -> bytes:
        """The whole of a small member, unchecked: hand it to :class:`ParallelChecks`."""
        return b"".join(_read_range(self.tar, self._info(member), self.path))

    @contextmanager
    def parallel_checks(self) -> Iterator[ParallelChecks]:
        """Checks of small members' digests on a pool of threads, all of them finished (or one raised) at the end."""
        checks = ParallelChecks(self.path)
        try:
            yield checks
        finally:
            checks.finish()

    def close(self) -> None:
        self.tar.close()


class ParallelChecks:
    """Members checked against their digests by a pool of threads while the caller reads on in the archive."""

    def __init__(self, path: Path) -> None:
        self._path = path
        # More threads than cores: those writing out what they checked mostly wait on the disk.
        self._pool = ThreadPoolExecutor(max(WORKERS, READ_AHEAD_FILES), thread_name_prefix="airlock-archive-check")
        self._pending: deque[Future[None]] = deque()

    def submit(self, member: Member, data: bytes, then: Callable[[bytes], None] | None = None) -> None:
        """Check ``data`` against ``member``'s digest, then (in the same thread) hand it to ``then``."""
        self._pending.append(self._pool.submit(self._check, member, data, then))
        if len(self._pending) >= READ_AHEAD_FILES:
            self._pending.popleft().result()

    def _check(self, member: Member, data: bytes, then: Callable[[bytes], None] | None) -> None:
        if hashlib.sha256(data).hexdigest() != member.sha256:
            raise _damaged(self._path, f"{member.name} does not match the digest in the manifest")
        if then is not None:
            then(data)

    def finish(self) -> None:
        """Wait for every check; raise the first failure."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def opened_archive(path: Path) -> Iterator[ArchiveReader]:
    """``path`` opened as an archive; an :class:`ArchiveError` if it is not one, or lacks its manifest."""
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 (closed by the reader below)
    except FileNotFoundError as error:
        raise ArchiveError(f"There is no archive at {path}.", "Check the path; nothing was changed.") from error
    except (tarfile.TarError, OSError) as error:
        raise ArchiveError(
            f"{path} is not an Airlock backup archive ({error}).", "Give a file made by `airlock backup create`."
        ) from error
    try:
        try:
            members = {info.name: info for info in tar.getmembers()}
        except (tarfile.TarError, OSError) as error:
            raise _damaged(path, f"its member list cannot be read ({error})") from error
        reader = ArchiveReader(path, tar, members, _small_member(tar, members, MANIFEST_MEMBER, path), "")
        reader.signature = _small_member(tar, members, SIGNATURE_MEMBER, path).decode("utf-8", "replace")
        yield reader
    finally:
        tar.close()


MAX_MANIFEST_BYTES = 256 << 20


def _small_member(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, path: Path) -> bytes:
    info = members.get(name)
    if info is None or not info.isreg():
        raise ArchiveError(
            f"The archive {path} has no {name.rsplit('/', 1)[-1]}: it was truncated, or is not an Airlock backup.",
            "Use a complete archive; nothing was restored.",
        )
    if info.size > MAX_MANIFEST_BYTES:
        raise _damaged(path, f"its {name} is implausibly large")
    return b"".join(_read_range(tar, info, path))


def _read_range(tar: tarfile.TarFile, info: tarfile.TarInfo, path: Path) -> Iterator[bytes]:
    """A member's bytes, read straight from the archive file (it is uncompressed) in chunks of :data:`CHUNK`;
    a member cut short raises."""
    descriptor = tar.fileobj.fileno()  # type: ignore[attr-defined]  # opened from a path: a real file
    offset, end = info.offset_data, info.offset_data + info.size
    while offset < end:
        try:
            chunk = os.pread(descriptor, min(CHUNK, end - offset), offset)
        except OSError as error:
            raise _damaged(path, f"reading {info.name} failed ({error.strerror})") from error
        if not chunk:
            raise _damaged(path, f"{info.name} is cut short: it was truncated")
        offset += len(chunk)
        yield chunk


def _damaged(path: Path, how: str) -> ArchiveError:
    return ArchiveError(
        f"The archive {path} is damaged or was altered: {how}.", "Use another archive; nothing was restored."
    )
