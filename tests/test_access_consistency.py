"""Every front end gives the access policy's answer: roles x content kinds x review states.

One deployment walks reviews through every state of the lifecycle. In each state, every kind of user (each
role, and for the roles that depend on it, with and without the fact that opens access: the developer's own
organisation or another's, on the team or not, granted the kind or not) asks for every kind of thing a review
shows: the review itself (and its line on the dashboard), its evaluations, its findings, its full and its
redacted report. Each question is answered three ways: by the policy (:func:`airlock.access.is_permitted`,
with the review's facts as this test knows them), by the web pages as a signed-in browser sees them, and by
the REST API with the user's token. The pages and the API must give the policy's answer (shown where it allows
and the content exists, refused or hidden where it refuses), and the policy must give the answer
docs/confidentiality.md states, written out independently below.

The walk is deterministic rather than drawn by hypothesis as in test_access_policy.py: every combination is
asked once, which a sample would not, and building a report (which the walk does once) takes seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol

import pytest
from fastapi.testclient import TestClient

from airlock.access import DEVELOPER_ROLES, REVIEWER_ROLES, Action, Principal, Role, Scope, is_permitted
from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.review import ReviewState, SubmissionRequest
from tests.support.world import AGENCY, World, build_world

PASSWORD = "correct horse battery staple"
KINDS = ("review", "listed", "evaluations", "findings", "full_report", "redacted_report")
"""``listed``: the review among those the dashboard lists (an SQL query that must match the policy)."""
FINDING_TITLE = "Chains two overflows into a shell"

Outcome = Literal["shown", "none", "gone", "refused", "hidden"]
"""``shown``: there, and given; ``none``: allowed, but there is nothing of the kind; ``gone``: allowed, but
destroyed with the submission's content; ``refused``: the review is visible, this is not; ``hidden``: the
review itself is not visible (the same answer as for no review at all)."""


@dataclass(frozen=True)
class User:
    """Someone asking, and what sets them apart from the others of their role."""

    label: str
    principal: Principal


@dataclass
class Facts:
    """What this test knows about a review, independently of the service: the policy's inputs, and what
    content the review holds."""

    id: str
    state: ReviewState
    assigned: frozenset[int] = frozenset()
    grants: frozenset[tuple[int, str]] = frozenset()
    sent_to_developer: bool = False
    has_findings: bool = False
    has_report: bool = False
    destroyed: bool = False


@dataclass(frozen=True)
class Observation:
    state: ReviewState
    user: str
    role: Role
    kind: str
    documented: bool
    policy: bool
    expected: Outcome
    page: Outcome | str
    api: Outcome | str


@dataclass
class Deployment:
    airlock: Airlock
    world: World
    client: TestClient
    clock: ManualClock
    users: list[User]
    acme: int
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)
    browsers: dict[str, TestClient] = field(default_factory=dict)

    def sign_in_everyone(self) -> None:
        for user in self.users:
            browser = TestClient(self.client.app, base_url="http://127.0.0.1", client=("127.0.0.1", 50000))
            answer = browser.post(
                "/sign-in", data={"email": user.principal.email, "password": PASSWORD}, follow_redirects=False
            )
            assert answer.status_code == 303, answer.text
            self.browsers[user.label] = browser


# The documented rules (docs/confidentiality.md), written out independently of the policy ------------------------


def documented(user: Principal, kind: str, facts: Facts, acme: int) -> bool:
    role, draft = user.role, facts.state is ReviewState.DRAFT
    own = user.organisation_id == acme
    on_team = user.user_id in facts.assigned
    granted = {granted_kind for organisation, granted_kind in facts.grants if organisation == user.organisation_id}
    sees_review = {
        Role.DEVELOPER_ADMIN: own,
        Role.DEVELOPER_MEMBER: own,
        Role.LEAD_REVIEWER: not draft,
        Role.REVIEWER: on_team and not draft,
        Role.PARTNER: bool(granted) and not draft,
        Role.AUDITOR: not draft,
        Role.OPERATOR: not draft,
        Role.VENDOR_CONTACT: False,  # a vendor's contacts see clearinghouse cases, never a review
    }[role]
    if kind in ("review", "listed") or not sees_review:
        return sees_review
    team = role in REVIEWER_ROLES and on_team
    developer_after_sending = role in DEVELOPER_ROLES and facts.sent_to_developer
    if kind == "evaluations":
        return team
    if kind == "findings":
        return team or developer_after_sending
    # A report variant; operators read content only with a break-glass reason, which no page or route gives.
    return team or developer_after_sending or (role is Role.PARTNER and kind in granted)


def policy(user: Principal, kind: str, facts: Facts, acme: int) -> bool:
    scope = Scope(
        developer_organisation_id=acme,
        assigned_user_ids=facts.assigned,
        partner_grants=facts.grants,
        is_draft=facts.state is ReviewState.DRAFT,
        sent_to_developer=facts.sent_to_developer,
    )
    if not is_permitted(user, Action.VIEW_REVIEW, scope):
        return False
    if kind in ("review", "listed"):
        return True
    if kind == "evaluations":
        return is_permitted(user, Action.VIEW_EVALUATION, scope)
    if kind == "findings":
        return is_permitted(user, Action.VIEW_FINDINGS, scope)
    return is_permitted(user, Action.READ_CONTENT, replace(scope, content_kind=kind, content_is_result=True))


def expected_outcome(permitted_to_see_review: bool, permitted: bool, kind: str, facts: Facts) -> Outcome:
    if not permitted_to_see_review:
        return "hidden"
    if not permitted:
        return "refused"
    if kind in ("review", "listed"):
        return "shown"
    if kind == "evaluations":
        return "none"  # the walk runs no evaluation: who may see them sees an empty list
    if facts.destroyed:
        return "gone"
    exists = facts.has_findings if kind == "findings" else facts.has_report
    return "shown" if exists else "none"


# What the front ends answer --------------------------------------------------------------------------------------


class Answer(Protocol):
    """An answer of the test client (which httpx it comes from does not matter here)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...


