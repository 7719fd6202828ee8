"""``airlock audit ...`` and ``airlock vault ...``: verifying the trail, unusual access, key rotation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from airlock.cli._common import AsOption, JsonOption, console, error_console, opened, print_json
from airlock.cli.render import when
from airlock.errors import ConfigurationError

audit_app = typer.Typer(help="The tamper-evident audit log: verify, read, spot unusual access.", no_args_is_help=True)
vault_app = typer.Typer(
    help="The vault's keys: rotation without re-encrypting content.", no_args_is_help=True, rich_markup_mode=None
)


@audit_app.command("verify")
def audit_verify(
    ctx: typer.Context,
    key: Annotated[
        Path | None, typer.Option(help="The trusted audit public key (default: $AIRLOCK_HOME/keys/audit.pub).")
    ] = None,
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(metavar="FILE", help="A checkpoint you kept earlier; proves nothing was cut off since."),
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute the audit log's hash chain and check its signed checkpoints (auditors, operators).

    Exits 0 when the log is intact, 1 naming the first bad entry otherwise.

    \b
    Example:
      airlock audit verify --key my-copy-of-audit.pub --as aud@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        key_file = key or airlock.settings.audit_key_file
        trusted = _read_text(key_file, "trusted audit key", "pass --key FILE with the key printed by `airlock init`")
        extra = [
            _read_text(path, "checkpoint", "give a file written by `airlock audit checkpoint`")
            for path in checkpoint or []
        ]
        result = airlock.oversight.verify_audit(airlock.directory.principal(as_), trusted, extra)
    if json_output:
        print_json(result)
    elif result.ok:
        console.print(
            f"The audit log is intact: {plural(result.entries, 'entry', 'entries')} in one hash chain, "
            f"{plural(result.checkpoints, 'signed checkpoint', 'signed checkpoints')} verified."
        )
    else:
        for problem in result.problems[1:]:
            console.print(f"Also: {problem}", markup=False)
    if not result.ok:
        first = f" at entry {result.first_bad_entry}" if result.first_bad_entry else ""
        error_console.print(
            f"[bold red]Error:[/] The audit log failed verification{first}: {escape(result.problems[0])}"
        )
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(ctx: typer.Context, as_: AsOption = None) -> None:
    """Print the newest signed checkpoint, to keep outside the deployment (auditors, operators).

    \b
    Example:
      airlock audit checkpoint --as auditor@lab.gov > checkpoint-2026-12-01.txt
    """
    with opened(ctx, False) as airlock:
        note = airlock.oversight.latest_checkpoint(airlock.directory.principal(as_))
    typer.echo(note, nl=False)


@audit_app.command("log")
def audit_log(
    ctx: typer.Context,
    hours: Annotated[int | None, typer.Option(min=1, help="Only the last N hours.")] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show the audit entries: who did what, to what, why, and the outcome (auditors, operators).

    \b
    Example:
      airlock audit log --hours 24 --as auditor@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        since = None if hours is None else airlock.clock.now() - timedelta(hours=hours)
        entries = airlock.oversight.entries(airlock.directory.principal(as_), since=since)
    if json_output:
        print_json(entries)
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("#", "when", "actor", "action", "target", "outcome", "purpose"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.seq),
            when(entry.at),
            escape(entry.actor),
            entry.action,
            escape(entry.target),
            entry.outcome,
            escape(entry.purpose),
        )
    console.print(table)


@audit_app.command("unusual")
def audit_unusual(
    ctx: typer.Context,
    hours: Annotated[int, typer.Option(min=1, help="Length of the sliding window, in hours.")] = 24,
    submissions: Annotated[int, typer.Option(min=1, help="Flag users reading this many submissions in a window.")] = 5,
    refusals: Annotated[int, typer.Option(min=1, help="Flag users refused this many times in a window.")] = 10,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """List insider-risk signals: content read across many submissions, break-glass reads, many refusals.

    \b
    Example:
      airlock audit unusual --hours 8 --submissions 3 --as auditor@lab.gov
    """
    from airlock.review.oversight import UnusualAccessThresholds

    thresholds = UnusualAccessThresholds(
        window=timedelta(hours=hours), distinct_submissions=submissions, refusals=refusals
    )
    with opened(ctx, json_output) as airlock:
        findings = airlock.oversight.unusual_access(airlock.directory.principal(as_), thresholds)
    if json_output:
        print_json(findings)
        return
    if not findings:
        console.print("No unusual access.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("actor", "signal", "detail", "from", "to"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        table.add_row(
            escape(finding.actor), finding.signal, escape(finding.detail), when(finding.first_at), when(finding.last_at)
        )
    console.print(table)


@vault_app.command("rotate-master-key")
def vault_rotate_master_key(ctx: typer.Context, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """Replace the master key: rewrap the keys below it; no content is re-encrypted (operators).

    With a key file, a new key is generated in its place. With AIRLOCK_MASTER_KEY,
    put the new key in AIRLOCK_NEW_MASTER_KEY first.

    \b
    Example:
      airlock vault rotate-master-key
    """
    with opened(ctx, json_output) as airlock:
        rotation = airlock.oversight.rotate_master_key(airlock.directory.principal(as_))
    if json_output:
        print_json(rotation)
        return
    console.print(
        f"Rotated the master key ({rotation.old_id} -> {rotation.new_id}); rewrapped {rotation.rewrapped} keys.",
        markup=False,
    )
    if rotation.notice:
        console.print(rotation.notice, markup=False)


@vault_app.command("rotate-org-key")
def vault_rotate_org_key(
    ctx: typer.Context,
    organisation: Annotated[str, typer.Argument(metavar="ORGANISATION", help="Organisation identifier.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Give an organisation a new key and rewrap its submissions' data keys (operators).

    \b
    Example:
      airlock vault rotate-org-key acme-ai
    """
    with opened(ctx, json_output) as airlock:
        rotation = airlock.oversight.rotate_organisation_key(airlock.directory.principal(as_), organisation)
    if json_output:
        print_json(rotation)
        return
    console.print(
        f"Rotated the key of {rotation.key} to version {rotation.new_id}; rewrapped {rotation.rewrapped} data keys.",
        markup=False,
    )


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _read_text(path: Path, what: str, hint: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(
            f"Cannot read the {what} {path}: {error.strerror}.", hint[0].upper() + hint[1:] + "."
        ) from error
