"""The portal's web pages: server-rendered with Jinja2, live parts with htmx, every asset served by Airlock.

Decisions:

* The pages are a front end like the CLI: each handler calls a service as the signed-in user, and the
  access policy decides. Which buttons a page offers follows the roles of :data:`ROLES_FOR_ACTION` (a hint
  for the eye); pressing one still goes through the service, which may refuse.
* A form that a service refuses is shown again with what the user typed and the message next to its field
  (the submission form asks :meth:`Submissions.field_problems` for every field at once). Each form carries
  the session's CSRF token; the submission form also carries a one-time token, so a double submission
  finds the review the first one made (see :mod:`airlock.review.sessions`).
* Sessions: an ``HttpOnly``, ``SameSite=Strict`` cookie, ``Secure`` unless the portal is reached over plain
  HTTP on a loopback address (a laptop, a test); reached over plain HTTP from elsewhere, sign-in is refused
  with a pointer to TLS.
* Strict Content-Security-Policy (scripts and styles from Airlock only); a report is shown in a sandboxed
  frame, as the self-contained file that was signed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from airlock import __version__
from airlock.access import Action
from airlock.access.policy import ROLES_FOR_ACTION
from airlock.access.roles import OrganisationKind, Role
from airlock.api.auth import SESSION_COOKIE, require_csrf, session_user
from airlock.api.problems import status_of
from airlock.app import Airlock
from airlock.errors import AirlockError, AuthenticationError, InvalidInputError, NotFoundError
from airlock.evals.suites import SHIPPED
from airlock.review import SubmissionRequest
from airlock.review.content import GRANTABLE_TO_PARTNERS
from airlock.review.findings import SEEN_BY_DEVELOPER_STATES
from airlock.review.lifecycle import ReviewState
from airlock.review.oversight import UnusualAccessThresholds, VerificationView
from airlock.review.sessions import SESSION_LIFETIME, SessionUser
from airlock.review.submissions import ConfidentialityMarking
from airlock.review.tokens import DEFAULT_DAYS as DEFAULT_TOKEN_DAYS
from airlock.review.tokens import IssuedToken

STATIC_DIRECTORY = Path(__file__).parent / "static"
HTMX = "htmx-2.0.11.min.js"
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
# A report is a self-contained file (inline styles, plots as data: images) shown in a sandboxed frame.
REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
POLL_SECONDS = 2
DASHBOARD_PAGE = 50
AUDIT_PAGE = 50

T = TypeVar("T")

_templates = Environment(
    loader=PackageLoader("airlock.web", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

Viewer = Annotated[SessionUser, Depends(session_user)]
FormText = Annotated[str, Form()]


def may(user: SessionUser, action: Action) -> bool:
    """Whether the user's role may ever do ``action``: what a page offers, not what the service allows."""
    return user.principal.role in ROLES_FOR_ACTION[action]


def render(
    request: Request, template: str, *, user: SessionUser | None, status: int = 200, **values: Any
) -> HTMLResponse:
    html = _templates.get_template(template).render(
        request=request,
        user=user,
        may=(lambda action: may(user, action)) if user else (lambda action: False),
        Action=Action,
        htmx=f"/static/{HTMX}",
        version=__version__,
        **values,
    )
    return HTMLResponse(html, status_code=status, headers=_page_headers())


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": PAGE_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def error_page(request: Request, error: AirlockError) -> Response:
    """A page's answer to a refusal: the sign-in page for a visitor who is not signed in, else the message."""
    if isinstance(error, AuthenticationError):
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/sign-in"})
        return RedirectResponse(f"/sign-in?next={quote(request.url.path)}", status_code=303)
    try:
        user: SessionUser | None = session_user(request)
    except AirlockError:
        user = None
    return render(request, "error.html.j2", user=user, status=status_of(error), error=error)


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and (host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback)
    except ValueError:
        return False


