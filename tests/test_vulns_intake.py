"""Reports as they arrive: each checked in full (fields, PoC, CVSS 4.0, CWE, crash report) before anything is kept,
and a bulk file taken all or nothing, its first bad line named."""

from __future__ import annotations

import base64
import json

import pytest

from airlock.errors import InvalidInputError
from airlock.vulns.intake import MAX_POC_BYTES, ReportDraft, check_report, parse_bulk
from airlock.vulns.signatures import Grouping

CRASH = """\
==9==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000018
    #0 0x7f in __interceptor_memcpy sanitizer_common_interceptors.inc:827
    #1 0x55 in decode_page /src/notes.c:6
    #2 0x56 in parse_note /src/notes.c:13
    #3 0x57 in main /src/notes.c:19
"""


def report(**changes: object) -> dict[str, object]:
    line: dict[str, object] = {
        "title": "Heap overflow in notes' page decoder",
        "program": "notes",
        "affected_versions": ["1.4.1"],
        "reporter": "partner@lab.example",
        "poc": base64.b64encode(b"N" + b"A" * 40).decode(),
        "crash_report": CRASH,
        "cvss": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
        "cwe": "CWE-787",
        "model": "frontier-x",
    }
    line.update(changes)
    return {key: value for key, value in line.items() if value is not None}


def jsonl(*lines: dict[str, object]) -> list[str]:
    return [json.dumps(line) for line in lines]


def test_a_report_is_scored_weakness_named_and_its_crash_signed() -> None:
    checked = check_report(ReportDraft.model_validate(report()))
    assert checked.cvss is not None
    assert checked.cvss.score == 9.3
    assert checked.weakness is not None
    assert checked.weakness.name == "Out-of-bounds Write"
    assert str(checked.signature) == "heap-buffer-overflow in decode_page < parse_note < main"
    assert checked.draft.poc_bytes == b"N" + b"A" * 40


def test_a_bulk_file_of_duplicates_and_new_findings_groups_into_cases() -> None:
    other_crash = CRASH.replace("heap-buffer-overflow", "heap-use-after-free")
    reports = parse_bulk(
        ["", *jsonl(report(), report(title="Same bug, another input"), report(crash_report=other_crash)), "  "]
    )
    assert len(reports) == 3, "blank lines are skipped"
    grouping = Grouping()
    assert [grouping.add(r.signature) for r in reports] == [1, 1, 2]


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ("{not json", "Line 2 of reports.jsonl is not JSON"),
        ("[1, 2]", "Line 2 of reports.jsonl is not a JSON object"),
        (json.dumps(report(title=None)), "Line 2 of reports.jsonl: title is missing"),
        (json.dumps(report(severity="high")), "Line 2 of reports.jsonl: severity is not a field of a report"),
        (json.dumps(report(poc="%%%")), "poc must be the proof of concept's bytes in base64"),
        (
            json.dumps(report(cvss="CVSS:4.0/AV:N")),
            "Line 2 of reports.jsonl: The CVSS 4.0 vector 'CVSS:4.0/AV:N' is malformed",
        ),
        (json.dumps(report(cwe="CWE-99999")), "Line 2 of reports.jsonl: CWE-99999 is not in MITRE's CWE catalogue"),
        (json.dumps(report(crash_report="Segmentation fault")), "crash_report holds no sanitizer report"),
        (json.dumps(report(affected_versions=[])), "affected_versions"),
    ],
)
def test_an_invalid_bulk_line_is_named_in_one_sentence_and_nothing_of_the_file_is_taken(bad: str, said: str) -> None:
    with pytest.raises(InvalidInputError, match=said) as refused:
        parse_bulk([json.dumps(report()), bad, json.dumps(report())], source="reports.jsonl")
    assert "\n" not in refused.value.message
    assert "nothing was taken" in (refused.value.hint or "")


def test_an_oversized_poc_and_an_empty_file_are_refused() -> None:
    huge = base64.b64encode(b"A" * (MAX_POC_BYTES + 1)).decode()
    with pytest.raises(InvalidInputError, match="a proof of concept may have at most"):
        parse_bulk(jsonl(report(poc=huge)))
    with pytest.raises(InvalidInputError, match="holds no report"):
        parse_bulk(["", "   "], source="empty.jsonl")
