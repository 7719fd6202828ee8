"""The encrypted blob store: files under ``$AIRLOCK_HOME/blobs``, named by the SHA-256 of their bytes.

Naming blobs by their *encrypted* bytes (not their plaintext) means the name reveals nothing about the
content: two submissions of the same model card give two unrelated blobs. Files are written to a
temporary name, flushed to disk and renamed, so a crash never leaves a half-written blob under a real name.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

_ADDRESS = re.compile(r"^[0-9a-f]{64}$")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._made: set[Path] = set()

    def path(self, address: str) -> Path:
        if not _ADDRESS.match(address):
            raise ValueError(f"not a blob address: {address!r}")
        return self.root / address[:2] / address[2:]

    def write(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store the encrypted ``chunks``; returns the blob's address and size in bytes."""
        self._make_directory(self.root)
        digest = hashlib.sha256()
        size = 0
        descriptor, temporary = tempfile.mkstemp(prefix=".incoming-", dir=self.root)
        try:
            with os.fdopen(descriptor, "wb") as stream:
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
