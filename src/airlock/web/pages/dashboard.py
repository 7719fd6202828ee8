"""The dashboard: the reviews the user may see, each with its clock, a page at a time."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from airlock.api.text import CheckedTextRoute
from airlock.web.dependencies import Deployment, Render, Viewer

DASHBOARD_PAGE = 50

router = APIRouter(route_class=CheckedTextRoute)


@router.get("/reviews")
def dashboard(render: Render, airlock: Deployment, user: Viewer, state: str = "", page: int = 1) -> Response:
    page = max(page, 1)
    # One more than a page: whether there is a next page, without counting them all.
    reviews = airlock.reviews.list_visible(
        user.principal, state=state or None, limit=DASHBOARD_PAGE + 1, offset=(page - 1) * DASHBOARD_PAGE
    )
    return render(
        "dashboard.html.j2",
        reviews=reviews[:DASHBOARD_PAGE],
        state=state,
        page=page,
        more=len(reviews) > DASHBOARD_PAGE,
    )
