"""The portal's pages behind a real browser's back: sessions, CSRF, throttled sign-in, forms that keep what
the user typed and are not submitted twice, and pages that show each role only what it may see. (The
end-to-end walk through the pages in Chromium is in test_portal_e2e.py.)"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from fastapi.testclient import TestClient

from airlock.access import Principal
from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.review import SubmissionRequest
from airlock.web.pages import dashboard, reports
from tests.support.cli import Cli
from tests.support.world import World, build_world, database_snapshot
from tests.test_eval_runs import accepted_review

PASSWORD = "correct horse battery staple"


@dataclass
class Portal:
    airlock: Airlock
    world: World
    settings: Settings
    clock: ManualClock
    app_client: TestClient

    def browser(self, base_url: str = "http://127.0.0.1") -> TestClient:
        """A fresh browser (its own cookie jar) on the portal, on this machine (plain HTTP is for loopback only)."""
        return TestClient(self.app_client.app, base_url=base_url, client=("127.0.0.1", 50000))

    def signed_in(self, user: Principal) -> tuple[TestClient, str]:
        """A browser signed in as ``user``, and its session's CSRF token."""
        browser = self.browser()
        answer = browser.post("/sign-in", data={"email": user.email, "password": PASSWORD}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return browser, csrf_of(browser.get("/reviews"))


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[Portal]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    for user in (world.acme_admin, world.lead, world.reviewer, world.partner, world.auditor, world.globex_admin):
        # Each user's own password: one an operator sets only lets its user choose their own.
        airlock.sessions.set_password(user, user.email, PASSWORD)
    try:
        with TestClient(create_app(airlock)) as client:
            yield Portal(airlock, world, settings, clock, client)
    finally:
        airlock.close()


class Page(Protocol):
    """An answer of the test client (which httpx it comes from does not matter here)."""

    @property
    def text(self) -> str: ...


def csrf_of(page: Page) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert found, page.text
    return found.group(1)


def form_token_of(page: Page) -> str:
    found = re.search(r'name="form_token" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found.group(1)


def field_errors(page: Page) -> dict[str, str]:
    return dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]*)</p>', page.text))


def reviews_in_database(portal: Portal) -> int:
    return len(database_snapshot(portal.airlock.database)["reviews"])


# Signing in ------------------------------------------------------------------------------------------------------


