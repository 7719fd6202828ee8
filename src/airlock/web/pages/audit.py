"""The auditor's page: the newest audit entries, unusual access, and verifying the whole log."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.review.oversight import UnusualAccessThresholds, VerificationView
from airlock.review.sessions import SessionUser
from airlock.web.dependencies import Deployment, FormSender, Render, Viewer
from airlock.web.rendering import Renderer

AUDIT_PAGE = 50
"""How many of the newest entries the page shows."""

router = APIRouter(route_class=CheckedTextRoute)


@router.get("/audit")
def audit(render: Render, airlock: Deployment, user: Viewer) -> Response:
    return _audit_page(render, airlock, user, None)


@router.post("/audit/verify")
def verify_audit(render: Render, airlock: Deployment, user: FormSender) -> Response:
    verification = airlock.oversight.verify_audit(user.principal, airlock.audit_verifier_key())
    return _audit_page(render, airlock, user, verification)


def _audit_page(
    render: Renderer, airlock: Airlock, user: SessionUser, verification: VerificationView | None
) -> HTMLResponse:
    entries = airlock.oversight.entries(user.principal, newest=AUDIT_PAGE)
    thresholds = UnusualAccessThresholds()
    signals = airlock.oversight.unusual_access(user.principal, thresholds)
    return render(
        "audit.html.j2",
        entries=list(reversed(entries)),
        signals=signals,
        thresholds=thresholds,
        verification=verification,
    )
