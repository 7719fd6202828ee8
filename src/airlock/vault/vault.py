"""The vault: the key hierarchy, envelope encryption of submission content, and crypto-shredding.

::

    master key (provider: file, environment, later a KMS/HSM)
      └─ organisation key, one per organisation and version          (AES-256, wrapped by the master key)
           └─ data key, one per submission                           (AES-256, wrapped by the organisation key)
                └─ blobs: model card, endpoint credentials, logs...  (segmented AES-256-GCM, see stream.py)
      └─ clearinghouse key (a vault secret)                          (AES-256, wrapped by the master key)
           └─ data key, one per clearinghouse report                 (AES-256, sealed by the clearinghouse key)
                └─ blobs: proof of concept, details, crash report, reproduction evidence

A clearinghouse report (:mod:`airlock.vulns`) belongs to no developer organisation: the lab holds it for the
reporter and the vendors, so its key hangs from a key of the clearinghouse's own.

Rotating the master key rewraps the organisation keys and the vault's secrets (the clearinghouse key among
them); rotating an organisation key rewraps its submissions' data keys. Neither touches a blob. Destroying a
data key makes every blob of its submission (or report) unreadable for good.

The vault does no access control and writes no audit entries: the services above it decide who may
read what and record it. It never writes plaintext to disk.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from airlock.clock import Clock
from airlock.store import Database
from airlock.vault.blobs import BlobStore
from airlock.vault.errors import ContentDestroyedError, CorruptBlobError, MasterKeyError
from airlock.vault.keys import FileKeyProvider, MasterKeyProvider, new_key, open_sealed, seal, write_key_file
from airlock.vault.models import Blob, DataKey, OrganisationKey, ReportKey, VaultSecret, VaultState
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


@dataclass(frozen=True)
class ReportRef:
    """What the vault needs to know about a clearinghouse report: its row id and public id."""

    id: int
    public_id: str


ContentOwner = SubmissionRef | ReportRef
"""Whose data key encrypts a blob."""

CLEARINGHOUSE_KEY = "clearinghouse-key"
"""The vault secret under which every clearinghouse report's data key is sealed."""
_CLEARINGHOUSE_KEY_IN_SESSION = "airlock.vault.clearinghouse-key"
_REPORT_KEYS_IN_SESSION = "airlock.vault.report-keys"


