"""Vault errors, each saying what failed and what to do."""

from __future__ import annotations

from airlock.errors import AirlockError, ConfigurationError


class MasterKeyError(ConfigurationError):
    """The master key is missing, malformed, or not the one this deployment was set up with."""

    kind = "master_key"


class CorruptBlobError(AirlockError):
    """An encrypted blob failed authentication: it was damaged or tampered with. No content is returned."""

    kind = "corrupt_content"
    is_integrity_failure = True


class ContentDestroyedError(AirlockError):
    """The content's data key was destroyed (withdrawal or end of retention): it can never be read again."""

    kind = "content_destroyed"
    is_refusal = True
