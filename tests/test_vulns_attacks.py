"""The clearinghouse attacked the way its users' adversaries would: a vendor or partner guessing ids to learn what it
was not given, a partner answering for a vendor, an insider reading PoCs, a reporter sending hostile reports, builds
and PoCs that try to leave or exhaust the sandbox, an address that would carry a notification elsewhere. Each test
asserts the safe outcome, with the real database, vault, sandbox and compiler."""

# ruff: noqa: F811 (each test takes the imported ``lab`` fixture as its argument)

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import json
import os
import re
import textwrap
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from airlock.access import Principal
from airlock.audit.models import AuditEntry
from airlock.errors import AirlockError, InvalidInputError, NotFoundError, PermissionDeniedError
from airlock.review.oversight import UnusualAccessThresholds
from airlock.vulns.clearinghouse import CONTENT_KINDS, WITHHELD
from airlock.vulns.reproduction import Target, reproduce
from tests.support.world import database_snapshot
from tests.test_vulns_clearinghouse import CRASH, Lab, lab  # noqa: F401 (the deployment every test here attacks)

AGENCY_EMAILS = {"lead@lab.test", "reviewer@lab.test", "auditor@lab.test"}
UNSEEN_CASE = "V-ZZZZZZZZ"
UNSEEN_REPORT = "W-ZZZZZZZZ"
CVSS = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
TERMINAL_CONTROLS = ("\x1b", "\x07", "\x00", "\u202e", "\x9b")
"""An escape sequence's introducers, the bell, NUL, a bidirectional override and the 8-bit CSI."""


def _sanitizer_report(function: str, bug: str = "heap-buffer-overflow") -> str:
    return (
        f"==1==ERROR: AddressSanitizer: {bug} on address 0x1\n"
        f"    #0 0x1 in {function} w.c:3\n    #1 0x2 in main w.c:9\n"
    )


def _refusal(call: Callable[[], object]) -> AirlockError:
    with pytest.raises(AirlockError) as caught:
        call()
    return caught.value


def _assert_indistinguishable(
    call: Callable[..., object],
    actor: Principal,
    real: str,
    unseen: str,
    *arguments: object,
    refused_as: type[AirlockError] = NotFoundError,
    options: dict[str, object] | None = None,
) -> None:
    """``call(actor, id, ...)`` with an id the actor may not see refuses exactly as with an id that does not exist."""
    with_real = _refusal(lambda: call(actor, real, *arguments, **(options or {})))
    with_unseen = _refusal(lambda: call(actor, unseen, *arguments, **(options or {})))
    assert type(with_real) is type(with_unseen) is refused_as, (with_real, with_unseen)
    assert _words(with_real, real) == _words(with_unseen, unseen), (with_real.message, with_unseen.message)


def _words(error: AirlockError, named: str) -> tuple[str, str, str | None]:
    """What a refusal says, the id it names left out."""
    return error.message.replace(named, "ID"), (error.hint or "").replace(named, "ID"), error.field


def _audit(lab: Lab, **where: str) -> list[AuditEntry]:
    with lab.airlock.database.transaction(read_only=True) as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return list(session.scalars(query))


def _case_with_merged_history(lab: Lab) -> tuple[str, str, list[str]]:
    """Case A, and case B merged into it by a report that links them: (A, B's old id, every report in A)."""
    house, world = lab.airlock.clearinghouse, lab.world
    a = house.submit(world.partner, lab.draft(program="widget", crash_report=_sanitizer_report("alpha")))
    b = house.submit(
        world.acme_admin,
        lab.draft(program="widget", crash_report=_sanitizer_report("beta"), fixed_commit="abc1234"),
    )
    assert a.case != b.case
    link = house.submit(
        world.reviewer, lab.draft(program="widget", crash_report=_sanitizer_report("alpha"), fixed_commit="abc1234")
    )
    assert link.case == a.case
    return a.case, b.case, [a.report, b.report, link.report]


# Guessing and enumerating --------------------------------------------------------------------------------------


