"""``airlock sandbox exec``: one command in a fresh bwrap sandbox."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Annotated, Literal, TextIO

import typer

from airlock.cli._common import reporting_errors
from airlock.errors import InvalidInputError

if TYPE_CHECKING:
    from airlock.sandbox.config import BwrapConfig

Network = Literal["none", "private", "hosts"]
"""The networks :class:`~airlock.sandbox.config.BwrapConfig` offers (a test keeps the two the same)."""
User = Literal["sandbox", "root"]
"""The users it offers."""

sandbox_app = typer.Typer(
    help="The bwrap sandbox that evaluations run in.", no_args_is_help=True, rich_markup_mode=None
)


@sandbox_app.command("exec", context_settings={"ignore_unknown_options": False})
def sandbox_exec(
    ctx: typer.Context,
    command: Annotated[list[str], typer.Argument(metavar="-- CMD...", help="The command and its arguments.")],
    network: Annotated[
        Network,
        typer.Option(
            help="none: loopback only; private: loopback shared with the --service sandboxes; hosts: each a host "
            "of its own on one network (as root)."
        ),
    ] = "none",
    service: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME:PORT:COMMAND", help="A service in its own sandbox (with --network private)."),
    ] = None,
    timeout: Annotated[int | None, typer.Option(min=1, help="Seconds before the command is killed.")] = None,
    user: Annotated[User, typer.Option(help="sandbox (unprivileged) or root (inside the sandbox only).")] = "sandbox",
    memory_mb: Annotated[int, typer.Option(min=16, help="Memory limit of the sandbox.")] = 1024,
) -> None:
    """Run one command in a fresh sandbox and print its output; exits with the command's status.

    For debugging challenges, and for auditors who want to see the walls.

    \b
    Example:
      airlock sandbox exec --timeout 10 -- sh -c 'id; ls /; cat /etc/shadow'
      airlock sandbox exec --network private \\
        --service 'web:8080:python3 -m http.server 8080' -- curl -s web:8080
    """
    from airlock.sandbox.errors import SandboxError
    from airlock.sandbox.oneshot import run_once

    if not command or not command[0]:
        raise typer.BadParameter("the command is empty; give one after --, e.g. -- sh -c 'id'", param_hint="CMD")
    with reporting_errors(ctx, json_output=False):
        config = _config(network, service or [], user, memory_mb)
        try:
            result = run_once(config, command, timeout=timeout)
        except TimeoutError as error:
            raise InvalidInputError(f"The command did not finish within {timeout} s and was killed.") from error
        except SandboxError as error:
            raise InvalidInputError(str(error)) from error
    sys.stdout.write(_for(sys.stdout, result.stdout))
    sys.stderr.write(_for(sys.stderr, result.stderr))
    typer.secho(f"exit status {result.returncode}", err=True, dim=True)
    raise typer.Exit(result.returncode)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _for(stream: TextIO, output: str) -> str:
    """What the sandbox printed, made inert for a terminal: a model's escape sequences could otherwise set the
    window title, clear the screen or write the clipboard of the person reading. Piped output passes unchanged."""
    if not stream.isatty():
        return output
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", output)


def _config(network: Network, services: list[str], user: User, memory_mb: int) -> BwrapConfig:
    from pydantic import ValidationError

    from airlock.sandbox.config import BwrapConfig, SandboxLimits, ServiceConfig

    parsed = []
    try:
        for text in services:
            name, _, rest = text.partition(":")
            port, _, command = rest.partition(":")
            if not name or not port.isdigit() or not command.strip():
                raise InvalidInputError(f"The service {text!r} is not NAME:PORT:COMMAND, e.g. web:8080:python3 app.py.")
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name):
                raise InvalidInputError(
                    f"The service name {name!r} must start with a lowercase letter and hold only a-z, 0-9, _ and - "
                    "(32 at most)."
                )
            if not 1 <= int(port) <= 65535:
                raise InvalidInputError(f"The service port {port} is not a TCP port; give one from 1 to 65535.")
            parsed.append(ServiceConfig(name=name, port=int(port), command=["sh", "-c", command]))
        return BwrapConfig(network=network, services=parsed, user=user, limits=SandboxLimits(memory_mb=memory_mb))
    except ValidationError as error:
        reason = error.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInputError(f"That sandbox cannot be built: {reason}.") from error
