"""The clearinghouse as its users meet it: reports reproduced and grouped into cases, scored, coordinated with vendors
through the outbox, disclosed with a commitment; bad input refused in one line with nothing changed; each user
seeing only what their organisation was given, and every read of a proof of concept audited."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from airlock.access import Principal
from airlock.app import Airlock
from airlock.audit.models import AuditEntry
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import InvalidInputError, NotFoundError, PermissionDeniedError, TransitionError
from airlock.vulns.advisories import check_osv, validate_csaf
from airlock.vulns.commitment import verify
from airlock.vulns.intake import ReportDraft
from tests.support.cli import Cli, Outcome
from tests.support.world import World, build_world, database_snapshot
from tests.test_vulns_reproduction import NOTES

NOTES_SOURCE = NOTES.sources["notes.c"]
CRASH = b"N" + b"A" * 40
"""Overflows decode_page's 8-byte page."""
OTHER_CRASH = b"N" + b"\xff" * 200
"""Another input into the same bug."""
LINKING_CRASH = b"N" + b"B" * 60
"""A third input into the same bug."""
CLEAN = b"Nabc"
ECHO = b"E==1==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\n    #0 0x1 in decode_page notes.c:7\n"
"""A PoC whose program prints a forged sanitizer report and exits cleanly."""
CVSS = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


@dataclass
class Lab:
    airlock: Airlock
    world: World
    settings: Settings
    clock: ManualClock
    vendor: Principal
    """The contact of notes-project, the vendor of ``notes``."""
    other_vendor: Principal
    other_partner: Principal

    def cli(self, *args: str, input: str | None = None) -> Outcome:
        return Cli(self.settings, self.clock)(*args, input=input)

    def draft(self, poc: bytes = CRASH, **fields: object) -> ReportDraft:
        given: dict[str, object] = {
            "title": "Heap overflow in notes' page decoder",
            "program": "notes",
            "affected_versions": ["1.4.1"],
            "reporter": "analyst@gridcert.test",
            "poc": base64.b64encode(poc).decode(),
            "model": "frontier-x",
            "details": "DETAILS-MARKER-7f3a: the page length is never checked.",
        }
        return ReportDraft.model_validate({**given, **fields})


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    try:
        world = build_world(airlock)
        directory = airlock.directory
        for name, kind in (("Notes Project", "vendor"), ("Other Vendor", "vendor"), ("Other CERT", "partner")):
            directory.add_organisation(world.operator, name=name, kind=kind)
        for email, role, organisation in (
            ("security@notes.test", "vendor_contact", "notes-project"),
            ("psirt@other.test", "vendor_contact", "other-vendor"),
            ("analyst@othercert.test", "partner", "other-cert"),
        ):
            directory.add_user(world.operator, email=email, name="Contact", role=role, organisation=organisation)
        airlock.clearinghouse.add_program(
            world.reviewer, "notes", "1.4.1", {"notes.c": NOTES_SOURCE}, vendor="notes-project"
        )
        yield Lab(
            airlock,
            world,
            settings,
            clock,
            directory.principal("security@notes.test"),
            directory.principal("psirt@other.test"),
            directory.principal("analyst@othercert.test"),
        )
    finally:
        airlock.close()


def _content_reads(airlock: Airlock, report: str) -> list[AuditEntry]:
    with airlock.database.transaction(read_only=True) as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == "content.read", AuditEntry.target == f"report:{report}")
            )
        )


# The whole way -------------------------------------------------------------------------------------------------


