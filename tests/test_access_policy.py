"""Need-to-know, as properties over random deployments.

An independent oracle states who may read what; the tests check the policy function against it, then
the real services: nobody outside need-to-know reads content, a trusted partner reads exactly what was
granted, and every refusal leaves exactly one entry in the audit log.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from airlock.access import Action, OrganisationKind, Principal, Role, Scope, is_permitted
from airlock.app import Airlock
from airlock.audit.models import AuditEntry
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import AirlockError
from airlock.review import SubmissionRequest

KINDS = ("model_card", "endpoint_credentials")
GRANTABLE = ("model_card", "redacted_report")
AGENCY_ROLES = (Role.REVIEWER, Role.LEAD_REVIEWER, Role.AUDITOR, Role.OPERATOR)


def oracle_may_read(
    role: Role,
    user_org: int,
    user_id: int,
    *,
    owner: int,
    assigned: frozenset[int],
    grants: frozenset[tuple[int, str]],
    kind: str,
    break_glass: bool,
) -> bool:
    """Who may read a submission's content, written out independently of the policy."""
    if role in (Role.DEVELOPER_ADMIN, Role.DEVELOPER_MEMBER):
        return user_org == owner
    if role in (Role.REVIEWER, Role.LEAD_REVIEWER):
        return user_id in assigned
    if role is Role.PARTNER:
        return (user_org, kind) in grants
    if role is Role.OPERATOR:
        return break_glass
    return False


@given(
    role=st.sampled_from(list(Role)),
    user_org=st.integers(1, 4),
    user_id=st.integers(1, 6),
    owner=st.integers(1, 4),
    assigned=st.frozensets(st.integers(1, 6)),
    grants=st.frozensets(st.tuples(st.integers(1, 4), st.sampled_from(KINDS + GRANTABLE))),
    kind=st.sampled_from(KINDS + GRANTABLE),
    break_glass=st.booleans(),
)
def test_the_policy_lets_exactly_need_to_know_read_content(
    role: Role,
    user_org: int,
    user_id: int,
    owner: int,
    assigned: frozenset[int],
    grants: frozenset[tuple[int, str]],
    kind: str,
    break_glass: bool,
) -> None:
    principal = Principal(user_id, "u@x.test", role, user_org, OrganisationKind.AGENCY)
    scope = Scope(developer_organisation_id=owner, assigned_user_ids=assigned, partner_grants=grants, content_kind=kind)
    permitted = is_permitted(
        principal, Action.READ_CONTENT, scope, justification="incident 42" if break_glass else None
    )
    expected = oracle_may_read(
        role, user_org, user_id, owner=owner, assigned=assigned, grants=grants, kind=kind, break_glass=break_glass
    )
    assert permitted == expected


@dataclass(frozen=True)
class Person:
    email: str
    role: Role
    organisation: str


@dataclass(frozen=True)
class Plan:
    developers: int
    partners: int
    people: list[Person]
    submissions: list[int]
    """The developer organisation (index) of each submission."""
    assignments: list[frozenset[int]]
    """For each submission, indexes into the agency's reviewers and lead reviewers."""
    grants: list[dict[int, frozenset[str]]]
    """For each submission, partner organisation index -> granted kinds."""


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    developers = draw(st.integers(1, 2))
    partners = draw(st.integers(0, 2))
    people: list[Person] = []
    for index in range(developers):
        people.append(Person(f"admin{index}@dev{index}.test", Role.DEVELOPER_ADMIN, f"dev-{index}"))
        for number in range(draw(st.integers(0, 1))):
            people.append(Person(f"member{number}@dev{index}.test", Role.DEVELOPER_MEMBER, f"dev-{index}"))
    for index in range(partners):
        people.append(Person(f"analyst@partner{index}.test", Role.PARTNER, f"partner-{index}"))
    for role in AGENCY_ROLES:
        for number in range(draw(st.integers(1 if role is Role.LEAD_REVIEWER else 0, 2))):
            people.append(Person(f"{role.value}{number}@lab.test", role, "evaluation-lab"))
    staff = [i for i, person in enumerate(people) if person.role in (Role.REVIEWER, Role.LEAD_REVIEWER)]
    count = draw(st.integers(1, 2))
    return Plan(
        developers=developers,
        partners=partners,
        people=people,
        submissions=[draw(st.integers(0, developers - 1)) for _ in range(count)],
        assignments=[draw(st.frozensets(st.sampled_from(staff))) for _ in range(count)],
        grants=[
            draw(st.dictionaries(st.integers(0, partners - 1), st.frozensets(st.sampled_from(GRANTABLE), min_size=1)))
            if partners
            else {}
            for _ in range(count)
        ],
    )


