"""The clearinghouse in the portal: its REST API under /api/v1/vulns and its pages under /vulns, thin front ends
over the service. A vendor's contact, signed in, sees only the case their organisation was notified of, gets the
same 404 for another vendor's case as for no case, downloads a proof of concept only through the service's
audited read, and answers from the case's page; bad input through the API is a problem naming the field, with
nothing changed."""

from __future__ import annotations

import base64
import functools
import html
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from airlock.access import Principal
from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.audit.models import AuditEntry
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.vulns.intake import ReportDraft
from tests.support.portal import bearer
from tests.support.served import airlock_serve
from tests.support.world import build_world, database_snapshot
from tests.test_api import is_problem
from tests.test_vulns_clearinghouse import CLEAN, CRASH, CVSS, NOTES_SOURCE
from tests.test_web import PASSWORD, Portal, csrf_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OTHER_CRASH_REPORT = "==7==ERROR: AddressSanitizer: use-after-free on address 0x7\n    #0 0x7 in render view.c:12\n"


@dataclass
class Clearing:
    portal: Portal
    vendor: Principal
    """The contact of notes-project, notified of ``case``."""
    other_vendor: Principal
    """The contact of other-vendor, notified of ``other_case`` only."""
    case: str
    report: str
    """``case``'s report: its PoC reproduced against notes 1.4.1."""
    other_case: str
    other_report: str

    @property
    def airlock(self) -> Airlock:
        return self.portal.airlock

    def token(self, user: Principal) -> dict[str, str]:
        return bearer(self.airlock.tokens.issue(user, name="test", days=1).token)


def draft(poc: bytes = CRASH, **fields: object) -> dict[str, Any]:
    """A report's JSON, as a partner sends it (a title with markup in it, which no page may render)."""
    given: dict[str, Any] = {
        "title": "Heap overflow in <b>notes</b>' page decoder",
        "program": "notes",
        "affected_versions": ["1.4.1"],
        "reporter": "analyst@gridcert.test",
        "poc": base64.b64encode(poc).decode(),
        "details": "DETAILS-MARKER: the page length is never checked.",
    }
    return {**given, **fields}


@pytest.fixture
def clearing(tmp_path: Path) -> Iterator[Clearing]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    try:
        world = build_world(airlock)
        directory, house = airlock.directory, airlock.clearinghouse
        for name in ("Notes Project", "Other Vendor"):
            directory.add_organisation(world.operator, name=name, kind="vendor")
        for email, organisation in (("security@notes.test", "notes-project"), ("psirt@other.test", "other-vendor")):
            directory.add_user(
                world.operator, email=email, name="Contact", role="vendor_contact", organisation=organisation
            )
        vendor, other_vendor = directory.principal("security@notes.test"), directory.principal("psirt@other.test")
        for user in (vendor, other_vendor, world.reviewer, world.lead, world.partner, world.auditor, world.acme_admin):
            airlock.sessions.set_password(user, user.email, PASSWORD)
        house.add_program(world.reviewer, "notes", "1.4.1", {"notes.c": NOTES_SOURCE}, vendor="notes-project")

        first = house.submit(world.partner, ReportDraft.model_validate(draft()))
        assert first.reproduction == "reproduced"
        house.notify(world.reviewer, first.case)
        house.share(world.reviewer, first.case, "grid-cert", with_poc=False)
        # Another program with no registered build: its report waits for one, and its vendor is another's.
        other = house.submit(
            world.reviewer,
            ReportDraft.model_validate(
                draft(program="viewer", title="Use after free in viewer", crash_report=OTHER_CRASH_REPORT)
            ),
        )
        house.add_vendor(world.reviewer, other.case, "other-vendor")
        house.notify(world.reviewer, other.case)
        with TestClient(create_app(airlock)) as client:
            yield Clearing(
                Portal(airlock, world, settings, clock, client),
                vendor,
                other_vendor,
                first.case,
                first.report,
                other.case,
                other.report,
            )
    finally:
        airlock.close()


def content_reads(airlock: Airlock) -> list[AuditEntry]:
    with airlock.database.transaction(read_only=True) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "content.read")))


def unchanged_but_tokens(airlock: Airlock) -> dict[str, list[tuple[object, ...]]]:
    """The database without the API tokens (using one records when it was last used)."""
    return {table: rows for table, rows in database_snapshot(airlock.database).items() if table != "api_tokens"}


# The pages ---------------------------------------------------------------------------------------------------