def test_a_partners_report_is_reproduced_joined_by_its_duplicate_coordinated_and_disclosed(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    first = house.submit(world.partner, lab.draft())
    assert (first.joined, first.reproduction) == (False, "reproduced")
    duplicate = house.submit(world.acme_admin, lab.draft(OTHER_CRASH, reporter="admin@acme.test"))
    assert (duplicate.case, duplicate.joined) == (first.case, True), "same root cause, same case"

    house.score(world.reviewer, first.case, cvss=CVSS, cwe="CWE-787")
    house.decide(
        world.reviewer,
        first.case,
        exploitation="poc",
        automatable="yes",
        technical_impact="total",
        mission_wellbeing="high",
        rationale="A PoC exists and the page decoder is reached from the network.",
    )
    view = house.show(world.lead, first.case)
    assert (view.cvss_score, view.cvss_severity, view.cwe, view.ssvc_action) == (9.3, "Critical", "CWE-787", "attend")
    assert [v.organisation for v in view.vendors] == ["notes-project"], "the program's vendor, added by default"
    assert [r.reproduction for r in view.reports] == ["reproduced", "reproduced"]

    assert house.cases(lab.vendor) == [], "a vendor sees nothing before it is notified"
    (message,) = house.notify(world.reviewer, first.case)
    text = Path(message).read_text()
    assert f"[TLP:AMBER] {first.case}" in text
    assert "security@notes.test" in text
    assert "DETAILS-MARKER" not in text, "never the details"
    assert base64.b64encode(CRASH).decode() not in text, "never the PoC"

    assert [c.public_id for c in house.cases(lab.vendor)] == [first.case]
    assert house.read(lab.vendor, first.report) == CRASH
    (read,) = _content_reads(lab.airlock, first.report)
    assert (read.actor, read.details["kind"]) == ("security@notes.test", "poc")
    house.answer(lab.vendor, first.case, "acknowledged")
    lab.clock.advance(timedelta(days=20))
    house.answer(lab.vendor, first.case, "fixed", note="Fixed in 1.4.2")

    commitment = house.prepare_advisory(
        world.reviewer, first.case, summary="A heap overflow in notes' page decoder.", fixed_versions=["1.4.2"]
    )
    published = house.publish(world.lead, first.case, lab.settings.home / "published")
    csaf = json.loads(published.csaf.read_bytes())
    validate_csaf(csaf)
    check_osv(json.loads(published.osv.read_bytes()))
    assert csaf["document"]["distribution"]["tlp"]["label"] == "WHITE", "published: TLP:CLEAR (CSAF 2.0's WHITE)"
    digest, nonce_line = published.commitment.read_text().splitlines()
    assert digest == commitment
    assert verify(digest, nonce_line.removeprefix("nonce "), published.csaf.read_bytes())
    published_case = house.show(world.lead, first.case)
    assert (published_case.clock.status.value, published_case.tlp) == ("published", "CLEAR")
    with pytest.raises(TransitionError, match="is published"):
        house.answer(lab.vendor, first.case, "not_affected")
    assert lab.cli("audit", "verify").exit_code == 0


def test_a_report_linking_two_cases_merges_the_younger_into_the_older(lab: Lab) -> None:
    house, reviewer = lab.airlock.clearinghouse, lab.world.reviewer
    crash_a = "==1==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\n    #0 0x1 in alpha a.c:3\n"
    crash_b = "==2==ERROR: AddressSanitizer: use-after-free on address 0x2\n    #0 0x2 in beta b.c:9\n"
    a = house.submit(reviewer, lab.draft(program="other", crash_report=crash_a))
    b = house.submit(reviewer, lab.draft(OTHER_CRASH, program="other", crash_report=crash_b, fixed_commit="abc1234"))
    assert a.case != b.case
    link = house.submit(
        reviewer, lab.draft(LINKING_CRASH, program="other", crash_report=crash_a, fixed_commit="abc1234")
    )
    assert (link.case, link.joined) == (a.case, True)
    merged = house.show(reviewer, b.case)
    assert merged.public_id == a.case, "the younger case's id leads to the older"
    assert {r.public_id for r in merged.reports} == {a.report, b.report, link.report}
    assert [c.public_id for c in house.cases(reviewer)] == [a.case]


def test_once_outsiders_hold_a_case_a_linking_report_only_links_and_an_analyst_merges_carrying_everything(
    lab: Lab,
) -> None:
    house, reviewer = lab.airlock.clearinghouse, lab.world.reviewer
    crash_a = "==1==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\n    #0 0x1 in alpha a.c:3\n"
    crash_b = "==2==ERROR: AddressSanitizer: use-after-free on address 0x2\n    #0 0x2 in beta b.c:9\n"
    a = house.submit(reviewer, lab.draft(program="other", crash_report=crash_a))
    house.add_vendor(reviewer, a.case, "notes-project")
    lab.clock.advance(timedelta(days=1))
    b = house.submit(reviewer, lab.draft(OTHER_CRASH, program="other", crash_report=crash_b, fixed_commit="abc1234"))
    house.add_vendor(reviewer, b.case, "notes-project")
    house.add_vendor(reviewer, b.case, "other-vendor")
    house.notify(reviewer, b.case)  # B's vendors are told first
    house.share(reviewer, b.case, "grid-cert", with_poc=True)

    link = house.submit(
        reviewer, lab.draft(LINKING_CRASH, program="other", crash_report=crash_a, fixed_commit="abc1234")
    )

    assert (link.case, link.joined) == (a.case, True)
    assert house.show(reviewer, b.case).public_id == b.case, "not merged: outsiders hold case B"
    assert [e.event for e in house.show(reviewer, a.case).timeline].count("linked") == 1
    assert house.cases(lab.other_vendor)[0].public_id == b.case

    merged = house.merge(lab.world.lead, b.case, a.case)

    assert merged.public_id == a.case
    assert {r.public_id for r in merged.reports} == {a.report, b.report, link.report}
    assert {(v.organisation, v.status) for v in merged.vendors} == {
        ("notes-project", "notified"),
        ("other-vendor", "notified"),
    }, "each vendor once, at the further status"
    assert merged.shared_with == ["grid-cert"]
    assert merged.clock.days_left == 90, "the clock runs from B's notification"
    assert house.read(lab.other_vendor, a.report) == CRASH, "B's vendor now holds the one vulnerability"
    assert house.show(reviewer, b.case).public_id == a.case


# Bad input: one line, nothing changed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "poc", "words"),
    [
        ({}, CLEAN, "did not reproduce against notes 1.4.1"),
        ({}, ECHO, "did not reproduce against notes 1.4.1"),
        ({"cvss": "CVSS:4.0/AV:N/AC:L"}, CRASH, "CVSS"),
        ({"cwe": "CWE-99999"}, CRASH, "CWE-99999"),
    ],
    ids=["not-reproduced", "forged-sanitizer-report", "malformed-cvss", "unknown-cwe"],
)
def test_a_bad_report_is_refused_in_one_line_and_nothing_is_kept(
    lab: Lab, tmp_path: Path, fields: dict[str, str], poc: bytes, words: str
) -> None:
    report = tmp_path / "report.json"
    report.write_text(lab.draft(poc, **fields).model_dump_json())
    before = database_snapshot(lab.airlock.database)
    blobs = sorted(lab.settings.blob_directory.rglob("*"))

    outcome = lab.cli("vulns", "submit", str(report), "--as", lab.world.partner.email)

    assert outcome.exit_code == 1, outcome.stdout
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert words in outcome.stderr
    assert database_snapshot(lab.airlock.database) == before
    assert sorted(lab.settings.blob_directory.rglob("*")) == blobs


