"""The review clock applies itself before every service call, whichever service and whichever method.

A review whose deadline passed is expired by the first call that follows, before that call does anything:
work the review window no longer covers (a finding, an evaluation, a move, a change of the clock) is refused
and leaves nothing behind but the expiry, and whatever else the call records comes after the expiry in the
audit log. Every public method of every service the deployment holds is listed below, either with a call
that exercises it on an overdue review or with the reason it has no sweep of its own; a method added later
fails :func:`test_every_service_method_is_exercised_here_or_says_why_not` until it is listed.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import airlock.review.evaluations
import airlock.review.reporting
import airlock.vulns.clearinghouse
from airlock.access import Principal
from airlock.app import Airlock
from airlock.audit.models import AuditEntry
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import AirlockError, NotFoundError
from airlock.evals.runner import SampleOutcome
from airlock.evals.suites import RunPlan, load_suite
from airlock.review import ReviewState, SubmissionRequest
from airlock.review.context import CLOCK_ACTOR, ServiceContext
from airlock.review.evaluations import RunStatus
from airlock.review.models import EvalRun, Review
from airlock.review.oversight import UnusualAccessThresholds
from tests.support.fake_openai import FakeEndpoint, fake_endpoint, replaying_references
from tests.support.world import AGENCY, World, build_world, database_snapshot, review_in_state
from tests.test_eval_runs import QUICK, accepted_review, suites_cache

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Overdue:
    """A deployment with one review past its deadline, whose expiry nothing has recorded yet."""

    airlock: Airlock
    world: World
    review: str
    finding: str
    """A finding recorded on the review before its deadline."""
    run: int
    """An evaluation run of the review, interrupted before the deadline (its row id)."""
    run_name: str
    """The same run's public id."""
    token: str
    """An API token of the reviewer's."""
    newcomer: Principal
    """A reviewer not yet on the review's team."""


@dataclass(frozen=True)
class Call:
    """How one service method is called on the overdue review, and what it must answer."""

    act: Callable[[Overdue], object]
    refused: bool = False
    """Work that needs a running review: refused, because the review is expired by then."""
    state: ReviewState = ReviewState.EVALUATING
    """Where the review stood before its deadline: one in which the work would be allowed."""
    expect: Callable[[Overdue, Any], bool] | None = None
    """For a call that is answered: what its answer must say."""
    raises: tuple[type[AirlockError], str] | None = None
    """For a call answered with a refusal that has nothing to do with the clock: its type and words."""


def _sample() -> SampleOutcome:
    return SampleOutcome(
        task="memory_exploit",
        sample_id="memory-t1-0001",
        epoch=1,
        family="memory",
        variant="stack",
        difficulty=1,
        challenge_version="1",
        verdict="exploit",
        reason="the flag was read",
        transcript='{"messages": []}',
    )


def _submission(airlock: Airlock) -> SubmissionRequest:
    release = airlock.clock.now().date() + timedelta(days=60)
    return SubmissionRequest(model="openai-api/acme/frontier-2", model_version="1", planned_release_date=release)


