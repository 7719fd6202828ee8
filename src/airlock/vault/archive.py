"""The keys and encryption of backup archives (see :mod:`airlock.backup`).

An archive carries the deployment's encrypted blobs as they are, and everything else (the database dump,
a copy of the shred ledger) encrypted under a fresh **archive key**: AES-256, wrapped by the master key with
the archive's identity and the deployment's audit key as associated data, and used with the blobs' own
segmented AEAD (:mod:`airlock.vault.stream`). So a stolen archive without the master key reveals nothing,
not even the review metadata that the database holds in plain; and an archive whose manifest was swapped
for another one (another audit key, another identity) no longer opens, because its archive key no longer
unwraps.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

from airlock.vault.errors import CorruptBlobError
from airlock.vault.keys import MasterKeyProvider, new_key
from airlock.vault.stream import (
    HEADER_BYTES,
    SEGMENT_SIZE,
    TAG_BYTES,
    StreamAuthenticationError,
    decrypt_stream,
    encrypt_stream,
)


def _key_context(archive_id: str, binding: str) -> bytes:
    return f"airlock:archive-key:{archive_id}:{binding}".encode()


def _member_context(archive_id: str, member: str) -> bytes:
    return f"airlock:archive:{archive_id}:{member}".encode()


def new_archive_key(provider: MasterKeyProvider, archive_id: str, binding: str) -> tuple[bytes, bytes]:
    """A fresh archive key and its wrapped form, bound to ``archive_id`` and ``binding`` (the audit key)."""
    key = new_key()
    return key, provider.wrap(key, _key_context(archive_id, binding))


def open_archive_key(provider: MasterKeyProvider, wrapped: bytes, archive_id: str, binding: str) -> bytes:
    """Unwrap an archive key; a :class:`MasterKeyError` if the master key or the archive's identity differ."""
    return provider.unwrap(wrapped, _key_context(archive_id, binding))


def encrypt_member(key: bytes, archive_id: str, member: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The archive member ``member`` encrypted: bound to its name and archive, so members cannot be swapped."""
    return encrypt_stream(key, _member_context(archive_id, member), chunks)


def encrypted_member_size(plaintext_bytes: int) -> int:
    """How long :func:`encrypt_member` makes ``plaintext_bytes`` bytes (a tar header states a member's size first)."""
    segments = max(1, -(-plaintext_bytes // SEGMENT_SIZE))
    return HEADER_BYTES + plaintext_bytes + segments * TAG_BYTES


def decrypt_member(key: bytes, archive_id: str, member: str, source: BinaryIO) -> Iterator[bytes]:
    """The plaintext of an encrypted member, each segment authenticated before it is yielded."""
    try:
        yield from decrypt_stream(key, _member_context(archive_id, member), source)
    except StreamAuthenticationError as error:
        raise CorruptBlobError(
            f"The archive's {member} failed authentication ({error}): it was damaged or tampered with.",
            "Use another archive; nothing was restored.",
        ) from error