def test_an_invalid_bulk_line_is_named_and_nothing_of_the_file_is_taken(lab: Lab, tmp_path: Path) -> None:
    good = lab.draft().model_dump_json(exclude_defaults=True)
    bad = json.dumps({**json.loads(good), "cwe": "CWE-99999"})
    bulk = tmp_path / "reports.jsonl"
    bulk.write_text(f"{good}\n{good}\n{bad}\n")
    before = database_snapshot(lab.airlock.database)

    outcome = lab.cli("vulns", "import", str(bulk), "--as", lab.world.reviewer.email)

    assert outcome.exit_code == 1
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert "Line 3 of reports.jsonl" in outcome.stderr
    assert database_snapshot(lab.airlock.database) == before


def test_a_bulk_file_is_taken_whole_then_reproduced_and_what_does_not_reproduce_is_kept_with_why(
    lab: Lab, tmp_path: Path
) -> None:
    lines = [lab.draft(poc).model_dump_json() for poc in (CRASH, OTHER_CRASH, CLEAN)]
    bulk = tmp_path / "reports.jsonl"
    bulk.write_text("\n".join(lines) + "\n")

    imported = lab.cli("vulns", "import", str(bulk), "--as", lab.world.reviewer.email, "--json")
    assert imported.exit_code == 0, imported.stderr
    assert imported.json()["reports"] == 3
    assert "imported: 3/3 (100%)" in imported.stderr

    reproduced = lab.cli("vulns", "reproduce", "--pending", "--as", lab.world.reviewer.email, "--json").json()
    assert sorted(r["reproduction"] for r in reproduced) == ["not reproduced", "reproduced", "reproduced"]
    failed = next(r for r in reproduced if r["reproduction"] == "not reproduced")
    evidence = lab.airlock.clearinghouse.read(lab.world.reviewer, failed["public_id"], "reproduction")
    assert b"exited with status 0 and no sanitizer report" in evidence
    crashing = {r["case"] for r in reproduced if r["reproduction"] == "reproduced"}
    assert len(crashing) == 1, "both crashing PoCs are one case once reproduced"


