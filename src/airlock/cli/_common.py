"""What every command shares: the ``--as`` and ``--json`` options, opening the deployment, and turning
errors into one clear sentence and exit status 1.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

from airlock.app import Airlock
from airlock.clock import Clock
from airlock.config import Settings, load_settings
from airlock.errors import AirlockError

AsOption = Annotated[
    str | None,
    typer.Option(
        "--as",
        metavar="EMAIL",
        envvar="AIRLOCK_AS",
        help="Act as the user with this email (default: the local operator set up by `airlock init`).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON for machines.")]
ReviewArgument = Annotated[
    str, typer.Argument(metavar="REVIEW", help="Review identifier, e.g. R-7Q2M4KXA.", show_default=False)
]
ReasonOption = Annotated[
    str | None,
    typer.Option("--reason", metavar="TEXT", help="Why; recorded in the review's timeline.", show_default=False),
]

# Piped output has no terminal width to follow; give tables room rather than folding them at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
error_console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass
class Overrides:
    """What a caller embedding the CLI (the tests) may replace: the time source and the settings."""

    clock: Clock | None = None
    settings: Settings | None = None


def _overrides(ctx: typer.Context) -> Overrides:
    found = ctx.find_object(Overrides)
    return found if found is not None else Overrides()


def settings_for(ctx: typer.Context) -> Settings:
    return _overrides(ctx).settings or load_settings()


# The option that gives a service's input, where it is not the input's name with dashes (see airlock.errors);
# None where no option does (a password is typed at a prompt or read from standard input).
_OPTION_FOR_FIELD: dict[str, str | None] = {
    "password": None,
    "organisation": "--org",
    "consent_reference": "--consent-ref",
    "model_version": "--version",
    "planned_release_date": "--release-date",
    "artefacts": "--artefact",
    "endpoint_credentials": "--api-key-env",
    "confidentiality_marking": "--marking",
}


def diagnostics_for_the_command_line(error: AirlockError) -> str:
    """The error's diagnostics, pointing at the option that gives the input at fault, if one is."""
    text = error.diagnostics()
    if error.field is None:
        return text
    option = _OPTION_FOR_FIELD.get(error.field, "--" + error.field.replace("_", "-"))
    return text if option is None else f"{text.rstrip('.')} ({option})."


@contextmanager
def reporting_errors(json_output: bool) -> Iterator[None]:
    """Turn an :class:`AirlockError` into its diagnostics on stderr (and JSON on stdout) and exit 1."""
    try:
        yield
    except AirlockError as error:
        if json_output:
            described = {"kind": error.kind, "message": error.message, "hint": error.hint, "field": error.field}
            print(json.dumps({"error": described}))
        error_console.print(f"[bold red]Error:[/] {escape(diagnostics_for_the_command_line(error))}")
        raise typer.Exit(1) from None


@contextmanager
def opened(ctx: typer.Context, json_output: bool, *, must_be_initialised: bool = True) -> Iterator[Airlock]:
    """The deployment, opened for one command, with errors reported as the CLI contract says."""
    with reporting_errors(json_output):
        overrides = _overrides(ctx)
        airlock = Airlock.open(
            overrides.settings or load_settings(), overrides.clock, must_be_initialised=must_be_initialised
        )
        try:
            yield airlock
        finally:
            airlock.close()


def print_json(value: BaseModel | list[Any] | dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_jsonable(value), indent=2) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value
