"""Report signatures: every rendered report file carries a detached Ed25519 signature, ``FILE.sig``.

The signature file is a signed note in the same C2SP format as the audit log's checkpoints
(:mod:`airlock.audit.note`), readable by a person and by Go's ``sumdb/note``::

    airlock-report-signature/1
    file R-7Q2M4KX-final-full.pdf
    sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    size 48213
    review R-7Q2M4KX
    variant full
    status final

    — airlock/lab/reports Az3k...(key hash and signature)

Verification recomputes the file's SHA-256 and checks the note against the deployment's report verifier
key (or one given explicitly): a changed byte changes the hash; a signature file swapped in from another
report names another hash; a note signed by another key carries no signature by the trusted one. The file
name in the note is informational: a renamed report still verifies.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from airlock.audit.note import NoteError, Verifier, open_note, sign_note
from airlock.errors import AirlockError

SIGNATURE_FORMAT = "airlock-report-signature/1"
SIGNATURE_SUFFIX = ".sig"


class ReportSignatureError(AirlockError):
    """A report whose signature does not check out: changed, swapped, or signed by another key."""

    kind = "report_signature"
    is_integrity_failure = True


@dataclass(frozen=True)
class SignedFacts:
    """What a valid signature vouches for."""

    file: str
    sha256: str
    size: int
    review: str
    variant: str
    status: str
    signer: str


def sign_file(
    data: bytes, *, file_name: str, review: str, variant: str, status: str, key_name: str, key: Ed25519PrivateKey
) -> str:
    """The signature note for the report file ``data``."""
    if any(ch in value for value in (file_name, review, variant, status) for ch in "\n\r"):
        raise ValueError("signed facts are single lines")
    text = (
        f"{SIGNATURE_FORMAT}\n"
        f"file {file_name}\n"
        f"sha256 {hashlib.sha256(data).hexdigest()}\n"
        f"size {len(data)}\n"
        f"review {review}\n"
        f"variant {variant}\n"
        f"status {status}\n"
    )
    return sign_note(text, key_name, key)


def verify_file(data: bytes, note: str, verifier: Verifier) -> SignedFacts:
    """The facts ``note`` vouches for, if it is a valid signature by ``verifier`` of exactly ``data``."""
    try:
        text = open_note(note, verifier)
    except NoteError as error:
        raise ReportSignatureError(
            f"The signature is not valid for the key {verifier.name} (key id {verifier.hash.hex()}): {error}.",
            "The report was signed with another key, or its signature file was altered; check the verifier key.",
        ) from error
    lines = text.splitlines()
    facts: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(" ")
        facts[name] = value
    if lines[:1] != [SIGNATURE_FORMAT] or set(facts) != {"file", "sha256", "size", "review", "variant", "status"}:
        raise ReportSignatureError(
            "The signature file is not an Airlock report signature.", "Give the FILE.sig that came with the report."
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != facts["sha256"] or str(len(data)) != facts["size"]:
        raise ReportSignatureError(
            f"The report does not match its signature: it has changed since it was signed "
            f"(or the signature belongs to another file, {facts['file']}).",
            "Obtain the report again from the issuing agency.",
        )
    return SignedFacts(
        file=facts["file"],
        sha256=actual,
        size=len(data),
        review=facts["review"],
        variant=facts["variant"],
        status=facts["status"],
        signer=verifier.name,
    )
