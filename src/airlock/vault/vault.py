"""The vault: the key hierarchy, envelope encryption of submission content, and crypto-shredding.

::

    master key (provider: file, environment, later a KMS/HSM)
      └─ organisation key, one per organisation and version          (AES-256, wrapped by the master key)
           └─ data key, one per submission                           (AES-256, wrapped by the organisation key)
                └─ blobs: model card, endpoint credentials, logs...  (segmented AES-256-GCM, see stream.py)

Rotating the master key rewraps the organisation keys and the vault's secrets; rotating an organisation
key rewraps its submissions' data keys. Neither touches a blob. Destroying a data key makes every blob of
its submission unreadable for good.

The vault does no access control and writes no audit entries: the services above it decide who may
read what and record it. It never writes plaintext to disk.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from airlock.clock import Clock
from airlock.vault.blobs import BlobStore
from airlock.vault.errors import ContentDestroyedError, CorruptBlobError, MasterKeyError
from airlock.vault.keys import FileKeyProvider, MasterKeyProvider, new_key, open_sealed, seal
from airlock.vault.models import Blob, DataKey, OrganisationKey, VaultSecret, VaultState
from airlock.vault.stream import StreamAuthenticationError, decrypt_stream, encrypt_stream, read_segments, split

ROTATION_SUFFIX = ".next"


@dataclass(frozen=True)
class StoredBlob:
    address: str
    kind: str
    plaintext_bytes: int


@dataclass(frozen=True)
class SubmissionRef:
    """What the vault needs to know about a submission: its row id, public id and organisation."""

    id: int
    public_id: str
    organisation_id: int


class Vault:
    def __init__(self, provider: Callable[[], MasterKeyProvider], blobs: BlobStore, clock: Clock) -> None:
        self._load_provider = provider
        self._provider: MasterKeyProvider | None = None
        self.blobs = blobs
        self._clock = clock

    @property
    def provider(self) -> MasterKeyProvider:
        """The master key provider, loaded on first use (a missing key is an error only when needed)."""
        if self._provider is None:
            self._provider = self._load_provider()
        return self._provider

    # The master key --------------------------------------------------------------------------------

    def initialise(self, session: Session) -> bool:
        """Record the master key the deployment starts with; False when it was already recorded."""
        if session.get(VaultState, 1) is not None:
            return False
        session.add(VaultState(id=1, master_key_id=self.provider.key_id, created_at=self._clock.now()))
        session.flush()
        return True

    def check_master_key(self, session: Session) -> None:
        """Refuse to go on with a master key that is not the deployment's.

        A master key rotation that was interrupted after the database recorded the new key, but before
        the new key file replaced the old one, is completed here.
        """
        state = session.get(VaultState, 1)
        if state is None:
            return
        provider = self.provider
        if provider.key_id == state.master_key_id:
            return
        if isinstance(provider, FileKeyProvider):
            staged = provider.path.with_name(provider.path.name + ROTATION_SUFFIX)
            if staged.exists() and FileKeyProvider(staged).key_id == state.master_key_id:
                os.replace(staged, provider.path)
                self._provider = FileKeyProvider(provider.path)
                return
        raise MasterKeyError(
            f"The master key from {provider.description} (id {provider.key_id}) is not this deployment's "
            f"master key (id {state.master_key_id}).",
            "Use the deployment's own key; nothing was read or changed.",
        )

    def complete_file_rotation(self) -> None:
        """Put the staged key file in place of the old one, after the database recorded the new key."""
        provider = self.provider
        assert isinstance(provider, FileKeyProvider)
        staged = provider.path.with_name(provider.path.name + ROTATION_SUFFIX)
        os.replace(staged, provider.path)
        self._provider = FileKeyProvider(provider.path)

    def rotate_master_key(self, session: Session, new: MasterKeyProvider) -> int:
        """Rewrap every organisation key and vault secret under ``new``; returns how many keys were rewrapped.

        The caller commits, then puts the new key in place of the old (see :meth:`check_master_key`).
        """
        state = session.get_one(VaultState, 1)
        count = 0
        for org_key in session.scalars(select(OrganisationKey)):
            context = _organisation_context(org_key.organisation_id, org_key.version)
            org_key.wrapped_key = new.wrap(self.provider.unwrap(org_key.wrapped_key, context), context)
            count += 1
        for secret in session.scalars(select(VaultSecret)):
            context = _secret_context(secret.name)
            secret.wrapped_secret = new.wrap(self.provider.unwrap(secret.wrapped_secret, context), context)
            count += 1
        state.master_key_id = new.key_id
        state.rotated_at = self._clock.now()
        session.flush()
        return count

    # Secrets of other layers -----------------------------------------------------------------------

    def put_secret(self, session: Session, name: str, secret: bytes) -> None:
        context = _secret_context(name)
        session.add(
            VaultSecret(name=name, wrapped_secret=self.provider.wrap(secret, context), created_at=self._clock.now())
        )
        session.flush()

    def get_secret(self, session: Session, name: str) -> bytes | None:
        row = session.get(VaultSecret, name)
        return None if row is None else self.provider.unwrap(row.wrapped_secret, _secret_context(name))

    # Organisation keys -----------------------------------------------------------------------------

    def rotate_organisation_key(self, session: Session, organisation_id: int) -> tuple[int, int]:
        """Give the organisation a new key version, rewrap its data keys, and destroy the old versions.

        Returns the new version and how many data keys were rewrapped.
        """
        old_versions = list(
            session.scalars(select(OrganisationKey).where(OrganisationKey.organisation_id == organisation_id))
        )
        version, key = self._create_organisation_key(session, organisation_id)
        old_keys = {
            row.version: self.provider.unwrap(row.wrapped_key, _organisation_context(organisation_id, row.version))
            for row in old_versions
        }
        rewrapped = 0
        for data_key in session.scalars(select(DataKey).where(DataKey.organisation_id == organisation_id)):
            plain = open_sealed(
                old_keys[data_key.organisation_key_version],
                data_key.wrapped_key,
                _data_key_context(data_key.submission_id, data_key.organisation_key_version),
            )
            data_key.wrapped_key = seal(key, plain, _data_key_context(data_key.submission_id, version))
            data_key.organisation_key_version = version
            rewrapped += 1
        for row in old_versions:
            session.delete(row)
        session.flush()
        return version, rewrapped

    def _organisation_key(
        self, session: Session, organisation_id: int, version: int | None = None
    ) -> tuple[int, bytes]:
        query = select(OrganisationKey).where(OrganisationKey.organisation_id == organisation_id)
        if version is None:
            query = query.order_by(OrganisationKey.version.desc()).limit(1)
        else:
            query = query.where(OrganisationKey.version == version)
        row = session.scalar(query)
        if row is None:
            if version is not None:
                raise MasterKeyError(
                    f"Version {version} of organisation {organisation_id}'s key is missing from the vault.",
                    "Restore the database from a backup taken after the last key rotation.",
                )
            return self._create_organisation_key(session, organisation_id)
        return row.version, self.provider.unwrap(row.wrapped_key, _organisation_context(organisation_id, row.version))

    def _create_organisation_key(self, session: Session, organisation_id: int) -> tuple[int, bytes]:
        latest = session.scalar(
            select(func.max(OrganisationKey.version)).where(OrganisationKey.organisation_id == organisation_id)
        )
        version = (latest or 0) + 1
        key = new_key()
        session.add(
            OrganisationKey(
                organisation_id=organisation_id,
                version=version,
                wrapped_key=self.provider.wrap(key, _organisation_context(organisation_id, version)),
                created_at=self._clock.now(),
            )
        )
        session.flush()
        return version, key

    # Data keys -------------------------------------------------------------------------------------

    def create_data_key(self, session: Session, submission: SubmissionRef) -> int | None:
        """Give the submission its data key; returns the version of the organisation key created for it, if any."""
        existing = session.scalar(
            select(func.count())
            .select_from(OrganisationKey)
            .where(OrganisationKey.organisation_id == submission.organisation_id)
        )
        version, organisation_key = self._organisation_key(session, submission.organisation_id)
        session.add(
            DataKey(
                submission_id=submission.id,
                organisation_id=submission.organisation_id,
                organisation_key_version=version,
                wrapped_key=seal(organisation_key, new_key(), _data_key_context(submission.id, version)),
                created_at=self._clock.now(),
            )
        )
        session.flush()
        return version if not existing else None

    def has_data_key(self, session: Session, submission_id: int) -> bool:
        return session.get(DataKey, submission_id) is not None

    def _data_key(self, session: Session, submission: SubmissionRef) -> bytes:
        row = session.get(DataKey, submission.id)
        if row is None:
            raise ContentDestroyedError(
                f"The content of submission {submission.public_id} was destroyed and can never be read again.",
                "Its data key was shredded at withdrawal or at the end of retention.",
            )
        _, organisation_key = self._organisation_key(session, submission.organisation_id, row.organisation_key_version)
        try:
            return open_sealed(
                organisation_key, row.wrapped_key, _data_key_context(submission.id, row.organisation_key_version)
            )
        except InvalidTag:
            raise CorruptBlobError(
                f"The data key of submission {submission.public_id} failed authentication: "
                "it was damaged or tampered with.",
                "Restore the database from a backup; no content was returned.",
            ) from None

    def destroy_data_key(self, session: Session, submission_id: int) -> list[str]:
        """Shred the submission's content: delete its data key and forget its blobs.

        Returns the addresses of the blob files, which the caller deletes once the transaction has
        committed (followed by :meth:`airlock.store.Database.purge_freed_pages`).
        """
        addresses = list(session.scalars(select(Blob.address).where(Blob.submission_id == submission_id)))
        session.execute(delete(DataKey).where(DataKey.submission_id == submission_id))
        session.execute(delete(Blob).where(Blob.submission_id == submission_id))
        session.flush()
        return addresses

    # Content ---------------------------------------------------------------------------------------

    def store(self, session: Session, submission: SubmissionRef, kind: str, content: bytes | BinaryIO) -> StoredBlob:
        """Encrypt ``content`` under the submission's data key and record the blob."""
        data_key = self._data_key(session, submission)
        segments: Iterable[bytes] = split(content) if isinstance(content, bytes) else read_segments(content)
        counted = _Counted(segments)
        address, _ = self.blobs.write(encrypt_stream(data_key, _blob_context(submission.public_id, kind), counted))
        # Should the transaction fail, the blob it wrote goes with it.
        session.info.setdefault("on_rollback", []).append(lambda: self.blobs.delete(address))
        # The address hashes ciphertext under a fresh random salt, so it is new: no lookup needed.
        session.add(
            Blob(
                address=address,
                submission_id=submission.id,
                kind=kind,
                plaintext_bytes=counted.total,
                created_at=self._clock.now(),
            )
        )
        session.flush()
        return StoredBlob(address=address, kind=kind, plaintext_bytes=counted.total)

    def latest(self, session: Session, submission_id: int, kind: str) -> StoredBlob | None:
        row = session.scalar(
            select(Blob)
            .where(Blob.submission_id == submission_id, Blob.kind == kind)
            .order_by(Blob.created_at.desc())
            .limit(1)
        )
        return (
            None if row is None else StoredBlob(address=row.address, kind=row.kind, plaintext_bytes=row.plaintext_bytes)
        )

    def load(self, session: Session, submission: SubmissionRef, address: str) -> bytes:
        """Decrypt a blob of ``submission`` entirely in memory; all of it or an error, never a part."""
        row = session.get(Blob, address)
        if row is None or row.submission_id != submission.id:
            if not self.has_data_key(session, submission.id):
                self._data_key(session, submission)  # raises ContentDestroyedError
            raise CorruptBlobError(
                f"Blob {address[:12]} is not recorded for submission {submission.public_id}.",
                "The vault index and the blob store disagree; restore both from the same backup.",
            )
        data_key = self._data_key(session, submission)
        path = self.blobs.path(address)
        try:
            with path.open("rb") as source:
                return b"".join(decrypt_stream(data_key, _blob_context(submission.public_id, row.kind), source))
        except FileNotFoundError:
            raise CorruptBlobError(
                f"The {row.kind} blob {address[:12]} of submission {submission.public_id} "
                f"is missing from {path.parent}.",
                "Restore the blob store from a backup; no content was returned.",
            ) from None
        except StreamAuthenticationError as error:
            raise CorruptBlobError(
                f"The {row.kind} blob {address[:12]} of submission {submission.public_id} is corrupted ({error}).",
                "Restore it from a backup; no content was returned.",
            ) from None


class _Counted:
    """Passes segments through while counting their bytes."""

    def __init__(self, segments: Iterable[bytes]) -> None:
        self._segments = segments
        self.total = 0

    def __iter__(self) -> _Counted:
        self._iterator = iter(self._segments)
        return self

    def __next__(self) -> bytes:
        segment = next(self._iterator)
        self.total += len(segment)
        return segment


def _organisation_context(organisation_id: int, version: int) -> bytes:
    return f"airlock:organisation-key:{organisation_id}:{version}".encode()


def _data_key_context(submission_id: int, organisation_key_version: int) -> bytes:
    return f"airlock:data-key:{submission_id}:{organisation_key_version}".encode()


def _secret_context(name: str) -> bytes:
    return f"airlock:secret:{name}".encode()


def _blob_context(submission_public_id: str, kind: str) -> bytes:
    return f"airlock:blob:{submission_public_id}:{kind}".encode()


def key_file_path(home: Path) -> Path:
    return home / "keys" / "master.key"
