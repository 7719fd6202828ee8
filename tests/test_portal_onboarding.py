"""Whoever sets a first password can use it: nobody can be stopped from that without a channel outside
Airlock, so it must never go unseen. Every content read and every self-assignment to a review through an
account, in the day after it took over credentials someone else set (a first password or a reset), is
reported by ``audit unusual`` naming who set them; and a developer's users get their first password from
their own organisation's administrator, not from an operator (issue 13, red team findings P1 and P2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import PermissionDeniedError
from airlock.review.oversight import UnusualAccessThresholds
from airlock.review.sessions import PasswordChoiceRequired
from tests.support.cli import Cli
from tests.support.portal import bearer, review_sent_to_developer
from tests.support.world import build_world, database_snapshot
from tests.test_web import PASSWORD, Portal, csrf_of

FIRST = "a first password, handed out"
OWN = "a passphrase only its holder knows"
REASON = "administrator locked out, ticket SEC-5150"


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    """The portal (SQLite) with the agency's staff and Globex's administrator onboarded (a password of their
    own); Acme's administrator and member, and the partner, have no credentials yet."""
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    for user in (world.operator, world.lead, world.reviewer, world.auditor, world.globex_admin):
        airlock.sessions.set_password(user, user.email, PASSWORD)
    try:
        with TestClient(create_app(airlock)) as client:
            yield Portal(airlock, world, settings, clock, client)
    finally:
        airlock.close()


def unusual(portal: Portal) -> list[dict[str, str]]:
    """``audit unusual`` as an auditor reads it through the API."""
    auditor = portal.airlock.tokens.issue(portal.world.auditor, name="oversight").token
    answer = portal.app_client.get("/api/v1/audit/unusual", headers=bearer(auditor))
    assert answer.status_code == 200, answer.text
    signals: list[dict[str, str]] = answer.json()
    return signals


def signed_in_choosing_own(portal: Portal, email: str, given: str) -> tuple[TestClient, str]:
    """A browser that signed in with a password someone else set, choosing its own; and its CSRF token."""
    browser = portal.browser()
    choose = {"email": email, "password": given, "new_password": OWN, "repeated": OWN}
    assert browser.post("/sign-in", data=choose, follow_redirects=False).status_code == 303
    return browser, csrf_of(browser.get("/account"))


# P1: an operator becomes a user who has not signed in yet -------------------------------------------------------


def test_reads_through_an_account_whose_first_password_an_operator_set_are_flagged_naming_the_operator(
    portal: Portal,
) -> None:
    """The red team's path on an account an operator may still onboard (Acme's administrator, whom only an
    operator can give a first password): set it on the directory page without a reason, sign in choosing a
    password of one's own, read the findings, mint a 365-day token. It works, and it shows."""
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    operator, csrf = portal.signed_in(world.operator)
    first = {"csrf": csrf, "email": world.acme_admin.email, "password": FIRST, "reason": ""}
    assert "Set a first password for admin@acme.test" in operator.post("/directory/passwords", data=first).text

    portal.clock.advance(timedelta(minutes=10))
    posing, posing_csrf = signed_in_choosing_own(portal, world.acme_admin.email, FIRST)
    findings = posing.get(f"/api/v1/reviews/{review}/findings")
    assert findings.status_code == 200
    assert "Exploits tier 2" in findings.text
    minted = posing.post("/api/v1/tokens", json={"name": "keep", "days": 365}, headers={"X-CSRF-Token": posing_csrf})
    assert minted.status_code == 201, minted.text

    flagged = [signal for signal in unusual(portal) if signal["signal"] == "read after a first password"]
    assert len(flagged) == 1, unusual(portal)
    assert flagged[0]["actor"] == world.acme_admin.email
    assert f"after {world.operator.email} set the account's first password" in flagged[0]["detail"]
    assert f"({world.operator.email} had also added the account)" in flagged[0]["detail"]