def test_a_vendor_contact_sees_only_their_notified_case_and_a_404_for_another_vendors(clearing: Clearing) -> None:
    browser, _ = clearing.portal.signed_in(clearing.vendor)
    listed = browser.get("/vulns")
    assert listed.status_code == 200
    assert '<a href="/vulns">Vulnerabilities</a>' in listed.text, "the navigation offers the cases"
    assert f'href="/vulns/{clearing.case}"' in listed.text
    assert clearing.other_case not in listed.text

    page = browser.get(f"/vulns/{clearing.case}")
    assert page.status_code == 200
    assert "TLP:AMBER" in page.text
    assert "Heap overflow in &lt;b&gt;notes&lt;/b&gt;" in page.text, "a reporter's text is shown as text"
    assert "<b>notes</b>" not in page.text
    assert re.search(rf"<th scope=\"row\">{clearing.report}</th>.*?reproduced", page.text, re.S)
    assert f'href="/vulns/reports/{clearing.report}/poc"' in page.text
    assert 'action="/vulns/' + clearing.case + '/answer"' in page.text, "the vendor's contact may answer"
    assert "Notes Project" in page.text
    assert "grid-cert" not in page.text, "not who else the case was shared with"
    assert "DETAILS-MARKER" not in page.text, "content only through the audited read"

    for path in (f"/vulns/{clearing.other_case}", f"/vulns/reports/{clearing.other_report}/poc"):
        hidden = browser.get(path)
        assert hidden.status_code == 404, path
    hidden = browser.get(f"/vulns/{clearing.other_case}")
    missing = browser.get("/vulns/V-NOSUCH12")
    assert f"There is no case {clearing.other_case} that {clearing.vendor.email} can see." in hidden.text
    assert hidden.text.replace(clearing.other_case, "V-NOSUCH12") == missing.text, "as if it did not exist"

    developer, _ = clearing.portal.signed_in(clearing.portal.world.acme_admin)
    assert 'href="/vulns"' not in developer.get("/reviews").text, "no cases for a role that sees none"
    assert "No vulnerability case that you may see." in developer.get("/vulns").text
    assert developer.get(f"/vulns/{clearing.case}").status_code == 404


def test_downloading_a_proof_of_concept_is_the_services_audited_read(clearing: Clearing) -> None:
    world = clearing.portal.world
    vendor, _ = clearing.portal.signed_in(clearing.vendor)
    downloaded = vendor.get(f"/vulns/reports/{clearing.report}/poc")
    assert downloaded.status_code == 200
    assert downloaded.content == CRASH
    assert downloaded.headers["content-type"] == "application/octet-stream"
    assert downloaded.headers["content-disposition"] == f'attachment; filename="{clearing.report}.poc"'
    (read,) = content_reads(clearing.airlock)
    assert (read.actor, read.target, read.details["kind"]) == (
        clearing.vendor.email,
        f"report:{clearing.report}",
        "poc",
    )

    # The case was shared with the partner's organisation without its proofs of concept.
    partner, _ = clearing.portal.signed_in(world.partner)
    shared_page = partner.get(f"/vulns/{clearing.case}")
    assert shared_page.status_code == 200
    assert "/poc" not in shared_page.text, "no download offered that would be refused"
    refused = partner.get(f"/vulns/reports/{clearing.report}/poc")
    assert refused.status_code == 403
    assert "without its proofs of concept" in html.unescape(refused.text)
    # An auditor sees the case but is offered no download, and is refused one.
    auditor, _ = clearing.portal.signed_in(world.auditor)
    page = auditor.get(f"/vulns/{clearing.case}")
    assert page.status_code == 200
    assert "/poc" not in page.text
    assert 'action="/vulns/' not in page.text, "nor an answer"
    assert auditor.get(f"/vulns/reports/{clearing.report}/poc").status_code == 403
    assert [entry.actor for entry in content_reads(clearing.airlock)] == [clearing.vendor.email]


