"""The user's account: their password and their API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airlock.api.problems import status_of
from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.review.sessions import SessionUser
from airlock.review.tokens import DEFAULT_DAYS as DEFAULT_TOKEN_DAYS
from airlock.review.tokens import IssuedToken
from airlock.web.dependencies import ClientAddress, Deployment, FormSender, Render, Viewer
from airlock.web.forms import FormText, answered, require_typed_twice, whole_number
from airlock.web.pages.sign_in import signed_out
from airlock.web.rendering import Renderer

router = APIRouter(route_class=CheckedTextRoute)


class AccountPage:
    """The account page of this request's user: their tokens, the last reset of their password."""

    def __init__(self, render: Renderer, airlock: Airlock, user: SessionUser) -> None:
        self.render, self.airlock, self.user = render, airlock, user

    def show(
        self,
        *,
        status: int = 200,
        issued: IssuedToken | None = None,
        problems: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> HTMLResponse:
        """The page; after a refused form, with the message at that form and what was typed in it."""
        return self.render(
            "account.html.j2",
            status=status,
            tokens=self.airlock.tokens.visible_to(self.user.principal),
            issued=issued,
            default_days=DEFAULT_TOKEN_DAYS,
            last_reset=self.airlock.sessions.last_reset(self.user.principal),
            problems=problems or {},
            values=values or {},
        )


async def _account_page(render: Render, airlock: Deployment, user: Viewer) -> AccountPage:
    return AccountPage(render, airlock, user)


Account = Annotated[AccountPage, Depends(_account_page)]


@router.get("/account")
def account(page: Account) -> Response:
    return page.show()


@router.post("/account/password")
def change_password(
    page: Account,
    airlock: Deployment,
    user: FormSender,
    client: ClientAddress,
    current_password: FormText = "",
    password: FormText = "",
    repeated: FormText = "",
) -> Response:
    def change() -> None:
        require_typed_twice(password, repeated)
        airlock.sessions.change_password(user.principal, current_password, password, client=client)

    return answered(
        change,
        lambda error: page.show(status=status_of(error), problems={"password": error.diagnostics()}),
        # The change ended every session, this one too.
        lambda _: signed_out("/sign-in?next=/account"),
    )


@router.post("/account/tokens")
def issue_token(
    page: Account, airlock: Deployment, user: FormSender, name: FormText = "", days: FormText = ""
) -> Response:
    def issue() -> IssuedToken:
        lifetime = whole_number(days, "The number of days", "days") or DEFAULT_TOKEN_DAYS
        return airlock.tokens.issue(user.principal, name=name, days=lifetime)

    return answered(
        issue,
        lambda error: page.show(
            status=status_of(error), problems={"tokens": error.diagnostics()}, values={"name": name, "days": days}
        ),
        # The secret is shown on this answer only; reloading the page shows the token without it.
        lambda issued: page.show(status=201, issued=issued),
    )


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(airlock: Deployment, user: FormSender, token_id: str) -> Response:
    airlock.tokens.revoke(user.principal, token_id)
    return RedirectResponse("/account", status_code=303)
