"""Commitments to advisories: publish that a document exists, and what it says, before publishing the document.

Before a case is disclosed, the clearinghouse can publish a commitment: the SHA-256 of a random 32-byte nonce
followed by the advisory's exact bytes (:func:`airlock.vulns.advisories.canonical_json`). It reveals nothing of
the advisory (the nonce makes even a short, guessable advisory unguessable from its digest) and binds the
clearinghouse to it. At publication the nonce is revealed with the document; anyone can then check that this
document is the one committed to at that earlier time (who knew what, when). The digest is all that is published
early; the nonce stays in the vault with the case until the reveal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

NONCE_BYTES = 32
PREFIX = "sha256:"


@dataclass(frozen=True)
class Commitment:
    digest: str
    """What is published first: ``sha256:`` and 64 hex digits."""
    nonce: str
    """Hex; kept secret until the reveal."""


def commit(document: bytes) -> Commitment:
    """A new commitment to ``document``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return Commitment(digest=_digest(nonce, document), nonce=nonce.hex())


def verify(digest: str, nonce: str, document: bytes) -> bool:
    """Whether ``document``, with the revealed ``nonce``, is what ``digest`` committed to."""
    try:
        raw = bytes.fromhex(nonce)
    except ValueError:
        return False
    return len(raw) == NONCE_BYTES and hmac.compare_digest(_digest(raw, document), digest.strip().lower())


def _digest(nonce: bytes, document: bytes) -> str:
    return PREFIX + hashlib.sha256(nonce + document).hexdigest()
