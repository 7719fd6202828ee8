"""``airlock init``, ``airlock org ...`` and ``airlock user ...``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from airlock.access.roles import OrganisationKind, Role
from airlock.cli._common import AsOption, JsonOption, console, opened, print_json
from airlock.cli.render import print_organisations, print_users
from airlock.review.directory import DEFAULT_AGENCY_NAME, DEFAULT_OPERATOR_EMAIL

org_app = typer.Typer(
    help="Organisations: developers, the agency, trusted partners.", no_args_is_help=True, rich_markup_mode=None
)
user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True, rich_markup_mode=None)


def init(
    ctx: typer.Context,
    agency: Annotated[str, typer.Option(help="Name of the agency running this deployment.")] = DEFAULT_AGENCY_NAME,
    operator: Annotated[str, typer.Option(help="Email of the local operator account.")] = DEFAULT_OPERATOR_EMAIL,
    json_output: JsonOption = False,
) -> None:
    """Set up a deployment: the data directory, the database, the agency and its local operator.

    Running it again changes nothing.

    \b
    Example:
      AIRLOCK_HOME=/srv/airlock airlock init --agency "Cyber Evaluation Lab"
    """
    with opened(ctx, json_output, must_be_initialised=False) as airlock:
        deployment = airlock.initialise(agency_name=agency, operator_email=operator)
    if json_output:
        print_json(deployment)
        return
    verb = "Initialised" if deployment.created else "Already initialised:"
    console.print(f"{verb} Airlock with database {deployment.database}.", markup=False)
    console.print(
        f"Agency: {deployment.agency.slug}; local operator: {deployment.operator.email} (the default for --as).",
        markup=False,
    )
    for notice in deployment.notices:
        console.print(f"Note: {notice}", markup=False)


@org_app.command("add")
def org_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Display name, e.g. 'Acme AI'.")],
    kind: Annotated[
        OrganisationKind,
        typer.Option(
            help="Who it is: a developer, an agency or a trusted partner (in reviews), or a vendor (of software the "
            "clearinghouse holds vulnerability cases about)."
        ),
    ],
    slug: Annotated[str | None, typer.Option(help="Short identifier (default: derived from the name).")] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add an organisation (operators only).

    \b
    Example:
      airlock org add "Acme AI" --kind developer
    """
    with opened(ctx, json_output) as airlock:
        actor = airlock.directory.principal(as_)
        organisation = airlock.directory.add_organisation(actor, name=name, kind=kind, slug=slug)
    if json_output:
        print_json(organisation)
    else:
        console.print(
            f"Added {organisation.kind} organisation {organisation.slug} ({organisation.name}).", markup=False
        )


@org_app.command("list")
def org_list(ctx: typer.Context, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """List organisations (agency staff only).

    \b
    Example:
      airlock org list --json
    """
    with opened(ctx, json_output) as airlock:
        organisations = airlock.directory.list_organisations(airlock.directory.principal(as_))
    if json_output:
        print_json(organisations)
    else:
        print_organisations(organisations)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The user's email; it is their identity in Airlock.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    role: Annotated[Role, typer.Option(help="What the user does; it must fit the organisation's kind.")],
    org: Annotated[str, typer.Option(help="Identifier of the user's organisation.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a user with one role in one organisation.

    Operators add anyone; a developer_admin adds colleagues to their own organisation.

    \b
    Example:
      airlock user add lee@lab.gov --name "Lee" --role lead_reviewer \\
        --org evaluation-lab
    """
    with opened(ctx, json_output) as airlock:
        actor = airlock.directory.principal(as_)
        user = airlock.directory.add_user(actor, email=email, name=name, role=role, organisation=org)
    if json_output:
        print_json(user)
    else:
        console.print(f"Added {user.email} as {user.role} of {user.organisation}.", markup=False)


@user_app.command("list")
def user_list(
    ctx: typer.Context,
    org: Annotated[str | None, typer.Option(help="Only this organisation's users.")] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """List users (agency staff only).

    \b
    Example:
      airlock user list --org acme-ai
    """
    with opened(ctx, json_output) as airlock:
        users = airlock.directory.list_users(airlock.directory.principal(as_), organisation=org)
    if json_output:
        print_json(users)
    else:
        print_users(users)


@user_app.command("password")
def user_password(
    ctx: typer.Context,
    email: Annotated[
        str,
        typer.Argument(
            metavar="EMAIL",
            help="Whose password: your own; anyone's for an operator; a first one for a colleague for a "
            "developer's administrator.",
        ),
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input instead of asking.")
    ] = False,
    break_glass: Annotated[
        str | None,
        typer.Option(
            help="Operators only: why you reset the password of a user who already has credentials "
            "(recorded, shown to the user, flagged)."
        ),
    ] = None,
    as_: AsOption = None,
) -> None:
    """Set the password that EMAIL signs in to the web pages with (at least 12 characters).

    A new password ends every browser session and API token of the account. One set for someone else is
    one-time: it lets its user only choose their own at sign-in. A developer's users get their first one
    from their organisation's administrator. Replacing the credentials a user already has is a reset, an
    operator's, which needs --break-glass REASON.

    \b
    Examples:
      airlock user password dev@acme.example --as dev@acme.example
      printf '%s' "$FIRST_PASSWORD" | airlock user password lee@lab.gov --password-stdin
      airlock user password dev@acme.example --break-glass "locked out, ticket 4711"
    """
    if password_stdin:
        password = sys.stdin.read().rstrip("\n")
    elif not sys.stdin.isatty():
        raise typer.BadParameter("there is no terminal to ask on; pipe the password in", param_hint="--password-stdin")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    with opened(ctx, False) as airlock:
        done = airlock.sessions.set_password(airlock.directory.principal(as_), email, password, break_glass=break_glass)
    what = {"reset": "is reset", "change": "is changed", "set": "is set"}[done.kind]
    then = "it lets them only choose their own at /sign-in" if done.one_time else "it signs in at /sign-in"
    console.print(
        f"The password of {done.email} {what} ({done.ended} ended); {then}.",
        markup=False,
    )