class Vault:
    def __init__(self, provider: Callable[[], MasterKeyProvider], blobs: BlobStore, clock: Clock) -> None:
        self._load_provider = provider
        self._provider: MasterKeyProvider | None = None
        self.blobs = blobs
        self._clock = clock
        self.staged_rotation: Path | None = None
        """A new master key file that could not yet be moved into place after a rotation committed."""

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

    def check_master_key(self, session: Session) -> bool:
        """Refuse to go on with a master key that is not the deployment's; True if a rotation was completed.

        A master key rotation interrupted after the database recorded the new key, but before the new key
        file replaced the old one, is completed here: the staged file whose key the database names is moved
        into place. Other staged files are left alone (another rotation may be under way).
        """
        state = session.get(VaultState, 1)
        if state is None:
            return False
        provider = self.provider
        if provider.key_id == state.master_key_id:
            return False
        if isinstance(provider, FileKeyProvider):
            for staged in sorted(provider.path.parent.glob(provider.path.name + ROTATION_SUFFIX + "*")):
                if FileKeyProvider(staged).key_id == state.master_key_id:
                    _replace_durably(staged, provider.path)
                    self._provider = FileKeyProvider(provider.path)
                    return True
        raise MasterKeyError(
            f"The master key from {provider.description} (id {provider.key_id}) is not this deployment's "
            f"master key (id {state.master_key_id}).",
            "Use the deployment's own key; nothing was read or changed.",
        )

    def stage_file_rotation(self, session: Session) -> MasterKeyProvider:
        """A new master key in a staged file beside the current one, moved into place once ``session`` commits.

        If the transaction rolls back, the staged file is removed. If moving it into place fails after the
        commit, it stays, and the next start completes the rotation (:meth:`check_master_key`).
        """
        current = self.provider
        if not isinstance(current, FileKeyProvider):
            raise TypeError("only a file-based master key is rotated by staging a file")
        staged = current.path.with_name(f"{current.path.name}{ROTATION_SUFFIX}-{secrets.token_hex(4)}")
        write_key_file(staged, new_key())
        _sync_directory(staged.parent)
        new = FileKeyProvider(staged)
        session.info.setdefault("on_rollback", []).append(lambda: staged.unlink(missing_ok=True))

        def put_in_place() -> None:
            try:
                _replace_durably(staged, current.path)
            except OSError:
                # The database already names the new key: keep it staged; the next start puts it in place.
                self.staged_rotation = staged
                self._provider = new
                return
            self._provider = FileKeyProvider(current.path)

        session.info.setdefault("after_commit", []).append(put_in_place)
        return new

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
        state.purge_pending = True
        session.flush()
        if not isinstance(new, FileKeyProvider):
            session.info.setdefault("after_commit", []).insert(0, lambda: setattr(self, "_provider", new))
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
        session.get_one(VaultState, 1).purge_pending = True
        session.flush()
        return version, rewrapped

    def ensure_organisation_key(self, session: Session, organisation_id: int) -> int | None:
        """Create the organisation's first key if it has none; returns the version created, if any."""
        exists = session.scalar(
            select(func.count()).select_from(OrganisationKey).where(OrganisationKey.organisation_id == organisation_id)
        )
        if exists:
            return None
        version, _ = self._create_organisation_key(session, organisation_id)
        return version

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

    def create_report_key(self, session: Session, report: ReportRef) -> None:
        """Give a clearinghouse report its data key, sealed under the clearinghouse key (made on first use)."""
        key = new_key()
        session.add(
            ReportKey(
                report_id=report.id,
                wrapped_key=seal(self._clearinghouse_key(session), key, _report_key_context(report.id)),
                created_at=self._clock.now(),
            )
        )
        session.flush()
        session.info.setdefault(_REPORT_KEYS_IN_SESSION, {})[report.id] = key

    def fingerprint(self, session: Session, data: bytes) -> str:
        """A keyed digest of ``data`` (HMAC-SHA256 under a key derived from the clearinghouse key): equal data give
        equal fingerprints, and a fingerprint says nothing of its data to whoever lacks the key (a plain hash of a
        short PoC could be confirmed by guessing)."""
        key = hmac.new(self._clearinghouse_key(session), b"airlock:report-fingerprint", hashlib.sha256).digest()
        return hmac.new(key, data, hashlib.sha256).hexdigest()

    def _clearinghouse_key(self, session: Session) -> bytes:
        # Kept for the transaction (a bulk import stores thousands of blobs), in its session, never longer.
        cached = session.info.get(_CLEARINGHOUSE_KEY_IN_SESSION)
        if cached is not None:
            return bytes(cached)
        key = self.get_secret(session, CLEARINGHOUSE_KEY)
        if key is None:
            key = new_key()
            self.put_secret(session, CLEARINGHOUSE_KEY, key)
        session.info[_CLEARINGHOUSE_KEY_IN_SESSION] = key
        return key

    def _report_key(self, session: Session, report: ReportRef) -> bytes:
        cached = session.info.setdefault(_REPORT_KEYS_IN_SESSION, {})
        if report.id in cached:
            return bytes(cached[report.id])
        key = self._unsealed_report_key(session, report)
        cached[report.id] = key
        return key

    def _unsealed_report_key(self, session: Session, report: ReportRef) -> bytes:
        row = session.get(ReportKey, report.id)
        if row is None:
            raise ContentDestroyedError(
                f"The content of report {report.public_id} was destroyed and can never be read again.",
                "Its data key was shredded.",
            )
        try:
            return open_sealed(self._clearinghouse_key(session), row.wrapped_key, _report_key_context(report.id))
        except InvalidTag as error:
            raise CorruptBlobError(
                f"The data key of report {report.public_id} failed authentication: it was damaged or tampered with.",
                "Restore the database from a backup; no content was returned.",
            ) from error

    def _owner_key(self, session: Session, owner: ContentOwner) -> bytes:
        if isinstance(owner, ReportRef):
            return self._report_key(session, owner)
        return self._data_key(session, owner)

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
        except InvalidTag as error:
            raise CorruptBlobError(
                f"The data key of submission {submission.public_id} failed authentication: "
                "it was damaged or tampered with.",
                "Restore the database from a backup; no content was returned.",
            ) from error

    def destroy_data_key(self, session: Session, submission_id: int) -> int:
        """Shred the submission's content: delete its data key, and mark its blobs for removal.

        From the commit on, no key the system holds decrypts the blobs. :meth:`finish_shredding`, run
        after the commit and again by every clock sweep until it succeeds, then deletes the blob files and
        makes the deleted key unrecoverable from the database files. Returns how many blobs were marked.
        """
        now = self._clock.now()
        session.execute(delete(DataKey).where(DataKey.submission_id == submission_id))
        blobs = list(
            session.scalars(select(Blob).where(Blob.submission_id == submission_id, Blob.shredded_at.is_(None)))
        )
        for blob in blobs:
            blob.shredded_at = now
        session.get_one(VaultState, 1).purge_pending = True
        session.flush()
        return len(blobs)

    def finish_shredding(self, database: Database) -> bool:
        """Delete the files of shredded blobs and purge the database files; True when nothing is left to do."""
        with database.transaction(read_only=True) as session:
            state = session.get(VaultState, 1)
            shredded = list(session.scalars(select(Blob.address).where(Blob.shredded_at.is_not(None))))
            if state is None or (not shredded and not state.purge_pending):
                return True
        for address in shredded:
            self.blobs.delete(address)
        with database.transaction() as session:
            session.execute(delete(Blob).where(Blob.address.in_(shredded)))
        if not database.purge_freed_pages():
            return False
        with database.transaction() as session:
            session.get_one(VaultState, 1).purge_pending = False
        return True

    def request_purge(self, session: Session) -> None:
        """Ask :meth:`finish_shredding` to purge the database files after secrets were deleted from them."""
        session.get_one(VaultState, 1).purge_pending = True

    def shredding_pending(self, session: Session) -> bool:
        state = session.get(VaultState, 1)
        return state is not None and state.purge_pending

    # Content ---------------------------------------------------------------------------------------

    def store(self, session: Session, owner: ContentOwner, kind: str, content: bytes | BinaryIO) -> StoredBlob:
        """Encrypt ``content`` under the data key of ``owner`` (a submission or a report) and record the blob."""
        data_key = self._owner_key(session, owner)
        segments: Iterable[bytes] = split(content) if isinstance(content, bytes) else read_segments(content)
        counted = _Counted(segments)
        address, _ = self.blobs.write(encrypt_stream(data_key, _blob_context(owner.public_id, kind), counted))
        # Should the transaction fail, the blob it wrote goes with it.
        session.info.setdefault("on_rollback", []).append(lambda: self.blobs.delete(address))
        # The address hashes ciphertext under a fresh random salt, so it is new: no lookup needed.
        session.add(
            Blob(
                address=address,
                submission_id=owner.id if isinstance(owner, SubmissionRef) else None,
                report_id=owner.id if isinstance(owner, ReportRef) else None,
                kind=kind,
                plaintext_bytes=counted.total,
                created_at=self._clock.now(),
            )
        )
        session.flush()
        return StoredBlob(address=address, kind=kind, plaintext_bytes=counted.total)

    def latest(self, session: Session, submission_id: int, kind: str) -> StoredBlob | None:
        """The newest blob of ``kind`` stored for the submission (its content destroyed: none)."""
        row = session.scalar(
            select(Blob)
            .where(Blob.submission_id == submission_id, Blob.kind == kind, Blob.shredded_at.is_(None))
            .order_by(Blob.id.desc())
            .limit(1)
        )
        return None if row is None else _stored(row)

    def latest_of_report(self, session: Session, report_id: int, kind: str) -> StoredBlob | None:
        """The newest blob of ``kind`` stored for a clearinghouse report."""
        row = session.scalar(
            select(Blob)
            .where(Blob.report_id == report_id, Blob.kind == kind, Blob.shredded_at.is_(None))
            .order_by(Blob.id.desc())
            .limit(1)
        )
        return None if row is None else _stored(row)

    def contents(self, session: Session, submission_id: int) -> list[StoredBlob]:
        """The newest blob of each kind stored for the submission, by kind."""
        newest: dict[str, StoredBlob] = {}
        for row in session.scalars(
            select(Blob).where(Blob.submission_id == submission_id, Blob.shredded_at.is_(None)).order_by(Blob.id)
        ):
            newest[row.kind] = _stored(row)
        return [newest[kind] for kind in sorted(newest)]

    def load(self, session: Session, owner: ContentOwner, address: str) -> bytes:
        """Decrypt a blob of ``owner`` entirely in memory; all of it or an error, never a part."""
        row = session.scalar(select(Blob).where(Blob.address == address, Blob.shredded_at.is_(None)))
        is_report = isinstance(owner, ReportRef)
        what = f"{'report' if is_report else 'submission'} {owner.public_id}"
        if row is None or (row.report_id if is_report else row.submission_id) != owner.id:
            self._owner_key(session, owner)  # a destroyed key says so (ContentDestroyedError)
            raise CorruptBlobError(
                f"Blob {address[:12]} is not recorded for {what}.",
                "The vault index and the blob store disagree; restore both from the same backup.",
            )
        data_key = self._owner_key(session, owner)
        path = self.blobs.path(address)
        try:
            with path.open("rb") as source:
                return b"".join(decrypt_stream(data_key, _blob_context(owner.public_id, row.kind), source))
        except FileNotFoundError as error:
            raise CorruptBlobError(
                f"The {row.kind} blob {address[:12]} of {what} is missing from {path.parent}.",
                "Restore the blob store from a backup; no content was returned.",
            ) from error
        except StreamAuthenticationError as error:
            raise CorruptBlobError(
                f"The {row.kind} blob {address[:12]} of {what} is corrupted ({error}).",
                "Restore it from a backup; no content was returned.",
            ) from error


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


def _stored(row: Blob) -> StoredBlob:
    return StoredBlob(address=row.address, kind=row.kind, plaintext_bytes=row.plaintext_bytes)


def _sync_directory(directory: Path) -> None:
    """Make a file's creation or renaming inside ``directory`` survive a power cut."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _replace_durably(source: Path, target: Path) -> None:
    os.replace(source, target)
    _sync_directory(target.parent)


def _organisation_context(organisation_id: int, version: int) -> bytes:
    return f"airlock:organisation-key:{organisation_id}:{version}".encode()


def _data_key_context(submission_id: int, organisation_key_version: int) -> bytes:
    return f"airlock:data-key:{submission_id}:{organisation_key_version}".encode()


def _report_key_context(report_id: int) -> bytes:
    return f"airlock:report-key:{report_id}".encode()


def _secret_context(name: str) -> bytes:
    return f"airlock:secret:{name}".encode()


def _blob_context(owner_public_id: str, kind: str) -> bytes:
    return f"airlock:blob:{owner_public_id}:{kind}".encode()


def key_file_path(home: Path) -> Path:
    return home / "keys" / "master.key"
