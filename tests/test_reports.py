"""The report of a review, end to end: built from real evaluation results (a scripted model on loopback that
answers every challenge with its reference solution), signed, stored in the vault, exported by whoever may
read it, redacted for partners, answered by the developer, and verified byte for byte."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from markupsafe import escape

from airlock.app import Airlock
from airlock.audit.note import verifier_key
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import ConflictError, PermissionDeniedError
from airlock.reports.build import commitment, instance_label
from airlock.reports.signing import sign_file
from airlock.review import ReviewState, SubmissionRequest, reporting
from airlock.review.reporting import BuiltReport, ReportFile
from tests.support.cli import Cli
from tests.support.fake_openai import fake_endpoint, replaying_references
from tests.support.world import World, build_world, database_snapshot
from tests.test_eval_runs import QUICK, SMOKE_SAMPLES, accepted_review, suites_cache


@dataclass
class Reviewed:
    airlock: Airlock
    world: World
    settings: Settings
    clock: ManualClock
    review: str
    draft: BuiltReport


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reviewed]:
    """A review whose model solved the quick suite, moved to draft_report, with its draft report built."""
    home = tmp_path_factory.mktemp("reports")
    settings = Settings(home=home / "home", database_url=f"sqlite:///{home}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    try:
        with fake_endpoint(replaying_references(suites_cache())) as endpoint:
            review = accepted_review(airlock, world, base_url=endpoint.url)
            status = airlock.evaluations.run(world.reviewer, review, QUICK)
        assert status.status == "completed"
        airlock.reviews.transition(world.reviewer, review, ReviewState.DRAFT_REPORT)
        draft = airlock.reports.build(world.reviewer, review)
        yield Reviewed(airlock, world, settings, clock, review, draft)
    finally:
        airlock.close()


@dataclass
class Fresh:
    """A new deployment with the test world, for a test that changes it."""

    airlock: Airlock
    world: World
    settings: Settings
    clock: ManualClock


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Fresh]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    try:
        airlock.initialise()
        yield Fresh(airlock, build_world(airlock), settings, clock)
    finally:
        airlock.close()


def file(built: BuiltReport, variant: str, extension: str) -> ReportFile:
    return next(f for f in built.files[variant] if f.name.endswith(f".{extension}"))


def signature(built: BuiltReport, variant: str, extension: str) -> str:
    return next(f for f in built.files[variant] if f.name.endswith(f".{extension}.sig")).data.decode()


def exploit_details(reviewed: Reviewed) -> dict[str, str]:
    """What the full report must show and the redacted one must not: taken from the full JSON itself."""
    report = json.loads(file(reviewed.draft, "full", "json").data)
    evidence = [f["evidence"] for f in report["findings"] if f["evidence"]]
    assert evidence, "the scripted model solved every challenge: its successes are findings with evidence"
    first = evidence[0]
    source_line = next(line for line in first["challenge_source"].splitlines() if len(line.strip()) > 20)
    poc_line = next(line for line in first["proof_of_concept"].splitlines() if len(line.strip()) > 8)
    excerpt_line = next(line for line in first["transcript_excerpt"].splitlines()[2:] if len(line.strip()) > 8)
    return {"proof of concept": poc_line.strip(), "transcript": excerpt_line.strip(), "source": source_line.strip()}


# What the report says -----------------------------------------------------------------------------------------


def test_the_timeline_shows_each_report_built(reviewed: Reviewed) -> None:
    shown = Cli(reviewed.settings, reviewed.clock)("review", "show", reviewed.review, "--as", reviewed.world.lead.email)
    assert shown.exit_code == 0, shown.stderr
    assert f"report by {reviewed.world.reviewer.email}: draft report {reviewed.draft.id} built" in shown.stdout
    assert "clock extended" not in shown.stdout


def test_the_draft_report_decides_each_level_from_the_evaluation_results(reviewed: Reviewed) -> None:
    built = reviewed.draft
    assert (built.status, built.complete, built.has_results) == ("draft", True, True)
    assert [level for level, _ in built.decisions] == ["CY-1", "CY-2", "CY-3", "CY-F", "CY-U"]
    report = json.loads(file(built, "full", "json").data)
    assert report["variant"] == "full"
    model = next(r for r in report["results"]["by_family"] if r["subject"] == "model" and r["family"] == "all")
    assert model["value"] == 1.0  # the scripted model solved every instance
    reference = next(
        r for r in report["results"]["by_family"] if r["subject"] == "baseline:reference" and r["family"] == "all"
    )
    assert reference["value"] == 1.0
    assert report["methods"]["runs"][0]["seeds"]  # what re-creates the instances
    assert len(report["appendix"]) == SMOKE_SAMPLES


def test_the_full_report_carries_the_exploit_details_and_the_redacted_one_none(reviewed: Reviewed) -> None:
    details = exploit_details(reviewed)
    for extension in ("html", "json"):
        full = file(reviewed.draft, "full", extension).data.decode()
        redacted = file(reviewed.draft, "redacted", extension).data.decode()
        for what, text in details.items():
            assert _contains(full, text), f"the full {extension} lacks the {what}"
            assert not _contains(redacted, text), f"the redacted {extension} shows the {what}"
    redacted_report = json.loads(file(reviewed.draft, "redacted", "json").data)
    assert redacted_report["variant"] == "redacted"
    assert all(f["evidence"] is None for f in redacted_report["findings"])
    assert all(row["reasons"] is None for row in redacted_report["appendix"])


def variant_names() -> list[str]:
    """Every challenge variant, as the generators spell it and as prose and sample names do, and the
    sanitizer's bug classes: none may reach a partner."""
    from airlock.evals.challenges.generation import GENERATORS
    from airlock.evals.challenges.generators.memory import BUG_CLASSES

    names = {variant for module in GENERATORS.values() for variant in module.VARIANTS} | set(BUG_CLASSES.values())
    return sorted({form for name in names for form in (name, name.replace("_", "-"), name.replace("_", " "))})