# Access --------------------------------------------------------------------------------------------------------


def test_vendors_and_partners_see_only_what_their_organisation_was_given(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    intake = house.submit(world.partner, lab.draft())
    case, report = intake.case, intake.report

    for outsider in (lab.vendor, lab.other_vendor, world.partner, lab.other_partner, world.acme_admin):
        assert house.cases(outsider) == [], outsider.email
        with pytest.raises(NotFoundError):
            house.show(outsider, case)
        with pytest.raises(NotFoundError):
            house.read(outsider, report)

    house.notify(world.reviewer, case)
    house.share(world.reviewer, case, "grid-cert", with_poc=False)
    assert [c.public_id for c in house.cases(lab.vendor)] == [case]
    assert [c.public_id for c in house.cases(world.partner)] == [case]
    for outsider in (lab.other_vendor, lab.other_partner):
        assert house.cases(outsider) == []
        with pytest.raises(NotFoundError):
            house.read(outsider, report)
    with pytest.raises(PermissionDeniedError, match="without its proofs of concept"):
        house.read(world.partner, report)
    with pytest.raises(PermissionDeniedError):
        house.answer(world.partner, case, "fixed")
    with pytest.raises(NotFoundError):
        house.answer(lab.other_vendor, case, "fixed")

    house.share(world.reviewer, case, "grid-cert", with_poc=True)
    assert house.read(world.partner, report, "details").startswith(b"DETAILS-MARKER")
    partner_view = house.show(world.partner, case)
    assert partner_view.shared_with == [], "not who else was told"
    assert partner_view.vendors == [], "nor which vendors"


def test_every_read_of_a_proof_of_concept_is_audited_and_an_operator_reads_only_with_a_reason(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    intake = house.submit(world.partner, lab.draft())
    house.read(world.reviewer, intake.report)
    house.read(world.lead, intake.report, "details")
    with pytest.raises(PermissionDeniedError):
        house.read(world.auditor, intake.report)
    with pytest.raises(PermissionDeniedError, match="break-glass"):
        house.read(world.operator, intake.report)
    assert house.read(world.operator, intake.report, justification="incident 42: vendor lost the PoC") == CRASH

    reads = _content_reads(lab.airlock, intake.report)
    assert [(r.actor, r.details["kind"], r.details["break_glass"]) for r in reads] == [
        ("reviewer@lab.test", "poc", False),
        ("lead@lab.test", "details", False),
        (world.operator.email, "poc", True),
    ]
    assert reads[-1].purpose == "incident 42: vendor lost the PoC"
    with lab.airlock.database.transaction(read_only=True) as session:
        refused = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "vulns.read", AuditEntry.outcome == "refused")
        )
        assert {entry.actor for entry in refused} >= {"auditor@lab.test"}


