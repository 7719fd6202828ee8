"""Vault: the key hierarchy, encrypted blob store and crypto-shredding (see :mod:`airlock.vault.vault`)."""

from airlock.vault.blobs import BlobStore
from airlock.vault.errors import ContentDestroyedError, CorruptBlobError, MasterKeyError
from airlock.vault.keys import FileKeyProvider, LocalKeyProvider, MasterKeyProvider, environment_provider
from airlock.vault.vault import ContentOwner, ReportRef, StoredBlob, SubmissionRef, Vault, key_file_path

__all__ = [
    "BlobStore",
    "ContentDestroyedError",
    "ContentOwner",
    "CorruptBlobError",
    "FileKeyProvider",
    "LocalKeyProvider",
    "MasterKeyError",
    "MasterKeyProvider",
    "ReportRef",
    "StoredBlob",
    "SubmissionRef",
    "Vault",
    "environment_provider",
    "key_file_path",
]