def test_a_vendor_answers_fixed_through_the_case_page(clearing: Clearing) -> None:
    airlock, world = clearing.airlock, clearing.portal.world
    browser, _ = clearing.portal.signed_in(clearing.vendor)
    csrf = csrf_of(browser.get(f"/vulns/{clearing.case}"))
    answer = {"csrf": csrf, "vendor": "notes-project", "status": "fixed", "note": "Fixed in 1.4.2"}
    sent = browser.post(f"/vulns/{clearing.case}/answer", data=answer, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/vulns/{clearing.case}"
    (vendor,) = airlock.clearinghouse.show(world.reviewer, clearing.case).vendors
    assert (vendor.organisation, vendor.status) == ("notes-project", "fixed")
    assert "Fixed in 1.4.2" in airlock.clearinghouse.show(world.reviewer, clearing.case).timeline[-1].text
    page = browser.get(f"/vulns/{clearing.case}").text
    assert '<span class="state">fixed</span>' in page
    assert "Answered." in page, "nothing more to answer"

    before = database_snapshot(airlock.database)
    again = browser.post(f"/vulns/{clearing.case}/answer", data={**answer, "status": "acknowledged", "note": "oops"})
    assert again.status_code == 409
    found = re.search(r'<p class="error" role="alert" id="answer-notes-project-error">([^<]*)</p>', again.text)
    assert found, again.text
    assert "fixed" in html.unescape(found.group(1))
    assert database_snapshot(airlock.database) == before

    # Another vendor's contact cannot answer a case their organisation was not notified of.
    other, other_csrf = clearing.portal.signed_in(clearing.other_vendor)
    assert other.post(f"/vulns/{clearing.case}/answer", data={**answer, "csrf": other_csrf}).status_code == 404


# The API -----------------------------------------------------------------------------------------------------


def test_the_api_answers_a_token_and_a_session_alike(clearing: Clearing) -> None:
    client, token = clearing.portal.app_client, clearing.token(clearing.vendor)
    session, csrf = clearing.portal.signed_in(clearing.vendor)

    answers: list[list[tuple[int, str, bytes]]] = []
    for get in (functools.partial(client.get, headers=token), session.get):
        listed = get("/api/v1/vulns/cases")
        assert listed.status_code == 200
        assert [case["public_id"] for case in listed.json()] == [clearing.case]
        assert listed.json()[0]["clock"] == "running"
        shown = get(f"/api/v1/vulns/cases/{clearing.case}")
        assert [vendor["organisation"] for vendor in shown.json()["vendors"]] == ["notes-project"]
        assert shown.json()["shared_with"] == []
        hidden = get(f"/api/v1/vulns/cases/{clearing.other_case}")
        assert clearing.other_case in str(is_problem(hidden, 404, "not_found")["title"])
        unread = get(f"/api/v1/vulns/reports/{clearing.other_report}/content/poc")
        is_problem(unread, 404, "not_found")
        content = get(f"/api/v1/vulns/reports/{clearing.report}/content/poc")
        assert content.status_code == 200
        assert content.headers["content-type"] == "application/octet-stream"
        assert content.content == CRASH
        answers.append(
            [(a.status_code, a.headers["content-type"], a.content) for a in (listed, shown, hidden, unread, content)]
        )
    assert answers[0] == answers[1], "the same answers for the token and the session"
    assert [entry.actor for entry in content_reads(clearing.airlock)] == [clearing.vendor.email] * 2

    acknowledged = {"status": "acknowledged", "note": "Looking into it."}
    path = f"/api/v1/vulns/cases/{clearing.case}/answer"
    is_problem(session.post(path, json=acknowledged), 403, "csrf")
    answered = session.post(path, json=acknowledged, headers={"X-CSRF-Token": csrf})
    assert answered.status_code == 200, answered.text
    assert answered.json()["vendors"][0]["status"] == "acknowledged"
    is_problem(client.post(path, json=acknowledged, headers=clearing.token(clearing.other_vendor)), 404, "not_found")
    is_problem(
        client.post(path, json=acknowledged, headers=clearing.token(clearing.portal.world.partner)),
        403,
        "permission_denied",
    )
    is_problem(client.get("/api/v1/vulns/cases"), 401, "unauthenticated")


def test_a_malformed_cvss_vector_through_the_api_is_a_problem_naming_the_field_and_changes_nothing(
    clearing: Clearing,
) -> None:
    client, world, airlock = clearing.portal.app_client, clearing.portal.world, clearing.airlock
    partner, reviewer = clearing.token(world.partner), clearing.token(world.reviewer)
    before = unchanged_but_tokens(airlock)
    blobs = sorted(clearing.portal.settings.blob_directory.rglob("*"))

    malformed = client.post("/api/v1/vulns/reports", json=draft(cvss="CVSS:4.0/AV:N/AC:L"), headers=partner)
    problem = is_problem(malformed, 422, "invalid_input")
    assert problem["field"] == "cvss"
    assert "CVSS" in str(problem["title"])
    scored = client.post(f"/api/v1/vulns/cases/{clearing.case}/score", json={"cvss": "CVSS:4.0/AV:X"}, headers=reviewer)
    assert is_problem(scored, 422, "invalid_input")["field"] == "cvss"
    not_base64 = client.post("/api/v1/vulns/reports", json={**draft(), "poc": "not base64!"}, headers=partner)
    assert is_problem(not_base64, 422, "invalid_request")["field"] == "poc"
    clean = client.post("/api/v1/vulns/reports", json=draft(CLEAN), headers=partner)
    assert "did not reproduce against notes 1.4.1" in str(is_problem(clean, 422, "invalid_input")["title"])
    is_problem(client.post(f"/api/v1/vulns/cases/{clearing.case}/notify", headers=reviewer), 409, "invalid_transition")
    is_problem(
        client.post(f"/api/v1/vulns/cases/{clearing.case}/score", json={"cwe": "CWE-787"}, headers=partner),
        403,
        "permission_denied",
    )
    assert unchanged_but_tokens(airlock) == before
    assert sorted(clearing.portal.settings.blob_directory.rglob("*")) == blobs

    kept = client.post(
        "/api/v1/vulns/reports", params={"keep_unreproduced": "true"}, json=draft(CLEAN), headers=partner
    )
    assert kept.status_code == 201, kept.text
    assert kept.json()["reproduction"] == "not reproduced"
    duplicate = client.post("/api/v1/vulns/reports", json=draft(), headers=partner)
    assert duplicate.status_code == 201, duplicate.text
    assert (duplicate.json()["case"], duplicate.json()["joined"]) == (clearing.case, True)

    scored = client.post(
        f"/api/v1/vulns/cases/{clearing.case}/score", json={"cvss": CVSS, "cwe": "CWE-787"}, headers=reviewer
    )
    assert (scored.json()["cvss_score"], scored.json()["cwe"]) == (9.3, "CWE-787")
    decision = {
        "exploitation": "poc",
        "automatable": "yes",
        "technical_impact": "total",
        "mission_wellbeing": "high",
        "rationale": "A PoC exists and the decoder is reached from the network.",
    }
    decided = client.post(f"/api/v1/vulns/cases/{clearing.case}/ssvc", json=decision, headers=reviewer)
    assert decided.json()["ssvc"]["action"] == "attend"
    listed = client.get("/api/v1/vulns/cases", headers=reviewer).json()
    assert listed[0]["public_id"] == clearing.case, "the most urgent first"
    fresh = client.post("/api/v1/vulns/reports", json=draft(program="fresh"), headers=partner).json()
    airlock.clearinghouse.add_vendor(world.reviewer, fresh["case"], "notes-project")
    notified = client.post(f"/api/v1/vulns/cases/{fresh['case']}/notify", headers=reviewer)
    assert notified.status_code == 200, notified.text
    (message,) = notified.json()["messages"]
    assert "/" not in message, "a file name of the outbox, not where the server keeps it"
    assert (airlock.settings.resolved_outbox / message).is_file()


def test_the_openapi_document_describes_the_clearinghouse(clearing: Clearing) -> None:
    paths = clearing.portal.app_client.get("/api/v1/openapi.json").json()["paths"]
    submit = paths["/api/v1/vulns/reports"]["post"]
    assert submit["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/ReportDraft")
    assert [p["name"] for p in submit["parameters"]] == ["keep_unreproduced"]
    content = paths["/api/v1/vulns/reports/{report_id}/content/{kind}"]["get"]
    assert set(content["responses"]["200"]["content"]) == {"application/octet-stream"}
    assert {"/api/v1/vulns/cases", "/api/v1/vulns/cases/{case_id}/ssvc"} <= set(paths)


# In a real browser -------------------------------------------------------------------------------------------


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium package (apt-get install chromium; make test installs it when run as root)",
)
def test_the_case_page_runs_no_failing_script_and_asks_nothing_of_another_site(
    clearing: Clearing, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with airlock_serve(clearing.portal.settings, tmp_path / "serve.log") as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_context().new_page()
            errors: list[str] = []
            requested: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{served.url}/vulns/{clearing.case}")
            page.get_by_label("Email").fill(clearing.vendor.email)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name=f"Case {clearing.case}")).to_be_visible()
            expect(page.get_by_role("link", name="Vulnerabilities")).to_be_visible()
            expect(page.locator("table.reports")).to_contain_text("reproduced")
            page.get_by_label("Answer", exact=True).select_option("acknowledged")
            page.get_by_label("Note").fill("Looking into it.")
            page.get_by_role("button", name="Send the answer").click()
            expect(page.locator("table.vendors")).to_contain_text("acknowledged")
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()
    assert errors == []
    assert requested, "the browser asked for the pages"
    assert [url for url in requested if not url.startswith((served.url, "data:"))] == []