def test_the_redacted_report_names_no_variant_and_no_seed_in_any_format(reviewed: Reviewed) -> None:
    import io

    import pypdf

    full = json.loads(file(reviewed.draft, "full", "json").data)
    seeds = {run["id"]: run["seeds"] for run in full["methods"]["runs"]}
    assert all(seeds.values())
    redacted_json = file(reviewed.draft, "redacted", "json").data.decode()
    pdf = pypdf.PdfReader(io.BytesIO(file(reviewed.draft, "redacted", "pdf").data))
    documents = {
        "json": redacted_json,
        "html": file(reviewed.draft, "redacted", "html").data.decode(),
        "pdf": " ".join(page.extract_text() for page in pdf.pages),
    }
    for form, document in documents.items():
        named = [
            name for name in variant_names() if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", document, re.I)
        ]
        assert named == [], f"the redacted {form} names the variants {named}"
        shown = [seed for tasks in seeds.values() for seed in tasks.values() if re.search(rf"\b{seed}\b", document)]
        assert shown == [], f"the redacted {form} shows the seeds {shown}"
    # What it shows instead: commitments that the full report's key opens, and nobody else's.
    redacted = json.loads(redacted_json)
    key = full["methods"]["commitment_key"]
    assert redacted["methods"]["commitment_key"] is None
    for run in redacted["methods"]["runs"]:
        assert run["seeds"] is None
        assert run["seed_commitments"] == {
            task: commitment(key, f"{run['id']}/{task}={seed}") for task, seed in seeds[run["id"]].items()
        }
    assert all(row["variant"] is None for row in redacted["appendix"])
    assert {row["instance"] for row in redacted["appendix"]} == {
        instance_label(key, row["instance"]) for row in full["appendix"]
    }


def test_a_review_with_runs_of_different_epochs_gets_its_report(fresh: Fresh, tmp_path: Path) -> None:
    # A one-epoch screening run next to a full run with more epochs made `airlock report build` print a
    # 47-line traceback: pass@k wanted the same number of attempts at every instance.
    airlock, world = fresh.airlock, fresh.world
    suites = Path(__file__).parent / "support" / "suites"
    with fake_endpoint(replaying_references(suites_cache())) as endpoint:
        review = accepted_review(airlock, world, base_url=endpoint.url)
        for suite in ("single.yaml", "single-twice.yaml"):
            assert airlock.evaluations.run(world.reviewer, review, str(suites / suite)).status == "completed"

    outcome = Cli(fresh.settings, fresh.clock)(
        "report", "build", review, "--out", str(tmp_path / "out"), "--as", world.reviewer.email, "--json"
    )

    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stderr == ""
    report = json.loads(next((tmp_path / "out").glob("*-full.json")).read_text())
    assert sorted(run["epochs"] for run in report["methods"]["runs"]) == [1, 2]
    (at_k,) = [rate for rate in report["results"]["pass_at_k"] if rate["family"] == "all"]
    assert (at_k["instances"], at_k["attempts"]) == (1, 2)  # the one-epoch run's instance cannot give pass@2
    assert any("1 instances attempted fewer times" in note for note in report["notes"])
    model = next(r for r in report["results"]["by_family"] if r["subject"] == "model" and r["family"] == "all")
    assert (model["instances"], model["attempts"]) == (2, 3)


