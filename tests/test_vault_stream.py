"""The segmented blob format: any split of the input gives the same, decryptable blob; every kind of
damage to the stream is caught."""

from __future__ import annotations

import io
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airlock.vault.stream import (
    HEADER_BYTES,
    SEGMENT_SIZE,
    TAG_BYTES,
    StreamAuthenticationError,
    decrypt_stream,
    encrypt_stream,
)

KEY = bytes(range(32))
CONTEXT = b"airlock:blob:S-TEST0000:model_card"


def seal(chunks: list[bytes]) -> bytes:
    return b"".join(encrypt_stream(KEY, CONTEXT, chunks))


def unseal(blob: bytes, key: bytes = KEY, context: bytes = CONTEXT) -> bytes:
    return b"".join(decrypt_stream(key, context, io.BytesIO(blob)))


@pytest.mark.parametrize(
    "size", [0, 1, SEGMENT_SIZE - 1, SEGMENT_SIZE, SEGMENT_SIZE + 1, 2 * SEGMENT_SIZE, 2 * SEGMENT_SIZE + 17]
)
def test_content_of_every_size_round_trips(size: int) -> None:
    data = secrets.token_bytes(size)
    blob = seal([data])
    assert unseal(blob) == data
    segments = max(1, -(-size // SEGMENT_SIZE))
    assert len(blob) == HEADER_BYTES + size + segments * TAG_BYTES


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 3 * SEGMENT_SIZE), max_size=6))
def test_short_reads_from_a_pipe_give_a_decryptable_blob(cuts: list[int]) -> None:
    data = secrets.token_bytes(2 * SEGMENT_SIZE + 1234)
    points = sorted({min(cut, len(data)) for cut in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert unseal(seal(chunks)) == data


def test_a_truncated_stream_fails_even_at_a_segment_boundary() -> None:
    blob = seal([secrets.token_bytes(2 * SEGMENT_SIZE + 5)])
    boundary = HEADER_BYTES + 2 * (SEGMENT_SIZE + TAG_BYTES)
    for cut in (boundary, len(blob) - 1, HEADER_BYTES + 3, HEADER_BYTES - 1):
        with pytest.raises(StreamAuthenticationError):
            unseal(blob[:cut])


def test_swapped_segments_fail() -> None:
    blob = seal([secrets.token_bytes(3 * SEGMENT_SIZE)])
    size = SEGMENT_SIZE + TAG_BYTES
    first = blob[HEADER_BYTES : HEADER_BYTES + size]
    second = blob[HEADER_BYTES + size : HEADER_BYTES + 2 * size]
    swapped = blob[:HEADER_BYTES] + second + first + blob[HEADER_BYTES + 2 * size :]
    with pytest.raises(StreamAuthenticationError):
        unseal(swapped)


def test_another_key_or_context_fails() -> None:
    blob = seal([b"model card"])
    with pytest.raises(StreamAuthenticationError):
        unseal(blob, key=bytes(32))
    with pytest.raises(StreamAuthenticationError):
        unseal(blob, context=b"airlock:blob:S-OTHER000:model_card")


def test_the_same_content_never_gives_the_same_blob() -> None:
    assert seal([b"same"]) != seal([b"same"])