def test_an_outsider_learns_nothing_of_a_case_not_even_that_it_or_its_merged_id_or_its_reports_exist(
    lab: Lab, tmp_path: Path
) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    case, merged, reports = _case_with_merged_history(lab)
    house.add_vendor(world.reviewer, case, "notes-project")  # its vendor, not yet notified
    outsiders: list[Principal] = [
        lab.vendor,  # before its notification
        lab.other_vendor,
        world.partner,  # who reported it, but was not shared it
        lab.other_partner,
        world.acme_admin,  # who reported the merged case
        world.acme_member,
    ]
    for outsider in outsiders:
        assert house.cases(outsider) == [], outsider.email
        for case_id in (case, merged):
            attempts: list[tuple[Callable[..., object], tuple[object, ...], dict[str, object]]] = [
                (house.show, (), {}),
                (house.answer, ("acknowledged",), {}),
                (house.notify, (), {}),
                (house.share, ("other-cert",), {"with_poc": True}),
                (house.add_vendor, ("other-vendor",), {}),
                (house.score, (), {"cvss": CVSS}),
                (house.set_tlp, ("CLEAR",), {}),
                (house.publish, (tmp_path / "out",), {"anyway": "because"}),
            ]
            for call, arguments, options in attempts:
                _assert_indistinguishable(call, outsider, case_id, UNSEEN_CASE, *arguments, options=options)
        for report in reports:
            _assert_indistinguishable(house.report, outsider, report, UNSEEN_REPORT)
            for kind in CONTENT_KINDS:
                _assert_indistinguishable(house.read, outsider, report, UNSEEN_REPORT, kind)
            _assert_indistinguishable(
                house.reproduce, outsider, report, UNSEEN_REPORT, refused_as=PermissionDeniedError
            )
    assert not (tmp_path / "out").exists()
    assert lab.cli("audit", "verify").exit_code == 0


def test_an_id_an_attacker_types_reaches_the_audit_log_bounded_and_inert(lab: Lab, tmp_path: Path) -> None:
    house = lab.airlock.clearinghouse
    hostile = "w-\x1b]0;owned\x07\x1b[2J" + "A" * 100_000
    with pytest.raises(NotFoundError):
        house.read(lab.vendor, hostile)
    with pytest.raises(NotFoundError):
        house.answer(lab.vendor, hostile.replace("w-", "v-"), "fixed")
    with pytest.raises(NotFoundError):
        house.publish(lab.vendor, hostile.replace("w-", "v-"), tmp_path / "out")
    with pytest.raises(PermissionDeniedError):
        house.reproduce(lab.vendor, hostile)
    with pytest.raises(NotFoundError):
        house.score(lab.vendor, hostile.replace("w-", "v-"), cwe="CWE-787")
    refused = [e for e in _audit(lab, outcome="refused") if e.actor == lab.vendor.email]
    assert [e.action for e in refused] == [
        "vulns.read",
        "vulns.answer",
        "vulns.publish",
        "vulns.reproduce.read",
        "vulns.score",
    ]
    for entry in refused:
        written = entry.target + entry.details["reason"]
        assert len(entry.target) <= 200
        assert not any(control in written for control in TERMINAL_CONTROLS), written
    assert lab.cli("audit", "verify").exit_code == 0


# What a vendor or partner who may see a case still does not learn ---------------------------------------------


