"""Accounts behind the portal's walls: nobody acts as someone else without break-glass, every authentication
event is an audit entry written only on a log that verifies, a new password ends every token, sign-in
throttling holds under parallel attempts, forwarded headers come only from named proxies, and no other site
can sign a browser in."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from airlock.access import Principal
from airlock.app import Airlock
from airlock.audit.log import AuditIntegrityError, chain_hash, entry_record
from airlock.audit.models import AuditEntry, AuditHead
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import AuthenticationError, PermissionDeniedError, ThrottledError
from airlock.review.models import ApiToken, SignInAttempt, WebSession
from airlock.review.oversight import UnusualAccessThresholds
from airlock.review.sessions import MAX_FAILURES_PER_ACCOUNT, PasswordChoiceRequired
from tests.support.cli import Cli
from tests.support.portal import bearer, portal_with_own_passwords, review_sent_to_developer
from tests.support.served import airlock_serve
from tests.support.world import World, build_world, database_snapshot
from tests.test_web import PASSWORD, Portal, csrf_of

REASON = "developer locked out, ticket SEC-4711"
CHOSEN = "a passphrase of the operator's choosing"


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    with portal_with_own_passwords(tmp_path) as opened:
        yield opened


def actions(airlock: Airlock, auditor: Principal, since: int = 0) -> list[str]:
    return [entry.action for entry in airlock.oversight.entries(auditor, newest=1000) if entry.seq > since]


def log_size(airlock: Airlock) -> int:
    with airlock.database.transaction(read_only=True) as session:
        return int(session.scalar(select(AuditHead.size)) or 0)


# An operator acting as someone else -----------------------------------------------------------------------------


def test_resetting_a_password_someone_chose_is_refused_without_a_reason(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    operator, csrf = portal.signed_in(world.operator)
    before = database_snapshot(airlock.database)
    refused = operator.post(
        "/directory/passwords", data={"csrf": csrf, "email": world.acme_admin.email, "password": CHOSEN}
    )
    assert refused.status_code == 403
    assert "a new password is a reset: a break-glass act that needs a recorded reason" in refused.text
    after = database_snapshot(airlock.database)
    assert {name: rows for name, rows in after.items() if name != "sign_in_attempts"} == {
        name: rows for name, rows in before.items() if name != "sign_in_attempts"
    }
    entry = airlock.oversight.entries(world.auditor, newest=1)[0]
    assert (entry.action, entry.outcome, entry.actor) == ("user.password.set", "refused", world.operator.email)

    run = Cli(portal.settings, portal.clock)
    cli = run("user", "password", world.acme_admin.email, "--password-stdin", input=CHOSEN)
    assert cli.exit_code == 1
    assert "--break-glass REASON" in cli.stderr


def test_a_reset_ends_the_users_sessions_and_tokens_and_lets_the_password_only_choose_a_new_one(
    portal: Portal,
) -> None:
    world, airlock = portal.world, portal.airlock
    developer, _ = portal.signed_in(world.acme_admin)
    token = airlock.tokens.issue(world.acme_admin, name="release pipeline", days=365).token
    assert portal.app_client.get("/api/v1/me", headers=bearer(token)).status_code == 200

    operator, csrf = portal.signed_in(world.operator)
    reset = {"csrf": csrf, "email": world.acme_admin.email, "password": CHOSEN, "reason": REASON}
    done = operator.post("/directory/passwords", data=reset)
    assert "Reset the password of admin@acme.test: 1 session and 1 API token of theirs ended with it" in done.text
    assert developer.get("/reviews", follow_redirects=False).status_code == 303, "their session ended"
    assert portal.app_client.get("/api/v1/me", headers=bearer(token)).status_code == 401, "their token ended"

    # The reset password signs nobody in: it only lets its holder choose a new one, and says who reset it and why.
    holder = portal.browser()
    page = holder.post("/sign-in", data={"email": world.acme_admin.email, "password": CHOSEN}, follow_redirects=False)
    assert page.status_code == 200
    assert "set-cookie" not in page.headers
    assert "Choose your own password" in page.text
    notice = re.search(r'<div class="notice-box" role="alert" id="reset-notice">(.*?)</div>', page.text, re.S)
    assert notice, page.text
    assert f"reset</strong> by {world.operator.email} on {portal.clock.now():%Y-%m-%d}" in notice.group(1)
    assert REASON in notice.group(1)
    with pytest.raises(PasswordChoiceRequired):
        airlock.sessions.sign_in(world.acme_admin.email, CHOSEN, client="127.0.0.1")
    same = {"email": world.acme_admin.email, "password": CHOSEN, "new_password": CHOSEN, "repeated": CHOSEN}
    assert "The new password is the one you were given" in holder.post("/sign-in", data=same).text


def test_acting_through_a_reset_account_is_flagged_as_unusual_and_what_it_minted_dies_with_the_next_password(
    portal: Portal,
) -> None:
    """The issue's path: reset the developer admin's password, sign in as them, read the full report, mint a
    365-day token; `audit unusual` names both the reset and the reads, and setting the password back ends
    the token."""
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    operator, csrf = portal.signed_in(world.operator)
    reset = {"csrf": csrf, "email": world.acme_admin.email, "password": CHOSEN, "reason": REASON}
    assert operator.post("/directory/passwords", data=reset).status_code == 200

    portal.clock.advance(timedelta(minutes=5))
    posing = portal.browser()
    own = "the operator's secret passphrase"
    choose = {"email": world.acme_admin.email, "password": CHOSEN, "new_password": own, "repeated": own}
    assert posing.post("/sign-in", data=choose, follow_redirects=False).status_code == 303
    assert posing.get(f"/reviews/{review}/report/full/pdf").content.startswith(b"%PDF-")
    minted = posing.post("/account/tokens", data={"csrf": csrf_of(posing.get("/account")), "name": "x", "days": "365"})
    token = re.search(r'<code class="secret">(alk_[^<]+)</code>', minted.text)
    assert token, minted.text
    through_api = portal.app_client.get(f"/api/v1/reviews/{review}/reports/full/json", headers=bearer(token.group(1)))
    assert through_api.status_code == 200

    auditor = airlock.tokens.issue(world.auditor, name="audit").token
    signals = portal.app_client.get("/api/v1/audit/unusual", headers=bearer(auditor)).json()
    by_signal = {signal["signal"]: signal for signal in signals}
    assert by_signal["password reset"]["actor"] == world.operator.email
    assert REASON in by_signal["password reset"]["detail"]
    flagged = by_signal["read after a password reset"]
    assert flagged["actor"] == world.acme_admin.email
    assert f"after {world.operator.email} reset the account's password: {REASON}" in flagged["detail"]
    assert "Unusual access" in portal.signed_in(world.auditor)[0].get("/audit").text

    # Setting the password back (another reset, with its reason) ends what was minted in between.
    back = {"csrf": csrf, "email": world.acme_admin.email, "password": PASSWORD, "reason": "restoring after SEC-4711"}
    assert "Reset the password" in operator.post("/directory/passwords", data=back).text
    assert portal.app_client.get("/api/v1/me", headers=bearer(token.group(1))).status_code == 401


def test_reads_a_day_after_a_reset_are_not_flagged_as_reads_after_it(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = review_sent_to_developer(airlock, world)
    airlock.sessions.set_password(world.operator, world.acme_admin.email, CHOSEN, break_glass=REASON)
    airlock.sessions.sign_in(world.acme_admin.email, CHOSEN, client="127.0.0.1", new_password=PASSWORD + "!")
    portal.clock.advance(timedelta(hours=25))
    airlock.reports.export(world.acme_admin, review, "full")
    signals = airlock.oversight.unusual_access(world.auditor, UnusualAccessThresholds())
    assert [signal.signal for signal in signals] == ["password reset"]


def test_a_first_password_needs_no_reason_is_one_time_and_is_audited(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    airlock.directory.add_user(
        world.operator, email="new@lab.test", name="New Reviewer", role="reviewer", organisation="evaluation-lab"
    )
    run = Cli(portal.settings, portal.clock)
    first = run("user", "password", "new@lab.test", "--password-stdin", input=CHOSEN)
    assert first.exit_code == 0, first.stderr
    assert "it lets them only choose their own at /sign-in" in first.stdout
    again = run("user", "password", "new@lab.test", "--password-stdin", input=CHOSEN + "?")
    assert again.exit_code == 0, "a first password not yet used may be handed out again"
    entries = [
        e
        for e in airlock.oversight.entries(world.auditor, newest=10)
        if e.action.startswith("user.password") and e.target == "user:new@lab.test"
    ]
    assert [(e.actor, e.action, e.target, e.details["one_time"]) for e in entries] == [
        (world.operator.email, "user.password.set", "user:new@lab.test", True),
        (world.operator.email, "user.password.set", "user:new@lab.test", True),
    ]
    with pytest.raises(PasswordChoiceRequired) as required:
        airlock.sessions.sign_in("new@lab.test", CHOSEN + "?", client="127.0.0.1")
    assert required.value.reset is None, "a first password is no reset"
    airlock.sessions.sign_in("new@lab.test", CHOSEN + "?", client="127.0.0.1", new_password="my very own passphrase")
    later = run("user", "password", "new@lab.test", "--password-stdin", input=CHOSEN)
    assert later.exit_code == 1, "once the user chose one, a new password is a reset"
    assert "--break-glass REASON" in later.stderr


def test_a_user_with_api_tokens_but_no_password_has_credentials_so_a_password_for_them_is_a_reset(
    portal: Portal,
) -> None:
    world, airlock = portal.world, portal.airlock
    airlock.tokens.issue(world.partner, name="feed")
    with pytest.raises(PermissionDeniedError, match=r"may not set the password of analyst@gridcert\.test"):
        airlock.sessions.set_password(world.operator, world.partner.email, CHOSEN)
    done = airlock.sessions.set_password(world.operator, world.partner.email, CHOSEN, break_glass=REASON)
    assert (done.kind, done.tokens_ended) == ("reset", 1)


def test_nobody_but_an_operator_sets_another_users_password_or_learns_who_exists(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    for email in (world.lead.email, "nobody@lab.test"):
        with pytest.raises(PermissionDeniedError, match="may not set another user's password"):
            airlock.sessions.set_password(world.acme_admin, email, CHOSEN, break_glass=REASON)


# Every authentication event is an audit entry ------------------------------------------------------------------


def test_every_authentication_event_is_one_audit_entry_and_the_log_verifies(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    airlock.directory.add_user(
        world.operator, email="kim@lab.test", name="Kim", role="reviewer", organisation="evaluation-lab"
    )
    kim = airlock.directory.principal("kim@lab.test")
    start = log_size(airlock)

    airlock.sessions.set_password(world.operator, kim.email, CHOSEN)  # a first password
    with pytest.raises(AuthenticationError):
        airlock.sessions.sign_in(kim.email, "not the password at all", client="127.0.0.1")
    browser = portal.browser()
    own = "kim's own long passphrase"
    choose = {"email": kim.email, "password": CHOSEN, "new_password": own, "repeated": own}
    assert browser.post("/sign-in", data=choose, follow_redirects=False).status_code == 303
    csrf = csrf_of(browser.get("/account"))
    issued = browser.post("/api/v1/tokens", json={"name": "notebook"}, headers={"X-CSRF-Token": csrf})
    assert browser.delete(f"/api/v1/tokens/{issued.json()['token']['id']}", headers={"X-CSRF-Token": csrf}).is_success
    assert browser.post("/sign-out", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    browser, csrf = portal.browser(), ""
    assert browser.post("/sign-in", data={"email": kim.email, "password": own}, follow_redirects=False).is_redirect
    changed = {"csrf": csrf_of(browser.get("/account")), "current_password": own, "password": own + "2"}
    assert browser.post(
        "/account/password", data={**changed, "repeated": own + "2"}, follow_redirects=False
    ).is_redirect
    airlock.sessions.set_password(world.operator, kim.email, CHOSEN, break_glass=REASON)

    assert actions(airlock, world.auditor, since=start) == [
        "user.password.set",
        "session.sign_in_failed",
        "user.password.change",  # chosen at the first sign-in, in the sign-in's own transaction
        "session.sign_in",
        "token.issue",
        "token.revoke",
        "session.sign_out",
        "session.sign_in",
        "user.password.change",
        "user.password.reset",
    ]
    entries = log_size(airlock)
    verified = Cli(portal.settings, portal.clock)("audit", "verify")
    assert verified.exit_code == 0, verified.stderr
    assert f"The audit log is intact: {entries} entries" in verified.stdout


def append_outside_airlock(airlock: Airlock) -> None:
    """Rewrite the log's tail behind Airlock's back: one entry more, chained and counted as Airlock would."""
    with airlock.database.transaction() as session:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
        forged = AuditEntry(
            seq=last.seq + 1,
            at=last.at,
            actor="insider@lab.test",
            action="content.read",
            target="submission:S-FORGED00",
            outcome="allowed",
            purpose="",
            details={},
        )
        forged.entry_hash = chain_hash(bytes.fromhex(last.entry_hash), entry_record(forged)).hex()
        session.add(forged)
        session.execute(update(AuditHead).values(size=forged.seq, head_hash=forged.entry_hash))


def _rows(session: Session) -> tuple[int, int, int]:
    return (
        int(session.scalar(select(func.count()).select_from(ApiToken)) or 0),
        int(session.scalar(select(func.count()).select_from(WebSession).where(WebSession.ended_at.is_(None))) or 0),
        int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0),
    )


def test_no_authentication_event_proceeds_on_a_log_whose_tail_was_rewritten(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    token = airlock.tokens.issue(world.reviewer, name="kept")
    signed_in = airlock.sessions.sign_in(world.reviewer.email, PASSWORD, client="127.0.0.1")
    append_outside_airlock(airlock)
    with airlock.database.transaction(read_only=True) as session:
        before = _rows(session)
    attempts: list[Callable[[], object]] = [
        lambda: airlock.tokens.issue(world.reviewer, name="another"),
        lambda: airlock.tokens.revoke(world.reviewer, token.view.id),
        lambda: airlock.sessions.set_password(world.reviewer, world.reviewer.email, CHOSEN),
        lambda: airlock.sessions.set_password(world.operator, world.lead.email, CHOSEN, break_glass=REASON),
        lambda: airlock.sessions.sign_in(world.lead.email, PASSWORD, client="127.0.0.1"),
        lambda: airlock.sessions.sign_in(world.lead.email, "a wrong password here", client="127.0.0.1"),
        lambda: airlock.sessions.sign_out(signed_in.cookie),
        lambda: airlock.sessions.change_password(world.reviewer, PASSWORD, CHOSEN, client="127.0.0.1"),
    ]
    for attempt in attempts:
        with pytest.raises(AuditIntegrityError, match="will not sign over it"):
            attempt()
    with airlock.database.transaction(read_only=True) as session:
        assert _rows(session) == before, "no token, session or entry was added or ended"
    assert portal.app_client.get("/api/v1/me", headers=bearer(token.token)).status_code == 200


# Tokens end with the password ----------------------------------------------------------------------------------


def test_api_tokens_end_when_their_users_password_changes_or_is_reset(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    first = airlock.tokens.issue(world.reviewer, name="first", days=365).token
    reviewer, csrf = portal.signed_in(world.reviewer)
    change = {"csrf": csrf, "current_password": PASSWORD, "password": CHOSEN, "repeated": CHOSEN}
    assert reviewer.post("/account/password", data=change, follow_redirects=False).status_code == 303
    assert portal.app_client.get("/api/v1/me", headers=bearer(first)).status_code == 401, "a change ends it"
    assert airlock.tokens.visible_to(world.reviewer)[0].revoked_at is not None, "listed as revoked"

    second = airlock.tokens.issue(world.reviewer, name="second", days=365).token
    assert portal.app_client.get("/api/v1/me", headers=bearer(second)).status_code == 200
    airlock.sessions.set_password(world.operator, world.reviewer.email, PASSWORD, break_glass=REASON)
    assert portal.app_client.get("/api/v1/me", headers=bearer(second)).status_code == 401, "a reset ends it"


# Throttling under parallel attempts ----------------------------------------------------------------------------


def test_parallel_wrong_passwords_never_check_more_than_the_limit(airlock: Airlock, world: World) -> None:
    airlock.sessions.set_password(world.lead, world.lead.email, PASSWORD)

    def guess(number: int) -> str:
        try:
            airlock.sessions.sign_in(world.lead.email, f"guess number {number:04d}", client="198.51.100.7")
        except AuthenticationError:
            return "checked"
        except ThrottledError:
            return "throttled"
        return "signed in"

    with ThreadPoolExecutor(max_workers=24) as pool:
        outcomes = list(pool.map(guess, range(24)))
    assert outcomes.count("checked") == MAX_FAILURES_PER_ACCOUNT, outcomes
    assert outcomes.count("throttled") == 24 - MAX_FAILURES_PER_ACCOUNT
    with airlock.database.transaction(read_only=True) as session:
        attempts = session.scalar(select(func.count()).select_from(SignInAttempt))
    assert attempts == MAX_FAILURES_PER_ACCOUNT
    failures = [action for action in actions(airlock, world.auditor) if action == "session.sign_in_failed"]
    assert len(failures) == MAX_FAILURES_PER_ACCOUNT


# Forwarded headers and where a sign-in comes from ---------------------------------------------------------------


def _sign_in_clients(airlock: Airlock, auditor: Principal) -> list[str]:
    return [
        str(entry.details["client"])
        for entry in airlock.oversight.entries(auditor, newest=100)
        if entry.action.startswith("session.sign_in")
    ]


def test_forwarded_headers_are_believed_only_from_the_proxies_the_settings_name(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    airlock.sessions.set_password(world.lead, world.lead.email, PASSWORD)
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    sign_in = {"email": world.lead.email, "password": PASSWORD}
    try:
        with airlock_serve(settings, tmp_path / "default.log") as served:
            answer = httpx.post(f"{served.url}/sign-in", data=sign_in, headers=forged)
            assert answer.status_code == 303
            assert "secure" not in answer.headers["set-cookie"].lower(), "the forged https was not believed"
            httpx.post(f"{served.url}/sign-in", data={**sign_in, "password": "wrong wrong wrong"}, headers=forged)
        assert _sign_in_clients(airlock, world.auditor) == ["127.0.0.1", "127.0.0.1"]

        with airlock_serve(settings, tmp_path / "proxied.log", {"AIRLOCK_TRUSTED_PROXIES": "127.0.0.1"}) as served:
            answer = httpx.post(f"{served.url}/sign-in", data=sign_in, headers=forged)
            assert answer.status_code == 303
            assert "secure" in answer.headers["set-cookie"].lower(), "a named proxy says the request came over TLS"
        assert _sign_in_clients(airlock, world.auditor)[-1] == "203.0.113.9"
    finally:
        airlock.close()


def test_a_sign_in_sent_from_another_sites_page_is_refused(portal: Portal) -> None:
    sign_in = {"email": portal.world.lead.email, "password": PASSWORD}
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = portal.browser().post("/sign-in", data=sign_in, headers=headers, follow_redirects=False)
        assert refused.status_code == 403, headers
        assert "came from a page of another site" in refused.text
        assert "set-cookie" not in refused.headers
    for headers in ({"Origin": "http://127.0.0.1"}, {"Sec-Fetch-Site": "same-origin"}, {}):
        signed = portal.browser().post("/sign-in", data=sign_in, headers=headers, follow_redirects=False)
        assert signed.status_code == 303, headers