CALLS: dict[str, Call] = {
    # Reviews: the lifecycle, the clock, the team and the partners.
    "Reviews.list_visible": Call(
        lambda o: o.airlock.reviews.list_visible(o.world.lead),
        expect=lambda o, listed: {r.id: r.state for r in listed}[o.review] == "expired",
    ),
    "Reviews.show": Call(
        lambda o: o.airlock.reviews.show(o.world.lead, o.review), expect=lambda o, shown: shown.state == "expired"
    ),
    "Reviews.read_content": Call(
        lambda o: o.airlock.reviews.read_content(o.world.acme_admin, o.review, "model_card", purpose="test"),
        expect=lambda o, content: content == b"card",
    ),
    "Reviews.transition": Call(
        lambda o: o.airlock.reviews.transition(o.world.reviewer, o.review, ReviewState.DRAFT_REPORT), refused=True
    ),
    "Reviews.accept": Call(lambda o: o.airlock.reviews.accept(o.world.lead, o.review), refused=True),
    "Reviews.decline": Call(lambda o: o.airlock.reviews.decline(o.world.lead, o.review, reason="late"), refused=True),
    "Reviews.withdraw": Call(lambda o: o.airlock.reviews.withdraw(o.world.acme_admin, o.review), refused=True),
    "Reviews.change_clock": Call(
        lambda o: o.airlock.reviews.change_clock(o.world.acme_admin, o.review, "extend", days=5, reason="more time"),
        refused=True,
    ),
    "Reviews.pause": Call(
        lambda o: o.airlock.reviews.pause(o.world.acme_admin, o.review, reason="endpoint down"), refused=True
    ),
    "Reviews.resume": Call(lambda o: o.airlock.reviews.resume(o.world.lead, o.review), refused=True),
    "Reviews.extend": Call(
        lambda o: o.airlock.reviews.extend(o.world.acme_admin, o.review, days=5, reason="more time"), refused=True
    ),
    "Reviews.apply_clock": Call(
        lambda o: o.airlock.reviews.apply_clock(), expect=lambda o, swept: [r.id for r in swept.expired] == [o.review]
    ),
    "Reviews.assign": Call(lambda o: o.airlock.reviews.assign(o.world.lead, o.review, o.newcomer.email), refused=True),
    "Reviews.unassign": Call(
        lambda o: o.airlock.reviews.unassign(o.world.lead, o.review, o.world.reviewer.email),
        expect=lambda o, detail: detail.state == "expired" and o.world.reviewer.email not in detail.assigned,
    ),
    "Reviews.grant": Call(
        lambda o: o.airlock.reviews.grant(o.world.acme_admin, o.review, "grid-cert", ["model_card"]),
        expect=lambda o, detail: detail.state == "expired",
    ),
    "Reviews.revoke": Call(
        lambda o: o.airlock.reviews.revoke(o.world.acme_admin, o.review, "grid-cert"),
        expect=lambda o, detail: detail.state == "expired" and detail.partner_grants == [],
    ),
    # Submissions.
    "Submissions.submit": Call(
        lambda o: o.airlock.submissions.submit(o.world.acme_admin, _submission(o.airlock)),
        expect=lambda o, detail: detail.state == "submitted",
    ),
    # The directory.
    "Directory.principal": Call(
        lambda o: o.airlock.directory.principal(o.world.lead.email), expect=lambda o, found: found == o.world.lead
    ),
    "Directory.add_organisation": Call(
        lambda o: o.airlock.directory.add_organisation(o.world.operator, name="Initech", kind="developer"),
        expect=lambda o, added: added.slug == "initech",
    ),
    "Directory.add_user": Call(
        lambda o: o.airlock.directory.add_user(
            o.world.operator, email="third@lab.test", name="Third", role="reviewer", organisation=AGENCY
        ),
        expect=lambda o, added: added.email == "third@lab.test",
    ),
    "Directory.list_organisations": Call(
        lambda o: o.airlock.directory.list_organisations(o.world.auditor),
        expect=lambda o, listed: "acme-ai" in {organisation.slug for organisation in listed},
    ),
    "Directory.list_users": Call(
        lambda o: o.airlock.directory.list_users(o.world.auditor),
        expect=lambda o, listed: o.world.lead.email in {user.email for user in listed},
    ),
    # Oversight: the audit trail and the keys.
    "Oversight.verify_audit": Call(
        lambda o: o.airlock.oversight.verify_audit(o.world.auditor, o.airlock.audit_verifier_key()),
        expect=lambda o, verification: verification.ok,
    ),
    "Oversight.latest_checkpoint": Call(
        lambda o: o.airlock.oversight.latest_checkpoint(o.world.auditor), expect=lambda o, note: bool(note)
    ),
    "Oversight.entries": Call(
        lambda o: o.airlock.oversight.entries(o.world.auditor, newest=5),
        expect=lambda o, entries: any(entry.actor == CLOCK_ACTOR for entry in entries),
    ),
    "Oversight.unusual_access": Call(
        lambda o: o.airlock.oversight.unusual_access(o.world.auditor, UnusualAccessThresholds()),
        expect=lambda o, signals: isinstance(signals, list),
    ),
    "Oversight.rotate_master_key": Call(
        lambda o: o.airlock.oversight.rotate_master_key(o.world.operator), expect=lambda o, rotated: rotated is not None
    ),
    "Oversight.rotate_organisation_key": Call(
        lambda o: o.airlock.oversight.rotate_organisation_key(o.world.operator, "acme-ai"),
        expect=lambda o, rotated: rotated is not None,
    ),
    # Evaluations: running one is work the window must cover.
    "Evaluations.run": Call(lambda o: o.airlock.evaluations.run(o.world.reviewer, o.review, "smoke"), refused=True),
    "Evaluations.start": Call(lambda o: o.airlock.evaluations.start(o.world.reviewer, o.review, "smoke"), refused=True),
    "Evaluations.record": Call(
        lambda o: o.airlock.evaluations.record(o.world.reviewer, o.review, o.run, "model", _sample()), refused=True
    ),
    "Evaluations.status": Call(
        lambda o: o.airlock.evaluations.status(o.world.reviewer, o.review),
        expect=lambda o, runs: [run.status for run in runs] == ["running"],
    ),
    # Samples: read after the deadline as before; invalidated or reinstated only while the review runs.
    "Samples.of_run": Call(
        lambda o: o.airlock.samples.of_run(o.world.lead, o.run_name),
        expect=lambda o, listed: (listed.status, listed.samples, listed.may_invalidate) == ("running", [], False),
    ),
    "Samples.show": Call(
        lambda o: o.airlock.samples.show(o.world.lead, o.run_name, "memory-t1-0001", epoch=1),
        raises=(NotFoundError, "has no sample memory-t1-0001, epoch 1"),
    ),
    "Samples.transcript": Call(
        lambda o: o.airlock.samples.transcript(
            o.world.lead, o.run_name, "memory-t1-0001", epoch=1, purpose="report to the clearinghouse"
        ),
        raises=(NotFoundError, "has no sample memory-t1-0001, epoch 1"),
    ),
    "Samples.invalidate": Call(
        lambda o: o.airlock.samples.invalidate(
            o.world.lead, o.run_name, "memory-t1-0001", epoch=1, reason="the host ran out of disk"
        ),
        refused=True,
    ),
    "Samples.reinstate": Call(
        lambda o: o.airlock.samples.reinstate(o.world.lead, o.run_name, "memory-t1-0001", epoch=1, reason="it did not"),
        refused=True,
    ),
    "Samples.export_logs": Call(
        lambda o: o.airlock.samples.export_logs(o.world.lead, o.run_name), raises=(NotFoundError, "has no Inspect log")
    ),
    # Findings: recorded and answered only while the review runs.
    "Findings.add": Call(
        lambda o: o.airlock.findings.add(o.world.reviewer, o.review, title="Late", body="Found after the deadline."),
        refused=True,
    ),
    "Findings.respond": Call(
        lambda o: o.airlock.findings.respond(o.world.acme_admin, o.finding, "Our answer, too late."),
        refused=True,
        state=ReviewState.DEVELOPER_RESPONSE,
    ),
    "Findings.for_review": Call(
        lambda o: o.airlock.findings.for_review(o.world.reviewer, o.review),
        expect=lambda o, findings: [finding.id for finding in findings] == [o.finding],
    ),
    # Reports: an expired review's report is what was done, final and marked incomplete.
    "Reports.build": Call(
        lambda o: o.airlock.reports.build(o.world.reviewer, o.review),
        expect=lambda o, built: (built.status, built.complete) == ("final", False),
    ),
    "Reports.contents": Call(
        lambda o: o.airlock.reports.contents(o.world.reviewer, o.review, "full"),
        raises=(NotFoundError, "has no full report yet"),
    ),
    "Reports.export": Call(
        lambda o: o.airlock.reports.export(o.world.reviewer, o.review, "full"),
        raises=(NotFoundError, "has no full report yet"),
    ),
    # The user's own account: tokens, passwords, signing in.
    "ApiTokens.issue": Call(
        lambda o: o.airlock.tokens.issue(o.world.reviewer, name="notebook"),
        expect=lambda o, issued: issued.view.name == "notebook",
    ),
    "ApiTokens.revoke": Call(
        lambda o: o.airlock.tokens.revoke(o.world.reviewer, o.token),
        expect=lambda o, revoked: revoked.revoked_at is not None,
    ),
    "WebSessions.set_password": Call(
        lambda o: o.airlock.sessions.set_password(o.world.operator, o.world.acme_member.email, PASSWORD)
    ),
    "WebSessions.change_password": Call(
        lambda o: o.airlock.sessions.change_password(
            o.world.lead, PASSWORD, "a brand new passphrase", client="127.0.0.1"
        )
    ),
    "WebSessions.sign_out": Call(lambda o: o.airlock.sessions.sign_out("0" * 64)),
    "WebSessions.sign_in": Call(
        lambda o: o.airlock.sessions.sign_in(o.world.reviewer.email, PASSWORD, client="127.0.0.1"),
        expect=lambda o, signed_in: signed_in.principal == o.world.reviewer,
    ),
}

