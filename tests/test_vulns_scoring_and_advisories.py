"""The clearinghouse's foundations: scores computed by the field's libraries, bad values refused in one sentence,
duplicate reports grouped by root cause, advisories that validate against the OASIS CSAF 2.0 schema, OSV records."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from airlock.errors import InvalidInputError
from airlock.vulns.advisories import (
    Advisory,
    AdvisoryFormatError,
    Revision,
    canonical_json,
    check_osv,
    csaf_document,
    osv_record,
    validate_csaf,
)
from airlock.vulns.commitment import commit, verify
from airlock.vulns.scoring import (
    ACTIONS,
    CISA_TABLE,
    DECISION_POINTS,
    SsvcDecision,
    cvss4,
    priority,
    ssvc_decision,
    weakness,
)
from airlock.vulns.signatures import CrashSignature, Grouping, SignatureError, crash_signature, normalise_function

NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
CRITICAL = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"


def test_a_cvss_4_vector_is_scored_by_firsts_specification_and_kept_in_canonical_order() -> None:
    score = cvss4(CRITICAL)
    assert (score.score, score.severity) == (9.3, "Critical")
    low = cvss4("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N")
    assert low.score < 2.0
    assert low.severity == "Low"
    reordered = cvss4("CVSS:4.0/AC:L/AV:N/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N")
    assert reordered.vector == CRITICAL


@pytest.mark.parametrize(
    ("vector", "said"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "is not a CVSS 4.0 vector"),
        ("CVSS:4.0/AV:N/AC:L", "Missing mandatory metrics"),
        ("CVSS:4.0/AV:Q/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "malformed"),
        (CRITICAL + "/AV:L", "Duplicate metric"),
        ("9.8", "is not a CVSS 4.0 vector"),
    ],
)
def test_a_malformed_cvss_vector_is_refused_in_one_sentence(vector: str, said: str) -> None:
    with pytest.raises(InvalidInputError, match=said) as refused:
        cvss4(vector)
    assert "\n" not in str(refused.value)
    assert refused.value.hint


def test_a_cwe_is_looked_up_in_mitres_catalogue_and_an_unknown_one_is_refused() -> None:
    assert weakness("CWE-787").name == "Out-of-bounds Write"
    assert weakness(" 416 ").id == "CWE-416"
    with pytest.raises(InvalidInputError, match="CWE-99999 is not in MITRE's CWE catalogue"):
        weakness("CWE-99999")
    with pytest.raises(InvalidInputError, match="is not a CWE identifier"):
        weakness("buffer overflow")


@pytest.mark.parametrize(
    ("points", "action"),
    [
        (("active", "yes", "total", "high"), "act"),
        (("active", "no", "total", "medium"), "attend"),
        (("poc", "no", "total", "high"), "attend"),
        (("poc", "yes", "total", "medium"), "track*"),
        (("none", "no", "partial", "low"), "track"),
        (("none", "no", "partial", "high"), "track"),  # the row PyPI's ssvc package answers track*
        (("none", "no", "total", "high"), "track*"),
    ],
)
def test_ssvc_gives_cisas_action_and_records_who_decided_and_why(points: tuple[str, ...], action: str) -> None:
    exploitation, automatable, impact, mission = points
    decision = ssvc_decision(
        exploitation=exploitation,
        automatable=automatable,
        technical_impact=impact,
        mission_wellbeing=mission,
        decided_by="coordinator@lab.example",
        decided_at=NOW,
        rationale="The model's exploit works unattended against the default configuration.",
    )
    assert decision.action == action
    assert decision.decided_by == "coordinator@lab.example"
    assert decision.vector.endswith(f"-> {action}")


def test_an_ssvc_value_outside_its_decision_point_or_without_a_rationale_is_refused() -> None:
    arguments: dict[str, Any] = {
        "exploitation": "poc",
        "automatable": "yes",
        "technical_impact": "total",
        "mission_wellbeing": "high",
        "decided_by": "c@lab.example",
        "decided_at": NOW,
        "rationale": "Why.",
    }
    with pytest.raises(InvalidInputError, match="'weaponised' is not a value of SSVC's exploitation") as refused:
        ssvc_decision(**{**arguments, "exploitation": "weaponised"})
    assert "none, poc, active" in (refused.value.hint or "")
    with pytest.raises(InvalidInputError, match="needs its rationale"):
        ssvc_decision(**{**arguments, "rationale": "  "})


def decided(exploitation: str) -> SsvcDecision:
    """A coordinator's decision on an automatable exploit with total impact on a high-stakes mission."""
    return ssvc_decision(
        exploitation=exploitation,
        automatable="yes",
        technical_impact="total",
        mission_wellbeing="high",
        decided_by="coordinator@lab.example",
        decided_at=NOW,
        rationale="A model wrote a working exploit unattended.",
    )


