"""Master key providers: where the key at the top of the hierarchy comes from.

The master key never leaves its provider: Airlock asks the provider to *wrap* (encrypt) and *unwrap*
(decrypt) the organisation keys and the audit signing key below it. This is the shape of an external
KMS or HSM (AWS KMS ``Encrypt``/``Decrypt``, PKCS#11 ``C_WrapKey``/``C_UnwrapKey``), so one can be added
as another provider without touching the rest of the vault.

Two local providers exist now:

* :class:`FileKeyProvider`: a file holding the key in base64, mode 0600, created by ``airlock init``.
  Good for a laptop or a test deployment: whoever can read the data directory's keys folder has the key.
* the ``AIRLOCK_MASTER_KEY`` environment variable (base64 of 32 bytes), for keys kept in a secret store.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import stat
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from airlock.vault.errors import MasterKeyError

KEY_BYTES = 32
"""AES-256 keys throughout the hierarchy."""
NONCE_BYTES = 12


class MasterKeyProvider(Protocol):
    """Wraps and unwraps key material under a master key it keeps to itself."""

    @property
    def key_id(self) -> str:
        """A stable, non-secret identifier of the master key (recorded to detect a wrong key)."""
        ...

    @property
    def description(self) -> str:
        """Where the key comes from, for messages (``"the file /srv/airlock/keys/master.key"``)."""
        ...

    def wrap(self, key: bytes, context: bytes) -> bytes:
        """Encrypt ``key`` bound to ``context`` (associated data)."""
        ...

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        """Decrypt what :meth:`wrap` produced for the same ``context``; raise :class:`MasterKeyError` on failure."""
        ...


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """AES-256-GCM (NIST SP 800-38D) with a random 96-bit nonce: ``nonce || ciphertext || tag``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def open_sealed(key: bytes, sealed: bytes, context: bytes) -> bytes:
    """Reverse :func:`seal`; raises ``cryptography.exceptions.InvalidTag`` if anything differs."""
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context)


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def local_key_id(secret: bytes) -> str:
    """The identifier of a local master key: a hash of it, safe to store and to print."""
    return "local:" + hashlib.sha256(b"airlock master key id\x00" + secret).hexdigest()[:24]


class LocalKeyProvider:
    """A master key held in this process's memory (loaded from a file or the environment)."""

    def __init__(self, secret: bytes, description: str) -> None:
        if len(secret) != KEY_BYTES:
            raise MasterKeyError(
                f"The master key from {description} is {len(secret)} bytes long, not {KEY_BYTES}.",
                "Restore the deployment's key from your backup.",
            )
        self._secret = secret
        self._description = description
        self._key_id = local_key_id(secret)

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def description(self) -> str:
        return self._description

    def wrap(self, key: bytes, context: bytes) -> bytes:
        return seal(self._secret, key, context)

    def secret_for_custody(self) -> bytes:
        """The key itself, to be split into custody shares (``airlock keys split``). A KMS or HSM provider has no
        such method: its key never leaves it, and its custody is the KMS's own."""
        return self._secret

    def unwrap(self, wrapped: bytes, context: bytes) -> bytes:
        try:
            return open_sealed(self._secret, wrapped, context)
        except InvalidTag as error:
            raise MasterKeyError(
                f"The master key from {self._description} cannot unwrap this deployment's keys.",
                "Use the master key the deployment was initialised with (or last rotated to).",
            ) from error


class FileKeyProvider(LocalKeyProvider):
    """The master key in a local file, base64-encoded, readable by its owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(_read_key_file(path), f"the file {path}")


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as error:
        raise MasterKeyError(
            f"The master key file {path} does not exist.",
            "Restore it from your backup, or point AIRLOCK_MASTER_KEY or AIRLOCK_MASTER_KEY_FILE "
            "at the deployment's key.",
        ) from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MasterKeyError(
            f"The master key file {path} is readable by others (mode {stat.S_IMODE(mode):04o}).",
            f"Restrict it with `chmod 600 {path}`.",
        )
    return decode_key(path.read_text(encoding="ascii", errors="replace").strip(), f"the file {path}")


def decode_key(text: str, description: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise MasterKeyError(
            f"The master key in {description} is not valid base64.",
            "It must be the base64 encoding of 32 random bytes, as `airlock init` writes it.",
        ) from error


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def write_key_file(path: Path, key: bytes) -> None:
    """Create ``path`` holding ``key``, mode 0600 from the first byte (never world-readable, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as stream:
        stream.write(encode_key(key) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def environment_provider(value: str) -> LocalKeyProvider:
    return LocalKeyProvider(decode_key(value.strip(), "AIRLOCK_MASTER_KEY"), "AIRLOCK_MASTER_KEY")