def test_a_vendor_or_partner_sees_the_case_but_not_who_reported_it_nor_the_others_told(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    first = house.submit(
        world.partner,
        lab.draft(program="widget", crash_report=_sanitizer_report("gamma")),
        source="review",
        review="R-7Q2M4KXA",
        finding="F-7Q2M4KXA",
    )
    duplicate = house.submit(
        world.acme_admin,
        lab.draft(
            program="widget", crash_report=_sanitizer_report("gamma"), reporter="admin@acme.test", model="acme-m1"
        ),
    )
    case = first.case
    assert duplicate.case == case
    for vendor in ("notes-project", "other-vendor"):
        house.add_vendor(world.reviewer, case, vendor)
    house.notify(world.reviewer, case)
    house.share(world.reviewer, case, "grid-cert", with_poc=True)
    house.share(world.reviewer, case, "other-cert", with_poc=False)
    house.answer(lab.other_vendor, case, "not_affected", note="Other Vendor ships no widget")
    house.answer(lab.vendor, case, "acknowledged", note="Notes Project is on it")
    house.score(world.reviewer, case, cvss=CVSS)
    house.pause(world.reviewer, case, "Waiting for the maintainer.")

    names = {
        "notes-project": ("notes-project", "Notes Project", "security@notes.test"),
        "other-vendor": ("other-vendor", "Other Vendor", "psirt@other.test"),
        "grid-cert": ("grid-cert", "Grid CERT", "analyst@gridcert.test"),
        "other-cert": ("other-cert", "Other CERT", "analyst@othercert.test"),
    }
    secrets = ["frontier-x", "acme-m1", "admin@acme.test", "acme-ai", "Acme", "R-7Q2M4KXA", "F-7Q2M4KXA", "DETAILS"]
    viewers = {
        "notes-project": lab.vendor,
        "other-vendor": lab.other_vendor,
        "grid-cert": world.partner,
        "other-cert": lab.other_partner,
    }
    for own, viewer in viewers.items():
        view = house.show(viewer, case)
        seen = view.model_dump_json() + "".join(
            house.report(viewer, r.public_id).model_dump_json() for r in view.reports
        )
        seen += "".join(summary.model_dump_json() for summary in house.cases(viewer))
        forbidden = [*secrets, *(word for org, words in names.items() if org != own for word in words)]
        assert [word for word in forbidden if word in seen] == [], viewer.email
        assert {r.reporter for r in view.reports} == {WITHHELD}
        assert {r.model for r in view.reports} == {None}
        assert view.shared_with == []
        assert [v.organisation for v in view.vendors] == ([own] if own in ("notes-project", "other-vendor") else [])
        assert {e.actor for e in view.timeline} <= AGENCY_EMAILS | {WITHHELD, viewer.email}
    staff_view = house.show(world.reviewer, case)
    assert {r.reporter for r in staff_view.reports} == {"analyst@gridcert.test", "admin@acme.test"}
    assert {v.organisation: v.status for v in staff_view.vendors} == {
        "notes-project": "acknowledged",
        "other-vendor": "not_affected",
    }


def test_a_report_merged_in_from_another_case_is_the_vendors_to_read_but_not_its_reporter(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    case, merged, reports = _case_with_merged_history(lab)
    house.add_vendor(world.reviewer, case, "notes-project")
    house.notify(world.reviewer, case)
    assert house.show(lab.vendor, merged).public_id == case, "the old id leads where it was merged"
    from_elsewhere = reports[1]
    view = house.report(lab.vendor, from_elsewhere)
    assert (view.case, view.reporter, view.model) == (case, WITHHELD, None)
    assert house.read(lab.vendor, from_elsewhere, "details").startswith(b"DETAILS-MARKER")
    (read,) = _audit(lab, action="content.read", target=f"report:{from_elsewhere}")
    assert (read.actor, read.details["kind"], read.details["case"]) == (lab.vendor.email, "details", case)
    with pytest.raises(NotFoundError):
        house.show(lab.other_vendor, merged)


def test_a_partner_given_the_case_without_its_pocs_reads_none_of_its_content_nor_answers_for_a_vendor(
    lab: Lab,
) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    intake = house.submit(world.acme_admin, lab.draft())  # reproduced: it has every kind of content
    house.notify(world.reviewer, intake.case)
    house.share(world.reviewer, intake.case, "grid-cert", with_poc=False)
    for kind in CONTENT_KINDS:
        with pytest.raises(PermissionDeniedError, match="without its proofs of concept"):
            house.read(world.partner, intake.report, kind)
    with pytest.raises(PermissionDeniedError):
        house.answer(world.partner, intake.case, "fixed", vendor="notes-project")
    assert [v.status for v in house.show(world.reviewer, intake.case).vendors] == ["notified"]
    assert _audit(lab, action="content.read") == []
    refused = _audit(lab, actor=world.partner.email, outcome="refused")
    assert [e.action for e in refused] == ["vulns.read"] * len(CONTENT_KINDS) + ["vulns.answer"]
    assert lab.cli("audit", "verify").exit_code == 0


def test_a_vendor_answers_only_for_its_own_organisation_whatever_vendor_it_names(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    case = house.submit(world.partner, lab.draft(program="widget", crash_report=_sanitizer_report("delta"))).case
    house.add_vendor(world.reviewer, case, "notes-project")
    house.add_vendor(world.reviewer, case, "other-vendor")
    house.notify(world.reviewer, case)
    with pytest.raises(InvalidInputError, match="answers for their own organisation"):
        house.answer(lab.vendor, case, "fixed", vendor="other-vendor")
    answered = house.answer(lab.vendor, case, "fixed")
    assert [(v.organisation, v.status) for v in answered.vendors] == [("notes-project", "fixed")]
    statuses = {v.organisation: v.status for v in house.show(world.reviewer, case).vendors}
    assert statuses == {"notes-project": "fixed", "other-vendor": "notified"}


def test_a_submitter_whose_report_joins_anothers_case_sees_nothing_more(lab: Lab) -> None:
    """A crash report forged to collide with a case's signature places the report in that case: its submitter learns
    that it is a duplicate, and nothing else of the case."""
    house, world = lab.airlock.clearinghouse, lab.world
    original = house.submit(world.reviewer, lab.draft(program="widget", crash_report=_sanitizer_report("epsilon")))
    house.add_vendor(world.reviewer, original.case, "notes-project")
    house.notify(world.reviewer, original.case)
    for attacker in (world.acme_admin, lab.other_partner):
        forged = house.submit(
            attacker, lab.draft(program="widget", crash_report=_sanitizer_report("epsilon"), title="Forged")
        )
        assert (forged.case, forged.joined) == (original.case, True)
        assert house.cases(attacker) == []
        with pytest.raises(NotFoundError):
            house.show(attacker, original.case)
        for report in (original.report, forged.report):
            with pytest.raises(NotFoundError):
                house.report(attacker, report)
            for kind in CONTENT_KINDS:
                with pytest.raises(NotFoundError):
                    house.read(attacker, report, kind)


# Insiders -----------------------------------------------------------------------------------------------------


def test_an_operator_reads_a_poc_only_with_a_reason_that_is_audited_and_flagged(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    intake = house.submit(world.partner, lab.draft(program="widget", crash_report=_sanitizer_report("zeta")))
    for justification in (None, "", "   ", "\u200b\u200b", "\u3164"):
        for kind in CONTENT_KINDS[:3]:
            with pytest.raises((PermissionDeniedError, InvalidInputError)):
                house.read(world.operator, intake.report, kind, justification=justification)
    assert _audit(lab, action="content.read") == []
    reason = "Incident 42: the vendor lost the PoC and asked by phone."
    assert house.read(world.operator, intake.report, justification=reason) == CRASH
    (read,) = _audit(lab, action="content.read")
    assert (read.actor, read.purpose, read.details["break_glass"]) == (world.operator.email, reason, True)
    signals = lab.airlock.oversight.unusual_access(world.auditor, UnusualAccessThresholds())
    assert any(s.signal == "break-glass" and intake.report in s.detail and reason in s.detail for s in signals)
    with pytest.raises(PermissionDeniedError):
        house.read(world.auditor, intake.report, justification=reason)
    assert lab.cli("audit", "verify").exit_code == 0


def test_every_read_of_content_is_audited_and_every_refused_read_too(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    intake = house.submit(world.partner, lab.draft(program="widget", crash_report=_sanitizer_report("eta")))
    house.add_vendor(world.reviewer, intake.case, "notes-project")
    house.notify(world.reviewer, intake.case)
    house.share(world.reviewer, intake.case, "other-cert", with_poc=True)
    allowed = [
        (world.reviewer, "poc"),
        (world.lead, "details"),
        (lab.vendor, "poc"),
        (lab.vendor, "crash_report"),
        (lab.other_partner, "details"),
    ]
    for reader, kind in allowed:
        house.read(reader, intake.report, kind)
    refused = [(world.auditor, "poc"), (world.partner, "poc"), (lab.other_vendor, "details"), (world.acme_admin, "poc")]
    for reader, kind in refused:
        with pytest.raises((PermissionDeniedError, NotFoundError)):
            house.read(reader, intake.report, kind)
    reads = _audit(lab, action="content.read", target=f"report:{intake.report}")
    assert [(r.actor, r.details["kind"]) for r in reads] == [(p.email, kind) for p, kind in allowed]
    refusals = _audit(lab, action="vulns.read", outcome="refused")
    assert [r.actor for r in refusals] == [p.email for p, _ in refused]
    verified = lab.cli("audit", "verify")
    assert verified.exit_code == 0, verified.stderr


# Hostile reports ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"poc": base64.b64encode(b"N" * ((1 << 20) + 1)).decode()}, "at most 1,048,576"),
        ({"details": "x" * 100_001}, "details"),
        ({"crash_report": "y" * 200_001}, "crash_report"),
        ({"title": "t" * 201}, "title"),
        ({"affected_versions": ["v" * 2_000_000]}, "affected_versions must each be a version of 1 to 100 characters"),
    ],
    ids=["poc-over-1MiB", "details-too-long", "crash-report-too-long", "title-too-long", "version-of-2MB"],
)
def test_an_oversized_report_is_refused_in_one_line_and_nothing_is_kept(
    lab: Lab, tmp_path: Path, fields: dict[str, str], words: str
) -> None:
    draft = {**lab.draft().model_dump(mode="json"), **fields}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(draft))
    before = database_snapshot(lab.airlock.database)
    blobs = sorted(lab.settings.blob_directory.rglob("*"))

    outcome = lab.cli("vulns", "submit", str(path), "--as", lab.world.partner.email)

    assert outcome.exit_code == 1, outcome.stdout
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert words in outcome.stderr
    assert database_snapshot(lab.airlock.database) == before
    assert sorted(lab.settings.blob_directory.rglob("*")) == blobs


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings(item)]
    return []


def _printable(text: str) -> bool:
    """Nothing a terminal would act on: no control or format character but the line feed."""
    return not any(
        unicodedata.category(character) in ("Cc", "Cf", "Zl", "Zp") and character != "\n" for character in text
    )


def test_terminal_escapes_and_line_breaks_in_a_report_reach_no_terminal_and_no_mail_header(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    # Names with such characters are refused at intake (test_a_name_that_would_not_show_what_it_is...); what is
    # left is free text: a crash report whose frames the signature quotes, and a vendor's note.
    hostile = lab.draft(program="widget", crash_report=_sanitizer_report("decode\x1b]52;c;ZXZpbA==\x07page"))
    intake = house.submit(lab.other_partner, hostile)
    house.add_vendor(world.reviewer, intake.case, "notes-project")
    (message,) = house.notify(world.reviewer, intake.case)
    house.answer(lab.vendor, intake.case, "acknowledged", note="ok\x1b[2J\x1b]8;;http://evil.test\x07here")

    for who in (world.reviewer.email, lab.vendor.email):
        for command in (["show", intake.case], ["list"]):
            shown = lab.cli("vulns", *command, "--as", who)
            assert shown.exit_code == 0, shown.stderr
            assert _printable(shown.stdout), (command, shown.stdout)
            assert not any(line.startswith("  2026") and "fixed" in line for line in shown.stdout.splitlines())
    for viewer in (world.reviewer, lab.vendor):
        for view in (house.show(viewer, intake.case), house.report(viewer, intake.report), *house.cases(viewer)):
            for text in _strings(view.model_dump()):
                assert _printable(text), text
                assert "\n" not in text, text

    raw = Path(message).read_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert [str(a) for a in parsed["To"].addresses] == ["security@notes.test"]
    assert _printable(raw.decode()), raw


HOSTILE_PROGRAM = textwrap.dedent(
    """\
    #include <fcntl.h>
    #include <stdio.h>
    #include <stdlib.h>
    #include <string.h>
    #include <sys/prctl.h>
    #include <unistd.h>

    static void fill(const char *directory) {
        static char chunk[1 << 20];
        char path[256];
        memset(chunk, 'x', sizeof chunk);
        for (int i = 0; i < 100000; i++) {
            snprintf(path, sizeof path, "%s/fill%d", directory, i);
            int fd = open(path, O_WRONLY | O_CREAT, 0600);
            if (fd < 0) return;
            for (;;) if (write(fd, chunk, sizeof chunk) <= 0) break;
            close(fd);
        }
    }

    int main(void) {
        char poc[4096] = {0};
        fread(poc, 1, sizeof poc - 1, stdin);
        prctl(PR_SET_NAME, "MARKER", 0, 0, 0);
        if (poc[0] == 'L') for (;;) {}
        if (poc[0] == 'F') for (;;) { fork(); prctl(PR_SET_NAME, "MARKER", 0, 0, 0); }
        if (poc[0] == 'D') {
            for (char *path = strtok(poc + 1, "\\n"); path; path = strtok(NULL, "\\n")) {
                int fd = open(path, O_WRONLY | O_CREAT, 0600);
                if (fd >= 0) { write(fd, "escaped", 7); close(fd); }
            }
            fill(".");
            fill("/tmp");
            puts("filled");
        }
        return 0;
    }
    """
)


def _marked_processes(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == marker:
                found.append(entry.name)
        except OSError:
            continue
    return found


def test_a_poc_that_loops_or_forks_without_end_is_stopped_at_the_time_limit_and_leaves_nothing_running() -> None:
    marker = f"atk{os.getpid() % 100000}"
    target = Target({"hostile.c": HOSTILE_PROGRAM.replace("MARKER", marker).encode()}, run_timeout=2)
    for poc in (b"L", b"F"):
        outcome = asyncio.run(reproduce(target, poc))
        assert (outcome.reproduced, outcome.outcome) == (False, "timeout"), outcome
        assert _marked_processes(marker) == [], "nothing the PoC started outlives its sandbox"


def test_a_poc_that_fills_the_disk_and_writes_outside_is_kept_not_reproduced_and_the_host_untouched(
    lab: Lab, tmp_path: Path
) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    house.add_program(world.reviewer, "hostile", "1", {"hostile.c": HOSTILE_PROGRAM.encode()})
    host = tmp_path / "host"
    host.mkdir()
    escapes = [host / "escaped", Path("../../../../..") / host.relative_to("/") / "escaped-too"]
    poc = b"D" + b"\n".join(str(path).encode() for path in escapes)
    draft = lab.draft(poc, program="hostile", affected_versions=["1"])
    before = database_snapshot(lab.airlock.database)
    with pytest.raises(InvalidInputError, match="did not reproduce against hostile 1: no crash"):
        house.submit(world.partner, draft)
    assert database_snapshot(lab.airlock.database) == before

    kept = house.submit(world.partner, draft, keep_unreproduced=True)
    assert kept.reproduction == "not reproduced"
    evidence = house.read(world.reviewer, kept.report, "reproduction")
    assert b"exited with status 0" in evidence
    assert b"filled" in evidence
    assert list(host.iterdir()) == [], "nothing written on the host"


@pytest.mark.parametrize("name", ["../../escape.c", "/tmp/absolute.c", "-oevil.c", "a/../../b.c"])
def test_a_build_whose_source_names_leave_its_directory_does_not_reproduce_and_says_why(lab: Lab, name: str) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    house.add_program(world.reviewer, "evil", "1", {name: b"int main(void) { return 0; }\n"})
    draft = lab.draft(CRASH, program="evil", affected_versions=["1"])
    with pytest.raises(InvalidInputError, match="did not reproduce against evil 1: build failed") as refused:
        house.submit(world.partner, draft)
    assert "inside" in refused.value.message
    assert not Path("/escape.c").exists()
    assert not Path("/tmp/absolute.c").exists()


def test_a_reproduction_evidence_carries_no_terminal_escape_from_the_program_output() -> None:
    echo = Target(
        {"echo.c": b"#include <stdio.h>\nint main(void){int c; while((c=getchar())!=EOF) putchar(c); return 0;}\n"}
    )
    outcome = asyncio.run(reproduce(echo, b"\x1b]0;pwned\x07\x1b[2Jhello\x9b"))
    assert outcome.outcome == "no crash"
    assert "hello" in outcome.evidence
    assert _printable(outcome.evidence), outcome.evidence


# The outbox ---------------------------------------------------------------------------------------------------


def test_a_contact_address_that_names_another_mailbox_is_refused_before_anything_is_sent(lab: Lab) -> None:
    house, world, directory = lab.airlock.clearinghouse, lab.world, lab.airlock.directory
    for injected in ("ops@other.test\r\nBcc: attacker@evil.test", "ops@other.test\nx", "ops\x00@other.test"):
        with pytest.raises(InvalidInputError):  # a line break or NUL never reaches a header: the directory refuses it
            directory.add_user(
                world.operator, email=injected, name="Typo", role="vendor_contact", organisation="other-vendor"
            )
    directory.add_user(
        world.operator, email="ops,attacker@evil.test", name="Typo", role="vendor_contact", organisation="other-vendor"
    )
    case = house.submit(world.partner, lab.draft(program="widget", crash_report=_sanitizer_report("theta"))).case
    house.add_vendor(world.reviewer, case, "notes-project")
    house.add_vendor(world.reviewer, case, "other-vendor")
    before = database_snapshot(lab.airlock.database)
    with pytest.raises(InvalidInputError, match=re.escape("ops,attacker@evil.test")):
        house.notify(world.reviewer, case)
    assert database_snapshot(lab.airlock.database) == before
    assert not lab.settings.resolved_outbox.exists() or list(lab.settings.resolved_outbox.iterdir()) == []


def test_a_reminder_to_an_address_that_names_another_mailbox_is_refused_and_leaves_no_message(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    case = house.submit(world.partner, lab.draft(program="widget", crash_report=_sanitizer_report("iota"))).case
    house.add_vendor(world.reviewer, case, "notes-project")
    house.notify(world.reviewer, case)
    lab.airlock.directory.add_user(
        world.operator, email="zz,attacker@evil.test", name="Later", role="vendor_contact", organisation="notes-project"
    )
    sent = sorted(lab.settings.resolved_outbox.iterdir())
    lab.clock.advance(timedelta(days=61))
    before = database_snapshot(lab.airlock.database)
    with pytest.raises(InvalidInputError, match=re.escape("zz,attacker@evil.test")):
        house.remind(world.reviewer)
    assert database_snapshot(lab.airlock.database) == before
    assert sorted(lab.settings.resolved_outbox.iterdir()) == sent, "no message prepared for a reminder not recorded"


def test_no_notification_or_reminder_carries_a_poc_details_reporter_or_model(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    intake = house.submit(world.partner, lab.draft())
    house.notify(world.reviewer, intake.case)
    lab.clock.advance(timedelta(days=61))
    house.remind(world.reviewer)
    messages = [path.read_bytes() for path in sorted(lab.settings.resolved_outbox.iterdir())]
    assert len(messages) == 2
    poc_forms = (CRASH, base64.b64encode(CRASH), CRASH.hex().encode())
    for raw in messages:
        body = email.message_from_bytes(raw, policy=email.policy.default).get_body()
        assert body is not None
        text = body.get_content().encode() + raw
        for secret in (*poc_forms, b"DETAILS-MARKER", b"analyst@gridcert.test", b"frontier-x", b"decode_page"):
            assert secret not in text, secret


def test_a_forged_report_linking_two_cases_does_not_give_one_vendor_the_others_poc(lab: Lab) -> None:
    house, world = lab.airlock.clearinghouse, lab.world
    notes = house.submit(world.reviewer, lab.draft(program="widget", crash_report=_sanitizer_report("kappa")))
    house.add_vendor(world.reviewer, notes.case, "notes-project")
    house.notify(world.reviewer, notes.case)
    other = house.submit(
        world.reviewer,
        lab.draft(program="gadget", crash_report=_sanitizer_report("lambda"), fixed_commit="0123abcd"),
    )
    house.add_vendor(world.reviewer, other.case, "other-vendor")
    house.notify(world.reviewer, other.case)
    with pytest.raises(NotFoundError):
        house.read(lab.other_vendor, notes.report)

    # A partner who knows the one case's signature and the other's fixing commit (public once the fix lands).
    house.submit(
        lab.other_partner,
        lab.draft(program="gadget", crash_report=_sanitizer_report("kappa"), fixed_commit="0123abcd"),
    )

    with pytest.raises(NotFoundError):
        house.read(lab.other_vendor, notes.report)


@pytest.mark.parametrize(
    "fields",
    [
        {"program": "wid\x1b]0;owned\x07\x1b[2Jget"},
        {"title": "Overflow\u202e fdp.exe"},
        {"reporter": "analyst\u200b@gridcert.test"},
        {"affected_versions": ["1.0\x1b[2J"]},
        {"model": "frontier\x1b[31m"},
        {"fixed_commit": "abc\u2028def"},
    ],
    ids=["program-escape", "title-bidi", "reporter-zero-width", "version-escape", "model-escape", "commit-separator"],
)
def test_a_name_that_would_not_show_what_it_is_is_refused_at_intake_in_one_line(
    lab: Lab, tmp_path: Path, fields: dict[str, object]
) -> None:
    # Refused before anything reads it: no list, message, notification or audit entry ever holds it.
    draft = {**lab.draft().model_dump(mode="json"), **fields}
    path = tmp_path / "report.json"
    path.write_text(json.dumps(draft))
    before = database_snapshot(lab.airlock.database, with_audit=True)

    outcome = lab.cli("vulns", "submit", str(path), "--as", lab.world.partner.email)

    assert outcome.exit_code == 1, outcome.stdout
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert "control or format character" in outcome.stderr
    assert _printable(outcome.stderr), outcome.stderr
    assert database_snapshot(lab.airlock.database, with_audit=True) == before