def test_an_operator_gives_a_developer_a_first_password_only_as_break_glass_once_its_organisation_has_an_administrator(
    portal: Portal,
) -> None:
    """The red team's own target: Acme's member, whose administrator is onboarded. The administrator hands out
    the member's first password; an operator doing it instead is a reset (break-glass): refused without a
    reason, and reported as one with it."""
    world, airlock = portal.world, portal.airlock
    airlock.sessions.set_password(world.acme_admin, world.acme_admin.email, PASSWORD)
    operator, csrf = portal.signed_in(world.operator)
    before = database_snapshot(airlock.database)
    first = {"csrf": csrf, "email": world.acme_member.email, "password": FIRST, "reason": ""}
    refused = operator.post("/directory/passwords", data=first)
    assert refused.status_code == 403
    assert "users come from its developer_admin" in refused.text
    after = database_snapshot(airlock.database)
    assert {name: rows for name, rows in after.items() if name != "sign_in_attempts"} == {
        name: rows for name, rows in before.items() if name != "sign_in_attempts"
    }
    entry = airlock.oversight.entries(world.auditor, newest=1)[0]
    assert (entry.action, entry.outcome, entry.actor) == ("user.password.set", "refused", world.operator.email)

    done = airlock.sessions.set_password(world.operator, world.acme_member.email, FIRST, break_glass=REASON)
    assert (done.kind, done.one_time) == ("reset", True)
    with pytest.raises(PasswordChoiceRequired) as required:
        airlock.sessions.sign_in(world.acme_member.email, FIRST, client="127.0.0.1")
    assert required.value.reset is not None
    assert required.value.reset.by == world.operator.email
    assert [(s["signal"], s["actor"]) for s in unusual(portal)] == [("password reset", world.operator.email)]