def _safe_next(target: str) -> str:
    """Only a path on this site: an open redirect would make the sign-in page a phishing tool."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/reviews"


def web_router(airlock: Airlock) -> APIRouter:
    """The pages of one open deployment (kept out of the OpenAPI document, which describes the REST API)."""
    web = APIRouter(include_in_schema=False)

    # Signing in and out ------------------------------------------------------------------------------------

    @web.get("/")
    def home(request: Request) -> Response:
        try:
            session_user(request)
        except AuthenticationError:
            return RedirectResponse("/sign-in", status_code=303)
        return RedirectResponse("/reviews", status_code=303)

    @web.get("/sign-in")
    def sign_in_page(request: Request, next: str = "/reviews") -> Response:
        return render(request, "sign_in.html.j2", user=None, next=_safe_next(next), email="", problem=None)

    @web.post("/sign-in")
    def sign_in(request: Request, email: FormText = "", password: FormText = "", next: FormText = "") -> Response:
        target = _safe_next(next)
        secure = request.url.scheme == "https"
        client = request.client.host if request.client else "unknown"
        try:
            if not secure and not _is_loopback(request.url.hostname):
                raise InvalidInputError(
                    "This portal is served over plain HTTP, and a session must not travel over it.",
                    "Serve it behind TLS (see the production note in docs/api.md), or use it on this machine.",
                )
            signed_in = airlock.sessions.sign_in(email, password, client=client)
        except AirlockError as problem:
            return render(
                request,
                "sign_in.html.j2",
                user=None,
                status=status_of(problem),
                next=target,
                email=email,
                problem=problem,
            )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            signed_in.cookie,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=secure,
            path="/",
        )
        return response

    @web.post("/sign-out")
    def sign_out(request: Request, user: Viewer, csrf: FormText = "") -> Response:
        require_csrf(user, csrf)
        airlock.sessions.sign_out(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # The dashboard -----------------------------------------------------------------------------------------

    @web.get("/reviews")
    def dashboard(request: Request, user: Viewer, state: str = "", page: int = 1) -> Response:
        page = max(page, 1)
        # One more than a page: whether there is a next page, without counting them all.
        reviews = airlock.reviews.list_visible(
            user.principal, state=state or None, limit=DASHBOARD_PAGE + 1, offset=(page - 1) * DASHBOARD_PAGE
        )
        return render(
            request,
            "dashboard.html.j2",
            user=user,
            reviews=reviews[:DASHBOARD_PAGE],
            state=state,
            page=page,
            more=len(reviews) > DASHBOARD_PAGE,
        )

    # Submitting a model ------------------------------------------------------------------------------------

    def submission_form(
        request: Request, user: SessionUser, values: dict[str, str], problems: dict[str, str], status: int = 200
    ) -> HTMLResponse:
        return render(
            request,
            "submit.html.j2",
            user=user,
            status=status,
            values=values,
            problems=problems,
            markings=[marking.value for marking in ConfidentialityMarking],
            form_token=airlock.sessions.new_form_token(),
        )

    @web.get("/submit")
    def submit_page(request: Request, user: Viewer) -> Response:
        values = {"confidentiality_marking": ConfidentialityMarking.CONFIDENTIAL.value}
        return submission_form(request, user, values, {})

    @web.post("/submit")
    def submit(
        request: Request,
        user: Viewer,
        csrf: FormText = "",
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
        require_csrf(user, csrf)
        # What the user typed comes back with the messages, except the credentials, which never leave the
        # server once sent.
        values = {
            "model": model,
            "model_version": model_version,
            "planned_release_date": planned_release_date,
            "base_url": base_url,
            "model_card": model_card,
            "artefacts": artefacts,
            "confidentiality_marking": confidentiality_marking,
        }
        request_ = SubmissionRequest(
            model=model,
            model_version=model_version,
            planned_release_date=planned_release_date,
            model_card=model_card,
            base_url=base_url or None,
            endpoint_credentials=endpoint_credentials or None,
            artefacts=[line.strip() for line in artefacts.splitlines() if line.strip()],
            confidentiality_marking=confidentiality_marking,
        )
        problems = airlock.submissions.field_problems(request_)
        if problems:
            return submission_form(request, user, values, problems, status=422)
        claim = airlock.sessions.claim_form(user.principal, form_token)
        if claim.earlier_result is not None:
            return RedirectResponse(f"/reviews/{claim.earlier_result}", status_code=303)
        try:
            review = airlock.submissions.submit(user.principal, request_)
        except AirlockError as error:
            airlock.sessions.release_form(form_token)
            return submission_form(request, user, values, {"form": error.diagnostics()}, status=status_of(error))
        airlock.sessions.complete_form(form_token, review.id)
        return RedirectResponse(f"/reviews/{review.id}", status_code=303)

    # A review ----------------------------------------------------------------------------------------------

    def review_page(
        request: Request,
        user: SessionUser,
        review_id: str,
        *,
        status: int = 200,
        problems: dict[str, str] | None = None,
        values: dict[str, dict[str, str]] | None = None,
    ) -> HTMLResponse:
        """The review's page; after a refused form, with the message at that form and what was typed in it."""
        detail = airlock.reviews.show(user.principal, review_id)
        allowed = set(detail.permitted)
        runs = airlock.evaluations.status(user.principal, review_id) if "view_evaluation" in allowed else []
        developer_sees = "respond_to_finding" in allowed and detail.state in SEEN_BY_DEVELOPER_STATES
        findings = (
            airlock.findings.for_review(user.principal, review_id)
            if "record_finding" in allowed or developer_sees
            else []
        )
        kinds = {item.kind for item in detail.content}
        stored = [variant for variant in ("full", "redacted") if f"{variant}_report" in kinds]
        return render(
            request,
            "review.html.j2",
            user=user,
            status=status,
            review=detail,
            runs=runs,
            allowed=allowed,
            running=airlock.evaluations.in_progress(detail.id) if "view_evaluation" in allowed else False,
            poll_seconds=POLL_SECONDS,
            suites=SHIPPED,
            findings=findings,
            show_findings=bool(findings) or "record_finding" in allowed,
            has_report=bool(stored),
            reports=[variant for variant in stored if f"read_{variant}_report" in allowed],
            # Starting an evaluation makes the move to evaluating: the page offers the evaluation's own button.
            moves=[
                move
                for move in detail.next_moves
                if user.principal.role in move.roles and move.target != ReviewState.EVALUATING
            ],
            grantable=sorted(GRANTABLE_TO_PARTNERS),
            problems=problems or {},
            values=values or {},
        )

    @web.get("/reviews/{review_id}")
    def review(request: Request, user: Viewer, review_id: str) -> Response:
        return review_page(request, user, review_id)

    def act(
        request: Request,
        user: SessionUser,
        review_id: str,
        csrf: str,
        where: str,
        action: Callable[[], object],
        typed: dict[str, str],
    ) -> Response:
        """Do what a review page's form asks, then show the page again: if the service refused, with its
        message at the form that asked and what was ``typed`` in that form kept."""
        return handled_form(
            user,
            csrf,
            action,
            lambda error: review_page(
                request,
                user,
                review_id,
                status=status_of(error),
                problems={where: error.diagnostics()},
                values={where: typed},
            ),
            lambda _: RedirectResponse(f"/reviews/{review_id}", status_code=303),
        )

    @web.post("/reviews/{review_id}/move")
    def move(
        request: Request, user: Viewer, review_id: str, csrf: FormText = "", to: FormText = "", reason: FormText = ""
    ) -> Response:
        return act(
            request,
            user,
            review_id,
            csrf,
            f"move:{to}",
            lambda: airlock.reviews.transition(user.principal, review_id, to, reason=reason or None),
            {"reason": reason},
        )

    @web.post("/reviews/{review_id}/team")
    def assign(
        request: Request, user: Viewer, review_id: str, csrf: FormText = "", reviewer: FormText = ""
    ) -> Response:
        return act(
            request,
            user,
            review_id,
            csrf,
            "team",
            lambda: airlock.reviews.assign(user.principal, review_id, reviewer),
            {"reviewer": reviewer},
        )

    @web.post("/reviews/{review_id}/team/remove")
    def unassign(
        request: Request, user: Viewer, review_id: str, csrf: FormText = "", reviewer: FormText = ""
    ) -> Response:
        return act(
            request,
            user,
            review_id,
            csrf,
            "team",
            lambda: airlock.reviews.unassign(user.principal, review_id, reviewer),
            {},
        )

    @web.post("/reviews/{review_id}/clock")
    def change_clock(
        request: Request,
        user: Viewer,
        review_id: str,
        csrf: FormText = "",
        change: FormText = "",
        reason: FormText = "",
        days: FormText = "",
        consent_from: FormText = "",
        consent_reference: FormText = "",
    ) -> Response:
        return act(
            request,
            user,
            review_id,
            csrf,
            f"clock:{change}",
            lambda: airlock.reviews.change_clock(
                user.principal,
                review_id,
                change,
                reason=reason or None,
                days=_whole_number(days, "The number of days", "days"),
                consent_from=consent_from or None,
                consent_reference=consent_reference or None,
            ),
            {"reason": reason, "days": days, "consent_from": consent_from, "consent_reference": consent_reference},
        )

    @web.post("/reviews/{review_id}/partners")
    def grant(
        request: Request,
        user: Viewer,
        review_id: str,
        csrf: FormText = "",
        partner: FormText = "",
        content: Annotated[list[str] | None, Form()] = None,
    ) -> Response:
        kinds = content or []
        return act(
            request,
            user,
            review_id,
            csrf,
            "partners",
            lambda: airlock.reviews.grant(user.principal, review_id, partner, kinds),
            {"partner": partner, "content": " ".join(kinds)},
        )

    @web.post("/reviews/{review_id}/partners/remove")
    def revoke_partner(
        request: Request, user: Viewer, review_id: str, csrf: FormText = "", partner: FormText = ""
    ) -> Response:
        return act(
            request,
            user,
            review_id,
            csrf,
            "partners",
            lambda: airlock.reviews.revoke(user.principal, review_id, partner),
            {},
        )

    @web.post("/reviews/{review_id}/evaluations")
    def start_evaluation(
        request: Request, user: Viewer, review_id: str, csrf: FormText = "", suite: FormText = ""
    ) -> Response:
        return act(
            request,
            user,
            review_id,
            csrf,
            "evaluation",
            lambda: airlock.evaluations.start(user.principal, review_id, suite),
            {"suite": suite},
        )

    @web.get("/reviews/{review_id}/evaluations")
    def evaluation_progress(request: Request, user: Viewer, review_id: str, polling: int = 0) -> Response:
        """The live part of the review page, polled while a run is going on. When the run has ended, the
        whole page reloads, since the moves open to the user may have changed with it."""
        runs = airlock.evaluations.status(user.principal, review_id)
        running = airlock.evaluations.in_progress(review_id)
        if polling and not running and not any(run.status == "running" for run in runs):
            return Response(status_code=204, headers={"HX-Refresh": "true"})
        return render(
            request,
            "_evaluations.html.j2",
            user=user,
            review_id=review_id.upper(),
            runs=runs,
            running=running,
            poll_seconds=POLL_SECONDS,
        )

    @web.post("/reviews/{review_id}/findings")
    def add_finding(
        request: Request,
        user: Viewer,
        review_id: str,
        csrf: FormText = "",
        title: FormText = "",
        body: FormText = "",
        level: FormText = "",
        for_partners: FormText = "",
    ) -> Response:
        return act(
            request,
            user,
            review_id,
            csrf,
            "finding",
            lambda: airlock.findings.add(
                user.principal, review_id, title=title, body=body, level=level or None, for_partners=bool(for_partners)
            ),
            {"title": title, "body": body, "level": level, "for_partners": for_partners},
        )

    @web.post("/reviews/{review_id}/findings/{finding_id}/response")
    def respond(
        request: Request, user: Viewer, review_id: str, finding_id: str, csrf: FormText = "", text: FormText = ""
    ) -> Response:
        return act(
            request,
            user,
            review_id,
            csrf,
            f"response:{finding_id}",
            lambda: airlock.findings.respond(user.principal, finding_id, text),
            {"text": text},
        )

    @web.post("/reviews/{review_id}/report")
    def build_report(request: Request, user: Viewer, review_id: str, csrf: FormText = "") -> Response:
        return act(
            request, user, review_id, csrf, "report", lambda: airlock.reports.build(user.principal, review_id), {}
        )

    @web.get("/reviews/{review_id}/report/{variant}")
    def report(request: Request, user: Viewer, review_id: str, variant: str) -> Response:
        detail = airlock.reviews.show(user.principal, review_id)
        return render(request, "report.html.j2", user=user, review=detail, variant=_variant(variant))

    @web.get("/reviews/{review_id}/report/{variant}/{file_name}")
    def report_file(request: Request, user: Viewer, review_id: str, variant: str, file_name: str) -> Response:
        """One file of the report: the HTML shown in the report page's frame, the PDF and JSON downloaded."""
        files = airlock.reports.export(user.principal, review_id, _variant(variant))
        chosen = next((f for f in files if f.name == file_name or f.name.endswith(f".{file_name}")), None)
        if chosen is None:
            raise NotFoundError(f"The report has no file {file_name}.", "Go back to the review's page.")
        if chosen.name.endswith(".html"):
            headers = {"Content-Security-Policy": REPORT_POLICY, "X-Content-Type-Options": "nosniff"}
            return Response(chosen.data, media_type="text/html; charset=utf-8", headers=headers)
        media = {"pdf": "application/pdf", "json": "application/json"}.get(chosen.name.rsplit(".", 1)[1], "text/plain")
        disposition = {"Content-Disposition": f'attachment; filename="{chosen.name}"'}
        return Response(chosen.data, media_type=media, headers=disposition)

    # The user's account: password and API tokens ---------------------------------------------------------

    def account_page(
        request: Request,
        user: SessionUser,
        *,
        status: int = 200,
        issued: IssuedToken | None = None,
        problems: dict[str, str] | None = None,
        values: dict[str, str] | None = None,
    ) -> HTMLResponse:
        return render(
            request,
            "account.html.j2",
            user=user,
            status=status,
            tokens=airlock.tokens.visible_to(user.principal),
            issued=issued,
            default_days=DEFAULT_TOKEN_DAYS,
            problems=problems or {},
            values=values or {},
        )

    @web.get("/account")
    def account(request: Request, user: Viewer) -> Response:
        return account_page(request, user)

    @web.post("/account/password")
    def change_password(
        request: Request,
        user: Viewer,
        csrf: FormText = "",
        current_password: FormText = "",
        password: FormText = "",
        repeated: FormText = "",
    ) -> Response:

        def change() -> None:
            if password != repeated:
                raise InvalidInputError("The two new passwords differ.", "Type the same one twice.", field="repeated")
            client = request.client.host if request.client else "unknown"
            airlock.sessions.change_password(user.principal, current_password, password, client=client)

        def sign_in_again(_: None) -> Response:
            # The change ended every session, this one too.
            response = RedirectResponse("/sign-in?next=/account", status_code=303)
            response.delete_cookie(SESSION_COOKIE, path="/")
            return response

        return handled_form(
            user,
            csrf,
            change,
            lambda error: account_page(
                request, user, status=status_of(error), problems={"password": error.diagnostics()}
            ),
            sign_in_again,
        )

    @web.post("/account/tokens")
    def issue_token(
        request: Request, user: Viewer, csrf: FormText = "", name: FormText = "", days: FormText = ""
    ) -> Response:

        def issue() -> IssuedToken:
            lifetime = _whole_number(days, "The number of days", "days") or DEFAULT_TOKEN_DAYS
            return airlock.tokens.issue(user.principal, name=name, days=lifetime)

        return handled_form(
            user,
            csrf,
            issue,
            lambda error: account_page(
                request,
                user,
                status=status_of(error),
                problems={"tokens": error.diagnostics()},
                values={"name": name, "days": days},
            ),
            # The secret is shown on this answer only; reloading the page shows the token without it.
            lambda issued: account_page(request, user, status=201, issued=issued),
        )

    @web.post("/account/tokens/{token_id}/revoke")
    def revoke_token(request: Request, user: Viewer, token_id: str, csrf: FormText = "") -> Response:
        require_csrf(user, csrf)
        airlock.tokens.revoke(user.principal, token_id)
        return RedirectResponse("/account", status_code=303)

    # The directory: organisations and users ----------------------------------------------------------------

    def directory_page(
        request: Request,
        user: SessionUser,
        *,
        status: int = 200,
        done: str = "",
        problems: dict[str, str] | None = None,
        values: dict[str, dict[str, str]] | None = None,
    ) -> HTMLResponse:
        listing = may(user, Action.LIST_DIRECTORY)
        return render(
            request,
            "directory.html.j2",
            user=user,
            status=status,
            organisations=airlock.directory.list_organisations(user.principal) if listing else [],
            users=airlock.directory.list_users(user.principal) if listing else [],
            kinds=[kind.value for kind in OrganisationKind],
            roles=[role.value for role in Role],
            done=done,
            problems=problems or {},
            values=values or {},
        )

    def in_directory(
        request: Request, user: SessionUser, csrf: str, where: str, action: Callable[[], str], typed: dict[str, str]
    ) -> Response:
        """Do what a directory form asks and show the page again, with what was done or why it was refused."""
        return handled_form(
            user,
            csrf,
            action,
            lambda error: directory_page(
                request,
                user,
                status=status_of(error),
                problems={where: error.diagnostics()},
                values={where: typed},
            ),
            lambda done: directory_page(request, user, done=done),
        )

    @web.get("/directory")
    def directory(request: Request, user: Viewer) -> Response:
        return directory_page(request, user)

    @web.post("/directory/organisations")
    def add_organisation(
        request: Request,
        user: Viewer,
        csrf: FormText = "",
        name: FormText = "",
        kind: FormText = "",
        slug: FormText = "",
    ) -> Response:
        def add() -> str:
            added = airlock.directory.add_organisation(user.principal, name=name, kind=kind, slug=slug or None)
            return f"Added the organisation {added.name} ({added.slug})."

        return in_directory(request, user, csrf, "organisation", add, {"name": name, "kind": kind, "slug": slug})

    @web.post("/directory/users")
    def add_user(
        request: Request,
        user: Viewer,
        csrf: FormText = "",
        email: FormText = "",
        name: FormText = "",
        role: FormText = "",
        organisation: FormText = "",
    ) -> Response:
        def add() -> str:
            added = airlock.directory.add_user(
                user.principal, email=email, name=name, role=role, organisation=organisation
            )
            return f"Added {added.email} as {added.role} of {added.organisation}."

        typed = {"email": email, "name": name, "role": role, "organisation": organisation}
        return in_directory(request, user, csrf, "user", add, typed)

    @web.post("/directory/passwords")
    def set_password(
        request: Request, user: Viewer, csrf: FormText = "", email: FormText = "", password: FormText = ""
    ) -> Response:
        def set_it() -> str:
            airlock.sessions.set_password(user.principal, email, password)
            return f"Set a new password for {email.strip().lower()}; their open sessions have ended."

        return in_directory(request, user, csrf, "password", set_it, {"email": email})

    # The auditor's page ------------------------------------------------------------------------------------

    def audit_page(request: Request, user: SessionUser, verification: VerificationView | None) -> HTMLResponse:
        entries = airlock.oversight.entries(user.principal, newest=AUDIT_PAGE)
        thresholds = UnusualAccessThresholds()
        signals = airlock.oversight.unusual_access(user.principal, thresholds)
        return render(
            request,
            "audit.html.j2",
            user=user,
            entries=list(reversed(entries)),
            signals=signals,
            thresholds=thresholds,
            verification=verification,
        )

    @web.get("/audit")
    def audit(request: Request, user: Viewer) -> Response:
        return audit_page(request, user, None)

    @web.post("/audit/verify")
    def verify_audit(request: Request, user: Viewer, csrf: FormText = "") -> Response:
        require_csrf(user, csrf)
        return audit_page(request, user, airlock.oversight.verify_audit(user.principal, airlock.audit_verifier_key()))

    return web


def handled_form(
    user: SessionUser,
    csrf: str,
    action: Callable[[], T],
    refused: Callable[[AirlockError], Response],
    done: Callable[[T], Response],
) -> Response:
    """How every page's form is answered: the session's CSRF token checked, the service called; a refusal
    shows the page again (``refused``: the message at the form, what was typed kept), success what follows
    (``done``). Not being signed in, or asking about something that does not exist, goes to the error page.
    """
    require_csrf(user, csrf)
    try:
        result = action()
    except (AuthenticationError, NotFoundError):
        raise
    except AirlockError as error:
        return refused(error)
    return done(result)


def _whole_number(text: str, what: str, field: str) -> int | None:
    """A form's number field: empty is None; anything but a whole number is refused at that field."""
    if not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInputError(f"{what} must be a whole number, not {text.strip()[:20]!r}.", field=field) from None


def _variant(variant: str) -> Any:
    if variant not in ("full", "redacted"):
        raise NotFoundError(f"There is no {variant} report.", "A report is full or redacted.")
    return variant
