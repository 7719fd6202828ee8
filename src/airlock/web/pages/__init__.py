"""The portal's web pages: server-rendered with Jinja2, live parts with htmx, every asset served by Airlock.

One module per area, each with its own ``router`` of plain module-level routes: :mod:`.sign_in` (signing in
and out), :mod:`.account` (password, API tokens), :mod:`.dashboard`, :mod:`.submission`, :mod:`.review` (a
review's page and its forms), :mod:`.evaluations` (starting one, its live progress), :mod:`.samples` (a run's
samples, the transcript viewer, invalidating a sample), :mod:`.reports` (building, reading, downloading),
:mod:`.directory`, :mod:`.audit` and :mod:`.vulns` (the clearinghouse's cases). What they share is in
:mod:`airlock.web`: the dependencies a route names in its signature (:mod:`airlock.web.dependencies`: the
deployment, the signed-in user, the CSRF check, the renderer), how a form is answered (:mod:`airlock.web.forms`)
and how a page is drawn (:mod:`airlock.web.rendering`).

Decisions:

* The pages are a front end like the CLI: each route calls a service as the signed-in user, and the access
  policy decides. Which parts and buttons a page offers follows the policy's answers too (a review's
  ``permitted`` actions and moves, or the policy asked directly for what is not about one review); pressing
  one still goes through the service, which may refuse. No page compares role names.
* A form that a service refuses is shown again with what the user typed and the message next to its field.
  Each form carries the session's CSRF token, checked before its route runs; the submission form also
  carries a one-time token, so a double submission finds the review the first one made.
* Sessions: an ``HttpOnly``, ``SameSite=Strict`` cookie, ``Secure`` except on a loopback address over plain
  HTTP (see :mod:`.sign_in`).
* Strict Content-Security-Policy (scripts and styles from Airlock only); a report is shown in a sandboxed
  frame, as the self-contained file that was signed.
* Every route is a :class:`~airlock.api.text.CheckedTextRoute`, as the API's are: text no part of Airlock can
  keep is refused before the route runs.
"""

from __future__ import annotations

from fastapi import APIRouter

from airlock.web.pages import (
    account,
    audit,
    dashboard,
    directory,
    evaluations,
    reports,
    review,
    samples,
    sign_in,
    submission,
    vulns,
)
from airlock.web.rendering import STATIC_DIRECTORY, error_page

__all__ = ["AREAS", "STATIC_DIRECTORY", "error_page", "web_router"]

AREAS = (sign_in, dashboard, submission, review, evaluations, samples, reports, account, directory, audit, vulns)


def web_router() -> APIRouter:
    """Every page, kept out of the OpenAPI document (which describes the REST API). The deployment each
    route acts on is the app's (:data:`airlock.web.dependencies.Deployment`)."""
    web = APIRouter(include_in_schema=False)
    for area in AREAS:
        web.include_router(area.router)
    return web
