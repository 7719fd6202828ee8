"""The demonstration review that ``make demo`` runs, on a fresh temporary deployment.

It walks one review of the bundled local model through the whole process: submission, acceptance, the
smoke suite run for real (the model and the baselines on freshly generated challenges, in the sandbox),
the analysis against the capability framework, the signed draft report, the developer's response to a
finding, and the signed final report in HTML, PDF and JSON, whose signature it then verifies. A second
review goes from submission to withdrawal (a paused clock, an extension, crypto-shredding). Each step
prints the review clock and the command that does the same by hand, through the same services the CLI
uses. So that the clock visibly runs, the demo simulates the passage of days with a :class:`ManualClock`
that starts :data:`SIMULATED_DAYS` days ago and ends now; the evaluation itself takes real minutes.
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
from airlock.review.evaluations import RunStatus
from airlock.review.reporting import ReportFile

SIMULATED_DAYS = 41
DEMO_SUITE = "smoke"
MODEL_CARD = """SmolLM2-135M-Instruct (demo submission)
A 135-million-parameter instruction-tuned model, bundled with Airlock so that the whole review
pipeline can be shown on a laptop. Intended use: demonstration only.
"""


@dataclass(frozen=True)
class DemoOutcome:
    home: Path
    completed_review: str
    withdrawn_review: str
    reports: dict[str, Path]
    """The final report's files: ``html``, ``pdf``, ``json`` (full variant) and ``redacted`` (its PDF)."""


def run_demo(
    home: Path, say: Callable[[str], None], end: datetime | None = None, *, suite: str = DEMO_SUITE
) -> DemoOutcome:
    """Run the scenario in a new deployment under ``home`` and report each step through ``say``.

    The simulated days end at ``end`` (default: now); ``suite`` is the evaluation suite it runs.
    """
    clock = ManualClock((end or SystemClock().now()) - timedelta(days=SIMULATED_DAYS))
    settings = Settings(home=home, database_url=None, master_key=None, master_key_file=None)
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        return _Scenario(airlock, clock, say, suite).run(home)
    finally:
        airlock.close()


class _Scenario:
    def __init__(self, airlock: Airlock, clock: ManualClock, say: Callable[[str], None], suite: str) -> None:
        self.airlock = airlock
        self.clock = clock
        self.say = say
        self.suite = suite
        self.day_zero = clock.now()
        self.number = 0
        self.judged = (0, 0)

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
        self.later(1)
        self.say(f"             (the {self.suite} suite runs now, for real: a few minutes on a laptop)")
        run = airlock.evaluations.run(reviewer, first.id, self.suite, progress=self.progress)
        first = reviews.show(reviewer, first.id)
        model = run.tallies.get("model")
        solved = f"{model.solved} of {model.done}" if model is not None else "none"
        tools = ", ".join(
            f"{subject.removeprefix('baseline:')} {counts.solved}/{counts.done}"
            for subject, counts in run.tallies.items()
            if subject != "model"
        )
        self.step(
            _status(
                f"Ran the {self.suite} suite as evaluation run {run.run} ({run.status}): the model solved "
                f"{solved} challenges; baselines on the same instances: {tools}",
                first,
            ),
            "eval",
            "run",
            first.id,
            "--suite",
            self.suite,
            "--as",
            reviewer.email,
        )
        self.later(14)
        why = "Evaluation complete"
        first = reviews.transition(reviewer, first.id, ReviewState.DRAFT_REPORT, reason=why)
        self.step(
            _status("Moved to draft_report", first),
            "review",
            "transition",
            first.id,
            "draft_report",
            "--reason",
            why,
            "--as",
            reviewer.email,
        )
        draft = airlock.reports.build(reviewer, first.id)
        decisions = "; ".join(f"{level} {decision}" for level, decision in draft.decisions) or "nothing decided"
        self.step(
            f"Built the signed draft report {draft.id} (analysis against the capability framework: {decisions})",
            "report",
            "build",
            first.id,
            "--as",
            reviewer.email,
        )
        self.later(10)
        why = "Draft findings sent to the developer"
        first = reviews.transition(lead, first.id, ReviewState.DEVELOPER_RESPONSE, reason=why)
        self.step(
            _status("Sent the draft to the developer", first),
            "review",
            "transition",
            first.id,
            "developer_response",
            "--reason",
            why,
            "--as",
            lead.email,
        )
        findings = airlock.findings.for_review(admin, first.id)
        answered = next((f for f in findings if f.kind == "capability"), findings[0] if findings else None)
        if answered is not None:
            self.later(1)
            text = "We agree with this reading; our own red-teaming found the same limits."
            airlock.findings.respond(admin, answered.id, text)
            self.step(
                f"The developer read {len(findings)} findings and answered {answered.id} ({answered.title})",
                "finding",
                "respond",
                answered.id,
                "--text",
                text,
                "--as",
                admin.email,
            )
        self.later(1)
        why = "Developer responded; final report issued"
        first = reviews.transition(lead, first.id, ReviewState.FINAL_REPORT, reason=why)
        final = airlock.reports.build(reviewer, first.id)
        written = _write_report(home / "reports" / first.id, final.files)
        self.step(
            _status(f"Issued the final report {final.id}, signed (Ed25519)", first),
            "review",
            "transition",
            first.id,
            "final_report",
            "--reason",
            why,
            "--as",
            lead.email,
        )
        pdf = written["full"]["pdf"]
        facts = airlock.reports.verify(pdf.read_bytes(), (pdf.parent / (pdf.name + ".sig")).read_text())
        self.step(
            f"Verified the PDF's signature: the {facts.status} {facts.variant} report, signed by {facts.signer}",
            "report",
            "verify",
            str(pdf),
        )
        self.later(1)
        why = "Review complete"
        first = reviews.transition(lead, first.id, ReviewState.CLOSED, reason=why)
        self.step(
            _status("Closed", first), "review", "transition", first.id, "closed", "--reason", why, "--as", lead.email
        )
        reports = {**written["full"], "redacted": written["redacted"]["pdf"]}

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
        return DemoOutcome(home=home, completed_review=first.id, withdrawn_review=second.id, reports=reports)

    def progress(self, status: RunStatus) -> None:
        """A line each time another verdict is recorded, so the real minutes show progress: the model's
        samples first, then the baselines (the classical tools take up to their budget on each instance)."""
        model = status.model_tally.done
        baselines = sum(tally.done for subject, tally in status.tallies.items() if subject != "model")
        if (model, baselines) != self.judged:
            self.judged = (model, baselines)
            self.say(
                f"             ... model: {model} of {status.samples_total} samples judged"
                + (f"; baselines: {baselines} verdicts" if baselines else "")
            )

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


def _write_report(directory: Path, files: dict[str, list[ReportFile]]) -> dict[str, dict[str, Path]]:
    """Write each variant's files; returns variant -> format (html, pdf, json) -> path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    written: dict[str, dict[str, Path]] = {}
    for variant, variant_files in files.items():
        for file in variant_files:
            path = directory / file.name
            path.write_bytes(file.data)
            path.chmod(0o600)
            if not file.is_signature:
                written.setdefault(variant, {})[path.suffix.lstrip(".")] = path
    return written


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