NO_SWEEP_OF_THEIR_OWN: dict[str, str] = {
    "Submissions.field_problems": "checks a request's fields; reads and writes nothing stored",
    "Directory.initialise": "sets the deployment up (`airlock init`) before any review exists; once it is set up, "
    "it changes nothing",
    "Evaluations.in_progress": "asks the operating system whether a run's lock is held; reads nothing stored",
    "Evaluations.run_status": "the progress display of the run this process is running, between calls of the "
    "run's own (record) that sweep",
    "Findings.sync_from_analysis": "part of Reports.build, inside its operation and with its session",
    "Findings.details": "part of Reports.build, inside its operation and with its session",
    "Reports.verifier_key": "the deployment's public report key; touches no review",
    "Reports.verify": "checks a signature against a key; reads nothing stored",
    "ApiTokens.visible_to": "lists the caller's own API tokens; touches no review",
    "ApiTokens.authenticate": "who a request's token stands for, asked before the request's service call, which sweeps",
    "WebSessions.authenticate": "who a request's session cookie stands for, asked before the request's service "
    "call, which sweeps",
    "WebSessions.last_reset": "when an operator last reset the caller's own password; touches no review",
    "WebSessions.new_form_token": "makes a random token; reads and writes nothing stored",
    "WebSessions.claim_form": "a form's one-time token, claimed around the service call the form makes, which sweeps",
    "WebSessions.complete_form": "a form's one-time token, completed around the service call the form makes, "
    "which sweeps",
    "WebSessions.release_form": "a form's one-time token, given back after the service call the form made, which swept",
}


