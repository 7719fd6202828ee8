"""Backup errors, each saying what failed and what to do."""

from __future__ import annotations

from airlock.errors import AirlockError


class BackupError(AirlockError):
    """A backup that could not be made; no archive was left behind."""

    kind = "backup"


class ArchiveError(AirlockError):
    """An archive that is damaged, truncated, altered or not an Airlock backup; nothing was restored."""

    kind = "invalid_archive"


class RestoreTargetError(AirlockError):
    """A restore refused because its target is not empty: a restore never overwrites a deployment."""

    kind = "restore_target"
