"""The demonstration review that ``make demo`` runs, on a fresh temporary deployment.

It walks one review from submission to its final report and closure, and another from submission to
withdrawal, through the same services the CLI uses, printing each step with the review clock and the
command that does the same by hand. So that the clock visibly runs, the demo simulates the passage of
days with a :class:`ManualClock` that starts :data:`SIMULATED_DAYS` days ago and ends now, so that what
anyone does in the deployment afterwards comes later in its timelines and audit log. Later stages of
Airlock (evaluation, analysis, the signed report) extend this scenario.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from airlock.access import Principal
from airlock.app import Airlock
from airlock.clock import ManualClock, SystemClock
from airlock.config import Settings
from airlock.review import ReviewDetail, ReviewState, SubmissionRequest

SIMULATED_DAYS = 41
MODEL_CARD = """SmolLM2-135M-Instruct (demo submission)
A 135-million-parameter instruction-tuned model, bundled with Airlock so that the whole review
pipeline can be shown on a laptop. Intended use: demonstration only.
"""


@dataclass(frozen=True)
class DemoOutcome:
    home: Path
    completed_review: str
    withdrawn_review: str


def run_demo(home: Path, say: Callable[[str], None], end: datetime | None = None) -> DemoOutcome:
    """Run the scenario in a new deployment under ``home`` and report each step through ``say``.

    The simulated days end at ``end`` (default: now).
    """
    clock = ManualClock((end or SystemClock().now()) - timedelta(days=SIMULATED_DAYS))
    settings = Settings(home=home, database_url=None, master_key=None, master_key_file=None)
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        return _Scenario(airlock, clock, say).run(home)
    finally:
        airlock.close()


class _Scenario:
    def __init__(self, airlock: Airlock, clock: ManualClock, say: Callable[[str], None]) -> None:
        self.airlock = airlock
        self.clock = clock
        self.say = say
        self.day_zero = clock.now()
        self.number = 0

    def step(self, text: str, *command: str) -> None:
        self.number += 1
        day = (self.clock.now() - self.day_zero).days
        self.say(f"[{self.number:>2}] day {day:>2}  {text}")
        self.say(f"             $ airlock {shlex.join(command)}")

    def later(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))

    def run(self, home: Path) -> DemoOutcome:
        airlock = self.airlock
        directory, reviews = airlock.directory, airlock.reviews
        deployment = airlock.initialise(agency_name="Demo Evaluation Lab", operator_email="operator@lab.test")
        self.step(f"Initialised a deployment in {home}", "init", "--agency", "Demo Evaluation Lab")
        operator = directory.principal()
        agency = deployment.agency.slug
        directory.add_organisation(operator, name="Example AI", kind="developer")
        for email, name, role, organisation in (
            ("admin@example-ai.test", "Ada Admin", "developer_admin", "example-ai"),
            ("lead@lab.test", "Lee Lead", "lead_reviewer", agency),
            ("reviewer@lab.test", "Rae Reviewer", "reviewer", agency),
            ("auditor@lab.test", "Aud Itor", "auditor", agency),
        ):
            directory.add_user(operator, email=email, name=name, role=role, organisation=organisation)
        self.step(
            "Added the developer Example AI with its administrator, and the lab's lead reviewer, reviewer and auditor",
            "user",
            "add",
            "lead@lab.test",
            "--name",
            "Lee Lead",
            "--role",
            "lead_reviewer",
            "--org",
            agency,
        )
        admin = directory.principal("admin@example-ai.test")
        lead = directory.principal("lead@lab.test")
        reviewer = directory.principal("reviewer@lab.test")

        self.say("")
        self.say(f"Review 1: from submission to the final report (simulated days; day 0 is {SIMULATED_DAYS} days ago)")
        first = self.submit(admin, "demo-1", release_in_days=45)
        reason = "In scope: general-purpose model with code abilities"
        first = reviews.accept(lead, first.id, reason=reason)
        self.step(
            _status("The lead reviewer accepted it; the clock started", first),
            "review",
            "accept",
            first.id,
            "--reason",
            reason,
            "--as",
            lead.email,
        )
        reviews.assign(lead, first.id, reviewer.email)
        purpose = "scoping the evaluation"
        card = reviews.read_content(reviewer, first.id, "model_card", purpose=purpose)
        self.step(
            f"The lead reviewer assigned a reviewer, who read the {len(card)}-byte model card from the vault "
            "(an audited access)",
            "review",
            "show",
            first.id,
            "--content",
            "--purpose",
            purpose,
            "--as",
            reviewer.email,
        )
        for days_later, actor, target, why in (
            (1, reviewer, ReviewState.EVALUATING, "Smoke suite scheduled"),
            (14, reviewer, ReviewState.DRAFT_REPORT, "Evaluation complete"),
            (10, lead, ReviewState.DEVELOPER_RESPONSE, "Draft findings sent to the developer"),
            (2, lead, ReviewState.FINAL_REPORT, "Developer responded; final report issued"),
            (1, lead, ReviewState.CLOSED, "Review complete"),
        ):
            self.later(days_later)
            first = reviews.transition(actor, first.id, target, reason=why)
            self.step(
                _status(f"Moved to {target}", first),
                "review",
                "transition",
                first.id,
                target,
                "--reason",
                why,
                "--as",
                actor.email,
            )

        self.say("")
        self.say("Review 2: a release date sooner than the review period, a paused clock, then withdrawal")
        self.later(1)
        second = self.submit(admin, "demo-2", release_in_days=20)
        self.later(1)
        second = reviews.accept(lead, second.id)
        self.step(
            _status("Accepted: the planned release date sets the deadline", second),
            "review",
            "accept",
            second.id,
            "--as",
            lead.email,
        )
        self.later(3)
        why, reference = "Model endpoint unavailable", "email from Ada Admin"
        second = reviews.pause(lead, second.id, reason=why, consent_from=admin.email, consent_reference=reference)
        self.step(
            _status("Paused with the developer's recorded consent", second),
            "review",
            "pause",
            second.id,
            "--reason",
            why,
            "--consent-from",
            admin.email,
            "--consent-ref",
            reference,
            "--as",
            lead.email,
        )
        self.later(2)
        why = "Endpoint restored"
        second = reviews.resume(lead, second.id, reason=why)
        self.step(_status("Resumed", second), "review", "resume", second.id, "--reason", why, "--as", lead.email)
        self.later(1)
        why = "Developer grants extra time for a second suite"
        second = reviews.extend(admin, second.id, days=5, reason=why)
        self.step(
            _status("The developer extended the deadline by 5 days", second),
            "review",
            "extend",
            second.id,
            "--days",
            "5",
            "--reason",
            why,
            "--as",
            admin.email,
        )
        self.later(4)
        why = "Release plans changed"
        second = reviews.withdraw(admin, second.id, reason=why)
        self.step(
            _status("The developer withdrew the review; its content was crypto-shredded", second),
            "review",
            "withdraw",
            second.id,
            "--reason",
            why,
            "--as",
            admin.email,
        )

        self.say("")
        auditor = directory.principal("auditor@lab.test")
        verification = airlock.oversight.verify_audit(auditor, airlock.audit_verifier_key())
        self.step(
            f"The auditor verified the audit log: {verification.entries} hash-chained entries, "
            f"{verification.checkpoints} signed checkpoints, {'intact' if verification.ok else 'BROKEN'}",
            "audit",
            "verify",
            "--as",
            auditor.email,
        )
        return DemoOutcome(home=home, completed_review=first.id, withdrawn_review=second.id)

    def submit(self, admin: Principal, version: str, *, release_in_days: int) -> ReviewDetail:
        release = self.clock.now().date() + timedelta(days=release_in_days)
        review = self.airlock.submissions.submit(
            admin,
            SubmissionRequest(
                model="airlock/smollm2-135m", model_version=version, planned_release_date=release, model_card=MODEL_CARD
            ),
        )
        self.step(
            _status(
                f"Example AI submitted airlock/smollm2-135m {version}, planned for release in {release_in_days} days",
                review,
            ),
            "submit",
            "--model",
            "airlock/smollm2-135m",
            "--version",
            version,
            "--release-date",
            str(release),
            "--model-card",
            "card.md",
            "--as",
            admin.email,
        )
        return review


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