def service_methods() -> set[str]:
    """``Service.method`` for every public method of every service an :class:`Airlock` holds."""
    found: set[str] = set()
    kinds = list(typing.get_type_hints(Airlock).values())
    # Services made on first use (they load heavy parts) are properties; their return types name them.
    # The clearinghouse's service works on cases, not reviews: its calls sweep the review clock all the same (every
    # one is a ServiceContext operation), and its one call that reads a review goes through Samples.transcript.
    namespace = {
        **vars(airlock.review.evaluations),
        **vars(airlock.review.reporting),
        **vars(airlock.vulns.clearinghouse),
    }
    for member in vars(Airlock).values():
        if isinstance(member, functools.cached_property):
            kinds.append(typing.get_type_hints(member.func, globalns=namespace)["return"])
    for kind in kinds:
        if not isinstance(kind, type) or not kind.__module__.startswith("airlock.review.") or kind is ServiceContext:
            continue
        found |= {f"{kind.__name__}.{name}" for name, _ in inspect.getmembers(kind, inspect.isroutine)}
    return {name for name in found if not name.split(".")[1].startswith("_")}


def test_every_service_method_is_exercised_here_or_says_why_not() -> None:
    methods = service_methods()
    assert {"Reviews.show", "Findings.add", "Evaluations.run", "Reports.build"} <= methods, "the enumeration works"
    assert not set(CALLS) & set(NO_SWEEP_OF_THEIR_OWN)
    assert set(CALLS) | set(NO_SWEEP_OF_THEIR_OWN) == methods


def prepare(airlock: Airlock, world: World, clock: ManualClock) -> dict[str, tuple[Overdue, datetime]]:
    """For each listed call, a review in the call's state with a finding, a grant and an interrupted run, and
    its deadline. Each review is accepted an hour after the one before, so that when the clock is set just
    past one review's deadline, that review alone is overdue."""
    newcomer = airlock.directory.add_user(
        world.operator, email="second@lab.test", name="Second", role="reviewer", organisation=AGENCY
    )
    for user in (world.lead, world.reviewer):
        airlock.sessions.set_password(user, user.email, PASSWORD)
    token = airlock.tokens.issue(world.reviewer, name="setup", days=365)
    smoke = load_suite("smoke")
    prepared: dict[str, tuple[Overdue, datetime]] = {}
    for number, method in enumerate(sorted(CALLS)):
        clock.advance(timedelta(hours=1))
        review = review_in_state(airlock, world, CALLS[method].state)
        finding = airlock.findings.add(world.reviewer, review.id, title="Early", body="Found in time.")
        airlock.reviews.grant(world.acme_admin, review.id, "grid-cert", ["redacted_report"])
        with airlock.database.transaction() as session:
            # What an evaluation run interrupted before the deadline leaves: a real run needs a model endpoint
            # and a worker process (the last test here has both), and `record` is handed only the run's id.
            row = session.scalar(select(Review).where(Review.public_id == review.id))
            assert row is not None
            run = EvalRun(
                public_id=f"E-{number:08d}",
                review_id=row.id,
                suite=smoke.name,
                suite_version=smoke.version,
                plan=RunPlan.fresh(smoke).model_dump(mode="json"),
                model="openai-api/acme/frontier-1",
                status="running",
                samples_total=1,
                started_by_id=world.reviewer.user_id,
                started_at=clock.now(),
                attempts=1,
            )
            session.add(run)
            session.flush()
            run_id = run.id
        deadline = airlock.reviews.show(world.lead, review.id).clock.deadline
        assert deadline is not None
        situation = Overdue(
            airlock,
            world,
            review.id,
            finding.id,
            run_id,
            f"E-{number:08d}",
            token.view.id,
            airlock.directory.principal(newcomer.email),
        )
        prepared[method] = (situation, deadline)
    return prepared


