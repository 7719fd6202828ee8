"""How a page is drawn: the Jinja2 templates, the headers every page carries, and the error page.

Every page is rendered for one request as one user (or nobody, on the sign-in page) by a :class:`Renderer`,
which the routes get as a dependency (:data:`airlock.web.dependencies.Render`). Besides the values a route
passes, every template can ask ``may(Action.X)``, the policy's answer for an action on the deployment rather
than on one review, so that what a page offers follows the policy and no template compares role names; and
``sees_cases``, whether the policy lets the user see any vulnerability case (the clearinghouse's pages).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from airlock import __version__
from airlock.access import Action, acts_for_own_organisation_only, case_visibility, is_permitted
from airlock.api.auth import session_user
from airlock.api.problems import status_of
from airlock.errors import AirlockError, AuthenticationError
from airlock.review.sessions import SessionUser

STATIC_DIRECTORY = Path(__file__).parent / "static"
HTMX = "htmx-2.0.11.min.js"
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
# What keeps a page from being cached (Cache-Control: no-store) is the app's NoStore middleware, for every
# answer at once: see airlock.api.middleware.
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

_templates = Environment(
    loader=PackageLoader("airlock.web", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class Renderer:
    """Renders the portal's templates for one request, as ``user`` (``None``: nobody is signed in)."""

    def __init__(self, request: Request, user: SessionUser | None) -> None:
        self.request = request
        self.user = user

    def __call__(self, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        """``template`` filled with ``values`` and what every page shows (the user, their menu, the version)."""
        user = self.user
        html = _templates.get_template(template).render(
            request=self.request,
            user=user,
            may=(lambda action: may(user, action)) if user else (lambda action: False),
            own_organisation_only=acts_for_own_organisation_only(user.principal) if user else False,
            # Whether any case could be shown: may(Action.VIEW_CASE) asks about no case in particular, which a
            # vendor's contact or a partner is refused (they see the cases their organisation was given).
            sees_cases=not case_visibility(user.principal).none if user else False,
            Action=Action,
            htmx=f"/static/{HTMX}",
            version=__version__,
            **values,
        )
        return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def may(user: SessionUser, action: Action) -> bool:
    """Whether the user may take ``action``, an action on the deployment rather than on one review (submit a
    model, read the audit trail, add users): the policy's answer, which the service asks again when it acts."""
    return is_permitted(user.principal, action)


def error_page(request: Request, error: AirlockError) -> Response:
    """A page's answer to a refusal: the sign-in page for a visitor who is not signed in, else the message."""
    if isinstance(error, AuthenticationError):
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/sign-in"})
        return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)
    try:
        user: SessionUser | None = session_user(request)
    except AirlockError:
        user = None
    return Renderer(request, user)("error.html.j2", status=status_of(error), error=error)
