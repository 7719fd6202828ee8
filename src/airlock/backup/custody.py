"""``airlock keys split`` and ``airlock keys recover``: the master key in the hands of several custodians.

The splitting itself is the vault's (:mod:`airlock.vault.custody`); here it is authorised, audited and written
out. Each share can go to its own file (mode 0600), so that each custodian receives only theirs.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel

from airlock.access import Action, Principal, authorize
from airlock.app import Airlock
from airlock.vault import LocalKeyProvider
from airlock.vault.custody import CustodyError, describe_shares, recover_key, split_key
from airlock.vault.keys import encode_key, local_key_id, write_key_file


class SplitView(BaseModel):
    master_key_id: str
    threshold: int
    shares: list[str]
    """The shares themselves, when they were not written to files."""
    files: list[str]


class RecoveredKeyView(BaseModel):
    master_key_id: str
    """Compare with the archive's (``airlock backup verify`` shows it)."""
    shares_used: int
    written_to: str | None
    key: str | None
    """The key in base64, for AIRLOCK_MASTER_KEY, only when asked to print it."""


def split_master_key(
    airlock: Airlock, actor: Principal, *, threshold: int, shares: int, out_dir: Path | None = None
) -> SplitView:
    """Split the deployment's master key into ``shares`` shares of which any ``threshold`` recover it; audited."""
    provider = airlock.vault.provider
    with airlock.context.operation(actor, "key.master.split") as session:
        authorize(actor, Action.MANAGE_KEYS, what="split the master key into shares")
        if not isinstance(provider, LocalKeyProvider):
            raise CustodyError(
                f"The master key is held by {provider.description}, which never hands it out, so it cannot be split.",
                "Use the key service's own replication and recovery for its custody.",
            )
        mnemonics = split_key(provider.secret_for_custody(), threshold=threshold, shares=shares)
        split = describe_shares(mnemonics[:1]).identifier
        written = _write_share_files(out_dir, mnemonics, threshold) if out_dir is not None else []
        session.info["on_rollback"].append(lambda: _remove(written))
        airlock.audit.append(
            session,
            actor=actor.email,
            action="key.master.split",
            details={"master_key": provider.key_id, "threshold": threshold, "shares": shares, "split": split},
        )
    return SplitView(
        master_key_id=provider.key_id,
        threshold=threshold,
        shares=[] if written else mnemonics,
        files=[str(path) for path in written],
    )


def _write_share_files(directory: Path, mnemonics: list[str], threshold: int) -> list[Path]:
    """One file per share, created new (never overwriting), readable by their owner only; all or none."""
    written: list[Path] = []
    total = len(mnemonics)
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        for number, mnemonic in enumerate(mnemonics, start=1):
            path = directory / f"airlock-master-key-share-{number}-of-{total}.txt"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            written.append(path)
            with os.fdopen(descriptor, "w", encoding="ascii") as stream:
                stream.write(
                    f"# Airlock master key, share {number} of {total}; any {threshold} recover the key.\n"
                    f"# Keep it apart from the other shares. Recover with `airlock keys recover`.\n{mnemonic}\n"
                )
                stream.flush()
                os.fsync(stream.fileno())
    except OSError as error:
        _remove(written)
        raise CustodyError(
            f"Cannot write the shares into {directory} ({error.strerror}); none was kept and nothing was recorded.",
            "Name a directory you can write to, where no earlier shares lie.",
        ) from error
    return written


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def read_shares(texts: list[str]) -> list[str]:
    """The shares in ``texts`` (files' contents or standard input): one per line, ``#`` lines and blanks skipped."""
    return [
        line.strip()
        for text in texts
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def recover_master_key(shares: list[str], *, out: Path | None, show: bool) -> RecoveredKeyView:
    """Recover the master key from ``shares``; write it to ``out`` (a new key file), or return it to be shown."""
    key = recover_key(shares)
    used = describe_shares(shares).threshold
    if out is not None:
        try:
            write_key_file(out, key)
        except FileExistsError as error:
            raise CustodyError(
                f"{out} already exists; a recovered key never replaces a key file.",
                "Move the existing file aside, or name another with --out.",
            ) from error
        except OSError as error:
            raise CustodyError(
                f"Cannot write {out} ({error.strerror}).", "Name a writable place with --out."
            ) from error
    return RecoveredKeyView(
        master_key_id=local_key_id(key),
        shares_used=used,
        written_to=None if out is None else str(out),
        key=encode_key(key) if show else None,
    )