def _contains(document: str, text: str) -> bool:
    """Whether ``text`` is in ``document`` as it is, HTML-escaped (as the template escapes) or JSON-escaped."""
    return text in document or str(escape(text)) in document or json.dumps(text)[1:-1] in document


# Signatures -----------------------------------------------------------------------------------------------------


def test_report_verify_passes_on_every_untouched_file(reviewed: Reviewed, tmp_path: Path) -> None:
    run = Cli(reviewed.settings, reviewed.clock)
    for variant, files in reviewed.draft.files.items():
        for report_file in files:
            (tmp_path / report_file.name).write_bytes(report_file.data)
        for extension in ("html", "pdf", "json"):
            path = tmp_path / file(reviewed.draft, variant, extension).name
            outcome = run("report", "verify", str(path))
            assert outcome.exit_code == 0, outcome.stderr
            assert f"the draft {variant} report of review {reviewed.review}" in outcome.stdout


@pytest.mark.parametrize("tampering", ["changed byte", "swapped signature", "another key"])
def test_report_verify_fails_on_any_tampering(reviewed: Reviewed, tmp_path: Path, tampering: str) -> None:
    pdf = file(reviewed.draft, "full", "pdf")
    data, note = bytearray(pdf.data), signature(reviewed.draft, "full", "pdf")
    if tampering == "changed byte":
        data[len(data) // 2] ^= 0x01
    elif tampering == "swapped signature":
        note = signature(reviewed.draft, "redacted", "pdf")  # a genuine signature, of another report
    else:
        impostor = Ed25519PrivateKey.generate()
        note = sign_file(
            bytes(data),
            file_name=pdf.name,
            review=reviewed.review,
            variant="full",
            status="draft",
            key_name=reviewed.airlock.reports.verifier_key().split("+")[0],
            key=impostor,
        )
    path = tmp_path / pdf.name
    path.write_bytes(bytes(data))
    (tmp_path / (pdf.name + ".sig")).write_text(note)

    outcome = Cli(reviewed.settings, reviewed.clock)("report", "verify", str(path))

    assert outcome.exit_code == 1
    assert len(outcome.error_lines) == 1
    expected = "does not match its signature" if tampering != "another key" else "The signature is not valid"
    assert expected in outcome.error_lines[0]


def test_anyone_can_verify_with_the_published_key_and_another_key_is_refused(
    reviewed: Reviewed, tmp_path: Path
) -> None:
    json_file = file(reviewed.draft, "full", "json")
    path = tmp_path / json_file.name
    path.write_bytes(json_file.data)
    (tmp_path / (json_file.name + ".sig")).write_text(signature(reviewed.draft, "full", "json"))
    published = reviewed.airlock.reports.verifier_key()
    outsider = Cli(None, reviewed.clock)  # no deployment at all
    assert outsider("report", "verify", str(path), "--key", published).exit_code == 0
    other = verifier_key(published.split("+")[0], Ed25519PrivateKey.generate())
    refused = outsider("report", "verify", str(path), "--key", other)
    assert refused.exit_code == 1
    assert "The signature is not valid" in refused.stderr


# Who sees what ---------------------------------------------------------------------------------------------------


def test_the_reports_are_in_the_vault_and_only_the_granted_variant_reaches_a_partner(reviewed: Reviewed) -> None:
    airlock, world = reviewed.airlock, reviewed.world
    exported = airlock.reports.export(world.reviewer, reviewed.review, "full")
    assert {f.name for f in exported} == {f.name for f in reviewed.draft.files["full"]}
    airlock.reviews.grant(world.acme_admin, reviewed.review, "grid-cert", ["redacted_report"])
    shared = airlock.reports.export(world.partner, reviewed.review, "redacted")
    assert {f.name for f in shared} == {f.name for f in reviewed.draft.files["redacted"]}
    with pytest.raises(Exception, match="has not granted full_report"):
        airlock.reports.export(world.partner, reviewed.review, "full")
    with pytest.raises(Exception, match="may not"):
        airlock.reports.export(world.auditor, reviewed.review, "full")


def test_the_developer_sees_neither_report_nor_findings_before_the_draft_is_sent(reviewed: Reviewed) -> None:
    airlock, world = reviewed.airlock, reviewed.world
    assert airlock.reviews.show(world.lead, reviewed.review).state == ReviewState.DRAFT_REPORT
    with pytest.raises(PermissionDeniedError, match="report are not yet sent to the developer"):
        airlock.reports.export(world.acme_admin, reviewed.review, "full")
    with pytest.raises(PermissionDeniedError, match="report are not yet sent to the developer"):
        airlock.findings.for_review(world.acme_admin, reviewed.review)


def test_the_developer_answers_a_finding_and_the_final_report_carries_the_answer(reviewed: Reviewed) -> None:
    airlock, world, review = reviewed.airlock, reviewed.world, reviewed.review
    added = airlock.findings.add(
        world.reviewer, review, title="Solves tier-1 memory corruption reliably", body="It overflowed parse_record."
    )
    shareable = airlock.findings.add(
        world.reviewer, review, title="Fast", body="Each exploit took under a minute.", for_partners=True
    )
    airlock.reviews.transition(world.lead, review, ReviewState.DEVELOPER_RESPONSE)
    findings = airlock.findings.for_review(world.acme_admin, review)
    assert added.id in {f.id for f in findings}
    assert {f.kind for f in findings} >= {"capability", "notable_success", "reviewer"}
    answer = "Our release adds a refusal policy for exploit development."
    airlock.findings.respond(world.acme_admin, added.id, answer)
    airlock.reviews.transition(world.lead, review, ReviewState.FINAL_REPORT)

    final = airlock.reports.build(world.reviewer, review)

    assert final.status == "final"
    report = json.loads(file(final, "full", "json").data)
    answered = next(f for f in report["findings"] if f["id"] == added.id)
    assert answered["response"]["text"] == answer
    assert answered["response"]["by"] == world.acme_admin.email
    redacted = file(final, "redacted", "html").data.decode()
    assert answer in redacted  # the answer is no exploit detail
    # A reviewer's text reaches partners only when the reviewer said it may; its title always does.
    assert "It overflowed parse_record." in file(final, "full", "html").data.decode()
    assert "It overflowed parse_record." not in redacted
    assert "Solves tier-1 memory corruption reliably" in redacted
    assert shareable.for_partners
    assert "Each exploit took under a minute." in redacted
    assert file(final, "full", "pdf").data.startswith(b"%PDF-")


# Bad input --------------------------------------------------------------------------------------------------------


def test_a_review_without_completed_evaluations_gets_a_report_that_says_so(fresh: Fresh) -> None:
    airlock, world = fresh.airlock, fresh.world
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    built = airlock.reports.build(world.reviewer, review)
    assert (built.has_results, built.decisions) == (False, [])
    report = json.loads(file(built, "full", "json").data)
    assert report["decisions"] == []
    assert report["results"] is None
    assert report["summary"].startswith("No evaluation of ")
    page = file(built, "full", "html").data.decode()
    assert re.search(r"no evaluation has completed|no completed evaluations", page, re.IGNORECASE)


def test_a_review_that_moves_while_its_report_renders_gets_no_report_stored(
    fresh: Fresh, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PDFs render outside any transaction (seconds in which others may write); storing them checks that
    the review is still where it was."""
    airlock, world = fresh.airlock, fresh.world
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    render = reporting._signed_files
    moved: list[str] = []

    def render_while_the_review_moves(*arguments: Any) -> list[ReportFile]:
        if not moved:
            moved.append(airlock.reviews.withdraw(world.acme_admin, review, reason="changed our plans").state)
        return render(*arguments)

    monkeypatch.setattr(reporting, "_signed_files", render_while_the_review_moves)
    with pytest.raises(ConflictError, match="moved to withdrawn while its report was being built"):
        airlock.reports.build(world.reviewer, review)
    assert moved == ["withdrawn"]
    kinds = {item.kind for item in airlock.reviews.show(world.lead, review).content}
    assert not kinds & {"full_report", "redacted_report"}


def test_an_invalid_framework_is_refused_with_its_line_and_nothing_is_stored(
    reviewed: Reviewed, tmp_path: Path
) -> None:
    framework = tmp_path / "framework.yaml"
    framework.write_text(
        "format: airlock-framework/1\nname: broken\nversion: '1'\nlevels:\n"
        "  - id: CY-1\n    name: x\n    definition: x\n    thresholds:\n"
        "      - {family: memory-corruption, tiers: [1], metric: pass_at_k, at_least: 0.5}\n"
    )
    before = database_snapshot(reviewed.airlock.database)
    outcome = Cli(reviewed.settings, reviewed.clock)(
        "report",
        "build",
        reviewed.review,
        "--framework",
        str(framework),
        "--out",
        str(tmp_path / "out"),
        "--as",
        reviewed.world.reviewer.email,
    )
    assert outcome.exit_code == 1
    assert "is invalid at line 9 (levels.0.thresholds.0): a pass_at_k threshold needs k" in outcome.stderr
    assert database_snapshot(reviewed.airlock.database) == before
    assert not (tmp_path / "out").exists()


def test_a_report_cannot_be_built_before_the_review_is_accepted_or_by_someone_unassigned(reviewed: Reviewed) -> None:
    airlock, world = reviewed.airlock, reviewed.world
    with pytest.raises(Exception, match="may not build the report"):
        airlock.reports.build(world.auditor, reviewed.review)


@pytest.mark.parametrize(
    ("case", "exit_code", "message"),
    [
        ("build a withdrawn review", 1, "only a review that was accepted, and neither declined nor withdrawn"),
        ("build a closed review", 1, "is closed: its final report was issued and cannot change"),
        ("export into a file", 1, "The report files cannot be written to"),
        ("verify without a deployment or key", 1, "Give the issuing agency's verifier key with --key"),
        ("build an unknown review", 1, "R-NOSUCH1"),
        ("build unassigned", 1, "may not build the report"),
        ("verify a missing file", 1, "cannot be read"),
        ("verify with a malformed key", 1, "The verifier key is not usable"),
        ("add a finding without a title", 1, "A finding's title must be 1 to 200 characters"),
        ("add a finding as the developer", 1, "may not record a finding on review"),
        ("answer before the draft is sent", 1, "findings are answered while it is in developer_response"),
        ("answer as a reviewer", 1, "may not answer finding"),
        ("answer an unknown finding", 1, "There is no finding F-NOSUCH1"),
        ("export an unknown variant", 2, "'partial' is not one of 'full', 'redacted'"),
    ],
)
def test_bad_input_to_reports_and_findings_is_refused_in_one_line_and_changes_nothing(
    tmp_path: Path, fresh: Fresh, case: str, exit_code: int, message: str
) -> None:
    airlock, world, settings, clock = fresh.airlock, fresh.world, fresh.settings, fresh.clock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    finding = airlock.findings.add(world.reviewer, review, title="Seen", body="Something.")
    if case == "build a withdrawn review":
        airlock.reviews.withdraw(world.acme_admin, review)
    if case == "build a closed review":
        airlock.reports.build(world.reviewer, review)
        for state in ("evaluating", "draft_report", "developer_response", "final_report", "closed"):
            airlock.reviews.transition(world.lead, review, state)
    if case == "export into a file":
        airlock.reports.build(world.reviewer, review)
        (tmp_path / "occupied").write_text("a file, not a directory")
    reviewer, developer = world.reviewer.email, world.acme_admin.email
    arguments = {
        "build a withdrawn review": ["report", "build", review, "--as", reviewer],
        "build a closed review": ["report", "build", review, "--as", reviewer],
        "export into a file": ["report", "export", review, "--out", str(tmp_path / "occupied"), "--as", reviewer],
        "verify without a deployment or key": ["report", "verify", __file__, "--signature", __file__],
        "build an unknown review": ["report", "build", "R-NOSUCH1", "--as", reviewer],
        "build unassigned": ["report", "build", review, "--as", world.auditor.email],
        "verify a missing file": ["report", "verify", str(tmp_path / "missing.pdf")],
        "verify with a malformed key": ["report", "verify", __file__, "--signature", __file__, "--key", "x+y+z"],
        "add a finding without a title": [
            "finding",
            "add",
            review,
            "--title",
            " ",
            "--body",
            "b",
            "--as",
            reviewer,
        ],
        "add a finding as the developer": [
            "finding",
            "add",
            review,
            "--title",
            "t",
            "--body",
            "b",
            "--as",
            developer,
        ],
        "answer before the draft is sent": ["finding", "respond", finding.id, "--text", "No.", "--as", developer],
        "answer as a reviewer": ["finding", "respond", finding.id, "--text", "No.", "--as", reviewer],
        "answer an unknown finding": ["finding", "respond", "F-NOSUCH1", "--text", "No.", "--as", developer],
        "export an unknown variant": ["report", "export", review, "--variant", "partial", "--as", reviewer],
    }[case]
    before = database_snapshot(airlock.database)

    run = Cli(Settings(home=tmp_path / "nowhere") if "without a deployment" in case else settings, clock)
    outcome = run(*arguments, "--out", str(tmp_path / "out")) if "build" in case else run(*arguments)

    assert outcome.exit_code == exit_code, outcome.stderr
    assert message in outcome.stderr
    if exit_code == 1:
        assert len(outcome.error_lines) == 1
    assert database_snapshot(airlock.database) == before
    assert not (tmp_path / "out").exists()


def test_a_successor_model_is_compared_with_its_predecessor_on_exactly_the_same_instances(
    fresh: Fresh,
) -> None:
    airlock, world = fresh.airlock, fresh.world
    with fake_endpoint(replaying_references(suites_cache())) as strong:
        earlier = accepted_review(airlock, world, base_url=strong.url)
        assert airlock.evaluations.run(world.reviewer, earlier, QUICK).status == "completed"
    with fake_endpoint(lambda messages: "I cannot solve this.") as weak:
        successor = accepted_review(airlock, world, base_url=weak.url)
        run = airlock.evaluations.run(world.reviewer, successor, QUICK, same_instances_as=earlier)
    assert run.status == "completed"
    first, second = (airlock.evaluations.status(world.reviewer, r)[0] for r in (earlier, successor))
    assert first.seeds == second.seeds  # the same instances, exactly

    built = airlock.reports.build(world.reviewer, successor)

    report = json.loads(file(built, "full", "json").data)
    differences = report["results"]["differences"]
    versus = next(d for d in differences if d["versus"].startswith("earlier:") and d["family"] == "all")
    assert (versus["family"], versus["value"], versus["instances"]) == ("all", -1.0, SMOKE_SAMPLES)
    assert "100 percentage points fewer than" in report["summary"]
    assert any(f"review {earlier}" in note for note in report["notes"])


def test_another_developers_review_is_never_a_comparison(fresh: Fresh) -> None:
    airlock, world, settings, clock = fresh.airlock, fresh.world, fresh.settings, fresh.clock
    acme = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    globex = airlock.submissions.submit(
        world.globex_admin,
        SubmissionRequest(
            model="openai-api/globex/g1",
            model_version="1",
            planned_release_date=clock.now().date() + timedelta(days=40),
            model_card="card",
            base_url="http://127.0.0.1:9/v1",
            endpoint_credentials="sk-fake",
        ),
    ).id
    airlock.reviews.accept(world.lead, globex)
    airlock.reviews.assign(world.lead, globex, world.reviewer.email)
    before = database_snapshot(airlock.database)

    outcome = Cli(settings, clock)(
        "eval", "run", globex, "--suite", QUICK, "--same-instances-as", acme, "--as", world.reviewer.email
    )

    assert outcome.exit_code == 1
    assert len(outcome.error_lines) == 1
    assert "is of another developer's model" in outcome.stderr
    assert database_snapshot(airlock.database) == before


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("itself", "cannot be compared with itself"),
        ("no completed run", "has no completed run of the suite quick"),
    ],
)
def test_a_comparison_without_instances_to_reuse_is_refused_before_anything_runs(
    fresh: Fresh, case: str, message: str
) -> None:
    airlock, world, settings, clock = fresh.airlock, fresh.world, fresh.settings, fresh.clock
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    other = review if case == "itself" else accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")
    before = database_snapshot(airlock.database)

    outcome = Cli(settings, clock)(
        "eval", "run", review, "--suite", QUICK, "--same-instances-as", other, "--as", world.reviewer.email
    )

    assert outcome.exit_code == 1
    assert len(outcome.error_lines) == 1
    assert message in outcome.stderr
    assert database_snapshot(airlock.database) == before
