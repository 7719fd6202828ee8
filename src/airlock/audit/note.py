"""Signed notes and checkpoints in the C2SP formats, with Ed25519 (RFC 8032).

A checkpoint states the size of the log and the hash at its head (C2SP ``tlog-checkpoint``)::

    airlock.example/audit
    1024
    q4yE7CqB0bRwEiwVtOZxAlSJK3DkdzvQ3x0VKO9mXeQ=
    time 2026-11-02T09:00:00Z

and is wrapped in a signed note (C2SP ``signed-note``): the text, a blank line, then one line per
signature, ``— <key name> <base64(key hash (4 bytes) || signature (64 bytes))>``, where the key hash is
the first four bytes of SHA-256(key name || "\\n" || 0x01 || public key). The verifier key is written
``<name>+<key hash in hex>+<base64(0x01 || public key)>``, the form Go's ``golang.org/x/mod/sumdb/note`` reads.

Verification fails closed: anything malformed or unexpected is an error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519_TYPE = b"\x01"
SIGNATURE_PREFIX = "\u2014 "


class NoteError(Exception):
    """The note or key is malformed, or the signature does not verify."""


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + public_key).digest()[:4]


def raw_public_key(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def verifier_key(name: str, key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public verifier key as text: ``name+hash+base64(type || key)``."""
    public = raw_public_key(key)
    encoded = base64.b64encode(ED25519_TYPE + public).decode()
    return f"{name}+{key_hash(name, public).hex()}+{encoded}"


@dataclass(frozen=True)
class Verifier:
    name: str
    public_key: Ed25519PublicKey
    hash: bytes


def parse_verifier_key(text: str) -> Verifier:
    try:
        name, hash_hex, encoded = text.strip().split("+", 2)
        decoded = base64.b64decode(encoded, validate=True)
        expected = bytes.fromhex(hash_hex)
    except (ValueError, binascii.Error) as error:
        raise NoteError("the verifier key is not of the form name+hash+key") from error
    if not decoded.startswith(ED25519_TYPE) or len(decoded) != 33:
        raise NoteError("the verifier key is not an Ed25519 key")
    public = decoded[1:]
    if key_hash(name, public) != expected:
        raise NoteError("the verifier key's hash does not match its name and key")
    return Verifier(name=name, public_key=Ed25519PublicKey.from_public_bytes(public), hash=expected)


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """``text`` (ending in a newline) followed by its signature line."""
    if not text.endswith("\n") or "\n\n" in text:
        raise ValueError("note text must end in a newline and contain no blank line")
    signature = key.sign(text.encode())
    encoded = base64.b64encode(key_hash(name, raw_public_key(key)) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def open_note(note: str, verifier: Verifier) -> str:
    """The text of ``note`` if it carries a valid signature by ``verifier``; otherwise :class:`NoteError`."""
    text, separator, signatures = note.rpartition("\n\n")
    if not separator:
        raise NoteError("the note has no signature block")
    text += "\n"
    for line in signatures.splitlines():
        if not line.startswith(SIGNATURE_PREFIX):
            raise NoteError("malformed signature line")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error) as error:
            raise NoteError("malformed signature") from error
        if name != verifier.name or blob[:4] != verifier.hash:
            continue
        try:
            verifier.public_key.verify(blob[4:], text.encode())
        except InvalidSignature as error:
            raise NoteError("the signature does not verify") from error
        return text
    raise NoteError(f"the note carries no signature by {verifier.name}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    head: bytes
    time: str

    def text(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.head).decode()}\ntime {self.time}\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.splitlines()
        if len(lines) != 4 or not lines[3].startswith("time "):
            raise NoteError("a checkpoint has four lines: origin, size, head hash, time")
        try:
            size = int(lines[1])
            head = base64.b64decode(lines[2], validate=True)
        except (ValueError, binascii.Error) as error:
            raise NoteError("the checkpoint's size or head hash is malformed") from error
        if size < 0 or len(head) != 32 or str(size) != lines[1]:
            raise NoteError("the checkpoint's size or head hash is malformed")
        return cls(origin=lines[0], size=size, head=head, time=lines[3][5:])