def stored_state(airlock: Airlock, review_id: str) -> str:
    with airlock.database.transaction(read_only=True) as session:
        state = session.scalar(select(Review.state).where(Review.public_id == review_id))
    assert state is not None
    return state


def entries_after(airlock: Airlock, seq: int) -> list[AuditEntry]:
    with airlock.database.transaction(read_only=True) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)))


def last_seq(airlock: Airlock) -> int:
    with airlock.database.transaction(read_only=True) as session:
        return session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)) or 0


def problems_of(method: str, call: Call, situation: Overdue) -> list[str]:
    """What is wrong with calling ``method`` on the overdue review: nothing, if the call expired the review
    first, and was then refused without a trace, or answered as expected."""
    airlock, review = situation.airlock, situation.review
    if stored_state(airlock, review) != call.state:
        return [f"{method}: the review was no longer {call.state} before the call"]
    before = database_snapshot(airlock.database) if call.refused else {}
    seq = last_seq(airlock)
    outcome: object = None
    error: AirlockError | None = None
    try:
        outcome = call.act(situation)
    except AirlockError as raised:
        error = raised

    if stored_state(airlock, review) != ReviewState.EXPIRED:
        return [f"{method}: the review is still {stored_state(airlock, review)} after the call"]
    problems: list[str] = []
    first = entries_after(airlock, seq)[0]
    recorded = (first.actor, first.action, first.target, first.details.get("to"))
    if recorded != (CLOCK_ACTOR, "review.transition", f"review:{review}", ReviewState.EXPIRED):
        problems.append(f"{method}: the first entry it caused is {recorded}, not the review's expiry")
    if call.refused:
        if error is None or not error.is_refusal or f"{review} is expired" not in error.message:
            problems.append(f"{method}: did work on a review past its deadline (answered {error or outcome!r})")
        after = database_snapshot(airlock.database)
        changed = {table for table in after if after[table] != before.get(table)}
        if (
            not changed <= {"reviews", "review_events"}
            or len(after["review_events"]) != len(before["review_events"]) + 1
        ):
            problems.append(f"{method}: the refused work left more than the expiry behind ({sorted(changed)})")
    elif call.raises is not None:
        kind, words = call.raises
        if not isinstance(error, kind) or words not in error.message:
            problems.append(f"{method}: answered {error or outcome!r}, not a {kind.__name__} saying {words!r}")
    elif error is not None:
        problems.append(f"{method}: refused after the expiry: {error}")
    elif call.expect is not None and not call.expect(situation, outcome):
        problems.append(f"{method}: answered {outcome!r}")
    return problems


def test_a_service_call_on_a_review_past_its_deadline_expires_it_first(
    airlock: Airlock, world: World, clock: ManualClock
) -> None:
    prepared = prepare(airlock, world, clock)
    problems: list[str] = []
    for method in sorted(CALLS):
        situation, deadline = prepared[method]
        clock.set(deadline + timedelta(minutes=30))  # this review's deadline has passed, the next one's not
        problems += problems_of(method, CALLS[method], situation)
    assert problems == []


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    with fake_endpoint(replaying_references(suites_cache())) as running:
        yield running


def test_a_run_going_on_when_the_deadline_passes_stops_there_and_is_recorded_as_failed(
    tmp_path: Path, endpoint: FakeEndpoint
) -> None:
    """The samples that finish after the deadline are not recorded; the run ends, failed, saying why."""
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        airlock.initialise()
        world = build_world(airlock)
        review = accepted_review(airlock, world, base_url=endpoint.url)
        deadline = airlock.reviews.show(world.lead, review).clock.deadline
        assert deadline is not None

        def deadline_passes(status: RunStatus) -> None:
            clock.set(deadline + timedelta(minutes=1))

        with pytest.raises(AirlockError, match=f"Review {review} is expired; the verdict of sample"):
            airlock.evaluations.run(world.reviewer, review, QUICK, progress=deadline_passes)

        (run,) = airlock.evaluations.status(world.reviewer, review)
        assert run.status == "failed"
        assert run.error is not None
        assert f"Review {review} is expired" in run.error
        recorded = {subject: tally.done for subject, tally in run.tallies.items()}
        assert recorded == {"model": 1}, "only the sample that finished before the deadline is recorded"
        assert airlock.reviews.show(world.lead, review).state == ReviewState.EXPIRED
    finally:
        airlock.close()
