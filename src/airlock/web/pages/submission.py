"""Submitting a model for review.

The form asks :meth:`Submissions.field_problems` for every field at once and shows each message next to its
field, with what was typed kept (except the endpoint's credentials, which never leave the server once sent).
It also carries a one-time token, so that a double submission finds the review the first one made (see
:mod:`airlock.review.sessions`); a refused submission gives its token back, so the corrected form goes through.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airlock.api.problems import status_of
from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.errors import AirlockError
from airlock.review import SubmissionRequest
from airlock.review.submissions import ConfidentialityMarking
from airlock.web.dependencies import Deployment, FormSender, Render
from airlock.web.forms import FormText
from airlock.web.rendering import Renderer

router = APIRouter(route_class=CheckedTextRoute)


class SubmissionPage:
    """The submission form, with a fresh one-time token each time it is shown."""

    def __init__(self, render: Renderer, airlock: Airlock) -> None:
        self.render, self.airlock = render, airlock

    def show(self, values: dict[str, str], problems: dict[str, str], *, status: int = 200) -> HTMLResponse:
        return self.render(
            "submit.html.j2",
            status=status,
            values=values,
            problems=problems,
            markings=[marking.value for marking in ConfidentialityMarking],
            form_token=self.airlock.sessions.new_form_token(),
        )


async def _submission_page(render: Render, airlock: Deployment) -> SubmissionPage:
    return SubmissionPage(render, airlock)


Submission = Annotated[SubmissionPage, Depends(_submission_page)]


@router.get("/submit")
def submit_page(page: Submission) -> Response:
    return page.show({"confidentiality_marking": ConfidentialityMarking.CONFIDENTIAL.value}, {})


@router.post("/submit")
def submit(
    page: Submission,
    airlock: Deployment,
    user: FormSender,
    form_token: FormText = "",
    model: FormText = "",
    model_version: FormText = "",
    planned_release_date: FormText = "",
    base_url: FormText = "",
    endpoint_credentials: FormText = "",
    model_card: FormText = "",
    artefacts: FormText = "",
    confidentiality_marking: FormText = "",
) -> Response:
    values = {
        "model": model,
        "model_version": model_version,
        "planned_release_date": planned_release_date,
        "base_url": base_url,
        "model_card": model_card,
        "artefacts": artefacts,
        "confidentiality_marking": confidentiality_marking,
    }
    request = SubmissionRequest(
        model=model,
        model_version=model_version,
        planned_release_date=planned_release_date,
        model_card=model_card,
        base_url=base_url or None,
        endpoint_credentials=endpoint_credentials or None,
        artefacts=[line.strip() for line in artefacts.splitlines() if line.strip()],
        confidentiality_marking=confidentiality_marking,
    )
    problems = airlock.submissions.field_problems(request)
    if problems:
        return page.show(values, problems, status=422)
    claim = airlock.sessions.claim_form(user.principal, form_token)
    if claim.earlier_result is not None:
        return RedirectResponse(f"/reviews/{claim.earlier_result}", status_code=303)
    try:
        review = airlock.submissions.submit(user.principal, request)
    except AirlockError as error:
        airlock.sessions.release_form(form_token)
        return page.show(values, {"form": error.diagnostics()}, status=status_of(error))
    airlock.sessions.complete_form(form_token, review.id)
    return RedirectResponse(f"/reviews/{review.id}", status_code=303)
