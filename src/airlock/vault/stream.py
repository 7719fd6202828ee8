"""The encrypted blob format: a segmented AEAD stream, so artefacts of any size are encrypted and
authenticated with bounded memory.

Construction (the nonce-based "STREAM" of Hoang, Reyhanitabar, Rogaway and Vizár, *Online
Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance*, CRYPTO 2015, as used by Tink's
streaming AEAD and by age):

* a per-blob key is derived with HKDF-SHA256 (RFC 5869) from the submission's data key, a random 32-byte
  salt and the blob's context, so no two blobs share a key and nonces cannot collide across blobs;
* the plaintext is cut into segments of :data:`SEGMENT_SIZE` bytes; segment *i* is sealed with
  AES-256-GCM under the nonce ``prefix(7) || i (4, big-endian) || last (1)``, and the header plus
  context as associated data;
* the final segment (possibly empty) carries ``last = 1``, so truncation, reordering, duplication or
  splicing of segments all fail authentication.

Layout: ``MAGIC || salt (32) || nonce prefix (7) || segment_0 || ... || segment_n``, each segment being
ciphertext followed by its 16-byte tag.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"AIRLOCK-BLOB-1\n"
SALT_BYTES = 32
PREFIX_BYTES = 7
TAG_BYTES = 16
SEGMENT_SIZE = 1 << 20
HEADER_BYTES = len(MAGIC) + SALT_BYTES + PREFIX_BYTES
MAX_SEGMENTS = 1 << 32


class StreamAuthenticationError(Exception):
    """The stream is not what was sealed under this key and context (damaged, tampered, or wrong key)."""


def _blob_key(data_key: bytes, salt: bytes, context: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"airlock blob v1\x00" + context).derive(
        data_key
    )
    return AESGCM(derived)


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= MAX_SEGMENTS:
        raise ValueError("blob too large for the stream format")
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def encrypt_stream(data_key: bytes, context: bytes, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The encrypted stream of the plaintext ``chunks``, which may have any sizes.

    Yields the header, then one sealed segment per :data:`SEGMENT_SIZE` bytes of plaintext: every
    segment but the last is exactly that long, which is what :func:`decrypt_stream` reads. An empty
    input gives one empty final segment.
    """
    salt, prefix = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(PREFIX_BYTES)
    header = MAGIC + salt + prefix
    aead = _blob_key(data_key, salt, context)
    associated = header + context
    yield header
    index = 0
    pending = b""
    for segment in _exact_segments(chunks):
        if pending:
            yield aead.encrypt(_nonce(prefix, index, last=False), pending, associated)
            index += 1
        pending = segment
    yield aead.encrypt(_nonce(prefix, index, last=True), pending, associated)


def _exact_segments(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Re-cut ``chunks`` into pieces of exactly :data:`SEGMENT_SIZE` bytes, the last one possibly shorter."""
    buffer = bytearray()
    for chunk in chunks:
        if len(chunk) == SEGMENT_SIZE and not buffer:
            yield chunk
            continue
        buffer += chunk
        while len(buffer) >= SEGMENT_SIZE:
            yield bytes(buffer[:SEGMENT_SIZE])
            del buffer[:SEGMENT_SIZE]
    if buffer:
        yield bytes(buffer)


def decrypt_stream(data_key: bytes, context: bytes, source: BinaryIO) -> Iterator[bytes]:
    """The plaintext segments of the stream read from ``source``, each verified before it is yielded.

    Raises :class:`StreamAuthenticationError` at the first segment that fails, and at the end if the
    final segment is missing: a caller that needs all-or-nothing must collect every segment first.
    """
    header = source.read(HEADER_BYTES)
    if len(header) != HEADER_BYTES or not header.startswith(MAGIC):
        raise StreamAuthenticationError("not an Airlock blob, or its header is damaged")
    salt = header[len(MAGIC) : len(MAGIC) + SALT_BYTES]
    prefix = header[len(MAGIC) + SALT_BYTES :]
    aead = _blob_key(data_key, salt, context)
    associated = header + context
    sealed_size = SEGMENT_SIZE + TAG_BYTES
    index = 0
    current = source.read(sealed_size)
    while True:
        following = source.read(sealed_size) if len(current) == sealed_size else b""
        last = not following
        if len(current) < TAG_BYTES:
            raise StreamAuthenticationError("the blob is truncated")
        try:
            yield aead.decrypt(_nonce(prefix, index, last), current, associated)
        except InvalidTag as error:
            raise StreamAuthenticationError(f"segment {index} failed authentication") from error
        if last:
            return
        index += 1
        current = following


def split(data: bytes) -> Iterator[bytes]:
    """``data`` in segments of :data:`SEGMENT_SIZE` bytes."""
    for start in range(0, len(data), SEGMENT_SIZE):
        yield data[start : start + SEGMENT_SIZE]


def read_segments(source: BinaryIO) -> Iterator[bytes]:
    """The contents of an open file in segments of :data:`SEGMENT_SIZE` bytes."""
    while chunk := source.read(SEGMENT_SIZE):
        yield chunk
