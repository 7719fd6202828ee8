"""A review's signed report: building it (a form of the review's page), reading it, downloading its files.

The report page shows the HTML report in a sandboxed frame as the very file that was signed, under a policy of
its own (:data:`REPORT_POLICY`): a report is a self-contained file, with inline styles and its plots as
``data:`` images, that may run nothing (nor lead anywhere: the samples behind its findings are listed under the
frame, from the report's signed JSON, with links to the transcript viewer). Its PDF, its JSON and their
signatures are downloads.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from airlock.api.routes import MEDIA_TYPES
from airlock.api.text import CheckedTextRoute
from airlock.errors import NotFoundError
from airlock.reports.model import Variant
from airlock.review.reporting import VARIANTS
from airlock.web.dependencies import Deployment, FormSender, Render, Viewer
from airlock.web.pages.review import Review

REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"

router = APIRouter(route_class=CheckedTextRoute)


@router.post("/reviews/{review_id}/report")
def build_report(page: Review, airlock: Deployment, user: FormSender, review_id: str) -> Response:
    return page.answer("report", lambda: airlock.reports.build(user.principal, review_id), {})


@router.get("/reviews/{review_id}/report/{variant}")
def report(render: Render, airlock: Deployment, user: Viewer, review_id: str, variant: str) -> Response:
    """The signed report in its frame, and beside it what the frame cannot hold: each finding's samples, linked
    to the transcript viewer for whoever may see the evaluation, and the samples invalidated."""
    detail = airlock.reviews.show(user.principal, review_id)
    chosen = _variant(variant)
    contents = airlock.reports.contents(user.principal, review_id, chosen)
    return render("report.html.j2", review=detail, variant=chosen, contents=contents)


@router.get("/reviews/{review_id}/report/{variant}/{file_name}")
def report_file(airlock: Deployment, user: Viewer, review_id: str, variant: str, file_name: str) -> Response:
    """One file of the report: the HTML shown in the report page's frame, the PDF and JSON downloaded."""
    files = airlock.reports.export(user.principal, review_id, _variant(variant))
    chosen = next((f for f in files if f.name == file_name or f.name.endswith(f".{file_name}")), None)
    if chosen is None:
        raise NotFoundError(f"The report has no file {file_name}.", "Go back to the review's page.")
    extension = chosen.name.rsplit(".", 1)[-1]
    if extension == "html":
        headers = {"Content-Security-Policy": REPORT_POLICY, "X-Content-Type-Options": "nosniff"}
        return Response(chosen.data, media_type=MEDIA_TYPES["html"], headers=headers)
    media = MEDIA_TYPES.get(extension, "text/plain")  # a detached signature (.sig) is text
    disposition = {"Content-Disposition": f'attachment; filename="{chosen.name}"'}
    return Response(chosen.data, media_type=media, headers=disposition)


def _variant(variant: str) -> Variant:
    """The report variant a URL names; another word is no report at all (a page's 404, not a form's 422)."""
    for known in VARIANTS:
        if variant == known:
            return known
    raise NotFoundError(f"There is no {variant} report.", "A report is full or redacted.")
