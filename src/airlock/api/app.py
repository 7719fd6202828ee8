"""The REST API under ``/api/v1``: a thin front end over the same services and access policy as the CLI.

Decisions:

* **Authentication** by API token (``Authorization: Bearer alk_...``, see :mod:`airlock.review.tokens`),
  as a FastAPI dependency; every route acts as that token's user, and the services' access policy decides
  what the user may do, exactly as for ``airlock --as``. Nothing here decides access.
* **Errors as RFC 9457 problem details** (``application/problem+json``): ``type`` names the kind of error,
  ``title`` is Airlock's one sentence, ``detail`` its hint. A review the user may not see is a 404, the
  same answer as for no review at all: a user of one organisation never learns that another's exists.
* **Offline**: the OpenAPI document is served at ``/api/v1/openapi.json``; the interactive documentation
  pages (Swagger UI, ReDoc) are off, because they load scripts from a CDN.

Browser sessions, the web pages and the remaining endpoints (submission, findings, grants) come next.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from airlock import __version__
from airlock.access import Principal
from airlock.app import Airlock
from airlock.errors import AirlockError
from airlock.reports.signing import SIGNATURE_SUFFIX
from airlock.review import ReviewDetail, ReviewSummary

PROBLEM = "application/problem+json"
STATUS_FOR_KIND = {
    "unauthenticated": 401,
    "permission_denied": 403,
    "not_found": 404,
    "invalid_input": 422,
    "invalid_framework": 422,
    "invalid_transition": 409,
    "consent_required": 409,
    "conflict": 409,
    "report_signature": 422,
    "content_destroyed": 410,
}
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf", "json": "application/json"}


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str = ""


class Me(BaseModel):
    email: str
    role: str
    organisation_id: int


class TransitionRequest(BaseModel):
    to: str = Field(description="The state to move the review to, e.g. draft_report.")
    reason: str | None = Field(default=None, description="Why; recorded in the review's timeline.")


def _caller(request: Request) -> Principal:
    """The user the request's bearer token stands for (the deployment is in the application's state)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    deployment: Airlock = request.app.state.airlock
    return deployment.tokens.authenticate(token if scheme.lower() == "bearer" else "")


Caller = Annotated[Principal, Depends(_caller)]


def problem(status: int, kind: str, title: str, detail: str = "") -> JSONResponse:
    body = Problem(type=f"urn:airlock:problem:{kind}", title=title, status=status, detail=detail)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(), status_code=status, media_type=PROBLEM, headers=headers)


def create_app(airlock: Airlock) -> FastAPI:
    """The API for one open deployment."""
    api = FastAPI(
        title="Airlock",
        version=__version__,
        description="Pre-release review of frontier AI models: the REST API.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        responses={
            401: {"model": Problem, "description": "No valid API token."},
            404: {"model": Problem, "description": "No such resource that the caller may see."},
        },
    )

    api.state.airlock = airlock

    @api.exception_handler(AirlockError)
    async def airlock_error(_: Request, error: AirlockError) -> JSONResponse:
        return problem(STATUS_FOR_KIND.get(error.kind, 400), error.kind, error.message, error.hint or "")

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return problem(422, "invalid_request", f"The request is invalid at {where}: {first.get('msg')}.")

    @api.get("/api/v1/me", response_model=Me, tags=["identity"])
    def me(caller: Caller) -> Me:
        """The user the token stands for."""
        return Me(email=caller.email, role=caller.role, organisation_id=caller.organisation_id)

    @api.get("/api/v1/reviews", response_model=list[ReviewSummary], tags=["reviews"])
    def reviews(caller: Caller, state: str | None = None) -> list[ReviewSummary]:
        """The reviews the caller may see, newest first, with their clocks."""
        return airlock.reviews.list_visible(caller, state=state)

    @api.get("/api/v1/reviews/{review_id}", response_model=ReviewDetail, tags=["reviews"])
    def review(caller: Caller, review_id: str) -> ReviewDetail:
        """One review: clock, timeline, team and the moves open to the caller (no content)."""
        return airlock.reviews.show(caller, review_id)

    @api.post("/api/v1/reviews/{review_id}/transitions", response_model=ReviewDetail, tags=["reviews"])
    def transition(caller: Caller, review_id: str, move: TransitionRequest) -> ReviewDetail:
        """Move the review along its lifecycle (the roles each move needs are in the review's moves)."""
        return airlock.reviews.transition(caller, review_id, move.to, reason=move.reason)

    @api.get("/api/v1/reviews/{review_id}/evaluations", tags=["evaluations"])
    def evaluations(caller: Caller, review_id: str) -> list[dict[str, Any]]:
        """Every evaluation run of the review, newest first, with its verdicts so far."""
        return [status.as_json() for status in airlock.evaluations.status(caller, review_id)]

    @api.get("/api/v1/reviews/{review_id}/findings", tags=["findings"])
    def findings(caller: Caller, review_id: str) -> list[dict[str, Any]]:
        """The review's findings and the developer's responses."""
        return [finding.as_json() for finding in airlock.findings.for_review(caller, review_id)]

    @api.get(
        "/api/v1/reviews/{review_id}/reports/{variant}/{file_format}",
        tags=["reports"],
        responses={200: {"content": {MEDIA_TYPES["pdf"]: {}, MEDIA_TYPES["html"]: {}, "text/plain": {}}}},
    )
    def report(caller: Caller, review_id: str, variant: str, file_format: str) -> Response:
        """The latest report of the review in ``variant`` (full or redacted) the caller may read, as ``html``,
        ``pdf`` or ``json``; add ``.sig`` (``pdf.sig``) for its detached signature."""
        kind, _, signature = file_format.partition(".")
        if variant not in ("full", "redacted") or kind not in MEDIA_TYPES or signature not in ("", "sig"):
            return problem(
                404,
                "not_found",
                f"There is no report file {variant}/{file_format}.",
                "Ask for full or redacted, as html, pdf or json, with .sig for the signature.",
            )
        files = airlock.reports.export(caller, review_id, "full" if variant == "full" else "redacted")
        suffix = f".{kind}" + (SIGNATURE_SUFFIX if signature else "")
        chosen = next(f for f in files if f.name.endswith(suffix))
        media = "text/plain; charset=utf-8" if signature else MEDIA_TYPES[kind]
        return Response(
            chosen.data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{chosen.name}"'}
        )

    return api
