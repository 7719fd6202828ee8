"""Looking at what Airlock left on disk, byte by byte."""

from __future__ import annotations

import base64
from pathlib import Path


def encodings_of(marker: str) -> list[bytes]:
    """The forms a leaked string could take in a file: UTF-8, UTF-16 and base64 of it."""
    raw = marker.encode()
    return [raw, marker.encode("utf-16-le"), marker.encode("utf-16-be"), base64.b64encode(raw)]


def files_containing(root: Path, needle: bytes) -> list[Path]:
    """Every regular file under ``root`` whose bytes contain ``needle``."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and needle in path.read_bytes():
            found.append(path)
    return found
