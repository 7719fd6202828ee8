"""The directory: organisations and users, adding them, and setting a user's password.

What the page lists and which of its forms it offers are the policy's answers (``may(Action.ADD_USER)`` in the
template, :data:`Action.LIST_DIRECTORY` here); each form still goes through the service, which decides again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from airlock.access import Action
from airlock.access.roles import OrganisationKind, Role
from airlock.api.problems import status_of
from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.review.sessions import SessionUser
from airlock.web.dependencies import Deployment, FormSender, Render, Viewer
from airlock.web.forms import FormText, answered
from airlock.web.rendering import Renderer, may

router = APIRouter(route_class=CheckedTextRoute)


class DirectoryPage:
    """The directory as this request's user may see it."""

    def __init__(self, render: Renderer, airlock: Airlock, user: SessionUser) -> None:
        self.render, self.airlock, self.user = render, airlock, user

    def show(
        self,
        *,
        status: int = 200,
        done: str = "",
        problems: dict[str, str] | None = None,
        values: dict[str, dict[str, str]] | None = None,
    ) -> HTMLResponse:
        """The page, with what a form did (``done``), or after a refused form with the message at that form
        and what was typed in it."""
        listing = may(self.user, Action.LIST_DIRECTORY)
        return self.render(
            "directory.html.j2",
            status=status,
            organisations=self.airlock.directory.list_organisations(self.user.principal) if listing else [],
            users=self.airlock.directory.list_users(self.user.principal) if listing else [],
            kinds=[kind.value for kind in OrganisationKind],
            roles=[role.value for role in Role],
            done=done,
            problems=problems or {},
            values=values or {},
        )

    def answer(self, where: str, action: Callable[[], str], typed: dict[str, str]) -> Response:
        """Do what a directory form asks (``where`` names the form) and show the page again, with what was
        done (the sentence ``action`` returns) or why it was refused."""
        return answered(
            action,
            lambda error: self.show(
                status=status_of(error), problems={where: error.diagnostics()}, values={where: typed}
            ),
            lambda done: self.show(done=done),
        )


async def _directory_page(render: Render, airlock: Deployment, user: Viewer) -> DirectoryPage:
    return DirectoryPage(render, airlock, user)


Directory = Annotated[DirectoryPage, Depends(_directory_page)]


@router.get("/directory")
def directory(page: Directory) -> Response:
    return page.show()


@router.post("/directory/organisations")
def add_organisation(
    page: Directory,
    airlock: Deployment,
    user: FormSender,
    name: FormText = "",
    kind: FormText = "",
    slug: FormText = "",
) -> Response:
    def add() -> str:
        added = airlock.directory.add_organisation(user.principal, name=name, kind=kind, slug=slug or None)
        return f"Added the organisation {added.name} ({added.slug})."

    return page.answer("organisation", add, {"name": name, "kind": kind, "slug": slug})


@router.post("/directory/users")
def add_user(
    page: Directory,
    airlock: Deployment,
    user: FormSender,
    email: FormText = "",
    name: FormText = "",
    role: FormText = "",
    organisation: FormText = "",
) -> Response:
    def add() -> str:
        added = airlock.directory.add_user(user.principal, email=email, name=name, role=role, organisation=organisation)
        return f"Added {added.email} as {added.role} of {added.organisation}."

    return page.answer("user", add, {"email": email, "name": name, "role": role, "organisation": organisation})


@router.post("/directory/passwords")
def set_password(
    page: Directory,
    airlock: Deployment,
    user: FormSender,
    email: FormText = "",
    password: FormText = "",
    reason: FormText = "",
) -> Response:
    def set_it() -> str:
        done = airlock.sessions.set_password(user.principal, email, password, break_glass=reason or None)
        if done.kind == "reset":
            return (
                f"Reset the password of {done.email}: {done.ended} of theirs ended with it. It lets them only "
                "choose their own password, and at that sign-in they are shown that you reset it, when and why; "
                "this reset and whatever is read through the account in the next day are reported as unusual "
                "access."
            )
        if done.one_time:
            return (
                f"Set a first password for {done.email}: it lets them choose their own at their first sign-in. "
                "What the account reads, and any review it joins, in the day after that sign-in is reported as "
                "unusual access, naming you."
            )
        return "Changed your own password; your sessions and API tokens have ended."

    return page.answer("password", set_it, {"email": email, "reason": reason})