def _refusal(answer: Answer, hidden_words: str) -> Outcome | str:
    if answer.status_code == 404 and hidden_words in answer.text:
        return "hidden"
    if answer.status_code == 403:
        return "refused"
    if answer.status_code == 410:
        return "gone"
    return f"unexpected {answer.status_code}: {answer.text[:200]}"


def page_outcomes(browser: TestClient, facts: Facts) -> dict[str, Outcome | str]:
    listed: Outcome = "shown" if f'href="/reviews/{facts.id}"' in browser.get("/reviews").text else "hidden"
    page = browser.get(f"/reviews/{facts.id}")
    if page.status_code == 404:
        return {**dict.fromkeys(KINDS, "hidden"), "listed": listed}
    assert page.status_code == 200, page.text
    text = page.text
    outcomes: dict[str, Outcome | str] = {"review": "shown", "listed": listed}
    outcomes["evaluations"] = "none" if 'id="evaluations-heading"' in text else "refused"
    if 'id="findings-heading"' not in text:
        outcomes["findings"] = "refused"
    elif FINDING_TITLE in text:
        outcomes["findings"] = "shown"
    else:
        outcomes["findings"] = "gone" if "Destroyed with the submission's content" in text else "none"
    for variant in ("full", "redacted"):
        linked = f'href="/reviews/{facts.id}/report/{variant}"' in text
        answer = browser.get(f"/reviews/{facts.id}/report/{variant}/json")
        if answer.status_code == 200:
            outcome: Outcome | str = "shown"
        elif answer.status_code == 404 and f"has no {variant} report yet" in answer.text:
            outcome = "none"
        else:
            outcome = _refusal(answer, "There is no review")
        if linked != (outcome == "shown"):
            outcome = f"{outcome}, but the page {'links' if linked else 'does not link'} the {variant} report"
        outcomes[f"{variant}_report"] = outcome
    return outcomes


