"""What every command shares: the ``--as`` and ``--json`` options, opening the deployment, and turning
errors into one clear sentence and exit status 1 (with ``--verbose``, also their causes and traceback).

Every command module imports this one, so it imports nothing heavy itself: the deployment (``airlock.app``,
which loads every service) is imported when a command opens it.
"""

from __future__ import annotations

import functools
import json
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from airlock.cli.main import VERBOSE
from airlock.errors import AirlockError

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from airlock.app import Airlock
    from airlock.clock import Clock
    from airlock.config import Settings

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


def choice_of(values: Iterable[str]) -> Any:
    """A type that Typer reads as a choice among ``values``, for a fixed set that is data rather than an
    Enum (the partners' grantable content, the challenge families): a value outside it is a usage error
    (exit 2) and ``--help`` lists them. The command receives the value as a ``str`` (a member of a
    ``StrEnum``). Type checkers cannot follow a type made at run time, so declare the alias as ``str``
    for them::

        if TYPE_CHECKING:
            Family = str
        else:
            Family = choice_of(FAMILIES)
    """
    # An Enum rather than a Literal: Typer takes a list of Enum members (a repeatable option), not of Literals.
    return StrEnum("Choice", {str(value): str(value) for value in sorted(values)})


# Piped output has no terminal width to follow; give tables room rather than folding them at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160


@functools.cache
def _console(*, stderr: bool) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=None if stderr else _WIDTH)


if TYPE_CHECKING:
    console: Console
    """Standard output, for people (tables, rich markup)."""
    error_console: Console
    """Standard error: diagnostics and notes beside the output."""


def __getattr__(name: str) -> Console:
    # The consoles are made, and Rich imported, on first use: `airlock sandbox exec` prints its command's raw
    # output and never needs them.
    if name in ("console", "error_console"):
        return _console(stderr=name == "error_console")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class Overrides:
    """What a caller embedding the CLI (the tests) may replace: the time source and the settings."""

    clock: Clock | None = None
    settings: Settings | None = None


def _overrides(ctx: typer.Context) -> Overrides:
    found = ctx.find_object(Overrides)
    return found if found is not None else Overrides()


def settings_for(ctx: typer.Context) -> Settings:
    from airlock.config import load_settings

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
    "samples": "--sample",
}


def diagnostics_for_the_command_line(error: AirlockError, options: frozenset[str] | None = None) -> str:
    """The error's diagnostics, pointing at the option that gives the input at fault, if one is: among
    ``options`` (the running command's), when they are known, so that an input given as an argument or in a file
    never sends the person to an option the command does not have."""
    text = error.diagnostics()
    if error.field is None:
        return text
    option = _OPTION_FOR_FIELD.get(error.field, "--" + error.field.replace("_", "-"))
    if option is None or (options is not None and option not in options):
        return text
    return f"{text.rstrip('.')} ({option})."


def _options_of(ctx: typer.Context) -> frozenset[str] | None:
    command = getattr(ctx, "command", None)
    if command is None:
        return None
    return frozenset(
        flag for parameter in command.params for flag in getattr(parameter, "opts", ()) if flag[:2] == "--"
    )


def verbose(ctx: typer.Context) -> bool:
    """Whether ``airlock --verbose`` (or ``AIRLOCK_VERBOSE=1``) asked for the causes of an error."""
    return bool(ctx.meta.get(VERBOSE, False))


@contextmanager
def reporting_errors(ctx: typer.Context, json_output: bool) -> Iterator[None]:
    """Turn an :class:`AirlockError` into its diagnostics on stderr (and JSON on stdout) and exit 1.

    The diagnostics are one line. With ``--verbose`` the chain of causes follows, one line each, then the
    traceback: what a bug report needs, and what a person acting on the message does not.
    """
    try:
        yield
    except AirlockError as error:
        if json_output:
            described = {"kind": error.kind, "message": error.message, "hint": error.hint, "field": error.field}
            print(json.dumps({"error": described}))
        from rich.markup import escape

        errors = _console(stderr=True)
        errors.print(f"[bold red]Error:[/] {escape(diagnostics_for_the_command_line(error, _options_of(ctx)))}")
        if verbose(ctx):
            for cause in causes(error):
                errors.print(f"Caused by: {type(cause).__name__}: {cause}", markup=False)
            errors.print("".join(traceback.format_exception(error)).rstrip(), markup=False)
        raise typer.Exit(1) from error


def causes(error: BaseException) -> list[BaseException]:
    """The exceptions behind ``error``, nearest first: each one's ``__cause__``, or else its ``__context__``
    (an exception that was being handled when the next one was raised), as Python's own traceback follows them."""
    found: list[BaseException] = []
    current = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return found


@contextmanager
def opened(ctx: typer.Context, json_output: bool, *, must_be_initialised: bool = True) -> Iterator[Airlock]:
    """The deployment, opened for one command, with errors reported as the CLI contract says."""
    from airlock.app import Airlock

    with reporting_errors(ctx, json_output):
        airlock = Airlock.open(settings_for(ctx), _overrides(ctx).clock, must_be_initialised=must_be_initialised)
        try:
            yield airlock
        finally:
            airlock.close()


def print_json(value: BaseModel | list[Any] | dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(_jsonable(value), indent=2) + "\n")


def _jsonable(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    return value