def test_a_visitor_who_is_not_signed_in_is_sent_to_the_sign_in_page(portal: Portal) -> None:
    browser = portal.browser()
    assert browser.get("/", follow_redirects=False).headers["location"] == "/sign-in"
    page = browser.get("/reviews/R-ANYTHING", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/sign-in?next=/reviews/R-ANYTHING"
    live = browser.get("/reviews/R-ANYTHING/evaluations", headers={"HX-Request": "true"})
    assert live.status_code == 401
    assert live.headers["HX-Redirect"] == "/sign-in"


def test_signing_in_sets_a_hardened_cookie_and_signing_out_ends_the_session(portal: Portal) -> None:
    browser = portal.browser()
    answer = browser.post(
        "/sign-in", data={"email": "Admin@Acme.test ", "password": PASSWORD, "next": "/submit"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/submit"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "secure" not in cookie, "plain HTTP on loopback: a laptop or a test"
    secret = browser.cookies["airlock_session"]
    assert secret not in str(database_snapshot(portal.airlock.database, with_audit=True)), "only its hash is kept"

    page = browser.get("/reviews")
    assert page.status_code == 200
    assert "Admin" in page.text
    assert browser.post("/sign-out", data={"csrf": csrf_of(page)}, follow_redirects=False).status_code == 303
    stolen = portal.browser()
    stolen.cookies.set("airlock_session", secret)
    assert stolen.get("/reviews", follow_redirects=False).status_code == 303, "a signed-out session is dead"


def test_behind_tls_the_cookie_is_secure_and_over_plain_http_from_elsewhere_sign_in_is_refused(portal: Portal) -> None:
    behind_tls = portal.browser("https://portal.lab.example")
    answer = behind_tls.post(
        "/sign-in", data={"email": portal.world.lead.email, "password": PASSWORD}, follow_redirects=False
    )
    assert "secure" in answer.headers["set-cookie"].lower()

    plain = portal.browser("http://portal.lab.example")
    refused = plain.post("/sign-in", data={"email": portal.world.lead.email, "password": PASSWORD})
    assert refused.status_code == 422
    assert "served over plain HTTP" in refused.text
    assert "set-cookie" not in refused.headers


def test_a_wrong_password_and_an_unknown_account_get_the_same_answer_and_are_audited(portal: Portal) -> None:
    browser = portal.browser()
    wrong = browser.post("/sign-in", data={"email": portal.world.lead.email, "password": "not the password"})
    unknown = browser.post("/sign-in", data={"email": "nobody@lab.test", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert "The email address or the password is wrong." in wrong.text
    assert wrong.text.replace(portal.world.lead.email, "nobody@lab.test") == unknown.text
    assert 'value="nobody@lab.test"' in unknown.text, "the email typed is kept"
    entries = portal.airlock.oversight.entries(portal.world.auditor)
    failed = [entry.target for entry in entries if entry.action == "session.sign_in_failed"]
    assert failed == [f"user:{portal.world.lead.email}", "user:nobody@lab.test"]


def test_sign_in_is_paused_after_five_failures_even_for_the_right_password(portal: Portal) -> None:
    browser, email = portal.browser(), portal.world.lead.email
    for _ in range(5):
        assert browser.post("/sign-in", data={"email": email, "password": "guess guess guess"}).status_code == 401
    throttled = browser.post("/sign-in", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert throttled.status_code == 429
    assert "Sign-in is paused after 5 failed attempts in 15 minutes" in throttled.text
    # Another account from the same address is not affected (up to 20 failures from one address).
    other = browser.post("/sign-in", data={"email": portal.world.reviewer.email, "password": PASSWORD})
    assert other.status_code == 200

    portal.clock.advance(timedelta(minutes=16))
    again = portal.browser().post("/sign-in", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert again.status_code == 303


def test_after_sign_in_the_browser_goes_only_to_a_page_of_this_portal(portal: Portal) -> None:
    for target in ("//evil.example/phish", "https://evil.example/", "/\\evil.example"):
        answer = portal.browser().post(
            "/sign-in",
            data={"email": portal.world.lead.email, "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert answer.headers["location"] == "/reviews", target


def test_password_rules_and_who_may_set_a_password(portal: Portal) -> None:
    run = Cli(portal.settings, portal.clock)
    member = portal.world.acme_member.email
    short = run("user", "password", member, "--password-stdin", "--as", member, input="tooshort")
    assert short.exit_code == 1
    assert "A password needs 12 to 1024 characters; this one has 8." in short.stderr
    others = run("user", "password", portal.world.lead.email, "--password-stdin", "--as", member, input=PASSWORD)
    assert others.exit_code == 1
    assert "may not set another user's password" in others.stderr
    no_terminal = run("user", "password", member, "--as", member, input="a brand new passphrase")
    assert no_terminal.exit_code == 2
    assert "pipe the password in" in no_terminal.stderr
    own = run("user", "password", member, "--password-stdin", "--as", member, input="a brand new passphrase\n")
    assert own.exit_code == 0, own.stderr

    browser, _ = portal.signed_in(portal.world.lead)
    portal.airlock.sessions.set_password(portal.world.lead, portal.world.lead.email, "another long passphrase")
    assert browser.get("/reviews", follow_redirects=False).status_code == 303, "a new password ends old sessions"


# Forms ------------------------------------------------------------------------------------------------------------


def test_a_form_without_the_session_csrf_token_changes_nothing(portal: Portal) -> None:
    browser, csrf = portal.signed_in(portal.world.acme_admin)
    form = browser.get("/submit")
    data = {
        "form_token": form_token_of(form),
        "model": "openai-api/acme/a3",
        "model_version": "3",
        "planned_release_date": (portal.clock.now().date() + timedelta(days=50)).isoformat(),
        "confidentiality_marking": "confidential",
    }
    before = database_snapshot(portal.airlock.database)
    forged = browser.post("/submit", data={**data, "csrf": "0" * 64})
    assert forged.status_code == 403
    assert "CSRF token, so nothing was done" in forged.text
    api = browser.post("/api/v1/tokens", json={"name": "forged"})
    assert api.status_code == 403
    assert database_snapshot(portal.airlock.database) == before
    assert browser.post("/submit", data={**data, "csrf": csrf}, follow_redirects=False).status_code == 303


def test_bad_submission_input_is_shown_next_to_each_field_and_what_was_typed_is_kept(portal: Portal) -> None:
    browser, csrf = portal.signed_in(portal.world.acme_admin)
    typed = {
        "csrf": csrf,
        "form_token": form_token_of(browser.get("/submit")),
        "model": "falcon",
        "model_version": "",
        "planned_release_date": "2020-02-30",
        "base_url": "https://user:pw@models.acme.test/v1",
        "endpoint_credentials": "sk-secret-value",
        "model_card": "Our <b>model</b>",
        "artefacts": "weights=nothex",
        "confidentiality_marking": "highly_confidential",
    }
    before = database_snapshot(portal.airlock.database)
    page = browser.post("/submit", data=typed)

    assert page.status_code == 422
    errors = field_errors(page)
    assert set(errors) == {"model", "model_version", "planned_release_date", "base_url", "artefacts"}
    assert "is not a model name" in errors["model"]
    assert "model version is empty" in errors["model_version"]
    assert 'aria-describedby="model-error model-hint"' in page.text
    assert 'value="falcon"' in page.text
    assert "Our &lt;b&gt;model&lt;/b&gt;</textarea>" in page.text, "kept, and escaped"
    assert '<option value="highly_confidential" selected>' in page.text
    assert "sk-secret-value" not in page.text, "credentials are never sent back"
    assert database_snapshot(portal.airlock.database) == before


def test_a_double_submitted_form_makes_one_review(portal: Portal) -> None:
    browser, csrf = portal.signed_in(portal.world.acme_admin)
    data = {
        "csrf": csrf,
        "form_token": form_token_of(browser.get("/submit")),
        "model": "openai-api/acme/a4",
        "model_version": "4",
        "planned_release_date": (portal.clock.now().date() + timedelta(days=50)).isoformat(),
        "confidentiality_marking": "confidential",
    }
    first = browser.post("/submit", data=data, follow_redirects=False)
    second = browser.post("/submit", data=data, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert reviews_in_database(portal) == 1
    page = browser.get(first.headers["location"])
    assert "openai-api/acme/a4" in page.text

    # A refused submission gives its token back, so the corrected form goes through.
    refused = {**data, "form_token": form_token_of(browser.get("/submit")), "model_version": ""}
    assert browser.post("/submit", data=refused).status_code == 422
    corrected = browser.post("/submit", data={**refused, "model_version": "5"}, follow_redirects=False)
    assert corrected.status_code == 303
    assert reviews_in_database(portal) == 2


# What each role sees ------------------------------------------------------------------------------------------


# Which role sees what on which page, in every state, is compared with the policy in test_access_consistency.py.


def test_another_developers_review_is_neither_listed_nor_shown(portal: Portal) -> None:
    review = accepted_review(portal.airlock, portal.world, base_url="http://127.0.0.1:9/v1")
    globex, _ = portal.signed_in(portal.world.globex_admin)
    assert review not in globex.get("/reviews").text
    hidden = globex.get(f"/reviews/{review}")
    assert hidden.status_code == 404
    assert f"There is no review {review} that {portal.world.globex_admin.email} can see." in hidden.text


def test_a_report_is_shown_in_a_sandboxed_frame_as_the_file_that_was_signed(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    built = airlock.reports.build(world.reviewer, review)
    airlock.reviews.grant(world.acme_admin, review, "grid-cert", ["redacted_report"])
    partner, _ = portal.signed_in(world.partner)
    assert f'src="/reviews/{review}/report/redacted/html"' in partner.get(f"/reviews/{review}/report/redacted").text
    shown = partner.get(f"/reviews/{review}/report/redacted/html")
    assert shown.status_code == 200
    assert shown.headers["content-security-policy"] == reports.REPORT_POLICY
    signed = next(f for f in built.files["redacted"] if f.name.endswith(".html"))
    assert shown.content == signed.data


def test_the_auditor_verifies_the_audit_log_from_the_audit_page(portal: Portal) -> None:
    auditor, csrf = portal.signed_in(portal.world.auditor)
    verified = auditor.post("/audit/verify", data={"csrf": csrf})
    assert verified.status_code == 200
    assert "The log is intact" in verified.text


def test_pages_load_nothing_from_elsewhere_and_say_so_in_their_policy(portal: Portal) -> None:
    browser, _ = portal.signed_in(portal.world.acme_admin)
    for path in ("/sign-in", "/reviews", "/submit"):
        page = browser.get(path)
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources
        assert all(source.startswith(("/", "#")) or source == "data:," for source in sources), sources
    for asset in re.findall(r'(?:src|href)="(/static/[^"?]+)', browser.get("/reviews").text):
        assert browser.get(asset).status_code == 200, asset


def test_the_dashboard_shows_reviews_a_page_at_a_time(portal: Portal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "DASHBOARD_PAGE", 2)
    release = portal.clock.now().date() + timedelta(days=40)
    made = [
        portal.airlock.submissions.submit(
            portal.world.acme_admin,
            SubmissionRequest(model=f"openai-api/acme/m{number}", model_version="1", planned_release_date=release),
        ).id
        for number in range(3)
    ]
    browser, _ = portal.signed_in(portal.world.lead)
    first = browser.get("/reviews").text
    assert [review in first for review in made] == [False, True, True], "newest first"
    assert "Older reviews" in first
    assert "Newer reviews" not in first
    second = browser.get("/reviews?page=2").text
    assert [review in second for review in made] == [True, False, False]
    assert "Newer reviews" in second
    assert "Older reviews" not in second


def test_a_refused_form_on_a_review_page_shows_why_at_that_form_and_keeps_what_was_typed(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    reviewer, csrf = portal.signed_in(world.reviewer)
    lead, lead_csrf = portal.signed_in(world.lead)
    before = database_snapshot(airlock.database)

    finding = {"csrf": csrf, "title": "Chains two bugs", "body": "  ", "level": "CY-2", "for_partners": "yes"}
    page = reviewer.post(f"/reviews/{review}/findings", data=finding)
    assert page.status_code == 422
    assert re.search(r'<p class="error" role="alert" id="finding-error">[^<]*body must be', page.text)
    assert 'value="Chains two bugs"' in page.text
    assert 'value="CY-2"' in page.text
    assert re.search(r'id="finding-partners"[^>]*checked', page.text)

    team = lead.post(f"/reviews/{review}/team", data={"csrf": lead_csrf, "reviewer": "nobody@lab.test"})
    assert team.status_code == 404
    assert "nobody@lab.test" in team.text
    assert database_snapshot(airlock.database) == before


def error_at(page: Page, where: str) -> str:
    """The message a page shows at one of its forms, as the user reads it."""
    found = re.search(rf'<p class="error" role="alert" id="{where}-error">([^<]*)</p>', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


# The clock, the team and the partners -------------------------------------------------------------------------


def test_the_clock_the_team_and_the_partners_are_managed_from_the_review_page(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    lead, lead_csrf = portal.signed_in(world.lead)
    admin, admin_csrf = portal.signed_in(world.acme_admin)
    page = lead.get(f"/reviews/{review}").text
    assert "Pause the clock" in page
    assert "Extend the deadline" in page
    assert 'name="consent_from"' in page, "a reviewer names the developer who consented"
    assert 'name="consent_from"' not in admin.get(f"/reviews/{review}").text, "the developer's admin consents"

    before = database_snapshot(airlock.database)
    pause = {"csrf": lead_csrf, "change": "pause", "reason": "endpoint down"}
    refused = lead.post(f"/reviews/{review}/clock", data=pause)
    assert refused.status_code == 409
    assert "needs the developer's recorded consent" in error_at(refused, "clock-pause")
    assert "--consent" not in refused.text, "no command-line options on a page"
    assert 'value="endpoint down"' in refused.text
    # The page opens on a summary of what went wrong, linked to the form's message, so nobody has to look for it.
    assert re.search(r'class="error-summary"[^>]*>\s*<h2>That was not done</h2>\s*<p>Pausing the clock', refused.text)
    assert 'href="#clock-pause-error"' in refused.text
    explode = lead.post(f"/reviews/{review}/clock", data={"csrf": lead_csrf, "change": "explode", "reason": "x"})
    assert explode.status_code == 422
    assert "Unknown change of the clock &#39;explode&#39;; choose one of: pause, resume, extend." in explode.text
    soon = lead.post(f"/reviews/{review}/clock", data={"csrf": lead_csrf, "change": "extend", "days": "soon"})
    assert "must be a whole number" in error_at(soon, "clock-extend")
    assert 'value="soon"' in soon.text
    assert database_snapshot(airlock.database) == before

    consent = {"consent_from": world.acme_admin.email, "consent_reference": "email of 30 Nov"}
    assert lead.post(f"/reviews/{review}/clock", data={**pause, **consent}, follow_redirects=False).status_code == 303
    assert airlock.reviews.show(world.lead, review).clock.status == "paused"
    assert "Resume the clock" in lead.get(f"/reviews/{review}").text
    resume = {"csrf": lead_csrf, "change": "resume", "reason": "endpoint back"}
    assert lead.post(f"/reviews/{review}/clock", data=resume, follow_redirects=False).status_code == 303
    extend = {"csrf": admin_csrf, "change": "extend", "days": "5", "reason": "a second suite"}
    assert admin.post(f"/reviews/{review}/clock", data=extend, follow_redirects=False).status_code == 303
    clock = airlock.reviews.show(world.lead, review).clock
    assert (clock.status, clock.extension_days) == ("running", 5)

    off = {"csrf": lead_csrf, "reviewer": world.reviewer.email}
    assert lead.post(f"/reviews/{review}/team/remove", data=off, follow_redirects=False).status_code == 303
    assert world.reviewer.email not in airlock.reviews.show(world.lead, review).assigned

    nothing = admin.post(f"/reviews/{review}/partners", data={"csrf": admin_csrf, "partner": "grid-cert"})
    assert "Name at least one content kind" in error_at(nothing, "partners")
    assert 'value="grid-cert"' in nothing.text
    grant = {"csrf": admin_csrf, "partner": "grid-cert", "content": ["model_card", "redacted_report"]}
    assert admin.post(f"/reviews/{review}/partners", data=grant, follow_redirects=False).status_code == 303
    grants = airlock.reviews.show(world.acme_admin, review).partner_grants
    assert [(g.partner, sorted(g.content)) for g in grants] == [("grid-cert", ["model_card", "redacted_report"])]
    assert "grid-cert may read: model card, redacted report" in admin.get(f"/reviews/{review}").text
    partner, _ = portal.signed_in(world.partner)
    seen = partner.get(f"/reviews/{review}")
    assert seen.status_code == 200
    assert "submitted -&gt; accepted</li>" in seen.text, "a partner's timeline does not say who acted"
    revoke = {"csrf": admin_csrf, "partner": "grid-cert"}
    assert admin.post(f"/reviews/{review}/partners/remove", data=revoke, follow_redirects=False).status_code == 303
    assert partner.get(f"/reviews/{review}").status_code == 404


# The account and the directory --------------------------------------------------------------------------------


def test_the_account_page_issues_and_revokes_tokens_and_changes_the_password(portal: Portal) -> None:
    reviewer, csrf = portal.signed_in(portal.world.reviewer)
    bad = reviewer.post("/account/tokens", data={"csrf": csrf, "name": "notebook", "days": "a week"})
    assert "must be a whole number" in error_at(bad, "tokens")
    assert 'value="notebook"' in bad.text
    assert 'value="a week"' in bad.text

    issued = reviewer.post("/account/tokens", data={"csrf": csrf, "name": "notebook", "days": "7"})
    assert issued.status_code == 201
    secret = re.search(r'<code class="secret">(alk_[^<]+)</code>', issued.text)
    assert secret, issued.text
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    assert portal.app_client.get("/api/v1/me", headers=bearer).json()["email"] == portal.world.reviewer.email
    again = reviewer.get("/account").text
    assert "notebook" in again
    assert secret.group(1) not in again, "the secret is shown once"
    token_id = secret.group(1).split("_")[1]
    assert reviewer.post(f"/account/tokens/{token_id}/revoke", data={"csrf": csrf}).status_code == 200
    assert portal.app_client.get("/api/v1/me", headers=bearer).status_code == 401

    change = {"csrf": csrf, "current_password": "not it at all", "password": "a brand new passphrase"}
    wrong = reviewer.post("/account/password", data={**change, "repeated": change["password"]})
    assert "current password is wrong" in error_at(wrong, "password")
    failed = portal.airlock.oversight.entries(portal.world.auditor, newest=5)
    assert "user.password.change_failed" in [entry.action for entry in failed], "audited like a failed sign-in"
    differ = reviewer.post("/account/password", data={**change, "current_password": PASSWORD, "repeated": "typo"})
    assert "two new passwords differ" in error_at(differ, "password")
    changed = reviewer.post(
        "/account/password",
        data={**change, "current_password": PASSWORD, "repeated": change["password"]},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert reviewer.get("/reviews", follow_redirects=False).status_code == 303, "every session ended"
    fresh = portal.browser()
    new = {"email": portal.world.reviewer.email, "password": change["password"]}
    assert fresh.post("/sign-in", data=new, follow_redirects=False).status_code == 303


def test_the_directory_page_adds_organisations_and_users_and_sets_passwords(portal: Portal) -> None:
    world, airlock = portal.world, portal.airlock
    airlock.sessions.set_password(world.operator, world.operator.email, PASSWORD)
    operator, csrf = portal.signed_in(world.operator)
    page = operator.get("/directory").text
    assert "grid-cert" in page
    assert "analyst@gridcert.test" in page

    before = database_snapshot(airlock.database)
    taken = operator.post(
        "/directory/organisations", data={"csrf": csrf, "name": "Acme", "kind": "developer", "slug": "acme-ai"}
    )
    assert "already exists" in error_at(taken, "organisation")
    assert "--slug" not in taken.text
    assert 'value="Acme"' in taken.text
    assert '<option value="developer" selected>' in taken.text
    assert database_snapshot(airlock.database) == before

    added = operator.post("/directory/organisations", data={"csrf": csrf, "name": "Initech", "kind": "developer"})
    assert "Added the organisation Initech (initech)." in added.text
    person = {"csrf": csrf, "email": "boss@initech.test", "name": "Bill", "role": "developer_admin"}
    added = operator.post("/directory/users", data={**person, "organisation": "initech"})
    assert "Added boss@initech.test as developer_admin of initech." in added.text
    short = operator.post(
        "/directory/passwords", data={"csrf": csrf, "email": "boss@initech.test", "password": "short"}
    )
    assert "A password needs 12" in error_at(short, "password")
    assert 'value="short"' not in short.text, "a password is never sent back"
    password = {"csrf": csrf, "email": "boss@initech.test", "password": PASSWORD}
    assert "Set a first password for boss@initech.test" in operator.post("/directory/passwords", data=password).text
    boss = portal.browser()
    given = {"email": "boss@initech.test", "password": PASSWORD}
    assert "Choose your own password" in boss.post("/sign-in", data=given).text, "a first password is one-time"
    chosen = {**given, "new_password": "the boss's own passphrase", "repeated": "the boss's own passphrase"}
    assert boss.post("/sign-in", data=chosen, follow_redirects=False).status_code == 303

    # A developer's administrator adds people to their own organisation only, and lists nobody.
    admin, admin_csrf = portal.signed_in(world.acme_admin)
    own = admin.get("/directory").text
    assert "Add a user" in own
    assert "Add an organisation" not in own
    assert "gridcert" not in own
    outsider = {"csrf": admin_csrf, "email": "spy@acme.test", "name": "Spy", "role": "developer_member"}
    refused = admin.post("/directory/users", data={**outsider, "organisation": "globex"})
    assert refused.status_code == 403
    assert "may not" in error_at(refused, "user")
    assert 'value="spy@acme.test"' in refused.text

    auditor, _ = portal.signed_in(world.auditor)
    assert "Unusual access" in auditor.get("/audit").text
