"""What the pages' routes share, as FastAPI dependencies: the deployment, the signed-in user, the CSRF check
and the renderer.

A route names what it needs in its signature and FastAPI supplies it, once per request however many other
dependencies ask for the same thing:

* :data:`Deployment`: the open :class:`~airlock.app.Airlock` the app serves.
* :data:`Viewer`: the session's signed-in user. A visitor without a session never reaches the route: the
  :class:`~airlock.errors.AuthenticationError` becomes the redirect to the sign-in page
  (:func:`airlock.web.rendering.error_page`).
* :data:`FormSender`: the same user, once the form's ``csrf`` field has been checked against the session's
  token. Every form but the sign-in form takes its user this way (tests/test_web_routes.py holds each form to
  it): a form without the token is refused before its route runs, and nothing is done.
* :data:`Render` (:data:`VisitorRender` on the sign-in page): the templates, as that user.
* :data:`ClientAddress`: where the request came from, as sign-in throttling and the audit log count it.

On top of these, an area whose page is shown again after a refused form has that page as a dependency of its
own (``Review``, ``Account``, ``Directory``, ``Submission`` in :mod:`airlock.web.pages`): it draws the page
and answers the page's forms (:func:`airlock.web.forms.answered`).

The cheap ones are ``async``: they run on the event loop, where a plain function would cost a worker-thread
hop per request (see :mod:`airlock.api.routes`); the session's user is read from the database and stays a
plain function, as it was.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from airlock.api.auth import deployment, require_csrf, session_user
from airlock.app import Airlock
from airlock.review.sessions import SessionUser
from airlock.web.forms import FormText
from airlock.web.rendering import Renderer


async def _deployment(request: Request) -> Airlock:
    return deployment(request)


Deployment = Annotated[Airlock, Depends(_deployment)]
Viewer = Annotated[SessionUser, Depends(session_user)]


async def _form_sender(user: Viewer, csrf: FormText = "") -> SessionUser:
    require_csrf(user, csrf)
    return user


FormSender = Annotated[SessionUser, Depends(_form_sender)]


async def _renderer(request: Request, user: Viewer) -> Renderer:
    return Renderer(request, user)


async def _visitor_renderer(request: Request) -> Renderer:
    return Renderer(request, None)


Render = Annotated[Renderer, Depends(_renderer)]
VisitorRender = Annotated[Renderer, Depends(_visitor_renderer)]


async def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(_client_address)]
