"""``airlock serve`` (the REST API on loopback by default) and ``airlock token`` (API tokens)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from airlock.cli._common import AsOption, JsonOption, console, opened, print_json
from airlock.review.tokens import DEFAULT_DAYS

if TYPE_CHECKING:
    from airlock.review.tokens import TokenView

token_app = typer.Typer(
    help="API tokens for the REST API: issue, list, revoke.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on; keep 127.0.0.1 behind a TLS proxy.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (PostgreSQL recommended for more than one).")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log each request (client, method, path, status) on standard error.")
    ] = True,
) -> None:
    """Serve the portal until interrupted: the web pages at / and the REST API at /api/v1.

    It listens on loopback by default; in production put a TLS-terminating proxy in front (docs/api.md).
    Users sign in to the pages with the password `airlock user password` sets.

    \b
    Examples:
      airlock serve --port 8000
      AIRLOCK_DATABASE_URL=postgresql://airlock@db/airlock airlock serve --workers 4
    """
    import uvicorn

    from airlock.api.app import create_app, freeze_startup_objects

    # Requests are logged by uvicorn at "info": method, path (never its query string: the app cuts it off),
    # status and client address; never a header or a body, so no token, cookie or password reaches the log.
    log_level = "info" if access_log else "warning"
    with opened(ctx, False) as airlock:
        # X-Forwarded-For and -Proto are believed only from the proxies the settings name (none by default);
        # uvicorn's own default would believe anyone on loopback.
        proxies = airlock.settings.trusted_proxy_list
        console.print(
            f"Serving the Airlock portal on http://{host}:{port}/ (API at /api/v1; Ctrl-C stops it).", markup=False
        )
        if workers == 1:
            app = create_app(airlock)
            freeze_startup_objects()
            uvicorn.run(
                app,
                host=host,
                port=port,
                log_level=log_level,
                access_log=access_log,
                proxy_headers=bool(proxies),
                forwarded_allow_ips=proxies or None,
            )
            return
    # Several processes each open the deployment themselves, from the same AIRLOCK_* variables.
    uvicorn.run(
        "airlock.api.app:from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
    )


@token_app.command("issue")
def issue(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'dashboard script'.")],
    days: Annotated[int, typer.Option(help="Days until it expires (1 to 365).")] = DEFAULT_DAYS,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Issue an API token for yourself. It is shown once: store it now.

    \b
    Example:
      airlock token issue --name "nightly export" --days 7 --as reviewer@agency.example
    """
    with opened(ctx, json_output) as airlock:
        issued = airlock.tokens.issue(airlock.directory.principal(as_), name=name, days=days)
    if json_output:
        print_json(issued.view.model_dump(mode="json") | {"token": issued.token})
        return
    console.print(
        f"Token {issued.view.id} for {issued.view.user}, valid until {issued.view.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    console.print("It is shown only now; send it as 'Authorization: Bearer TOKEN':")
    console.print(issued.token, markup=False)


@token_app.command("list")
def list_tokens(ctx: typer.Context, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """List your API tokens (an operator sees everyone's); secrets are never shown again.

    \b
    Example:
      airlock token list --as reviewer@agency.example
    """
    with opened(ctx, json_output) as airlock:
        tokens = airlock.tokens.visible_to(airlock.directory.principal(as_))
    _show(tokens, json_output)


@token_app.command("revoke")
def revoke(
    ctx: typer.Context,
    token: Annotated[str, typer.Argument(metavar="TOKEN_ID", help="The token's identifier, e.g. T-1A2B3C4D.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Revoke an API token at once.

    \b
    Example:
      airlock token revoke T-1A2B3C4D --as reviewer@agency.example
    """
    with opened(ctx, json_output) as airlock:
        revoked = airlock.tokens.revoke(airlock.directory.principal(as_), token)
    _show([revoked], json_output)


def _show(tokens: list[TokenView], json_output: bool) -> None:
    if json_output:
        print_json([token.model_dump(mode="json") for token in tokens])
        return
    if not tokens:
        console.print("No tokens.")
    for token in tokens:
        state = "revoked" if token.revoked_at else f"expires {token.expires_at:%Y-%m-%d}"
        console.print(f"{token.id}  {token.user}  {token.name}  ({state})", markup=False)
