"""``airlock backup ...`` and ``airlock keys ...``: archives of a deployment, restores, the master key's custody."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from airlock.cli._common import (
    AsOption,
    JsonOption,
    Overrides,
    console,
    opened,
    print_json,
    reporting_errors,
    settings_for,
)

backup_app = typer.Typer(
    help="Backups: signed archives; restores that undo no shredding.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
keys_app = typer.Typer(
    help="Custody of the master key: split it into shares, recover it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        metavar="FILE",
        help="The trusted audit public key (audit.pub) the archive must be signed with "
        "(default: the deployment's, else the one the archive names).",
        show_default=False,
    ),
]


@backup_app.command("create")
def backup_create(
    ctx: typer.Context,
    destination: Annotated[
        Path, typer.Argument(metavar="DEST", help="The archive to write, or a directory to write it in.")
    ],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write a consistent, signed archive of the deployment while it serves (operators).

    The archive holds the database (encrypted), the encrypted blobs and the shred ledger;
    no key in plaintext. Keep it off this host; the master key must be kept apart from it.

    \b
    Example:
      airlock backup create /mnt/backups/
    """
    from airlock.backup.create import create_backup

    with opened(ctx, json_output) as airlock:
        view = create_backup(airlock, airlock.directory.principal(as_), destination)
    if json_output:
        print_json(view)
        return
    console.print(
        f"Wrote {view.archive} ({_size(view.size_bytes)}): {view.blobs} blobs ({_size(view.blob_bytes)}), the "
        f"database, the audit log to entry {view.audit_entries}, {view.ledger_records} shred ledger records; "
        "signed with the audit key.",
        markup=False,
    )
    if view.blobs_shredded_during_backup:
        console.print(
            f"{view.blobs_shredded_during_backup} blobs were shredded while the backup ran; a restore destroys "
            "their keys again.",
            markup=False,
        )


@backup_app.command("verify")
def backup_verify(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(metavar="ARCHIVE", help="The archive to check.")],
    key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check an archive's signature and the digest of every member; needs no secret (operators, auditors).

    \b
    Example:
      airlock backup verify /mnt/backups/lab-20261201T020000Z.airlock-backup.tar --key audit.pub
    """
    from airlock.backup.verify import verify_archive

    with reporting_errors(ctx, json_output):
        view = verify_archive(settings_for(ctx), archive, key)
    if json_output:
        print_json(view)
        return
    console.print(
        f"The archive is intact: {view.blobs} blobs and the {view.backend} database ({_size(view.bytes)}), made "
        f"{view.created_at:%Y-%m-%d %H:%M} UTC at audit entry {view.audit_entries}, signed with {view.signed_by}. "
        f"Restoring it needs the master key {view.master_key_id}.",
        markup=False,
    )


@backup_app.command("restore")
def backup_restore(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(metavar="ARCHIVE", help="The archive to restore.")],
    ledger: Annotated[
        list[Path] | None,
        typer.Option(
            "--ledger",
            metavar="FILE",
            help="A copy of the shred ledger kept off the host; repeat for several. The configured one "
            "(AIRLOCK_SHRED_LEDGER) is read too.",
        ),
    ] = None,
    key: KeyOption = None,
    json_output: JsonOption = False,
) -> None:
    """Restore an archive into an empty home, then destroy again every key shredded since (operators).

    The home (and, for PostgreSQL, the database) must be empty: at most the master key
    may be there. Every shredding any ledger records is replayed before the command ends,
    so no withdrawn content comes back.

    \b
    Example:
      airlock backup restore lab-20261201T020000Z.airlock-backup.tar --ledger /mnt/ledger/shred-ledger
    """
    from airlock.backup.restore import restore_archive

    overrides = ctx.find_object(Overrides)
    with reporting_errors(ctx, json_output):
        view = restore_archive(
            settings_for(ctx),
            archive,
            ledgers=ledger or [],
            key_file=key,
            clock=None if overrides is None else overrides.clock,
        )
    if json_output:
        print_json(view)
        return
    console.print(
        f"Restored the archive made {view.created_at:%Y-%m-%d %H:%M} UTC into {view.home} ({view.blobs} blobs, "
        f"the audit log verified to entry {view.audit_entries_at_backup}). Replayed {view.ledger_records} shred "
        f"ledger records: {len(view.replayed)} submissions' content destroyed again, {view.already_destroyed} "
        f"already destroyed in the archive, {view.not_in_backup} made after it.",
        markup=False,
    )
    for item in view.replayed:
        console.print(f"  destroyed again: {item.review} (first destroyed {item.shredded_at[:10]})", markup=False)


@keys_app.command("split")
def keys_split(
    ctx: typer.Context,
    shares: Annotated[int, typer.Option("--shares", min=2, max=16, help="How many shares to make (N).")],
    threshold: Annotated[
        int, typer.Option("--threshold", min=2, max=16, help="How many shares recover the key (K, at most N).")
    ],
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", metavar="DIR", help="Write each share to a file of its own here instead of printing them."
        ),
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Split the master key into N shares, any K of which recover it (Shamir's scheme, SLIP-0039) (operators).

    Give each share to a different custodian; fewer than K reveal nothing.

    \b
    Example:
      airlock keys split --shares 5 --threshold 3 --out-dir /media/usb/shares
    """
    from airlock.backup.custody import split_master_key

    with opened(ctx, json_output) as airlock:
        view = split_master_key(
            airlock, airlock.directory.principal(as_), threshold=threshold, shares=shares, out_dir=out_dir
        )
    if json_output:
        print_json(view)
        return
    console.print(
        f"Split the master key {view.master_key_id} into {shares} shares; any {threshold} recover it.", markup=False
    )
    for path in view.files:
        console.print(f"  {path}", markup=False)
    for number, share in enumerate(view.shares, start=1):
        console.print(f"share {number}: {share}", markup=False)


@keys_app.command("recover")
def keys_recover(
    ctx: typer.Context,
    share_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--share-file",
            metavar="FILE",
            help="A file holding a share; repeat. Without it, shares are read from standard input, one per line.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="FILE", help="Where to write the key file (default: AIRLOCK_MASTER_KEY_FILE's place)."
        ),
    ] = None,
    show: Annotated[
        bool, typer.Option("--print", help="Print the key (base64, for AIRLOCK_MASTER_KEY) instead of writing a file.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Recover the master key from K of its shares, into a new key file (operators, custodians).

    \b
    Example:
      cat share-1.txt share-4.txt share-5.txt | airlock keys recover
    """
    from airlock.backup.custody import read_shares, recover_master_key
    from airlock.errors import ConfigurationError

    with reporting_errors(ctx, json_output):
        texts = []
        for path in share_file or []:
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as error:
                raise ConfigurationError(f"Cannot read the share file {path}.", "Check the path.") from error
        if not share_file:
            texts.append(sys.stdin.read())
        target = None if show else (out or settings_for(ctx).resolved_master_key_file)
        view = recover_master_key(read_shares(texts), out=target, show=show)
    if json_output:
        print_json(view)
        return
    if view.key is not None:
        typer.echo(view.key)
        return
    console.print(
        f"Recovered the master key {view.master_key_id} from {view.shares_used} shares into {view.written_to}.",
        markup=False,
    )


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value, unit = count / 1024, "KiB"
    for larger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, larger
    return f"{value:.1f} {unit}"