def test_queues_put_ssvcs_most_urgent_action_first_then_the_higher_cvss_score() -> None:
    act, attend = decided("active"), decided("poc")
    cases = {
        "unscored": priority(None, None),
        "attend-low": priority(attend, cvss4("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N")),
        "attend-critical": priority(attend, cvss4(CRITICAL)),
        "act": priority(act, None),
    }
    assert sorted(cases, key=cases.__getitem__, reverse=True) == ["act", "attend-critical", "attend-low", "unscored"]


ASAN = """\
==1234==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x602000000015 at pc 0x4c5e2a bp 0x7ffd sp 0x7ffc
READ of size 1 at 0x602000000015 thread T0
    #0 0x4c5e29 in __interceptor_memcpy ../../src/libsanitizer/sanitizer_common/sanitizer_common_interceptors.inc:827
    #1 0x55d1c2 in decode_page.part.0 /src/notes/{path}:{line}:9
    #2 0x55d3a1 in parse_note(char const*, unsigned long) /src/notes/parse.c:88:5
    #3 0x55d4b0 in main /src/notes/main.c:12:3
    #4 0x7f3a in __libc_start_main (/lib/x86_64-linux-gnu/libc.so.6+0x271c9)

0x602000000015 is located 0 bytes to the right of 5-byte region
allocated by thread T0 here:
    #0 0x4a1b2c in malloc
    #1 0x55d0aa in read_input /src/notes/io.c:30:12
"""


def test_two_runs_of_one_bug_have_one_signature_whatever_the_build_and_the_path_to_it() -> None:
    first = crash_signature(ASAN.format(path="decode.c", line=40))
    assert first == CrashSignature("heap-buffer-overflow", ("decode_page", "parse_note", "main"))
    rebuilt = ASAN.format(path="decode.c", line=47).replace("0x55d1c2", "0x66e2d3").replace("==1234==", "==77==")
    assert crash_signature(rebuilt).key == first.key, "addresses, lines and the process id do not count"
    other_class = ASAN.format(path="decode.c", line=40).replace("heap-buffer-overflow", "heap-use-after-free")
    assert crash_signature(other_class).key != first.key
    elsewhere = ASAN.format(path="decode.c", line=40).replace("parse_note(char const*, unsigned long)", "load")
    assert crash_signature(elsewhere).key != first.key, "another way into the function is another caller chain"


def test_an_undefined_behaviour_report_has_a_signature_and_text_without_a_report_is_refused() -> None:
    ubsan = (
        "src/parse.c:88:5: runtime error: signed integer overflow: 2147483647 + 1 cannot be represented\n"
        "    #0 0x55d3a1 in parse_header /src/parse.c:88:5\n"
        "    #1 0x55d4b0 in main /src/main.c:12:3\n"
    )
    signature = crash_signature(ubsan)
    assert signature.bug_class == "ub-signed-integer-overflow"
    assert signature.frames == ("parse_header", "main")
    with pytest.raises(SignatureError, match="no sanitizer report"):
        crash_signature("Segmentation fault (core dumped)")


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("decode_page.part.0", "decode_page"),
        ("decode_page.isra.1.cold", "decode_page"),
        ("ns::Parser<std::vector<int> >::read(char const*) const", "ns::Parser::read const"),
        ("parse_note(char const*, unsigned long)", "parse_note"),
    ],
)
def test_function_names_lose_what_varies_between_builds(raw: str, normal: str) -> None:
    assert normalise_function(raw) == normal


def test_reports_join_the_case_of_the_same_root_cause_or_the_same_fix_and_a_linking_report_merges_cases() -> None:
    one = CrashSignature("heap-buffer-overflow", ("decode_page", "parse_note", "main"))
    two = CrashSignature("stack-buffer-overflow", ("copy_name", "main"))
    grouping = Grouping()
    assert grouping.add(one) == 1
    assert grouping.add(one) == 1, "the same crash again"
    assert grouping.add(two) == 2
    assert grouping.add(None, fixed_commit="abc123") == 3, "a partner's report known only by its fix"
    assert grouping.add(two, fixed_commit="ABC123 ") == 2, "the fix links cases 2 and 3: 3 is merged into 2"
    assert grouping.case_of(3) == 2
    assert grouping.add(None, fixed_commit="abc123") == 2


