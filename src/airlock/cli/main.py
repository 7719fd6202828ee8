"""The ``airlock`` command: see ``airlock --help`` and docs/cli.md.

The root knows its commands by name, module and one-line help (:data:`COMMANDS`), and imports a command's
module only when that command runs or its own ``--help`` is asked: ``airlock --help`` loads no command,
``airlock sandbox exec`` loads neither the database nor Inspect. tests/test_cli_imports.py keeps it so.
"""

from __future__ import annotations

import importlib
import signal
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Annotated

import typer
from typer import _click as click  # Typer's own copy of Click, whose classes its groups and commands are
from typer.core import TyperGroup
from typer.models import CommandInfo, TyperInfo

from airlock import __version__

VERBOSE = "airlock.verbose"
"""The key in the click context's ``meta`` that says whether ``--verbose`` (or ``AIRLOCK_VERBOSE``) was given."""


@dataclass(frozen=True)
class LazyCommand:
    """A command of the root, known by where it lives until it is needed."""

    module: str
    attribute: str
    """A ``typer.Typer`` (a group of commands) or a function (one command)."""
    summary: str
    """The one line ``airlock --help`` shows."""


COMMANDS: dict[str, LazyCommand] = {
    "init": LazyCommand(
        "airlock.cli.directory_commands", "init", "Set up a deployment: data directory, database, agency, operator."
    ),
    "demo": LazyCommand(
        "airlock.cli.demo_command", "demo", "Run a complete demonstration review on a fresh deployment."
    ),
    "doctor": LazyCommand(
        "airlock.cli.doctor_command", "doctor", "Check that every part Airlock uses works on this machine."
    ),
    "submit": LazyCommand("airlock.cli.review_commands", "submit", "Submit a model for voluntary review (developers)."),
    "serve": LazyCommand("airlock.cli.serve_commands", "serve", "Serve the portal: the web pages and the REST API."),
    "org": LazyCommand(
        "airlock.cli.directory_commands", "org_app", "Organisations: developers, the agency, trusted partners."
    ),
    "user": LazyCommand("airlock.cli.directory_commands", "user_app", "Users and their roles."),
    "review": LazyCommand(
        "airlock.cli.review_commands", "review_app", "Reviews: their state, clock, team and partners."
    ),
    "audit": LazyCommand(
        "airlock.cli.oversight_commands",
        "audit_app",
        "The tamper-evident audit log: verify, read, spot unusual access.",
    ),
    "vault": LazyCommand(
        "airlock.cli.oversight_commands", "vault_app", "The vault's keys: rotation without re-encrypting content."
    ),
    "backup": LazyCommand(
        "airlock.cli.backup_commands",
        "backup_app",
        "Backups: signed archives; restores that undo no shredding.",
    ),
    "keys": LazyCommand(
        "airlock.cli.backup_commands", "keys_app", "Custody of the master key: split it into shares, recover it."
    ),
    "sandbox": LazyCommand("airlock.cli.sandbox_command", "sandbox_app", "The bwrap sandbox that evaluations run in."),
    "images": LazyCommand(
        "airlock.cli.images_commands", "images_app", "Images for sandboxes: import, build, list and remove them."
    ),
    "challenges": LazyCommand(
        "airlock.cli.challenges_commands", "challenges_app", "Exploitation challenges: generate, check, verify."
    ),
    "eval": LazyCommand(
        "airlock.cli.eval_commands",
        "eval_app",
        "Evaluation runs: run, follow, read and export the evidence.",
    ),
    "report": LazyCommand(
        "airlock.cli.report_commands", "report_app", "Reports: build, export and verify signed reports."
    ),
    "finding": LazyCommand(
        "airlock.cli.report_commands",
        "finding_app",
        "Findings: record what a review found; the developer answers them.",
    ),
    "vulns": LazyCommand(
        "airlock.cli.vulns_commands",
        "vulns_app",
        "The clearinghouse: vulnerability cases, vendors, advisories.",
    ),
    "token": LazyCommand(
        "airlock.cli.serve_commands", "token_app", "API tokens for the REST API: issue, list, revoke."
    ),
}
"""Every command of the root, in the order ``airlock --help`` lists them."""


class LazyGroup(TyperGroup):
    """The root group: lists :data:`COMMANDS` from their summaries, builds a command when it is resolved."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in COMMANDS:
            found = self._load(cmd_name, COMMANDS[cmd_name])
            self.add_command(found, cmd_name)
        return found

    def _load(self, name: str, entry: LazyCommand) -> click.Command:
        target = getattr(importlib.import_module(entry.module), entry.attribute)
        # Built as ``add_typer`` and ``command`` would have built them, with the root's settings.
        if isinstance(target, typer.Typer):
            return typer.main.get_group_from_info(
                TyperInfo(target, name=name),
                pretty_exceptions_short=True,
                suggest_commands=self.suggest_commands,
                rich_markup_mode=self.rich_markup_mode,
            )
        return typer.main.get_command_from_info(
            CommandInfo(name=name, callback=target, short_help=entry.summary),
            pretty_exceptions_short=True,
            rich_markup_mode=self.rich_markup_mode,
        )

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # Typer suggests from the commands built so far, which here are none yet.
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            matches = get_close_matches(args[0], self.list_commands(ctx))
            if matches:
                ctx.fail(f"No such command {args[0]!r}. Did you mean {', '.join(map(repr, matches))}?")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name].summary) for name in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="airlock",
    cls=LazyGroup,
    help="Airlock: voluntary pre-release review of frontier AI models for advanced cyber capabilities. "
    "A review is advisory: never a licence or a clearance.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"airlock {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            envvar="AIRLOCK_VERBOSE",
            help="After an error's one line, show its chain of causes and the traceback (for a bug report).",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Airlock: voluntary pre-release review of frontier AI models for advanced cyber capabilities."""
    ctx.meta[VERBOSE] = verbose


def main() -> None:
    # `airlock review list | head` should end quietly like any Unix tool, not report a failure: the
    # command itself succeeded, and an exit status of 1 would claim that nothing was done.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()


if __name__ == "__main__":
    main()