def api_outcomes(client: TestClient, token: dict[str, str], facts: Facts) -> dict[str, Outcome | str]:
    base = f"/api/v1/reviews/{facts.id}"
    hidden = "There is no review"
    review = client.get(base, headers=token)
    outcomes: dict[str, Outcome | str] = {"review": "shown" if review.status_code == 200 else _refusal(review, hidden)}
    listed = {item["id"] for item in client.get("/api/v1/reviews", headers=token).json()}
    outcomes["listed"] = "shown" if facts.id in listed else "hidden"
    for kind, path in (("evaluations", "evaluations"), ("findings", "findings")):
        answer = client.get(f"{base}/{path}", headers=token)
        if answer.status_code == 200:
            listed = answer.json()
            outcomes[kind] = "shown" if listed else "none"
            if kind == "findings" and listed and FINDING_TITLE not in {item["title"] for item in listed}:
                outcomes[kind] = "shown, without the reviewer's finding"
        else:
            outcomes[kind] = _refusal(answer, hidden)
    for variant in ("full", "redacted"):
        answer = client.get(f"{base}/reports/{variant}/json", headers=token)
        if answer.status_code == 200:
            outcomes[f"{variant}_report"] = "shown"
        elif answer.status_code == 404 and f"has no {variant} report yet" in answer.text:
            outcomes[f"{variant}_report"] = "none"
        else:
            outcomes[f"{variant}_report"] = _refusal(answer, hidden)
    return outcomes


def observe(deployment: Deployment, facts: Facts, into: list[Observation]) -> None:
    """Ask every question of this review, in its current state, as every user, three ways."""
    for user in deployment.users:
        principal = user.principal
        on_pages = page_outcomes(deployment.browsers[user.label], facts)
        through_api = api_outcomes(deployment.client, deployment.tokens[user.label], facts)
        sees_review = policy(principal, "review", facts, deployment.acme)
        for kind in KINDS:
            permitted = policy(principal, kind, facts, deployment.acme)
            into.append(
                Observation(
                    state=facts.state,
                    user=user.label,
                    role=principal.role,
                    kind=kind,
                    documented=documented(principal, kind, facts, deployment.acme),
                    policy=permitted,
                    expected=expected_outcome(sees_review, permitted, kind, facts),
                    page=on_pages[kind],
                    api=through_api[kind],
                )
            )


# The walk -------------------------------------------------------------------------------------------------------


def _people(airlock: Airlock, world: World) -> list[User]:
    """The world's users, and those whose difference the policy turns on: a lead reviewer and a reviewer who
    are not on the team, and a partner organisation granted other kinds."""
    operator = world.operator
    airlock.directory.add_organisation(operator, name="Water ISAC", kind="partner")
    airlock.directory.add_organisation(operator, name="Upstream Project", kind="vendor")
    for email, role, organisation in (
        ("security@upstream.test", "vendor_contact", "upstream-project"),
        ("lead2@lab.test", "lead_reviewer", AGENCY),
        ("reviewer2@lab.test", "reviewer", AGENCY),
        ("analyst@waterisac.test", "partner", "water-isac"),
    ):
        airlock.directory.add_user(operator, email=email, name="N", role=role, organisation=organisation)
    principal = airlock.directory.principal
    return [
        User("developer admin", world.acme_admin),
        User("developer member", world.acme_member),
        User("another developer", world.globex_admin),
        User("lead reviewer on the team", world.lead),
        User("lead reviewer off the team", principal("lead2@lab.test")),
        User("reviewer on the team", world.reviewer),
        User("reviewer off the team", principal("reviewer2@lab.test")),
        User("partner granted the redacted report", world.partner),
        User("partner granted the full report", principal("analyst@waterisac.test")),
        User("auditor", world.auditor),
        User("operator", operator),
        User("vendor contact", principal("security@upstream.test")),
    ]


