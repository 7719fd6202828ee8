"""Evaluations from the review's page: starting one, and its progress, live.

A started run goes on in a process of its own (:meth:`Evaluations.start`); the page polls its part every
:data:`~airlock.web.pages.review.POLL_SECONDS` and reloads itself once the run has ended, since the moves open
to the user may have changed with it.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from airlock.api.text import CheckedTextRoute
from airlock.web.dependencies import Deployment, FormSender, Render, Viewer
from airlock.web.forms import FormText
from airlock.web.pages.review import POLL_SECONDS, Review

router = APIRouter(route_class=CheckedTextRoute)


@router.post("/reviews/{review_id}/evaluations")
def start_evaluation(
    page: Review, airlock: Deployment, user: FormSender, review_id: str, suite: FormText = ""
) -> Response:
    return page.answer(
        "evaluation", lambda: airlock.evaluations.start(user.principal, review_id, suite), {"suite": suite}
    )


@router.get("/reviews/{review_id}/evaluations")
def evaluation_progress(
    render: Render, airlock: Deployment, user: Viewer, review_id: str, polling: int = 0
) -> Response:
    """The live part of the review page, polled while a run is going on."""
    runs = airlock.evaluations.status(user.principal, review_id)
    running = airlock.evaluations.in_progress(review_id)
    if polling and not running and not any(run.status == "running" for run in runs):
        return Response(status_code=204, headers={"HX-Refresh": "true"})
    return render(
        "_evaluations.html.j2", review_id=review_id.upper(), runs=runs, running=running, poll_seconds=POLL_SECONDS
    )
