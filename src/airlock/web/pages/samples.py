"""The evidence behind the numbers: a run's samples, the transcript viewer, and invalidating or reinstating a
sample (forms of the viewer's page).

The viewer shows a sample's verdict with the oracle's evidence, the proof of concept and the conversation (every
message, tool call and tool output), decrypted on demand for whoever the policy lets read it; the service audits
each read. A transcript is model output, and hostile: the page shows every part of it as escaped text (no
markup, no link, no image is ever made from it), under the portal's policy, which runs no inline script; a long
text is folded, with its length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airlock.api.problems import status_of
from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.errors import AirlockError
from airlock.review.samples import SampleSummary
from airlock.review.sessions import SessionUser
from airlock.web.dependencies import Deployment, FormSender, Render, Viewer
from airlock.web.forms import FormText, answered, whole_number
from airlock.web.rendering import Renderer

FOLD_CHARACTERS = 2000
"""A message or output longer than this is shown folded, with its length."""
FOLD_LINES = 40

router = APIRouter(route_class=CheckedTextRoute)


def sample_url(review: str, run: str, sample: str, epoch: int, task: str) -> str:
    """Where the viewer shows a sample (the report's and the run's pages link here)."""
    return (
        f"/reviews/{quote(review, safe='')}/evaluations/{quote(run, safe='')}/samples/{quote(sample, safe='')}?"
        + urlencode({"epoch": epoch, "task": task})
    )


@router.get("/reviews/{review_id}/evaluations/{run_id}")
def run_samples(render: Render, airlock: Deployment, user: Viewer, review_id: str, run_id: str) -> Response:
    listed = airlock.samples.of_run(user.principal, run_id, review_id=review_id)
    return render("run.html.j2", run=listed)


@router.get("/reviews/{review_id}/evaluations/{run_id}/samples/{sample_id}")
def sample(
    render: Render,
    airlock: Deployment,
    user: Viewer,
    review_id: str,
    run_id: str,
    sample_id: str,
    epoch: str = "1",
    task: str = "",
) -> Response:
    return _viewer(render, airlock, user, _Sample(review_id, run_id, sample_id, epoch, task))


@router.post("/reviews/{review_id}/evaluations/{run_id}/samples/{sample_id}/invalidation")
def invalidate(
    render: Render,
    airlock: Deployment,
    user: FormSender,
    review_id: str,
    run_id: str,
    sample_id: str,
    epoch: FormText = "",
    task: FormText = "",
    reason: FormText = "",
) -> Response:
    return _answer(
        render,
        airlock,
        user,
        _Sample(review_id, run_id, sample_id, epoch, task),
        "invalidation",
        lambda: airlock.samples.invalidate(
            user.principal,
            run_id,
            sample_id,
            epoch=_epoch(epoch),
            reason=reason,
            task=task or None,
            review_id=review_id,
        ),
        reason,
    )


@router.post("/reviews/{review_id}/evaluations/{run_id}/samples/{sample_id}/reinstatement")
def reinstate(
    render: Render,
    airlock: Deployment,
    user: FormSender,
    review_id: str,
    run_id: str,
    sample_id: str,
    epoch: FormText = "",
    task: FormText = "",
    reason: FormText = "",
) -> Response:
    return _answer(
        render,
        airlock,
        user,
        _Sample(review_id, run_id, sample_id, epoch, task),
        "reinstatement",
        lambda: airlock.samples.reinstate(
            user.principal,
            run_id,
            sample_id,
            epoch=_epoch(epoch),
            reason=reason,
            task=task or None,
            review_id=review_id,
        ),
        reason,
    )


def _epoch(text: str) -> int:
    return whole_number(text, "The epoch", "epoch") or 1


@dataclass(frozen=True)
class _Sample:
    """The sample a request names: in its path, and its epoch and task in the query or the form."""

    review_id: str
    run_id: str
    sample_id: str
    epoch: str
    task: str


def _viewer(
    render: Renderer,
    airlock: Airlock,
    user: SessionUser,
    at: _Sample,
    *,
    status: int = 200,
    problems: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The viewer's page; after a refused form, with the message at that form and the reason typed kept."""
    shown = airlock.samples.show(
        user.principal, at.run_id, at.sample_id, epoch=_epoch(at.epoch), task=at.task or None, review_id=at.review_id
    )
    return render(
        "sample.html.j2",
        status=status,
        sample=shown,
        fold_characters=FOLD_CHARACTERS,
        fold_lines=FOLD_LINES,
        problems=problems or {},
        values=values or {},
    )


def _answer(
    render: Renderer,
    airlock: Airlock,
    user: SessionUser,
    at: _Sample,
    form: str,
    action: Callable[[], SampleSummary],
    reason: str,
) -> Response:
    """Do what the viewer's ``form`` asks; a refusal shows the viewer again with the message at that form and the
    reason typed kept, success the sample's page as it now is."""

    def again(error: AirlockError) -> Response:
        return _viewer(
            render,
            airlock,
            user,
            at,
            status=status_of(error),
            problems={form: error.diagnostics()},
            values={"reason": reason},
        )

    def done(changed: SampleSummary) -> Response:
        return RedirectResponse(
            sample_url(changed.review, changed.run, changed.sample, changed.epoch, changed.task), 303
        )

    return answered(action, again, done)
