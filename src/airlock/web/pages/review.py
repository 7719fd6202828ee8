"""A review's page and its forms: the lifecycle's moves, the clock, the team, partners' grants, findings and
the developer's responses. (Starting an evaluation and following it live are in
:mod:`airlock.web.pages.evaluations`, building and reading the report in :mod:`airlock.web.pages.reports`:
forms of this page too, answered the same way.)

Which parts and buttons the page offers follows the review's ``permitted`` actions and moves, computed by the
service from the access policy; pressing one still goes through the service, which may refuse. A refused form
shows the page again with the service's message at that form and what was typed in it kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airlock.api.problems import status_of
from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.evals.suites import SHIPPED
from airlock.review.content import GRANTABLE_TO_PARTNERS
from airlock.review.lifecycle import ReviewState
from airlock.review.reporting import VARIANTS
from airlock.review.sessions import SessionUser
from airlock.web.dependencies import Deployment, FormSender, Render, Viewer
from airlock.web.forms import FormText, answered, whole_number
from airlock.web.rendering import Renderer

POLL_SECONDS = 2
"""How often the page asks how a running evaluation is going."""

router = APIRouter(route_class=CheckedTextRoute)


class ReviewPage:
    """The page of the review in the request's path, as this request's user sees it."""

    def __init__(self, render: Renderer, airlock: Airlock, user: SessionUser, review_id: str) -> None:
        self.render, self.airlock, self.user, self.review_id = render, airlock, user, review_id

    def show(
        self,
        *,
        status: int = 200,
        problems: dict[str, str] | None = None,
        values: dict[str, dict[str, str]] | None = None,
    ) -> HTMLResponse:
        """The page; after a refused form, with the message at that form and what was typed in it."""
        airlock, principal = self.airlock, self.user.principal
        detail = airlock.reviews.show(principal, self.review_id)
        allowed = set(detail.permitted)
        runs = airlock.evaluations.status(principal, self.review_id) if "view_evaluation" in allowed else []
        # Once the submission's content is destroyed, its findings can never be read again: the page says so.
        readable = "view_findings" in allowed and detail.content_destroyed_at is None
        findings = airlock.findings.for_review(principal, self.review_id) if readable else []
        kinds = {item.kind for item in detail.content}
        stored = [variant for variant in VARIANTS if f"{variant}_report" in kinds]
        return self.render(
            "review.html.j2",
            status=status,
            review=detail,
            runs=runs,
            allowed=allowed,
            running=airlock.evaluations.in_progress(detail.id) if "view_evaluation" in allowed else False,
            poll_seconds=POLL_SECONDS,
            suites=SHIPPED,
            findings=findings,
            show_findings="view_findings" in allowed,
            has_report=bool(stored),
            reports=[variant for variant in stored if f"read_{variant}_report" in allowed],
            # Starting an evaluation makes the move to evaluating: the page offers the evaluation's own button.
            moves=[move for move in detail.next_moves if move.permitted and move.target != ReviewState.EVALUATING],
            grantable=sorted(GRANTABLE_TO_PARTNERS),
            problems=problems or {},
            values=values or {},
        )

    def answer(self, where: str, action: Callable[[], object], typed: dict[str, str]) -> Response:
        """Do what one of the page's forms asks (``where`` names the form), then show the page again: if the
        service refused, with its message at that form and what was ``typed`` in it kept."""
        return answered(
            action,
            lambda error: self.show(
                status=status_of(error), problems={where: error.diagnostics()}, values={where: typed}
            ),
            lambda _: RedirectResponse(f"/reviews/{self.review_id}", status_code=303),
        )


async def _review_page(render: Render, airlock: Deployment, user: Viewer, review_id: str) -> ReviewPage:
    return ReviewPage(render, airlock, user, review_id)


Review = Annotated[ReviewPage, Depends(_review_page)]


@router.get("/reviews/{review_id}")
def review(page: Review) -> Response:
    return page.show()


@router.post("/reviews/{review_id}/move")
def move(
    page: Review, airlock: Deployment, user: FormSender, review_id: str, to: FormText = "", reason: FormText = ""
) -> Response:
    return page.answer(
        f"move:{to}",
        lambda: airlock.reviews.transition(user.principal, review_id, to, reason=reason or None),
        {"reason": reason},
    )


@router.post("/reviews/{review_id}/team")
def assign(page: Review, airlock: Deployment, user: FormSender, review_id: str, reviewer: FormText = "") -> Response:
    return page.answer(
        "team", lambda: airlock.reviews.assign(user.principal, review_id, reviewer), {"reviewer": reviewer}
    )


@router.post("/reviews/{review_id}/team/remove")
def unassign(page: Review, airlock: Deployment, user: FormSender, review_id: str, reviewer: FormText = "") -> Response:
    return page.answer("team", lambda: airlock.reviews.unassign(user.principal, review_id, reviewer), {})


@router.post("/reviews/{review_id}/clock")
def change_clock(
    page: Review,
    airlock: Deployment,
    user: FormSender,
    review_id: str,
    change: FormText = "",
    reason: FormText = "",
    days: FormText = "",
    consent_from: FormText = "",
    consent_reference: FormText = "",
) -> Response:
    return page.answer(
        f"clock:{change}",
        lambda: airlock.reviews.change_clock(
            user.principal,
            review_id,
            change,
            reason=reason or None,
            days=whole_number(days, "The number of days", "days"),
            consent_from=consent_from or None,
            consent_reference=consent_reference or None,
        ),
        {"reason": reason, "days": days, "consent_from": consent_from, "consent_reference": consent_reference},
    )


@router.post("/reviews/{review_id}/partners")
def grant(
    page: Review,
    airlock: Deployment,
    user: FormSender,
    review_id: str,
    partner: FormText = "",
    content: Annotated[list[str] | None, Form()] = None,
) -> Response:
    kinds = content or []
    return page.answer(
        "partners",
        lambda: airlock.reviews.grant(user.principal, review_id, partner, kinds),
        {"partner": partner, "content": " ".join(kinds)},
    )


@router.post("/reviews/{review_id}/partners/remove")
def revoke_partner(
    page: Review, airlock: Deployment, user: FormSender, review_id: str, partner: FormText = ""
) -> Response:
    return page.answer("partners", lambda: airlock.reviews.revoke(user.principal, review_id, partner), {})


@router.post("/reviews/{review_id}/findings")
def add_finding(
    page: Review,
    airlock: Deployment,
    user: FormSender,
    review_id: str,
    title: FormText = "",
    body: FormText = "",
    level: FormText = "",
    for_partners: FormText = "",
) -> Response:
    return page.answer(
        "finding",
        lambda: airlock.findings.add(
            user.principal, review_id, title=title, body=body, level=level or None, for_partners=bool(for_partners)
        ),
        {"title": title, "body": body, "level": level, "for_partners": for_partners},
    )


@router.post("/reviews/{review_id}/findings/{finding_id}/response")
def respond(page: Review, airlock: Deployment, user: FormSender, finding_id: str, text: FormText = "") -> Response:
    return page.answer(
        f"response:{finding_id}", lambda: airlock.findings.respond(user.principal, finding_id, text), {"text": text}
    )