def advisory(**changes: object) -> Advisory:
    base = Advisory(
        id="AIRLOCK-2026-0001",
        title="Heap buffer overflow in notes' page decoder",
        summary="A crafted note overflows a heap buffer while its pages are decoded.",
        details="decode_page copies a page's payload without checking its declared length.",
        tlp="AMBER",
        publisher_name="Airlock evaluation lab",
        publisher_namespace="https://lab.example",
        vendor="Example Maintainers",
        product="notes",
        affected_versions=("1.4.0", "1.4.1"),
        fixed_versions=("1.4.2",),
        repository="https://git.example/notes.git",
        introduced_commit="1111111",
        fixed_commit="2222222",
        weakness=weakness("CWE-787"),
        cvss=cvss4(CRITICAL),
        ssvc=decided("poc"),
        aliases=("CVE-2026-12345",),
        references=("https://lab.example/advisories/AIRLOCK-2026-0001",),
        revisions=(Revision(NOW, "1", "Initial release."),),
    )
    return Advisory(**{**base.__dict__, **changes})


@pytest.mark.parametrize("tlp", ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"])
def test_a_csaf_advisory_validates_against_the_oasis_schema_with_its_tlp_marking(tlp: str) -> None:
    document = csaf_document(advisory(tlp=tlp))
    validate_csaf(document)
    label = document["document"]["distribution"]["tlp"]["label"]
    assert label == {"CLEAR": "WHITE", "AMBER+STRICT": "AMBER"}.get(tlp, tlp)
    (vulnerability,) = document["vulnerabilities"]
    assert vulnerability["cwe"] == {"id": "CWE-787", "name": "Out-of-bounds Write"}
    assert vulnerability["cve"] == "CVE-2026-12345"
    titles = [note["title"] for note in vulnerability["notes"]]
    assert "CVSS 4.0" in titles
    assert "SSVC decision" in titles


def test_the_csaf_check_is_the_oasis_schemas_and_refuses_a_broken_document() -> None:
    document = csaf_document(advisory())
    broken = copy.deepcopy(document)
    broken["document"]["distribution"]["tlp"]["label"] = "PURPLE"
    with pytest.raises(AdvisoryFormatError, match="document/distribution/tlp/label"):
        validate_csaf(broken)
    missing = copy.deepcopy(document)
    del missing["document"]["tracking"]
    with pytest.raises(AdvisoryFormatError, match="'tracking' is a required property"):
        validate_csaf(missing)
    bad_cwe = copy.deepcopy(document)
    bad_cwe["vulnerabilities"][0]["cwe"]["id"] = "787"
    with pytest.raises(AdvisoryFormatError, match="vulnerabilities/0/cwe/id"):
        validate_csaf(bad_cwe)


def test_an_osv_record_carries_the_cvss_4_vector_the_git_range_and_the_tlp() -> None:
    record = osv_record(advisory())
    check_osv(record)
    assert record["severity"] == [{"type": "CVSS_V4", "score": CRITICAL}]
    assert record["affected"][0]["ranges"][0]["events"] == [{"introduced": "1111111"}, {"fixed": "2222222"}]
    assert record["database_specific"]["tlp"] == "AMBER"
    assert record["published"] == "2026-12-07T09:30:00Z"
    bad = copy.deepcopy(record)
    bad["modified"] = "2026-12-07 09:30"
    with pytest.raises(AdvisoryFormatError, match="not an RFC 3339 time in UTC"):
        check_osv(bad)


def test_a_commitment_binds_the_published_advisory_and_reveals_nothing_before_it() -> None:
    published = canonical_json(csaf_document(advisory()))
    early = commit(published)
    assert early.digest.startswith("sha256:")
    assert early.digest != "sha256:" + hashlib.sha256(published).hexdigest(), "a nonce: not the document's own hash"
    assert verify(early.digest, early.nonce, published)
    altered = canonical_json(csaf_document(advisory(title="Something milder")))
    assert not verify(early.digest, early.nonce, altered), "a changed advisory does not match"
    assert not verify(early.digest, commit(published).nonce, published), "nor another nonce"
    assert not verify(early.digest, "not hex", published)
    assert commit(published).digest != early.digest, "two commitments to one document look unrelated"


def test_cisas_table_is_complete_and_more_of_any_decision_point_never_means_less_urgency() -> None:
    assert len(CISA_TABLE) == 36
    for (exploitation, automatable, impact, mission), action in CISA_TABLE.items():
        given = {
            "exploitation": exploitation,
            "automatable": automatable,
            "technical_impact": impact,
            "mission_wellbeing": mission,
        }
        for point, values in DECISION_POINTS.items():
            higher = values[values.index(given[point]) + 1 :]
            for value in higher:
                raised = {**given, point: value}
                key = (
                    raised["exploitation"],
                    raised["automatable"],
                    raised["technical_impact"],
                    raised["mission_wellbeing"],
                )
                assert ACTIONS.index(CISA_TABLE[key]) >= ACTIONS.index(action), (given, point, value)