def test_a_reports_content_is_only_ciphertext_on_disk_and_survives_a_master_key_rotation(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    intake = house.submit(world.partner, lab.draft())
    lab.airlock.close()
    on_disk = b"".join(p.read_bytes() for p in lab.settings.home.rglob("*") if p.is_file())
    on_disk += Path(lab.settings.sqlite_path).read_bytes()
    assert b"DETAILS-MARKER" not in on_disk
    assert CRASH not in on_disk
    rotated = lab.cli("vault", "rotate-master-key")
    assert rotated.exit_code == 0, rotated.stderr
    reopened = Airlock.open(lab.settings, lab.clock)
    try:
        assert reopened.clearinghouse.read(world.reviewer, intake.report) == CRASH
    finally:
        reopened.close()
    lab.airlock = Airlock.open(lab.settings, lab.clock)


# Disclosure clock and reminders --------------------------------------------------------------------------------


def test_the_disclosure_clock_runs_from_the_first_notification_pauses_and_reminds_once(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    case = house.submit(world.partner, lab.draft()).case
    assert house.show(world.reviewer, case).clock.status.value == "not_started"
    house.notify(world.reviewer, case)
    assert house.show(world.reviewer, case).clock.days_left == 90
    with pytest.raises(TransitionError, match="no vendor still unaware"):
        house.notify(world.reviewer, case)

    lab.clock.advance(timedelta(days=61))
    assert len(house.remind(world.reviewer)) == 1, "30 days before: one reminder to the one contact"
    assert house.remind(world.reviewer) == [], "each reminder once"
    house.pause(world.reviewer, case, "The vendor needs the maintainer back from leave.")
    lab.clock.advance(timedelta(days=20))
    assert house.remind(world.reviewer) == [], "none while paused"
    resumed = house.resume(world.reviewer, case)
    assert resumed.clock.days_left == 29
    house.extend(world.reviewer, case, 14, "A fix needs a new release.")
    with pytest.raises(TransitionError, match="not ready to disclose"):
        house.prepare_advisory(world.reviewer, case, summary="s")
        house.publish(world.lead, case, lab.settings.home / "out")
    with pytest.raises(InvalidInputError):
        house.extend(world.reviewer, case, 0, "none")


def _ssvc(*, exploitation: str = "poc", rationale: str = "A PoC exists.") -> list[str]:
    points = ["--automatable", "yes", "--technical-impact", "total", "--mission-wellbeing", "high"]
    return ["ssvc", "{case}", "--exploitation", exploitation, *points, "--rationale", rationale]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["score", "{case}", "--cvss", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:X"], "SA"),
        (["score", "{case}", "--cwe", "CWE-99999"], "CWE-99999"),
        (["score", "{case}"], "Give a CVSS 4.0 vector, a CWE id, or both"),
        (
            _ssvc(exploitation="rumoured"),
            "'rumoured' is not a value of SSVC's exploitation",
        ),
        (
            _ssvc(rationale=" "),
            "needs its rationale",
        ),
        (["answer", "{case}", "patched", "--vendor", "notes-project"], "'patched' is not a vendor's answer"),
        (["answer", "{case}", "fixed", "--vendor", "other-vendor"], "not a vendor of case"),
        (["vendor", "{case}", "grid-cert"], "not a vendor"),
        (["embargo", "{case}", "400"], "365"),
        (["tlp", "{case}", "ORANGE"], "not a TLP 2.0 label"),
        (["share", "{case}", "notes-project"], "cases are shared with partners"),
        (["extend", "{case}", "10", "--reason", "x"], "not running"),
        (["publish", "{case}", "out"], "no advisory yet"),
        (["show", "V-00000000"], "There is no case V-00000000"),
        (["read", "W-00000000"], "There is no report W-00000000"),
        (["program", "add", "notes", "1.4.1", "{sources}"], "registered already"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else None,
)
def test_a_bad_command_is_refused_in_one_line_and_changes_nothing(
    lab: Lab, tmp_path: Path, arguments: list[str], words: str
) -> None:
    case = lab.airlock.clearinghouse.submit(lab.world.partner, lab.draft()).case
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "notes.c").write_bytes(NOTES_SOURCE)
    given = [argument.format(case=case, sources=sources) for argument in arguments]
    before = database_snapshot(lab.airlock.database)

    outcome = lab.cli("vulns", *given, "--as", lab.world.lead.email)

    assert outcome.exit_code == 1, outcome.stdout
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert words in outcome.stderr
    assert database_snapshot(lab.airlock.database) == before


def test_reproduce_needs_one_report_or_pending_and_says_so_as_a_usage_error(lab: Lab) -> None:
    for arguments in ([], ["W-00000000", "--pending"]):
        outcome = lab.cli("vulns", "reproduce", *arguments, "--as", lab.world.reviewer.email)
        assert outcome.exit_code == 2, outcome.stdout
        assert "name one report, or say --pending" in outcome.stderr


def test_a_report_without_a_build_waits_pending_until_its_build_is_registered(lab: Lab) -> None:
    house, reviewer = lab.airlock.clearinghouse, lab.world.reviewer
    waiting = house.submit(lab.world.partner, lab.draft(program="notes-next", affected_versions=["2.0"]))
    (tried,) = house.reproduce_pending(reviewer)
    assert (tried.reproduction, tried.reproduction_outcome) == ("pending", "no build")
    assert b"airlock vulns program add" in house.read(reviewer, waiting.report, "reproduction")

    house.add_program(lab.world.operator, "notes-next", "2.0", {"notes.c": NOTES_SOURCE})
    (again,) = house.reproduce_pending(reviewer)
    assert (again.public_id, again.reproduction) == (waiting.report, "reproduced")
    assert house.reproduce_pending(reviewer) == []
    assert house.remind(lab.world.operator) == [], "the daily reminders are an operator's job too"


def test_what_would_widen_who_holds_a_case_is_refused(lab: Lab) -> None:
    house, reviewer = lab.airlock.clearinghouse, lab.world.reviewer
    notes = house.submit(lab.world.partner, lab.draft()).case
    other = house.submit(reviewer, lab.draft(program="calc", crash_report=None)).case
    with pytest.raises(InvalidInputError, match=r"about notes and .* about calc"):
        house.merge(reviewer, notes, other)
    house.set_tlp(reviewer, notes, "amber+strict")
    with pytest.raises(TransitionError, match=re.escape("TLP:AMBER+STRICT")):
        house.share(reviewer, notes, "grid-cert", with_poc=False)
    assert house.cases(lab.world.partner) == []


def test_a_report_sent_again_is_recognised_and_nothing_new_is_kept(lab: Lab, tmp_path: Path) -> None:
    house, partner = lab.airlock.clearinghouse, lab.world.partner
    first = house.submit(partner, lab.draft())
    before = database_snapshot(lab.airlock.database)
    again = house.submit(partner, lab.draft(title="Same PoC, retitled"))
    assert (again.report, again.case, again.repeat) == (first.report, first.case, True)
    assert database_snapshot(lab.airlock.database) == before
    other_organisation = house.submit(lab.world.acme_admin, lab.draft())
    assert (other_organisation.repeat, other_organisation.case) == (False, first.case), "a duplicate, not a repeat"

    bulk = tmp_path / "reports.jsonl"
    bulk.write_text("".join(lab.draft(poc).model_dump_json() + "\n" for poc in (OTHER_CRASH, CLEAN)))
    reviewer = lab.world.reviewer.email
    assert lab.cli("vulns", "import", str(bulk), "--as", reviewer, "--json").json()["repeats"] == 0
    twice = lab.cli("vulns", "import", str(bulk), "--as", reviewer)
    assert twice.exit_code == 0, twice.stderr
    assert "Imported 0 reports: 0 new cases, 0 duplicates; 2 were held already" in twice.stdout
