"""The clearinghouse's REST API under ``/api/v1/vulns``: each route a thin call of
:class:`~airlock.vulns.clearinghouse.Clearinghouse`, as the caller, answering the service's own views.

As for reviews, the routes decide nothing about access: a case the caller may not see is the service's 404, the
same answer as for no case at all, and every read of a report's content is audited by the service. Every route
runs in FastAPI's worker threads: a submission reproduces its proof of concept in a sandbox, which takes seconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParameter
from pydantic import BaseModel, Field

from airlock.api.auth import Caller
from airlock.api.routes import REFUSALS
from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.review.inputs import normalise_public_id
from airlock.vulns.clearinghouse import CONTENT_KINDS, CaseSummary, CaseView, Intake
from airlock.vulns.intake import ReportDraft

OCTET_STREAM = "application/octet-stream"


# Bodies ----------------------------------------------------------------------------------------------------


class VendorAnswer(BaseModel):
    status: str = Field(description="acknowledged, fixed or not_affected.")
    note: str = Field(default="", description="What the vendor said, in a line; recorded in the case's timeline.")
    vendor: str | None = Field(
        default=None,
        description="The vendor organisation whose answer this is: an analyst recording it names it; a vendor's "
        "contact answers for their own organisation and leaves it out.",
    )


class Scoring(BaseModel):
    cvss: str | None = Field(default=None, description="A CVSS 4.0 vector, CVSS:4.0/AV:N/AC:L/...")
    cwe: str | None = Field(default=None, description="A CWE identifier, e.g. CWE-787.")


class SsvcChoice(BaseModel):
    exploitation: str = Field(description="none, poc or active.")
    automatable: str = Field(description="no or yes.")
    technical_impact: str = Field(description="partial or total.")
    mission_wellbeing: str = Field(description="low, medium or high.")
    rationale: str = Field(description="Why the points are what they are; recorded with the decision.")


class Notified(BaseModel):
    messages: list[str] = Field(description="The notifications prepared in the outbox, one file per contact.")


# Routes ----------------------------------------------------------------------------------------------------


def vulns_router(airlock: Airlock) -> APIRouter:
    """The clearinghouse's routes for one open deployment."""
    api = APIRouter(prefix="/api/v1/vulns", responses=REFUSALS, route_class=CheckedTextRoute, tags=["vulnerabilities"])

    @api.get("/cases")
    def cases(caller: Caller) -> list[CaseSummary]:
        """The cases the caller may see, the most urgent first (SSVC action, then CVSS score, then age)."""
        return airlock.clearinghouse.cases(caller)

    @api.get("/cases/{case_id}")
    def case(caller: Caller, case_id: str) -> CaseView:
        """One case: scores, vendors, disclosure clock, reports and timeline, as the caller may see them (a
        merged case's id answers the case it was merged into)."""
        return airlock.clearinghouse.show(caller, case_id)

    @api.post("/reports", status_code=201)
    def submit(
        caller: Caller,
        draft: ReportDraft,
        keep_unreproduced: Annotated[
            bool, Query(description="Keep the report even if its PoC does not reproduce (marked so, with why).")
        ] = False,
    ) -> Intake:
        """Report one vulnerability (developers, partners, reviewers): checked, reproduced at once where its
        build is registered, then joined to its case or opening one. A PoC that does not reproduce is refused
        and nothing is kept, unless ``keep_unreproduced``."""
        return airlock.clearinghouse.submit(caller, draft, keep_unreproduced=keep_unreproduced)

    @api.get(
        "/reports/{report_id}/content/{kind}",
        response_class=Response,
        responses={200: {"description": "The content's exact bytes.", "content": {OCTET_STREAM: {}}}},
    )
    def content(
        caller: Caller,
        report_id: str,
        kind: Annotated[str, PathParameter(description=f"One of: {', '.join(CONTENT_KINDS)}.")],
        break_glass: Annotated[
            str | None, Query(description="Operators only: the emergency that justifies the read (recorded).")
        ] = None,
    ) -> Response:
        """A report's proof of concept, details, crash report or reproduction evidence, for whoever may read the
        case's content; every read is audited."""
        data = airlock.clearinghouse.read(caller, report_id, kind, justification=break_glass)
        # The identifiers are the service's, checked by the read: nothing the caller typed reaches the header.
        name = f"{normalise_public_id(report_id)}.{kind}"
        return Response(
            data,
            media_type=OCTET_STREAM,
            headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
        )

    @api.post("/cases/{case_id}/answer")
    def answer(caller: Caller, case_id: str, given: VendorAnswer) -> CaseView:
        """A vendor's answer: acknowledged, fixed or not affected (its contacts; an analyst recording it)."""
        return airlock.clearinghouse.answer(caller, case_id, given.status, vendor=given.vendor, note=given.note)

    @api.post("/cases/{case_id}/score")
    def score(caller: Caller, case_id: str, scoring: Scoring) -> CaseView:
        """Set the case's CVSS 4.0 vector and/or CWE (analysts)."""
        return airlock.clearinghouse.score(caller, case_id, cvss=scoring.cvss, cwe=scoring.cwe)

    @api.post("/cases/{case_id}/ssvc")
    def ssvc(caller: Caller, case_id: str, choice: SsvcChoice) -> CaseView:
        """Record an SSVC decision (CISA's coordinator tree) with its rationale (analysts)."""
        return airlock.clearinghouse.decide(
            caller,
            case_id,
            exploitation=choice.exploitation,
            automatable=choice.automatable,
            technical_impact=choice.technical_impact,
            mission_wellbeing=choice.mission_wellbeing,
            rationale=choice.rationale,
        )

    @api.post("/cases/{case_id}/notify")
    def notify(caller: Caller, case_id: str) -> Notified:
        """Notify every contact of every vendor still unaware (the outbox); the first starts the disclosure
        clock (analysts)."""
        # The outbox's file names, as the case's outbox records keep them: not where the server keeps them.
        return Notified(messages=[Path(where).name for where in airlock.clearinghouse.notify(caller, case_id)])

    return api
