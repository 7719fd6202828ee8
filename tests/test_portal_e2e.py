"""The portal end to end, in a real Chromium driven by Playwright, against `airlock serve` in its own process.

A developer submits a model (a mistake first: the messages stand next to the fields), the lead reviewer
accepts it, starts the smoke evaluation and watches it progress, drafts and sends the report; the developer
answers a finding; the report is issued, viewed in the page and downloaded as a PDF, and a finding's sample is
opened from it in the transcript viewer; the developer grants a partner the redacted report, and the partner
and an auditor see only what they may (the transcript is refused to both, and every read is audited); the
developer withdraws another review and issues an API token; the lead reviewer opens the directory. A screenshot
of every page goes to ``build/test-artefacts/portal/`` (``AIRLOCK_TEST_ARTEFACTS`` moves it).

The browser is Debian's ``chromium`` package (Playwright's own download does not work offline);
``make test`` installs it where it can.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright
from sqlalchemy import select

from airlock.app import Airlock
from airlock.audit.models import AuditEntry
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.review import SubmissionRequest
from tests.support.fake_openai import FakeEndpoint, fake_endpoint, replaying_references
from tests.support.world import World, build_world
from tests.test_eval_runs import MODEL, suites_cache

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium package (apt-get install chromium; make test installs it when run as root)",
)
PASSWORD = "correct horse battery staple"
ARTEFACTS = Path(os.environ.get("AIRLOCK_TEST_ARTEFACTS", "build/test-artefacts")) / "portal"
RUN_TIMEOUT_MS = 300_000


@dataclass
class Served:
    url: str
    airlock: Airlock
    world: World
    endpoint: FakeEndpoint
    browser: Browser
    log: Path
    """What ``airlock serve`` wrote: its request log among it."""

    def sign_in(self, email: str) -> tuple[BrowserContext, Page]:
        context = self.browser.new_context(viewport={"width": 1366, "height": 800}, accept_downloads=True)
        page = context.new_page()
        page.goto(f"{self.url}/reviews")
        expect(page).to_have_url(f"{self.url}/sign-in?next=/reviews")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Reviews")).to_be_visible()
        return context, page


def screenshot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    airlock = Airlock.open(settings, ManualClock(datetime.now(UTC)), must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    for user in (world.acme_admin, world.lead, world.partner, world.auditor):
        # Each user's own password: one an operator sets only lets its user choose their own.
        airlock.sessions.set_password(user, user.email, PASSWORD)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "airlock.cli.main", "serve", "--port", str(port)],
            env={**os.environ, **settings.as_environment()},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/sign-in", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "airlock serve did not answer within 30 s"
            time.sleep(0.2)
        with fake_endpoint(replaying_references(suites_cache())) as endpoint, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                yield Served(url, airlock, world, endpoint, browser, log)
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
        airlock.close()


@pytest.mark.timeout(900)
def test_a_review_from_submission_to_the_issued_report_through_the_pages(served: Served) -> None:
    release = (datetime.now(UTC).date() + timedelta(days=60)).isoformat()
    developer_context, developer = served.sign_in(served.world.acme_admin.email)
    screenshot(developer, "01-developer-dashboard")

    # The developer submits; the first attempt has mistakes, shown next to their fields.
    developer.get_by_role("link", name="Submit a model").first.click()
    developer.get_by_label("Model", exact=False).first.fill("frontier-mini")
    developer.get_by_label("Planned public release").fill(release)
    developer.get_by_label("Model card").fill("A small frontier model.")
    developer.get_by_role("button", name="Submit for review").click()
    expect(developer.locator("#model-error")).to_contain_text("is not a model name")
    expect(developer.locator("#model_version-error")).to_contain_text("model version is empty")
    expect(developer.locator("#model")).to_have_value("frontier-mini")
    expect(developer.locator("#model_card")).to_have_value("A small frontier model.")
    screenshot(developer, "02-submission-with-mistakes")
    developer.locator("#model").fill(MODEL)
    developer.locator("#model_version").fill("1.0")
    developer.locator("#base_url").fill(served.endpoint.url)
    developer.locator("#endpoint_credentials").fill("sk-fake")
    developer.get_by_role("button", name="Submit for review").click()
    expect(developer.get_by_role("heading", name="Review R-")).to_be_visible()
    review = developer.url.rsplit("/", 1)[1]
    expect(developer.locator(".state.big")).to_have_text("submitted")
    screenshot(developer, "03-developer-review-submitted")

    # The lead reviewer accepts it from the dashboard and starts the smoke evaluation.
    lead_context, lead = served.sign_in(served.world.lead.email)
    expect(lead.get_by_role("link", name=review)).to_be_visible()
    screenshot(lead, "04-lead-dashboard")
    lead.get_by_role("link", name=review).click()
    lead.locator("#reason-accepted").fill("in scope for the cyber evaluation")
    lead.get_by_role("button", name="Accept").click()
    expect(lead.locator(".state.big")).to_have_text("accepted")
    expect(lead.locator(".clock")).to_contain_text("days left")
    lead.get_by_label("Assign a reviewer").fill(served.world.lead.email)
    lead.get_by_role("button", name="Assign", exact=True).click()
    expect(lead.locator(".facts")).to_contain_text(served.world.lead.email)
    lead.get_by_label("Suite").select_option("smoke")
    lead.get_by_role("button", name="Start evaluation").click()

    # Progress updates live (htmx polls the run's part of the page), then the page reloads by itself once the
    # run has ended.
    expect(lead.locator("#evaluations[hx-trigger]")).to_have_count(1)
    expect(lead.locator(".runs progress").first).to_have_attribute("value", re.compile("[1-9]"), timeout=RUN_TIMEOUT_MS)
    screenshot(lead, "05-evaluation-in-progress")
    expect(lead.locator(".runs .state").first).to_have_text("completed", timeout=RUN_TIMEOUT_MS)
    expect(lead.locator(".state.big")).to_have_text("evaluating")
    screenshot(lead, "06-evaluation-completed")

    lead.locator("#reason-draft_report").fill("smoke suite complete")
    lead.get_by_role("button", name="Draft the report").click()
    lead.get_by_role("button", name="Build the report").click()
    expect(lead.get_by_text("The full report:")).to_be_visible(timeout=60_000)
    lead.get_by_role("button", name="Send the draft report").click()
    expect(lead.locator(".state.big")).to_have_text("developer response")

    # The developer reads the findings and answers one.
    developer.reload()
    expect(developer.get_by_role("heading", name="Findings")).to_be_visible()
    developer.locator("form[action$='/response'] textarea").first.fill("Mitigated in version 1.1.")
    developer.get_by_role("button", name="Send response").first.click()
    expect(developer.get_by_text("Mitigated in version 1.1.").first).to_be_visible()
    screenshot(developer, "07-developer-answers-a-finding")

    # The lead issues the final report; it is shown in the page and downloads as a signed PDF.
    lead.reload()
    lead.get_by_role("button", name="Issue the final report").click()
    expect(lead.locator(".state.big")).to_have_text("final report")
    lead.get_by_role("button", name="Rebuild the report").click()
    lead.get_by_role("link", name="view it here").first.click()
    frame = lead.frame_locator("iframe.report")
    expect(frame.get_by_text(review).first).to_be_visible()
    screenshot(lead, "08-report-in-the-page")
    with lead.expect_download() as download:
        lead.get_by_role("link", name="Download the PDF").click()
    pdf = Path(download.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert served.airlock.reports.verify(pdf, _signature(served, review)).variant == "full"

    # The evidence behind a finding: the lead opens a finding's sample from the report page, in the transcript
    # viewer (the model's output shown as text, the verdict with the oracle's evidence).
    evidence = lead.locator("section[aria-labelledby=evidence-heading]")
    expect(evidence.get_by_role("heading", name=re.compile("Exploit accepted")).first).to_be_visible()
    sample_link = evidence.get_by_role("link").first
    # Scrolled to first, as a reader would: a click that has to scroll past the report's frame itself is lost
    # in headless Chromium (no request is sent), though the link works.
    sample_link.scroll_into_view_if_needed()
    sample_link.click()
    lead.wait_for_url(re.compile(r"/samples/"))
    expect(lead.get_by_role("heading", name=re.compile("^Sample "))).to_be_visible()
    expect(lead.locator(".facts")).to_contain_text("exploit")
    expect(lead.get_by_role("heading", name="The conversation")).to_be_visible()
    expect(lead.locator("ol.transcript li.role-assistant").first).to_be_visible()
    viewer = lead.url
    screenshot(lead, "08a-finding-sample-in-the-transcript-viewer")

    # A partner sees the redacted report once granted, and nothing else; an auditor checks the audit log.
    developer.goto(f"{served.url}/reviews/{review}")
    developer.get_by_label("Partner organisation").fill("grid-cert")
    developer.get_by_label("redacted report", exact=True).check()
    developer.get_by_role("button", name="Grant access").click()
    expect(developer.get_by_text("grid-cert may read: redacted report")).to_be_visible()
    partner_context, partner = served.sign_in(served.world.partner.email)
    partner.get_by_role("link", name=review).click()
    expect(partner.get_by_text("The redacted report:")).to_be_visible()
    expect(partner.get_by_text("The full report:")).to_have_count(0)
    expect(partner.get_by_role("heading", name="Findings")).to_have_count(0)
    screenshot(partner, "09-partner-view")
    partner.goto(viewer)
    expect(partner.get_by_text("may not see the samples of evaluation run")).to_be_visible()
    expect(partner.locator("ol.transcript")).to_have_count(0)
    screenshot(partner, "09a-partner-refused-the-transcript")
    auditor_context, auditor = served.sign_in(served.world.auditor.email)
    auditor.goto(viewer)
    expect(auditor.get_by_text("may not see the samples of evaluation run")).to_be_visible()
    expect(auditor.locator("ol.transcript")).to_have_count(0)
    auditor.goto(f"{served.url}/reviews")
    auditor.get_by_role("link", name="Audit log").click()
    auditor.get_by_role("button", name="Verify the whole log").click()
    expect(auditor.get_by_text("The log is intact")).to_be_visible()
    screenshot(auditor, "10-auditor-verifies-the-log")

    # The developer withdraws another review.
    other = served.airlock.submissions.submit(
        served.world.acme_admin,
        SubmissionRequest(model="openai-api/acme/other", model_version="0.9", planned_release_date=release),
    )
    developer.goto(f"{served.url}/reviews/{other.id}")
    developer.locator("#reason-withdrawn").fill("superseded by version 1.0")
    developer.get_by_role("button", name="Withdraw").click()
    expect(developer.locator(".state.big")).to_have_text("withdrawn")
    expect(developer.get_by_text("superseded by version 1.0")).to_be_visible()
    screenshot(developer, "11-developer-withdrew-a-review")
    developer.goto(f"{served.url}/reviews")
    screenshot(developer, "12-developer-dashboard-after")

    # Each user's account (API tokens, password); the directory for agency staff.
    developer.get_by_role("link", name="Account").click()
    developer.get_by_label("What it is for").fill("release pipeline")
    developer.get_by_role("button", name="Issue a token").click()
    expect(developer.locator("code.secret")).to_contain_text("alk_")
    screenshot(developer, "13-developer-account-with-a-new-token")
    lead.get_by_role("link", name="Directory").click()
    expect(lead.get_by_role("rowheader", name="grid-cert")).to_be_visible()
    screenshot(lead, "14-lead-directory")
    for context in (developer_context, lead_context, partner_context, auditor_context):
        context.close()

    # The server logged every request, and nothing secret: no password, session, CSRF or API token.
    logged = served.log.read_text()
    assert re.search(r'"POST /sign-in HTTP/1\.1" 303', logged), logged[-2000:]
    assert f'"GET /reviews/{review} HTTP/1.1" 200' in logged
    for secret in (PASSWORD, "alk_", "airlock_session=", "csrf="):
        assert secret not in logged

    # Each read of the transcript is in the audit log: the lead's decryption, the partner's and auditor's refusals.
    reads = [(e.actor, e.action, e.outcome) for e in _audit(served) if e.action in ("content.read", "sample.read")]
    assert (served.world.lead.email, "content.read", "allowed") in reads
    assert (served.world.partner.email, "sample.read", "refused") in reads
    assert (served.world.auditor.email, "sample.read", "refused") in reads
    transcript_reads = [
        e for e in _audit(served) if e.action == "content.read" and e.details.get("kind") == "eval_transcript"
    ]
    assert [e.actor for e in transcript_reads if "read the transcript of sample" in e.purpose] == [
        served.world.lead.email
    ]


def _audit(served: Served) -> list[AuditEntry]:
    with served.airlock.database.transaction(read_only=True) as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def _signature(served: Served, review: str) -> str:
    files = served.airlock.reports.export(served.world.lead, review, "full")
    return next(f for f in files if f.name.endswith(".pdf.sig")).data.decode()
