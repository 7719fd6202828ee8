"""The demonstration review that ``make demo`` runs, on a fresh temporary deployment.

It walks one review from submission to its final report and closure, and another from submission to
withdrawal, through the same services the CLI uses, printing each step with the review clock. So that
the clock visibly runs, the demo simulates the passage of days with a :class:`ManualClock` that starts
at the real current time. Later stages of Airlock (evaluation, analysis, the signed report) extend this
scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from airlock.app import Airlock
from airlock.clock import ManualClock, SystemClock
from airlock.config import Settings
from airlock.review import ReviewDetail, ReviewState, SubmissionRequest

MODEL_CARD = """SmolLM2-135M-Instruct (demo submission)
A 135-million-parameter instruction-tuned model, bundled with Airlock so that the whole review
pipeline can be shown on a laptop. Intended use: demonstration only.
"""


@dataclass(frozen=True)
class DemoOutcome:
    home: Path
    completed_review: str
    withdrawn_review: str


def run_demo(home: Path, say: Callable[[str], None], start: datetime | None = None) -> DemoOutcome:
    """Run the scenario in a new deployment under ``home`` and report each step through ``say``.

    Simulated day 0 is ``start`` (default: now).
    """
    clock = ManualClock(start or SystemClock().now())
    settings = Settings(home=home, database_url=None, master_key=None, master_key_file=None)
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        return _scenario(airlock, clock, home, say)
    finally:
        airlock.close()


def _scenario(airlock: Airlock, clock: ManualClock, home: Path, say: Callable[[str], None]) -> DemoOutcome:
    step = _Stepper(say, clock)
    directory, reviews = airlock.directory, airlock.reviews
    deployment = airlock.initialise(agency_name="Demo Evaluation Lab", operator_email="operator@lab.test")
    step(f"Initialised a deployment in {home} ({deployment.database})", "airlock init")
    operator = directory.principal()
    developer = directory.add_organisation(operator, name="Example AI", kind="developer")
    for email, name, role, organisation in (
        ("admin@example-ai.test", "Ada Admin", "developer_admin", developer.slug),
        ("lead@lab.test", "Lee Lead", "lead_reviewer", deployment.agency.slug),
        ("reviewer@lab.test", "Rae Reviewer", "reviewer", deployment.agency.slug),
        ("auditor@lab.test", "Aud Itor", "auditor", deployment.agency.slug),
    ):
        directory.add_user(operator, email=email, name=name, role=role, organisation=organisation)
    step(
        "Added developer organisation example-ai, its administrator, a lead reviewer, a reviewer and an auditor",
        "airlock org add 'Example AI' --kind developer; airlock user add ...",
    )
    admin = directory.principal("admin@example-ai.test")
    lead = directory.principal("lead@lab.test")
    reviewer = directory.principal("reviewer@lab.test")
    today = clock.now().date()

    say("")
    say("Review 1: from submission to the final report (simulated days; day 0 is today)")
    first = airlock.submissions.submit(
        admin,
        SubmissionRequest(
            model="airlock/smollm2-135m",
            model_version="demo-1",
            planned_release_date=today + timedelta(days=45),
            model_card=MODEL_CARD,
        ),
    )
    step(
        _status("Example AI submitted airlock/smollm2-135m", first),
        f"airlock submit --model airlock/smollm2-135m --version demo-1 --release-date "
        f"{first.planned_release_date} --model-card card.md --as {admin.email}",
    )
    first = reviews.accept(lead, first.id, reason="In scope: general-purpose model with code abilities")
    step(
        _status("The lead reviewer accepted it; the clock started", first),
        f"airlock review accept {first.id} --as {lead.email}",
    )
    reviews.assign(lead, first.id, reviewer.email)
    card = reviews.read_content(reviewer, first.id, "model_card", purpose="scoping the evaluation")
    step(
        f"The lead reviewer assigned a reviewer, who read the {len(card)}-byte model card from the vault (audited)",
        f"airlock review assign {first.id} --reviewer {reviewer.email}; "
        f"airlock review show {first.id} --content --as {reviewer.email}",
    )
    for days_later, actor, target, reason in (
        (1, reviewer, ReviewState.EVALUATING, "Smoke suite scheduled"),
        (14, reviewer, ReviewState.DRAFT_REPORT, "Evaluation complete"),
        (10, lead, ReviewState.DEVELOPER_RESPONSE, "Draft findings sent to the developer"),
        (2, lead, ReviewState.FINAL_REPORT, "Developer responded; final report issued"),
        (1, lead, ReviewState.CLOSED, "Review complete"),
    ):
        clock.advance(timedelta(days=days_later))
        first = reviews.transition(actor, first.id, target, reason=reason)
        step(
            _status(f"Moved to {target}", first),
            f"airlock review transition {first.id} {target} --reason {reason!r} --as {actor.email}",
        )

    say("")
    say("Review 2: a release date sooner than the review period, a paused clock, then withdrawal")
    clock.advance(timedelta(days=1))
    today = clock.now().date()
    second = airlock.submissions.submit(
        admin,
        SubmissionRequest(
            model="airlock/smollm2-135m",
            model_version="demo-2",
            planned_release_date=today + timedelta(days=20),
            model_card=MODEL_CARD,
        ),
    )
    step(
        _status("Example AI submitted a second version, planned for release in 20 days", second),
        f"airlock submit --model airlock/smollm2-135m --version demo-2 --release-date "
        f"{second.planned_release_date} --model-card card.md --as {admin.email}",
    )
    clock.advance(timedelta(days=1))
    second = reviews.accept(lead, second.id)
    step(
        _status("Accepted: the planned release date sets the deadline", second),
        f"airlock review accept {second.id} --as {lead.email}",
    )
    clock.advance(timedelta(days=3))
    second = reviews.pause(
        lead,
        second.id,
        reason="Model endpoint unavailable",
        consent_from="admin@example-ai.test",
        consent_reference="demo: consent given by email",
    )
    step(
        _status("Paused with the developer's consent", second),
        f"airlock review pause {second.id} --reason 'Model endpoint unavailable' "
        f"--consent-from {admin.email} --consent-ref 'consent given by email' --as {lead.email}",
    )
    clock.advance(timedelta(days=2))
    second = reviews.resume(lead, second.id, reason="Endpoint restored")
    step(_status("Resumed", second), f"airlock review resume {second.id} --as {lead.email}")
    clock.advance(timedelta(days=1))
    second = reviews.extend(admin, second.id, days=5, reason="Developer grants extra time for a second suite")
    step(
        _status("The developer extended the deadline by 5 days", second),
        f"airlock review extend {second.id} --days 5 --reason 'Extra time' --as {admin.email}",
    )
    clock.advance(timedelta(days=4))
    second = reviews.withdraw(admin, second.id, reason="Release plans changed")
    step(
        _status("The developer withdrew the review; its content was crypto-shredded", second),
        f"airlock review withdraw {second.id} --as {admin.email}",
    )
    say("")
    auditor = directory.principal("auditor@lab.test")
    verification = airlock.oversight.verify_audit(auditor, airlock.audit_verifier_key())
    step(
        f"The auditor verified the audit log: {verification.entries} hash-chained entries, "
        f"{verification.checkpoints} signed checkpoints, {'intact' if verification.ok else 'BROKEN'}",
        f"airlock audit verify --as {auditor.email}",
    )
    return DemoOutcome(home=home, completed_review=first.id, withdrawn_review=second.id)


class _Stepper:
    def __init__(self, say: Callable[[str], None], clock: ManualClock) -> None:
        self._say = say
        self._clock = clock
        self._day_zero = clock.now()
        self._number = 0

    def __call__(self, text: str, command: str) -> None:
        self._number += 1
        day = (self._clock.now() - self._day_zero).days
        self._say(f"[{self._number:>2}] day {day:>2}  {text}")
        self._say(f"             $ {command}")


def _status(text: str, review: ReviewDetail) -> str:
    clock = review.clock
    if clock.deadline is None:
        return f"{text}: review {review.id} is {review.state}; the clock starts at acceptance"
    deadline = f"{clock.deadline:%Y-%m-%d %H:%M} UTC"
    if clock.status == "stopped":
        return (
            f"{text}: review {review.id} is {review.state}; clock stopped with {clock.days_left} days left "
            f"(deadline was {deadline})"
        )
    paused = ", clock paused" if clock.status == "paused" else ""
    risk = ", AT RISK" if clock.at_risk else ""
    return (
        f"{text}: review {review.id} is {review.state}; deadline {deadline}, {clock.days_left} days left{paused}{risk}"
    )