def _new_review(deployment: Deployment, *, draft: bool = False) -> Facts:
    airlock, world = deployment.airlock, deployment.world
    release = airlock.clock.now().date() + timedelta(days=60)
    detail = airlock.submissions.submit(
        world.acme_admin,
        SubmissionRequest(
            model="openai-api/acme/frontier-1",
            model_version="1",
            planned_release_date=release,
            model_card="card",
            as_draft=draft,
        ),
    )
    grid_cert, water = (
        deployment.world.partner.organisation_id,
        airlock.directory.principal("analyst@waterisac.test").organisation_id,
    )
    airlock.reviews.grant(world.acme_admin, detail.id, "grid-cert", ["redacted_report"])
    airlock.reviews.grant(world.acme_admin, detail.id, "water-isac", ["full_report", "model_card"])
    grants = frozenset({(grid_cert, "redacted_report"), (water, "full_report"), (water, "model_card")})
    return Facts(id=detail.id, state=ReviewState(detail.state), grants=grants)


def _move(deployment: Deployment, facts: Facts, target: ReviewState, actor: Principal) -> None:
    deployment.airlock.reviews.transition(actor, facts.id, target, reason="walking the lifecycle")
    facts.state = target
    if target is ReviewState.DEVELOPER_RESPONSE:
        facts.sent_to_developer = True


def _accept_and_staff(deployment: Deployment, facts: Facts) -> None:
    airlock, world = deployment.airlock, deployment.world
    airlock.reviews.accept(world.lead, facts.id)
    airlock.reviews.assign(world.lead, facts.id, world.reviewer.email)
    facts.state, facts.assigned = ReviewState.ACCEPTED, frozenset({world.lead.user_id, world.reviewer.user_id})


def _record_finding(deployment: Deployment, facts: Facts) -> None:
    deployment.airlock.findings.add(
        deployment.world.reviewer, facts.id, title=FINDING_TITLE, body="Observed in two of three epochs."
    )
    facts.has_findings = True


def _build_report(deployment: Deployment, facts: Facts) -> None:
    deployment.airlock.reports.build(deployment.world.reviewer, facts.id)
    facts.has_report = True


def walk(deployment: Deployment) -> list[Observation]:
    """Every state of the lifecycle, each observed once; returns what every user was answered."""
    airlock, world = deployment.airlock, deployment.world
    observed: list[Observation] = []
    lead, reviewer = world.lead, world.reviewer

    draft = _new_review(deployment, draft=True)
    observe(deployment, draft, observed)

    declined = _new_review(deployment)
    observe(deployment, declined, observed)  # submitted
    airlock.reviews.decline(lead, declined.id, reason="out of scope")
    declined.state = ReviewState.DECLINED
    observe(deployment, declined, observed)

    main = _new_review(deployment)
    _accept_and_staff(deployment, main)
    observe(deployment, main, observed)  # accepted, nothing found yet
    _record_finding(deployment, main)
    _move(deployment, main, ReviewState.EVALUATING, reviewer)
    _build_report(deployment, main)
    observe(deployment, main, observed)
    for target, actor in (
        (ReviewState.DRAFT_REPORT, reviewer),
        (ReviewState.DEVELOPER_RESPONSE, lead),
        (ReviewState.FINAL_REPORT, lead),
        (ReviewState.CLOSED, lead),
    ):
        _move(deployment, main, target, actor)
        observe(deployment, main, observed)

    withdrawn = _new_review(deployment)
    _accept_and_staff(deployment, withdrawn)
    _record_finding(deployment, withdrawn)
    _move(deployment, withdrawn, ReviewState.EVALUATING, reviewer)
    airlock.reviews.withdraw(world.acme_admin, withdrawn.id, reason="release postponed")
    withdrawn.state, withdrawn.destroyed = ReviewState.WITHDRAWN, True
    observe(deployment, withdrawn, observed)

    # Expired after the draft was sent: the developer keeps what was sent to them (its findings here; one
    # report built in the walk is enough, and each build renders two PDFs).
    expired = _new_review(deployment)
    _accept_and_staff(deployment, expired)
    _record_finding(deployment, expired)
    for target, actor in (
        (ReviewState.EVALUATING, reviewer),
        (ReviewState.DRAFT_REPORT, reviewer),
        (ReviewState.DEVELOPER_RESPONSE, lead),
    ):
        _move(deployment, expired, target, actor)
    deadline = airlock.reviews.show(lead, expired.id).clock.deadline
    assert deadline is not None
    deployment.clock.set(deadline + timedelta(hours=1))
    deployment.sign_in_everyone()  # the browsers' sessions ended long before
    expired.state = ReviewState.EXPIRED
    observe(deployment, expired, observed)
    assert airlock.reviews.show(lead, expired.id).state == ReviewState.EXPIRED
    return observed


