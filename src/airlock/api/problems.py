"""Errors as RFC 9457 problem details: one home for how an :class:`AirlockError` becomes an HTTP answer."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from airlock.errors import AirlockError

PROBLEM = "application/problem+json"
STATUS_FOR_KIND = {
    "unauthenticated": 401,
    "csrf": 403,
    "permission_denied": 403,
    "not_found": 404,
    "invalid_input": 422,
    "invalid_request": 422,
    "invalid_framework": 422,
    "invalid_challenge": 422,
    "invalid_transition": 409,
    "consent_required": 409,
    "conflict": 409,
    "report_signature": 422,
    "content_destroyed": 410,
    "throttled": 429,
    "evaluation_failed": 424,  # the model's endpoint failed, not Airlock
    "audit_integrity": 500,
    "configuration": 503,
    "store": 503,
}


class Problem(BaseModel):
    """RFC 9457 problem details: ``type`` names the kind of error, ``title`` is Airlock's one sentence saying
    what is wrong, ``detail`` what to do about it."""

    type: str
    title: str
    status: int
    detail: str = ""
    field: str | None = Field(
        default=None, description="The input at fault, by its name in the request (reason, days, ...), if one."
    )


def status_of(error: AirlockError) -> int:
    return STATUS_FOR_KIND.get(error.kind, 400)


def problem(status: int, kind: str, title: str, detail: str = "", field: str | None = None) -> JSONResponse:
    body = Problem(type=f"urn:airlock:problem:{kind}", title=title, status=status, detail=detail, field=field)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM, headers=headers)


def problem_of(error: AirlockError) -> JSONResponse:
    return problem(status_of(error), error.kind, error.message, error.hint or "", error.field)
