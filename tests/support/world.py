"""A populated deployment for tests: organisations, one user per role, and helpers to move reviews along."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import inspect, select, text

from airlock.access import Principal, Role
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.review import ReviewDetail, ReviewState, SubmissionRequest
from airlock.store import Base, Database


@dataclass(frozen=True)
class World:
    operator: Principal
    lead: Principal
    reviewer: Principal
    auditor: Principal
    acme_admin: Principal
    acme_member: Principal
    globex_admin: Principal
    partner: Principal

    def acting_as(self, role: Role) -> Principal:
        """The user holding ``role``; developer roles are Acme's, the submitting organisation of the tests."""
        return {
            Role.OPERATOR: self.operator,
            Role.LEAD_REVIEWER: self.lead,
            Role.REVIEWER: self.reviewer,
            Role.AUDITOR: self.auditor,
            Role.DEVELOPER_ADMIN: self.acme_admin,
            Role.DEVELOPER_MEMBER: self.acme_member,
            Role.PARTNER: self.partner,
        }[role]


AGENCY = "evaluation-lab"


def build_world(airlock: Airlock) -> World:
    directory = airlock.directory
    operator = directory.principal()
    for name, kind in (("Acme AI", "developer"), ("Globex", "developer"), ("Grid CERT", "partner")):
        directory.add_organisation(operator, name=name, kind=kind)
    for email, role, organisation in (
        ("lead@lab.test", "lead_reviewer", AGENCY),
        ("reviewer@lab.test", "reviewer", AGENCY),
        ("auditor@lab.test", "auditor", AGENCY),
        ("admin@acme.test", "developer_admin", "acme-ai"),
        ("admin@globex.test", "developer_admin", "globex"),
        ("analyst@gridcert.test", "partner", "grid-cert"),
    ):
        directory.add_user(
            operator, email=email, name=email.split("@")[0].title(), role=role, organisation=organisation
        )
    # After its first administrator, a developer organisation adds its own people.
    directory.add_user(
        directory.principal("admin@acme.test"),
        email="member@acme.test",
        name="Member",
        role="developer_member",
        organisation="acme-ai",
    )
    return World(
        operator=operator,
        lead=directory.principal("lead@lab.test"),
        reviewer=directory.principal("reviewer@lab.test"),
        auditor=directory.principal("auditor@lab.test"),
        acme_admin=directory.principal("admin@acme.test"),
        acme_member=directory.principal("member@acme.test"),
        globex_admin=directory.principal("admin@globex.test"),
        partner=directory.principal("analyst@gridcert.test"),
    )


def submit(
    airlock: Airlock, world: World, *, release_in_days: int = 60, as_draft: bool = False, model_card: str = "card"
) -> ReviewDetail:
    """A submission by Acme, planned for release ``release_in_days`` after the clock's today."""
    release = airlock.clock.now().date() + timedelta(days=release_in_days)
    return airlock.submissions.submit(
        world.acme_admin,
        SubmissionRequest(
            model="openai-api/acme/frontier-1",
            model_version="2026.11",
            planned_release_date=release,
            model_card=model_card,
            as_draft=as_draft,
        ),
    )


# The lifecycle's main line, and who makes each step of it.
_MAIN_LINE: list[tuple[ReviewState, Role]] = [
    (ReviewState.SUBMITTED, Role.DEVELOPER_ADMIN),
    (ReviewState.ACCEPTED, Role.LEAD_REVIEWER),
    (ReviewState.EVALUATING, Role.REVIEWER),
    (ReviewState.DRAFT_REPORT, Role.REVIEWER),
    (ReviewState.DEVELOPER_RESPONSE, Role.LEAD_REVIEWER),
    (ReviewState.FINAL_REPORT, Role.LEAD_REVIEWER),
    (ReviewState.CLOSED, Role.LEAD_REVIEWER),
]


def review_in_state(airlock: Airlock, world: World, state: ReviewState) -> ReviewDetail:
    """A new review of Acme's, brought to ``state`` by the moves a real review would make."""
    review = submit(airlock, world, as_draft=True)
    if state is ReviewState.DRAFT:
        return review
    if state is ReviewState.DECLINED:
        review = airlock.reviews.transition(world.acme_admin, review.id, ReviewState.SUBMITTED)
        return airlock.reviews.decline(world.lead, review.id, reason="out of scope")
    if state is ReviewState.WITHDRAWN:
        return airlock.reviews.withdraw(world.acme_admin, review.id)
    if state is ReviewState.EXPIRED:
        review = airlock.reviews.transition(world.acme_admin, review.id, ReviewState.SUBMITTED)
        review = airlock.reviews.accept(world.lead, review.id)
        assert review.clock.deadline is not None
        clock = airlock.clock
        assert isinstance(clock, ManualClock)
        clock.set(review.clock.deadline)
        (expired,) = airlock.reviews.apply_clock().expired
        return airlock.reviews.show(world.lead, expired.id)
    for target, role in _MAIN_LINE:
        review = airlock.reviews.transition(world.acting_as(role), review.id, target)
        if target is ReviewState.ACCEPTED:
            review = airlock.reviews.assign(world.lead, review.id, world.reviewer.email)
        if target is state:
            return review
    raise AssertionError(f"no path to {state}")


AUDIT_TABLES = ("audit_entries", "audit_head", "audit_checkpoints")


def database_snapshot(database: Database, *, with_audit: bool = False) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order: equal snapshots mean nothing changed.

    The audit log is left out unless ``with_audit``: a refused operation changes nothing else, but the
    refusal itself is recorded there.
    """
    snapshot: dict[str, list[tuple[object, ...]]] = {}
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if not inspect(connection).has_table(table.name):
                continue
            if table.name in AUDIT_TABLES and not with_audit:
                continue
            rows = connection.execute(select(table).order_by(*table.primary_key.columns)).all()
            snapshot[table.name] = [tuple(row) for row in rows]
        snapshot["alembic_version"] = [tuple(row) for row in connection.execute(text("SELECT * FROM alembic_version"))]
    return snapshot
