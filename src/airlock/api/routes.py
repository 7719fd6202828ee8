"""The REST API's routes under ``/api/v1``: each one a thin call of a service, as the caller.

Request and response bodies are Pydantic models, so the served OpenAPI document describes every one of
them. The reads that every page view makes and that take a millisecond or two (``/me``, the dashboard, one
review) are ``async``: they run on the event loop, since handing each to a worker thread cost more than the
work itself (bench/api.py: the dashboard from 82 to over 100 requests/s on 2 cores). Everything else,
reports and evaluations above all, runs in FastAPI's worker threads, so a long call never stalls the loop.

Routes decide nothing about access: a review the caller may not see is a 404 from the service, the
same answer as for no review at all.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from airlock.api.auth import Caller
from airlock.api.problems import Problem
from airlock.api.text import CheckedTextRoute
from airlock.app import Airlock
from airlock.reports.signing import SIGNATURE_SUFFIX
from airlock.review import ReviewDetail, ReviewSummary, SubmissionRequest
from airlock.review.evaluations import RunView
from airlock.review.findings import FindingDetail
from airlock.review.oversight import (
    MAX_ENTRIES_AT_ONCE,
    AuditEntryView,
    UnusualAccessThresholds,
    UnusualAccessView,
    VerificationView,
)
from airlock.review.reporting import BuiltReportSummary
from airlock.review.reviews import MAX_OFFSET, MAX_PAGE, ClockAction
from airlock.review.samples import RunSamples, SampleSummary, SampleView
from airlock.review.tokens import TokenView
from airlock.review.views import OrganisationView, UserView

DEFAULT_PAGE = 100
MAX_EPOCH = 10_000
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
    "zip": "application/zip",
}
REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": description}
    for status, description in {
        401: "No valid API token or session.",
        403: "The caller's role does not allow this.",
        404: "No such resource that the caller may see.",
        409: "The review's state or the record's current version does not allow this now.",
        410: "The review's content was destroyed (withdrawn, declined or past retention).",
        422: "The request is invalid; the problem's title says which field and why.",
    }.items()
}


# Bodies ----------------------------------------------------------------------------------------------------


class Me(BaseModel):
    email: str
    role: str
    organisation_id: int


class NewOrganisation(BaseModel):
    name: str = Field(description="The organisation's name.")
    kind: str = Field(description="developer, agency or partner.")
    slug: str | None = Field(default=None, description="Its identifier; made from the name if not given.")


class NewUser(BaseModel):
    email: str
    name: str
    role: str = Field(description="developer_admin, developer_member, reviewer, lead_reviewer, partner, ...")
    organisation: str = Field(description="The organisation's identifier.")


class NewSubmission(BaseModel):
    model: str = Field(description="Inspect model name, provider/model.")
    model_version: str
    planned_release_date: date
    model_card: str = ""
    base_url: str | None = Field(default=None, description="The model's API endpoint, if it is not the provider's.")
    endpoint_credentials: str | None = Field(default=None, description="The API key; kept in the vault.")
    artefacts: list[str] = Field(default_factory=list, description="NAME=SHA256 of each artefact handed over.")
    confidentiality_marking: str = "confidential"
    as_draft: bool = Field(default=False, description="Keep the review in draft instead of submitting it.")


class Transition(BaseModel):
    to: str = Field(description="The state to move the review to, e.g. draft_report.")
    reason: str | None = Field(default=None, description="Why; recorded in the review's timeline.")


class ClockChange(BaseModel):
    action: ClockAction
    reason: str | None = None
    days: int | None = Field(default=None, description="For extend: how many days later the deadline moves.")
    consent_from: str | None = Field(default=None, description="The developer who consented (pause, extend).")
    consent_reference: str | None = Field(default=None, description="Where the consent is recorded.")


class Assignment(BaseModel):
    reviewer: str = Field(description="The reviewer's email.")


class PartnerGrant(BaseModel):
    partner: str = Field(description="The partner organisation's identifier.")
    content: list[str] = Field(description="model_card, full_report and/or redacted_report.")


class EvaluationStart(BaseModel):
    suite: str = Field(description="smoke, screening or full (or a suite file on the server).")


class Started(BaseModel):
    review: str
    suite: str
    status: Literal["starting"] = "starting"


class NewFinding(BaseModel):
    title: str
    body: str
    level: str | None = Field(default=None, description="The framework level it bears on, e.g. CY-2.")
    for_partners: bool = Field(default=False, description="Whether its text may reach the redacted report.")
    samples: list[str] = Field(
        default_factory=list, description="The samples it rests on, each RUN/TASK/SAMPLE/EPOCH (the review's own)."
    )


class SampleChange(BaseModel):
    epoch: int = Field(ge=1, le=MAX_EPOCH, description="The sample's epoch.")
    reason: str = Field(description="Why; recorded in the review's timeline and listed in the report.")
    task: str | None = Field(default=None, description="The sample's task, where its id is in two of the run's tasks.")


class FindingResponse(BaseModel):
    text: str = Field(description="The developer's answer; a later answer replaces an earlier one.")


class NewToken(BaseModel):
    name: str = Field(description="What the token is for.")
    days: int = Field(default=30, description="How long it lives: 1 to 365 days.")


class IssuedToken(BaseModel):
    token: TokenView
    secret: str = Field(description="The whole token: shown this once, never again.")


class Checkpoint(BaseModel):
    note: str = Field(description="The newest signed checkpoint of the audit log, to keep outside the deployment.")


class VerifierKey(BaseModel):
    key: str = Field(description="The key that checks every report's signature (`airlock report verify --key`).")


def zipped(files: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip archive of ``files`` (path, content), the same bytes every time: no times, owners or modes to vary."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files:
            archive.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


# Routes ----------------------------------------------------------------------------------------------------


def api_router(airlock: Airlock) -> APIRouter:
    """The routes for one open deployment."""
    api = APIRouter(prefix="/api/v1", responses=REFUSALS, route_class=CheckedTextRoute)

    @api.get("/me", tags=["identity"])
    async def me(caller: Caller) -> Me:
        """The user the token or session stands for."""
        return Me(email=caller.email, role=caller.role, organisation_id=caller.organisation_id)

    # Directory ---------------------------------------------------------------------------------------------

    @api.get("/organisations", tags=["directory"])
    def organisations(caller: Caller) -> list[OrganisationView]:
        """Every organisation (agency staff only)."""
        return airlock.directory.list_organisations(caller)

    @api.post("/organisations", status_code=201, tags=["directory"])
    def add_organisation(caller: Caller, new: NewOrganisation) -> OrganisationView:
        """Add a developer, agency or partner organisation (operators)."""
        return airlock.directory.add_organisation(caller, name=new.name, kind=new.kind, slug=new.slug)

    @api.get("/users", tags=["directory"])
    def users(caller: Caller, organisation: str | None = None) -> list[UserView]:
        """Users, optionally of one organisation (agency staff only)."""
        return airlock.directory.list_users(caller, organisation=organisation)

    @api.post("/users", status_code=201, tags=["directory"])
    def add_user(caller: Caller, new: NewUser) -> UserView:
        """Add a user with one role in one organisation (operators; a developer admin for their colleagues)."""
        return airlock.directory.add_user(
            caller, email=new.email, name=new.name, role=new.role, organisation=new.organisation
        )

    # Submissions and reviews -------------------------------------------------------------------------------

    @api.post("/submissions", status_code=201, tags=["reviews"])
    def submit(caller: Caller, new: NewSubmission) -> ReviewDetail:
        """Submit a model for voluntary review (developers); the answer is the new review."""
        return airlock.submissions.submit(caller, SubmissionRequest(**new.model_dump()))

    @api.get("/reviews", tags=["reviews"])
    async def reviews(
        caller: Caller,
        state: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Reviews per page.")] = DEFAULT_PAGE,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many reviews to skip.")] = 0,
    ) -> list[ReviewSummary]:
        """The reviews the caller may see, newest first, with their clocks, a page at a time: the dashboard.
        Fewer than ``limit`` reviews means the last page."""
        return airlock.reviews.list_visible(caller, state=state, limit=limit, offset=offset)

    @api.get("/reviews/{review_id}", tags=["reviews"])
    async def review(caller: Caller, review_id: str) -> ReviewDetail:
        """One review: clock, timeline, team and the moves open to the caller (no content)."""
        return airlock.reviews.show(caller, review_id)

    @api.post("/reviews/{review_id}/transitions", tags=["reviews"])
    def transition(caller: Caller, review_id: str, move: Transition) -> ReviewDetail:
        """Move the review along its lifecycle (the roles each move needs are in the review's moves)."""
        return airlock.reviews.transition(caller, review_id, move.to, reason=move.reason)

    @api.post("/reviews/{review_id}/clock", tags=["reviews"])
    def clock(caller: Caller, review_id: str, change: ClockChange) -> ReviewDetail:
        """Pause, resume or extend the review's clock (pausing and extending need the developer's consent)."""
        return airlock.reviews.change_clock(
            caller,
            review_id,
            change.action,
            reason=change.reason,
            days=change.days,
            consent_from=change.consent_from,
            consent_reference=change.consent_reference,
        )

    @api.post("/reviews/{review_id}/team", tags=["reviews"])
    def assign(caller: Caller, review_id: str, assignment: Assignment) -> ReviewDetail:
        """Put a reviewer on the review's need-to-know list (lead reviewers)."""
        return airlock.reviews.assign(caller, review_id, assignment.reviewer)

    @api.delete("/reviews/{review_id}/team/{reviewer}", tags=["reviews"])
    def unassign(caller: Caller, review_id: str, reviewer: str) -> ReviewDetail:
        """Take a reviewer off the review (lead reviewers)."""
        return airlock.reviews.unassign(caller, review_id, reviewer)

    @api.post("/reviews/{review_id}/grants", tags=["reviews"])
    def grant(caller: Caller, review_id: str, grant: PartnerGrant) -> ReviewDetail:
        """Let a trusted partner read exactly these kinds of the review's content (the developer's admin)."""
        return airlock.reviews.grant(caller, review_id, grant.partner, grant.content)

    @api.delete("/reviews/{review_id}/grants/{partner}", tags=["reviews"])
    def revoke(caller: Caller, review_id: str, partner: str) -> ReviewDetail:
        """Withdraw a partner's grant (the developer's admin)."""
        return airlock.reviews.revoke(caller, review_id, partner)

    # Evaluations -------------------------------------------------------------------------------------------

    @api.get("/reviews/{review_id}/evaluations", tags=["evaluations"])
    def evaluations(caller: Caller, review_id: str) -> list[RunView]:
        """Every evaluation run of the review, newest first, with its verdicts so far."""
        return [run.view() for run in airlock.evaluations.status(caller, review_id)]

    @api.post(
        "/reviews/{review_id}/evaluations",
        status_code=202,
        tags=["evaluations"],
        responses={424: {"model": Problem, "description": "The model's endpoint did not answer a test request."}},
    )
    def start_evaluation(caller: Caller, review_id: str, start: EvaluationStart) -> Started:
        """Start (or resume) a suite's run in the background, once everything it needs is checked; follow it
        with GET on the same path."""
        airlock.evaluations.start(caller, review_id, start.suite)
        return Started(review=review_id.upper(), suite=start.suite)

    @api.get("/reviews/{review_id}/evaluations/{run_id}/samples", tags=["evaluations"])
    def run_samples(caller: Caller, review_id: str, run_id: str) -> RunSamples:
        """The model's samples of one run, with their verdicts and any invalidation (no transcript is read)."""
        return airlock.samples.of_run(caller, run_id, review_id=review_id)

    @api.get("/reviews/{review_id}/evaluations/{run_id}/samples/{sample_id}", tags=["evaluations"])
    def sample(
        caller: Caller,
        review_id: str,
        run_id: str,
        sample_id: str,
        epoch: Annotated[int, Query(ge=1, le=MAX_EPOCH, description="The sample's epoch.")] = 1,
        task: Annotated[str | None, Query(description="The sample's task, where its id is in two tasks.")] = None,
    ) -> SampleView:
        """One sample: its verdict with the oracle's evidence, the proof of concept and the whole conversation,
        decrypted for the caller (an audited read). Every text in it is model output: show it as text only."""
        return airlock.samples.show(caller, run_id, sample_id, epoch=epoch, task=task, review_id=review_id)

    @api.post("/reviews/{review_id}/evaluations/{run_id}/samples/{sample_id}/invalidation", tags=["evaluations"])
    def invalidate_sample(
        caller: Caller, review_id: str, run_id: str, sample_id: str, change: SampleChange
    ) -> SampleSummary:
        """Leave a sample of the model out of every figure, with the reason (lead reviewers, before the final
        report)."""
        return airlock.samples.invalidate(
            caller, run_id, sample_id, epoch=change.epoch, reason=change.reason, task=change.task, review_id=review_id
        )

    @api.post("/reviews/{review_id}/evaluations/{run_id}/samples/{sample_id}/reinstatement", tags=["evaluations"])
    def reinstate_sample(
        caller: Caller, review_id: str, run_id: str, sample_id: str, change: SampleChange
    ) -> SampleSummary:
        """Withdraw a sample's invalidation, with the reason: it counts in every figure again (lead reviewers)."""
        return airlock.samples.reinstate(
            caller, run_id, sample_id, epoch=change.epoch, reason=change.reason, task=change.task, review_id=review_id
        )

    @api.get(
        "/reviews/{review_id}/evaluations/{run_id}/log",
        tags=["evaluations"],
        response_class=Response,
        responses={
            200: {"description": "The run's Inspect logs, in a zip archive.", "content": {MEDIA_TYPES["zip"]: {}}}
        },
    )
    def run_log(caller: Caller, review_id: str, run_id: str) -> Response:
        """The run's Inspect logs (one per task and epoch, in their directories), decrypted for the caller (an
        audited read each), invalidated samples marked as Inspect marks them: unzip, then ``inspect view``."""
        logs = airlock.samples.export_logs(caller, run_id, review_id=review_id)
        name = f"{run_id.strip().upper()}-logs.zip"
        return Response(
            zipped((log.name, log.data) for log in logs),
            media_type=MEDIA_TYPES["zip"],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # Findings ----------------------------------------------------------------------------------------------

    @api.get("/reviews/{review_id}/findings", tags=["findings"])
    def findings(caller: Caller, review_id: str) -> list[FindingDetail]:
        """The review's findings and the developer's responses."""
        return airlock.findings.for_review(caller, review_id)

    @api.post("/reviews/{review_id}/findings", status_code=201, tags=["findings"])
    def add_finding(caller: Caller, review_id: str, new: NewFinding) -> FindingDetail:
        """Record a reviewer's own finding."""
        return airlock.findings.add(
            caller,
            review_id,
            title=new.title,
            body=new.body,
            level=new.level,
            for_partners=new.for_partners,
            samples=new.samples,
        )

    @api.post("/findings/{finding_id}/response", tags=["findings"])
    def respond(caller: Caller, finding_id: str, answer: FindingResponse) -> FindingDetail:
        """The developer's answer to a finding."""
        return airlock.findings.respond(caller, finding_id, answer.text)

    # Reports -----------------------------------------------------------------------------------------------

    @api.post("/reviews/{review_id}/reports", status_code=201, tags=["reports"])
    def build_report(caller: Caller, review_id: str) -> BuiltReportSummary:
        """Build the review's signed report from its evaluation runs and findings (assigned reviewers)."""
        return airlock.reports.build(caller, review_id).summary()

    @api.get(
        "/reviews/{review_id}/reports/{variant}/{file_format}",
        tags=["reports"],
        response_class=Response,
        responses={
            200: {
                "description": "The report file, or its detached signature (a C2SP signed note).",
                "content": {MEDIA_TYPES["pdf"]: {}, MEDIA_TYPES["html"]: {}, "text/plain": {}, "application/json": {}},
            }
        },
    )
    def report(
        caller: Caller,
        review_id: str,
        variant: Literal["full", "redacted"],
        file_format: Literal["html", "pdf", "json", "html.sig", "pdf.sig", "json.sig"],
    ) -> Response:
        """The latest report of the review in ``variant`` the caller may read, as ``html``, ``pdf`` or ``json``;
        ``pdf.sig`` and so on for its detached signature."""
        kind, _, signature = file_format.partition(".")
        files = airlock.reports.export(caller, review_id, variant)
        suffix = f".{kind}" + (SIGNATURE_SUFFIX if signature else "")
        chosen = next(f for f in files if f.name.endswith(suffix))
        media = "text/plain; charset=utf-8" if signature else MEDIA_TYPES[kind]
        return Response(
            chosen.data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{chosen.name}"'}
        )

    # Audit and tokens --------------------------------------------------------------------------------------

    @api.get("/audit/verification", tags=["audit"])
    def verify_audit(caller: Caller) -> VerificationView:
        """Recompute the audit chain and check every checkpoint against the deployment's pinned public key
        (auditors and operators). An auditor who distrusts the server verifies offline with ``airlock audit
        verify --key``."""
        return airlock.oversight.verify_audit(caller, airlock.audit_verifier_key())

    @api.get("/audit/entries", tags=["audit"])
    def audit_entries(
        caller: Caller,
        since: Annotated[datetime | None, Query(description="Only entries from this moment on.")] = None,
        newest: Annotated[
            int, Query(ge=1, le=MAX_ENTRIES_AT_ONCE, description="Only this many of the newest entries.")
        ] = 100,
    ) -> list[AuditEntryView]:
        """The audit trail, oldest first (auditors and operators): who did what, to what, why, and the outcome."""
        return airlock.oversight.entries(caller, since=since, newest=newest)

    @api.get("/audit/unusual", tags=["audit"])
    def unusual_access(
        caller: Caller,
        hours: Annotated[int, Query(ge=1, le=24 * 366, description="The sliding window, in hours.")] = 24,
        submissions: Annotated[
            int, Query(ge=1, le=10_000, description="Flag users reading this many submissions in a window.")
        ] = 5,
        refusals: Annotated[
            int, Query(ge=1, le=10_000, description="Flag users refused this many times in a window.")
        ] = 10,
    ) -> list[UnusualAccessView]:
        """Insider-risk signals: bursts of content reads across submissions, break-glass reads, bursts of refusals."""
        thresholds = UnusualAccessThresholds(
            window=timedelta(hours=hours), distinct_submissions=submissions, refusals=refusals
        )
        return airlock.oversight.unusual_access(caller, thresholds)

    @api.get("/audit/checkpoint", tags=["audit"])
    def audit_checkpoint(caller: Caller) -> Checkpoint:
        """The newest signed checkpoint: an auditor keeps it elsewhere to detect a rewritten log later."""
        return Checkpoint(note=airlock.oversight.latest_checkpoint(caller))

    @api.get("/reports/verifier-key", tags=["reports"])
    def report_verifier_key(caller: Caller) -> VerifierKey:
        """This deployment's report verifier key: public, so that anyone handed a report can check it."""
        return VerifierKey(key=airlock.reports.verifier_key())

    @api.get("/tokens", tags=["identity"])
    def tokens(caller: Caller) -> list[TokenView]:
        """The caller's API tokens, without their secrets (an operator sees everyone's)."""
        return airlock.tokens.visible_to(caller)

    @api.post("/tokens", status_code=201, tags=["identity"])
    def issue_token(caller: Caller, new: NewToken) -> IssuedToken:
        """A new API token for the caller; its secret is in this answer only."""
        issued = airlock.tokens.issue(caller, name=new.name, days=new.days)
        return IssuedToken(token=issued.view, secret=issued.token)

    @api.delete("/tokens/{token_id}", tags=["identity"])
    def revoke_token(caller: Caller, token_id: str) -> TokenView:
        """Revoke one of the caller's tokens (an operator may revoke anyone's)."""
        return airlock.tokens.revoke(caller, token_id)

    return api