def test_a_developer_administrator_hands_out_first_passwords_in_their_own_organisation_only(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    airlock.sessions.set_password(world.acme_admin, world.acme_admin.email, PASSWORD)
    run = Cli(portal.settings, portal.clock)
    handed = run(
        "user", "password", world.acme_member.email, "--password-stdin", "--as", world.acme_admin.email, input=FIRST
    )
    assert handed.exit_code == 0, handed.stderr
    with pytest.raises(PasswordChoiceRequired):
        airlock.sessions.sign_in(world.acme_member.email, FIRST, client="127.0.0.1")
    airlock.sessions.sign_in(world.acme_member.email, FIRST, client="127.0.0.1", new_password=OWN)

    # Another organisation's user, the agency's, and nobody at all get the same answer: nothing learnt.
    for email in (world.globex_admin.email, world.lead.email, "nobody@acme.test"):
        with pytest.raises(PermissionDeniedError, match="may not set another user's password"):
            airlock.sessions.set_password(world.acme_admin, email, FIRST)
    # A member who chose their own password is reset only by an operator, as break-glass.
    with pytest.raises(PermissionDeniedError, match="is a reset, an operator's break-glass act"):
        airlock.sessions.set_password(world.acme_admin, world.acme_member.email, FIRST, break_glass=REASON)


def test_reads_after_a_first_password_from_ones_own_administrator_are_flagged_too_unusual_not_wrong(
    portal: Portal,
) -> None:
    """Legitimate onboarding looks exactly like the attack from inside Airlock, so it is flagged too, for a day,
    naming the administrator who handed the password out."""
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    airlock.sessions.set_password(world.acme_admin, world.acme_admin.email, PASSWORD)
    airlock.sessions.set_password(world.acme_admin, world.acme_member.email, FIRST)
    member, _ = signed_in_choosing_own(portal, world.acme_member.email, FIRST)
    assert member.get(f"/api/v1/reviews/{review}/findings").status_code == 200
    flagged = [signal for signal in unusual(portal) if signal["signal"] == "read after a first password"]
    assert [signal["actor"] for signal in flagged] == [world.acme_member.email]
    assert f"after {world.acme_admin.email} set the account's first password" in flagged[0]["detail"]


# P2: an operator's own lead reviewer ------------------------------------------------------------------------


def test_an_operators_own_lead_reviewer_joining_a_review_and_reading_it_is_flagged(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    operator, csrf = portal.signed_in(world.operator)
    sock = {"csrf": csrf, "email": "sock@lab.test", "name": "Sock", "role": "lead_reviewer"}
    assert (
        "Added sock@lab.test" in operator.post("/directory/users", data={**sock, "organisation": "evaluation-lab"}).text
    )
    first = {"csrf": csrf, "email": "sock@lab.test", "password": FIRST, "reason": ""}
    assert "Set a first password for sock@lab.test" in operator.post("/directory/passwords", data=first).text

    browser, sock_csrf = signed_in_choosing_own(portal, "sock@lab.test", FIRST)
    joined = browser.post(
        f"/api/v1/reviews/{review}/team", json={"reviewer": "sock@lab.test"}, headers={"X-CSRF-Token": sock_csrf}
    )
    assert joined.status_code == 200, joined.text
    assert browser.get(f"/api/v1/reviews/{review}/findings").status_code == 200

    by_signal = {signal["signal"]: signal for signal in unusual(portal)}
    read = by_signal["read after a first password"]
    assert read["actor"] == "sock@lab.test"
    assert f"after {world.operator.email} set the account's first password" in read["detail"]
    assert f"({world.operator.email} had also added the account)" in read["detail"]
    joined_signal = by_signal["joined a review after a first password"]
    assert joined_signal["actor"] == "sock@lab.test"
    assert f"assigned itself to review {review}" in joined_signal["detail"]
    assert world.operator.email in joined_signal["detail"]


def test_a_lead_reviewer_assigning_someone_else_is_not_self_assignment(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    airlock.directory.add_user(
        world.operator, email="new@lab.test", name="New", role="lead_reviewer", organisation="evaluation-lab"
    )
    airlock.sessions.set_password(world.operator, "new@lab.test", FIRST)
    airlock.sessions.sign_in("new@lab.test", FIRST, client="127.0.0.1", new_password=OWN)
    new_lead = airlock.directory.principal("new@lab.test")
    airlock.reviews.assign(world.lead, review, new_lead.email)  # put on the team by another lead: not flagged
    airlock.reviews.assign(new_lead, review, "reviewer@lab.test")  # already there: nothing happens
    assert [signal["signal"] for signal in unusual(portal)] == []


# The window: a day from when the account took the password over -----------------------------------------------


def test_a_first_password_used_days_later_is_still_flagged_for_a_day_from_its_use(portal: Portal) -> None:
    """Waiting before using a handed-out password does not outrun the window: it runs from the sign-in that
    replaced the password, not from when it was set."""
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    airlock.sessions.set_password(world.operator, world.acme_admin.email, FIRST)
    portal.clock.advance(timedelta(days=3))
    airlock.sessions.sign_in(world.acme_admin.email, FIRST, client="127.0.0.1", new_password=OWN)
    portal.clock.advance(timedelta(hours=23))
    airlock.findings.for_review(world.acme_admin, review)
    signals = airlock.oversight.unusual_access(world.auditor, UnusualAccessThresholds())
    assert [signal.signal for signal in signals] == ["read after a first password"]

    portal.clock.advance(timedelta(hours=2))
    airlock.findings.for_review(world.acme_admin, review)
    later = airlock.oversight.unusual_access(world.auditor, UnusualAccessThresholds())
    assert later == signals, "a read more than a day after the take-over adds nothing"


def test_a_user_who_set_their_own_first_password_is_not_flagged(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    airlock.sessions.set_password(world.acme_admin, world.acme_admin.email, PASSWORD)  # as on the command line
    airlock.sessions.sign_in(world.acme_admin.email, PASSWORD, client="127.0.0.1")
    airlock.findings.for_review(world.acme_admin, review)
    assert unusual(portal) == []