@pytest.fixture(scope="module")
def observations(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Observation]]:
    home = tmp_path_factory.mktemp("consistency")
    settings = Settings(home=home / "home", database_url=f"sqlite:///{home}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        airlock.initialise()
        world = build_world(airlock)
        users = _people(airlock, world)
        for user in users:
            airlock.sessions.set_password(user.principal, user.principal.email, PASSWORD)
        acme = world.acme_admin.organisation_id
        with TestClient(create_app(airlock)) as client:
            deployment = Deployment(airlock, world, client, clock, users, acme)
            for user in users:
                issued = airlock.tokens.issue(user.principal, name="consistency", days=365)
                deployment.tokens[user.label] = {"Authorization": f"Bearer {issued.token}"}
            deployment.sign_in_everyone()
            yield walk(deployment)
    finally:
        airlock.close()


def _mismatches(observations: list[Observation], front_end: Literal["page", "api"]) -> list[str]:
    return [
        f"{o.state} / {o.user} / {o.kind}: the policy says {o.expected}, the {front_end} {getattr(o, front_end)}"
        for o in observations
        if getattr(o, front_end) != o.expected
    ]


def test_every_role_kind_and_state_is_asked(observations: list[Observation]) -> None:
    asked = {(o.role, o.kind, o.state) for o in observations}
    assert asked == {(role, kind, state) for role in Role for kind in KINDS for state in ReviewState}


def test_the_policy_gives_the_documented_answers(observations: list[Observation]) -> None:
    wrong = [f"{o.state} / {o.user} / {o.kind}: policy {o.policy}" for o in observations if o.policy != o.documented]
    assert wrong == []


def test_the_pages_give_the_policys_answers(observations: list[Observation]) -> None:
    assert _mismatches(observations, "page") == []


def test_the_api_gives_the_policys_answers(observations: list[Observation]) -> None:
    assert _mismatches(observations, "api") == []


def test_the_walk_meets_every_answer_somewhere(observations: list[Observation]) -> None:
    """Each kind is given, refused and hidden to someone somewhere in the walk: no answer goes untested."""
    possible: dict[str, set[str]] = {
        "review": {"shown", "hidden"},
        "listed": {"shown", "hidden"},
        "evaluations": {"none", "refused", "hidden"},
        "findings": {"shown", "none", "gone", "refused", "hidden"},
        "full_report": {"shown", "none", "gone", "refused", "hidden"},
        "redacted_report": {"shown", "none", "gone", "refused", "hidden"},
    }
    met = {kind: {o.expected for o in observations if o.kind == kind} for kind in KINDS}
    assert met == possible


def test_a_developer_sees_findings_and_reports_only_once_the_draft_was_sent(observations: list[Observation]) -> None:
    developer = {
        (o.state, o.kind): o.expected
        for o in observations
        if o.user == "developer admin" and o.kind in ("findings", "full_report")
    }
    assert developer[(ReviewState.EVALUATING, "findings")] == "refused"
    assert developer[(ReviewState.DRAFT_REPORT, "full_report")] == "refused"
    assert developer[(ReviewState.DEVELOPER_RESPONSE, "findings")] == "shown"
    assert developer[(ReviewState.DEVELOPER_RESPONSE, "full_report")] == "shown"
    assert developer[(ReviewState.EXPIRED, "findings")] == "shown", "what was sent stays theirs"


def test_no_template_decides_by_a_role_name() -> None:
    templates = Path(__file__).parents[1] / "src" / "airlock" / "web" / "templates"
    for template in templates.glob("*.j2"):
        assert not re.search(r"\.role(\.value)?\s*(==|!=|\bin\b|\bis\b)", template.read_text()), template.name
