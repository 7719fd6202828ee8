"""The encrypted blob store: files under ``$AIRLOCK_HOME/blobs``, named by the SHA-256 of their bytes.

Naming blobs by their *encrypted* bytes (not their plaintext) means the name reveals nothing about the
content: two submissions of the same model card give two unrelated blobs. Files are written to a
temporary name, flushed to disk and renamed, so a crash never leaves a half-written blob under a real name.

What a crash does leave is the temporary file (``.incoming-*``: encrypted bytes, but bytes nobody will ever
use). Opening the store removes those it can prove abandoned: untouched for :data:`ABANDONED_AFTER`, and not
locked. A writer holds an exclusive ``flock`` on its temporary file until it has renamed it, and the kernel
drops the lock when a writer dies; so a file being written, however slowly, is never taken, and a dead
writer's file is.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

_ADDRESS = re.compile(r"^[0-9a-f]{64}$")
INCOMING_PREFIX = ".incoming-"
ABANDONED_AFTER = 3600.0
"""Seconds a temporary file must have gone unwritten before it may be taken for abandoned (and only if no
writer holds its lock): more than a lock's race with a brand-new file could ever need."""


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[Path] = set()
        self.remove_abandoned_incoming()

    def remove_abandoned_incoming(self, older_than: float = ABANDONED_AFTER) -> list[Path]:
        """Remove the temporary files of writes that died (see the module's docstring); returns them."""
        removed: list[Path] = []
        try:
            candidates = [entry for entry in os.scandir(self.root) if entry.name.startswith(INCOMING_PREFIX)]
        except FileNotFoundError:
            return removed
        deadline = time.time() - older_than
        for entry in candidates:
            try:
                descriptor = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue  # gone already, or not a file of ours
            try:
                if os.fstat(descriptor).st_mtime > deadline:
                    continue
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a writer is alive and holds it
                Path(entry.path).unlink(missing_ok=True)
                removed.append(Path(entry.path))
            finally:
                os.close(descriptor)
        return removed

    def path(self, address: str) -> Path:
        if not _ADDRESS.match(address):
            raise ValueError(f"not a blob address: {address!r}")
        return self.root / address[:2] / address[2:]

    def write(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the encrypted ``chunks``; returns the blob's address and size in bytes."""
        self._make_directory(self.root)
        digest = hashlib.sha256()
        size = 0
        descriptor, temporary = tempfile.mkstemp(prefix=INCOMING_PREFIX, dir=self.root)
        try:
            with os.fdopen(descriptor, "wb") as stream:
                # Held until the file has its real name (closing the stream drops it): the sign, to
                # :meth:`remove_abandoned_incoming`, that this file is still being written.
                fcntl.flock(stream.fileno(), fcntl.LOCK_EX)
                for chunk in chunks:
                    digest.update(chunk)
                    stream.write(chunk)
                    size += len(chunk)
                stream.flush()
                os.fsync(stream.fileno())
                address = digest.hexdigest()
                final = self.path(address)
                self._make_directory(final.parent)
                os.replace(temporary, final)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return address, size

    def _make_directory(self, directory: Path) -> None:
        if directory not in self._made:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._made.add(directory)

    def exists(self, address: str) -> bool:
        return self.path(address).exists()

    def delete(self, address: str) -> None:
        self.path(address).unlink(missing_ok=True)