def refusals_logged(airlock: Airlock) -> int:
    with airlock.database.transaction(read_only=True) as session:
        return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "refused")) or 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans())
def test_in_any_deployment_only_need_to_know_reads_and_every_refusal_is_audited(plan: Plan) -> None:
    clock = ManualClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as home:
        airlock = Airlock.open(Settings(home=Path(home)), clock, must_be_initialised=False)
        try:
            _check(airlock, plan)
        finally:
            airlock.close()


def _check(airlock: Airlock, plan: Plan) -> None:
    airlock.initialise()
    directory, reviews = airlock.directory, airlock.reviews
    operator = directory.principal()
    for index in range(plan.developers):
        directory.add_organisation(operator, name=f"dev {index}", kind="developer")
    for index in range(plan.partners):
        directory.add_organisation(operator, name=f"partner {index}", kind="partner")
    for person in plan.people:
        # A developer organisation's administrator adds its other people; the operator only its first.
        adder = operator
        if person.role is Role.DEVELOPER_MEMBER:
            adder = directory.principal(f"admin{person.organisation[4:]}@dev{person.organisation[4:]}.test")
        directory.add_user(adder, email=person.email, name="N", role=person.role, organisation=person.organisation)
    principals = [directory.principal(person.email) for person in plan.people]
    lead = next(p for p in principals if p.role is Role.LEAD_REVIEWER)
    release = airlock.clock.now().date() + timedelta(days=60)
    submitted = []
    for number, developer in enumerate(plan.submissions):
        admin = directory.principal(f"admin{developer}@dev{developer}.test")
        review = airlock.submissions.submit(
            admin,
            SubmissionRequest(
                model="openai/x",
                model_version=str(number),
                planned_release_date=release,
                model_card=f"card {number}",
                endpoint_credentials=f"key {number}",
            ),
        )
        for staff in plan.assignments[number]:
            reviews.assign(lead, review.id, plan.people[staff].email)
        for partner, kinds in plan.grants[number].items():
            reviews.grant(admin, review.id, f"partner-{partner}", kinds)
        submitted.append(review.id)

    for number, review_id in enumerate(submitted):
        owner = directory.principal(f"admin{plan.submissions[number]}@dev{plan.submissions[number]}.test")
        assigned = frozenset(principals[i].user_id for i in plan.assignments[number])
        grants = frozenset(
            (directory_org_id(principals, plan, partner), kind)
            for partner, kinds in plan.grants[number].items()
            for kind in kinds
        )
        for principal in [*principals, operator]:
            for kind in KINDS:
                for break_glass in (None, "incident 7") if principal.role is Role.OPERATOR else (None,):
                    expected = oracle_may_read(
                        principal.role,
                        principal.organisation_id,
                        principal.user_id,
                        owner=owner.organisation_id,
                        assigned=assigned,
                        grants=grants,
                        kind=kind,
                        break_glass=break_glass is not None,
                    )
                    secret = f"{'card' if kind == 'model_card' else 'key'} {number}".encode()
                    _assert_read(airlock, principal, review_id, kind, break_glass, expected=expected, secret=secret)
    assert airlock.oversight.verify_audit(operator, airlock.audit_verifier_key()).ok


def _assert_read(
    airlock: Airlock,
    principal: Principal,
    review_id: str,
    kind: str,
    break_glass: str | None,
    *,
    expected: bool,
    secret: bytes,
) -> None:
    """``principal`` reads exactly when expected; a refusal adds exactly one refused entry to the audit log."""
    before = refusals_logged(airlock)
    if expected:
        content = airlock.reviews.read_content(principal, review_id, kind, purpose="test", break_glass=break_glass)
        assert content == secret
        assert refusals_logged(airlock) == before
        return
    with pytest.raises(AirlockError) as refused:
        airlock.reviews.read_content(principal, review_id, kind, purpose="test", break_glass=break_glass)
    assert refused.value.is_refusal, refused.value
    assert refusals_logged(airlock) == before + 1


def directory_org_id(principals: list[Principal], plan: Plan, partner: int) -> int:
    """The organisation id of partner organisation ``partner``, from one of its users."""
    for person, principal in zip(plan.people, principals, strict=True):
        if person.organisation == f"partner-{partner}":
            return principal.organisation_id
    raise AssertionError(f"partner-{partner} has no user")
