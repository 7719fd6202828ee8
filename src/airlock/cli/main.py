"""The ``airlock`` command: see ``airlock --help`` and docs/cli.md."""

from __future__ import annotations

import signal

import typer

from airlock import __version__
from airlock.cli.challenges_commands import challenges_app
from airlock.cli.demo_command import demo
from airlock.cli.directory_commands import init, org_app, user_app
from airlock.cli.eval_commands import eval_app
from airlock.cli.oversight_commands import audit_app, vault_app
from airlock.cli.report_commands import finding_app, report_app
from airlock.cli.review_commands import review_app, submit
from airlock.cli.sandbox_command import sandbox_app
from airlock.cli.serve_commands import serve, token_app

app = typer.Typer(
    name="airlock",
    help="Airlock: voluntary pre-release review of frontier AI models for advanced cyber capabilities. "
    "A review is advisory: never a licence or a clearance.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
app.command("init")(init)
app.command("demo")(demo)
app.command("submit")(submit)
app.command("serve")(serve)
app.add_typer(org_app, name="org")
app.add_typer(user_app, name="user")
app.add_typer(review_app, name="review")
app.add_typer(audit_app, name="audit")
app.add_typer(vault_app, name="vault")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(challenges_app, name="challenges")
app.add_typer(eval_app, name="eval")
app.add_typer(report_app, name="report")
app.add_typer(finding_app, name="finding")
app.add_typer(token_app, name="token")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"airlock {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Airlock: voluntary pre-release review of frontier AI models for advanced cyber capabilities."""


def main() -> None:
    # `airlock review list | head` should end quietly like any Unix tool, not report a failure: the
    # command itself succeeded, and an exit status of 1 would claim that nothing was done.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    app()


if __name__ == "__main__":
    main()
