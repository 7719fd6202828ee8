"""Signing in and out: the sign-in page (with choosing one's own password after a first or reset one) and
the session cookie.

Sessions are an ``HttpOnly``, ``SameSite=Strict`` cookie, ``Secure`` unless the portal is reached over plain
HTTP on a loopback address from a loopback address (a laptop, a test); reached over plain HTTP from elsewhere
(the client's address decides, not the Host header it sends), sign-in is refused with a pointer to TLS. The
sign-in form has no session whose CSRF token it could carry, so it is checked for coming from this site
instead (:func:`airlock.api.auth.require_same_origin`).
"""

from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from airlock.api.auth import SESSION_COOKIE, require_same_origin, session_user
from airlock.api.problems import status_of
from airlock.api.text import CheckedTextRoute
from airlock.errors import AirlockError, AuthenticationError, InvalidInputError
from airlock.review.sessions import SESSION_LIFETIME, PasswordChoiceRequired
from airlock.web.dependencies import ClientAddress, Deployment, FormSender, VisitorRender
from airlock.web.forms import FormText, require_typed_twice

router = APIRouter(route_class=CheckedTextRoute)


@router.get("/")
def home(request: Request) -> Response:
    try:
        session_user(request)
    except AuthenticationError:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse("/reviews", status_code=303)


@router.get("/sign-in")
def sign_in_page(render: VisitorRender, next: str = "/reviews") -> Response:
    return render("sign_in.html.j2", next=_safe_next(next), email="", problem=None, choose=False, reset=None)


@router.post("/sign-in")
def sign_in(
    request: Request,
    airlock: Deployment,
    render: VisitorRender,
    client: ClientAddress,
    email: FormText = "",
    password: FormText = "",
    new_password: FormText = "",
    repeated: FormText = "",
    next: FormText = "",
) -> Response:
    target = _safe_next(next)
    secure = request.url.scheme == "https"
    # A password an operator set signs in only with one of the user's own (the second form of this page).
    choosing = bool(new_password or repeated)
    try:
        require_same_origin(request)
        # Plain HTTP only between two ends on this machine: decided on the client's address (a named proxy's
        # X-Forwarded-For, see docs/api.md), which a client cannot choose, and not only on the Host header, which
        # it can; the Host must be loopback too, so that a proxy left out of AIRLOCK_TRUSTED_PROXIES is noticed.
        if not secure and not (_is_loopback(client) and _is_loopback(request.url.hostname)):
            raise InvalidInputError(
                "This portal is served over plain HTTP, and a session must not travel over it.",
                "Serve it behind TLS (see the production note in docs/api.md), or use it on this machine.",
            )
        if choosing:
            require_typed_twice(new_password, repeated)
        signed_in = airlock.sessions.sign_in(email, password, client=client, new_password=new_password or None)
    except PasswordChoiceRequired as required:
        return render("sign_in.html.j2", next=target, email=email, problem=None, choose=True, reset=required.reset)
    except AirlockError as problem:
        return render(
            "sign_in.html.j2",
            status=status_of(problem),
            next=target,
            email=email,
            problem=problem,
            choose=choosing,
            reset=None,
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    return response


@router.post("/sign-out")
def sign_out(request: Request, airlock: Deployment, user: FormSender) -> Response:
    # A FormSender, though the user is not needed: another site must not be able to sign anyone out.
    airlock.sessions.sign_out(request.cookies.get(SESSION_COOKIE, ""))
    return signed_out("/sign-in")


def signed_out(target: str) -> Response:
    """The way to ``target`` with the session cookie gone (its session has ended: signed out, or a new password)."""
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _safe_next(target: str) -> str:
    """Only a path on this site: an open redirect would make the sign-in page a phishing tool."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/reviews"


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and (host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback)
    except ValueError:
        return False
