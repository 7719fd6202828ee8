"""The clearinghouse's pages: the cases the user may see (``/vulns``), one case (``/vulns/{case}``, where a
vendor's notification leads), a report's proof of concept to download, and a vendor's answer (a form of the
case's page).

Each route calls :class:`~airlock.vulns.clearinghouse.Clearinghouse` as the signed-in user: a case the user may
not see is the service's 404, as for a review, and the download is the service's read, so it is audited (and
refused, e.g., to a partner the case was shared with without its proofs of concept). Every text of a case is
shown as text: a report's title, reporter and details come from outside the agency.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from airlock.api.problems import status_of
from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.review.inputs import normalise_public_id
from airlock.review.sessions import SessionUser
from airlock.vulns.clearinghouse import POC, CaseView
from airlock.vulns.coordination import MOVES, VendorStatus
from airlock.web.dependencies import Deployment, FormSender, Render, Viewer
from airlock.web.forms import FormText, answered
from airlock.web.rendering import Renderer

ANSWERS = (VendorStatus.ACKNOWLEDGED, VendorStatus.FIXED, VendorStatus.NOT_AFFECTED)
"""What a vendor answers (notified and unaware are the clearinghouse's to set)."""

router = APIRouter(route_class=CheckedTextRoute)


class CasePage:
    """The page of the case in the request's path, as this request's user sees it."""

    def __init__(self, render: Renderer, airlock: Airlock, user: SessionUser, case_id: str) -> None:
        self.render, self.airlock, self.user, self.case_id = render, airlock, user, case_id

    def show(
        self,
        *,
        status: int = 200,
        problems: dict[str, str] | None = None,
        values: dict[str, dict[str, str]] | None = None,
    ) -> HTMLResponse:
        """The page; after a refused answer, with the message at that vendor's form and what was typed in it."""
        view = self.airlock.clearinghouse.show(self.user.principal, self.case_id)
        return self.render(
            "vulns_case.html.j2",
            status=status,
            case=view,
            answers=_open_answers(view) if view.may_answer else {},
            may_read_content=view.may_read_content,
            problems=problems or {},
            values=values or {},
        )

    def answer(self, where: str, action: Callable[[], CaseView], typed: dict[str, str]) -> Response:
        """Do what the answer form asks (``where`` names the vendor's form), then show the case again: if the
        service refused, with its message at that form and what was ``typed`` kept."""
        return answered(
            action,
            lambda error: self.show(
                status=status_of(error), problems={where: error.diagnostics()}, values={where: typed}
            ),
            lambda view: RedirectResponse(f"/vulns/{view.public_id}", status_code=303),
        )


async def _case_page(render: Render, airlock: Deployment, user: Viewer, case_id: str) -> CasePage:
    return CasePage(render, airlock, user, case_id)


Case = Annotated[CasePage, Depends(_case_page)]


def _open_answers(view: CaseView) -> dict[str, list[str]]:
    """For each vendor the viewer sees, the answers its status still allows (none once it answered for good)."""
    return {
        vendor.organisation: [answer.value for answer in ANSWERS if answer in MOVES[VendorStatus(vendor.status)]]
        for vendor in view.vendors
    }


@router.get("/vulns")
def cases(render: Render, airlock: Deployment, user: Viewer) -> Response:
    return render("vulns.html.j2", cases=airlock.clearinghouse.cases(user.principal))


@router.get("/vulns/{case_id}")
def case(page: Case) -> Response:
    return page.show()


@router.post("/vulns/{case_id}/answer")
def answer(
    page: Case,
    airlock: Deployment,
    user: FormSender,
    case_id: str,
    status: FormText = "",
    note: FormText = "",
    vendor: FormText = "",
) -> Response:
    # A vendor's contact answers for their own organisation whatever the form names; an analyst names the vendor.
    return page.answer(
        f"answer:{vendor}",
        lambda: airlock.clearinghouse.answer(user.principal, case_id, status, vendor=vendor or None, note=note),
        {"status": status, "note": note},
    )


@router.get("/vulns/reports/{report_id}/poc")
def proof_of_concept(airlock: Deployment, user: Viewer, report_id: str) -> Response:
    """The report's proof of concept, as a download: the service's read, audited (or refused)."""
    data = airlock.clearinghouse.read(user.principal, report_id, POC)
    # The read succeeded, so the id is a real report's, in Airlock's spelling: safe in a header.
    name = f"{normalise_public_id(report_id)}.poc"
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
    )
