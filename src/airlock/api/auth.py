"""Who is calling: an API token or a browser session, as FastAPI dependencies.

A request that carries ``Authorization: Bearer alk_...`` acts as that token's user. Otherwise the session
cookie decides; a session's request that changes anything (any method but GET, HEAD, OPTIONS) must also send
the session's CSRF token, as the ``X-CSRF-Token`` header (htmx) or the ``csrf`` form field (pages), so that
another site cannot make a signed-in browser act. Nothing here decides what the user may do: the services'
access policy does, as for the CLI.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from airlock.access import Principal
from airlock.app import Airlock
from airlock.errors import AirlockError
from airlock.review.sessions import SessionUser

SESSION_COOKIE = "airlock_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfError(AirlockError):
    """A session's request that changes something came without the session's CSRF token."""

    kind = "csrf"


def deployment(request: Request) -> Airlock:
    airlock: Airlock = request.app.state.airlock
    return airlock


def require_csrf(user: SessionUser, presented: str | None) -> None:
    # As bytes: compare_digest refuses str with non-ASCII characters, which anyone can send.
    if not presented or not hmac.compare_digest(presented.encode("utf-8", "replace"), user.csrf_token.encode()):
        raise CsrfError(
            "The request did not carry this session's CSRF token, so nothing was done.",
            "Reload the page and try again.",
        )


def require_same_origin(request: Request) -> None:
    """Refuse a request that a page of another site made the browser send: signing in is the one form that
    has no session's CSRF token to check (a forged sign-in would put the victim in the attacker's account,
    "login CSRF"). Browsers say where a request comes from in ``Origin`` (or, failing that,
    ``Sec-Fetch-Site``); a request that carries neither is not a browser's, and passes."""
    origin = request.headers.get("origin")
    site = request.headers.get("sec-fetch-site")
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    if (origin is not None and origin.lower() != own) or (origin is None and site not in (None, "same-origin", "none")):
        raise CsrfError(
            "The sign-in came from a page of another site, so nobody was signed in.",
            "Sign in from this portal's own sign-in page.",
        )


def session_user(request: Request) -> SessionUser:
    """The signed-in user of the request's session cookie (:class:`AuthenticationError` otherwise)."""
    return deployment(request).sessions.authenticate(request.cookies.get(SESSION_COOKIE, ""))


# Declared so that the OpenAPI document names the scheme; the token itself is checked below.
_bearer = HTTPBearer(auto_error=False, description="An API token: `airlock token issue`, or POST /api/v1/tokens.")


# Async, like the quick reads: a sync dependency costs a worker-thread hop on every request (see routes.py).
async def _caller(
    request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None
) -> Principal:
    airlock = deployment(request)
    if bearer is not None or SESSION_COOKIE not in request.cookies:
        return airlock.tokens.authenticate(bearer.credentials if bearer is not None else "")
    user = session_user(request)
    if request.method not in SAFE_METHODS:
        require_csrf(user, request.headers.get(CSRF_HEADER))
    return user.principal


Caller = Annotated[Principal, Depends(_caller)]
