"""The evidence behind every number: the transcript viewer (for those with need-to-know, every read audited, the
model's output shown as inert text), the samples behind each finding in the report, `airlock eval export` of a
run's Inspect logs, and a lead reviewer's invalidation of a sample (left out of every figure, listed with why).

One real run (a scripted model on loopback that answers each challenge with its reference solution, preceded by
markup meant to run in a reviewer's browser) is made once; a test that changes the deployment works on a copy of
it (the SQLite database copied with SQLite's own backup, the home with it).
"""

from __future__ import annotations

import html.parser
import io
import json
import shutil
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from inspect_ai.log import EvalSample, read_eval_log
from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageTool, ChatMessageUser
from inspect_ai.tool import ToolCall, ToolCallError
from sqlalchemy import select

from airlock.access import Principal
from airlock.api.app import create_app
from airlock.app import Airlock
from airlock.audit.models import AuditEntry
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.errors import InvalidInputError, NotFoundError, PermissionDeniedError, TransitionError
from airlock.evals.runner import SampleOutcome
from airlock.review import ReviewState
from airlock.review.models import EvalRun, SampleVerdict
from tests.support.cli import Cli
from tests.support.fake_openai import fake_endpoint, replaying_references
from tests.support.world import AGENCY, World, build_world, database_snapshot
from tests.test_eval_runs import accepted_review, suites_cache
from tests.test_web import PASSWORD, csrf_of

TWICE = str(Path(__file__).parent / "support" / "suites" / "single-twice.yaml")
"""One instance, two epochs: invalidating one attempt changes the figures."""
HOSTILE = (
    "Here is my answer. <script>alert('from the transcript')</script> "
    '<a href="javascript:alert(1)">open the details</a> <img src=x onerror="alert(2)"> '
    '[a link](javascript:alert(3)) <iframe src="javascript:alert(4)"></iframe>\n'
)


@dataclass
class Deployment:
    airlock: Airlock
    world: World
    settings: Settings
    clock: ManualClock
    review: str
    run: str
    sample: str
    outsider: Principal
    """A reviewer not assigned to the review."""

    def cli(self, *args: str) -> Any:
        return Cli(self.settings, self.clock)(*args)

    def portal(self) -> TestClient:
        """A fresh browser (its own cookie jar) on the portal, on this machine (plain HTTP keeps no session
        anywhere else)."""
        return TestClient(create_app(self.airlock), base_url="http://127.0.0.1", client=("127.0.0.1", 50000))

    def signed_in(self, user: Principal) -> tuple[TestClient, str]:
        browser = self.portal()
        answer = browser.post("/sign-in", data={"email": user.email, "password": PASSWORD}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return browser, csrf_of(browser.get("/reviews"))

    def viewer_url(self, epoch: int = 1) -> str:
        task = "memory-corruption/oneshot"
        return f"/reviews/{self.review}/evaluations/{self.run}/samples/{self.sample}?epoch={epoch}&task={task}"


def _open(settings: Settings, clock: ManualClock) -> Airlock:
    return Airlock.open(settings, clock)


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A review whose model solved single-twice's one instance in both epochs, its markup before each answer."""
    root = tmp_path_factory.mktemp("evidence")
    settings = Settings(home=root / "home", database_url=f"sqlite:///{root}/airlock.db")
    clock = ManualClock(datetime.now(UTC))
    airlock = Airlock.open(settings, clock, must_be_initialised=False)
    airlock.initialise()
    world = build_world(airlock)
    outsider = airlock.directory.add_user(
        world.operator, email="outsider@lab.test", name="Outsider", role="reviewer", organisation=AGENCY
    )
    for user in (world.acme_admin, world.lead, world.reviewer, world.partner, world.auditor):
        airlock.sessions.set_password(user, user.email, PASSWORD)
    references = replaying_references(suites_cache())
    try:
        with fake_endpoint(lambda messages: HOSTILE + references(messages)) as endpoint:
            review = accepted_review(airlock, world, base_url=endpoint.url)
            status = airlock.evaluations.run(world.reviewer, review, TWICE)
        assert status.status == "completed"
        assert status.model_tally.solved == 2
        airlock.reviews.grant(world.acme_admin, review, "grid-cert", ["redacted_report"])
        (row, _) = [r for r in _verdicts(airlock) if r.subject == "model"]
        yield Deployment(
            airlock,
            world,
            settings,
            clock,
            review,
            status.run,
            row.sample_id,
            airlock.directory.principal(outsider.email),
        )
    finally:
        airlock.close()


@pytest.fixture
def scratch(original: Deployment, tmp_path: Path) -> Iterator[Deployment]:
    """The original deployment, copied: a test that changes it changes only its scratch."""
    home = tmp_path / "home"
    shutil.copytree(original.settings.home, home)
    database = tmp_path / "airlock.db"
    source = sqlite3.connect(original.settings.sqlite_path)
    target = sqlite3.connect(database)
    with target:
        source.backup(target)
    source.close()
    target.close()
    settings = Settings(home=home, database_url=f"sqlite:///{database}")
    clock = ManualClock(original.clock.now())
    airlock = _open(settings, clock)
    try:
        yield Deployment(
            airlock,
            original.world,
            settings,
            clock,
            original.review,
            original.run,
            original.sample,
            original.outsider,
        )
    finally:
        airlock.close()


def _verdicts(airlock: Airlock) -> list[SampleVerdict]:
    with airlock.database.transaction(read_only=True) as session:
        return list(session.scalars(select(SampleVerdict).order_by(SampleVerdict.id)))


def audit_after(airlock: Airlock, seq: int) -> list[AuditEntry]:
    with airlock.database.transaction(read_only=True) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)))


def last_seq(airlock: Airlock) -> int:
    with airlock.database.transaction(read_only=True) as session:
        return session.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)) or 0


class _Markup(html.parser.HTMLParser):
    """Every element of a page, with its attributes, and the text of any script element."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.script_text.append(data)


def markup_of(page: str) -> _Markup:
    parsed = _Markup()
    parsed.feed(page)
    return parsed


# The viewer ------------------------------------------------------------------------------------------------


def test_the_assigned_reviewer_reads_a_samples_conversation_verdict_and_proof_of_concept(
    original: Deployment,
) -> None:
    airlock, world = original.airlock, original.world
    seq = last_seq(airlock)

    shown = airlock.samples.show(world.reviewer, original.run, original.sample, epoch=2)

    assert (shown.review, shown.run, shown.sample, shown.epoch) == (original.review, original.run, original.sample, 2)
    assert (shown.verdict, shown.task, shown.mode) == ("exploit", "memory-corruption/oneshot", "oneshot")
    assert [message.role for message in shown.messages] == ["system", "user", "assistant"]
    assert HOSTILE.strip() in shown.messages[-1].text
    assert "AddressSanitizer" in shown.oracle.evidence
    assert shown.oracle.bug_class == "stack-buffer-overflow"
    assert shown.oracle.stages_reached[0] == "framing"  # every generated memory program guards its framing first
    assert shown.proof_of_concept
    assert shown.proof_of_concept_bytes > 0
    assert not shown.may_invalidate, "a reviewer who is not a lead reviewer may not invalidate"
    (read,) = [entry for entry in audit_after(airlock, seq) if entry.action == "content.read"]
    assert (read.actor, read.outcome, read.details["kind"]) == (world.reviewer.email, "allowed", "eval_transcript")
    assert f"{original.run}/memory-corruption/oneshot/{original.sample}/2" in read.purpose


@pytest.mark.parametrize("who", ["partner", "auditor", "developer", "unassigned reviewer"])
def test_whoever_has_no_need_to_know_is_refused_the_transcript_and_the_refusal_is_audited(
    original: Deployment, who: str
) -> None:
    world = original.world
    user = {
        "partner": world.partner,
        "auditor": world.auditor,
        "developer": world.acme_admin,
        "unassigned reviewer": original.outsider,
    }[who]
    seq = last_seq(original.airlock)

    with pytest.raises((PermissionDeniedError, NotFoundError)):
        original.airlock.samples.show(user, original.run, original.sample, epoch=1)

    entries = audit_after(original.airlock, seq)
    assert [(e.actor, e.action, e.outcome) for e in entries] == [(user.email, "sample.read", "refused")]


def test_the_viewer_page_shows_the_models_markup_as_inert_text(original: Deployment) -> None:
    browser, _ = original.signed_in(original.world.reviewer)

    answer = browser.get(original.viewer_url())

    assert answer.status_code == 200, answer.text[:500]
    page = answer.text
    assert "&lt;script&gt;alert(&#39;from the transcript&#39;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    parsed = markup_of(page)
    assert parsed.script_text == [], "no inline script at all"
    scripts = [attributes.get("src", "") for tag, attributes in parsed.elements if tag == "script"]
    assert scripts
    assert all(source.startswith("/static/") for source in scripts)
    for tag, attributes in parsed.elements:
        assert tag not in ("img", "iframe"), "nothing of the transcript becomes an element"
        assert not any(name.startswith("on") for name in attributes), (tag, attributes)
        for value in attributes.values():
            assert not value.strip().lower().startswith("javascript:"), (tag, attributes)
    policy = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_partner_and_auditor_are_refused_the_viewer_page(original: Deployment) -> None:
    for user in (original.world.partner, original.world.auditor):
        browser, _ = original.signed_in(user)
        answer = browser.get(original.viewer_url())
        assert answer.status_code == 403, (user.email, answer.status_code)
        assert "may not see the samples of evaluation run" in answer.text
        assert "Here is my answer" not in answer.text


def test_a_long_tool_output_is_folded_with_its_length_and_tool_calls_show_their_arguments(scratch: Deployment) -> None:
    airlock, world = scratch.airlock, scratch.world
    with airlock.database.transaction(read_only=True) as session:
        run_id = session.scalar(select(EvalRun.id).where(EvalRun.public_id == scratch.run))
    assert run_id is not None
    output = "A" * 50_000
    transcript = EvalSample(
        id="agentic-sample",
        epoch=1,
        input="Find the flaw.",
        target="",
        messages=[
            ChatMessageSystem(content="You are taking part in a security evaluation."),
            ChatMessageUser(content="Find the flaw."),
            ChatMessageAssistant(
                content="Let me look.",
                tool_calls=[ToolCall(id="call-1", function="bash", arguments={"cmd": "cat target.c\nls -l"})],
            ),
            ChatMessageTool(content=output, tool_call_id="call-1", function="bash"),
            ChatMessageTool(
                content="", tool_call_id="call-2", function="python", error=ToolCallError("timeout", "it ran too long")
            ),
        ],
    ).model_dump_json()
    airlock.evaluations.record(
        world.reviewer,
        scratch.review,
        run_id,
        "model",
        SampleOutcome(
            task="memory-corruption/agentic",
            sample_id="agentic-sample",
            epoch=1,
            family="memory-corruption",
            variant="stack-overflow",
            difficulty=2,
            challenge_version="1",
            verdict="not proven",
            reason="no proof of concept was submitted",
            transcript=transcript,
        ),
    )
    browser, _ = scratch.signed_in(world.reviewer)

    page = browser.get(f"/reviews/{scratch.review}/evaluations/{scratch.run}/samples/agentic-sample?epoch=1").text

    assert "<summary>Output of bash: 50,000 characters (folded)</summary>" in page
    assert output in page
    assert "Calls bash" in page
    assert "cat target.c\nls -l" in page
    assert "The tool reported: timeout: it ran too long" in page
    assert "None: the model submitted no proof of concept" in page


def test_the_runs_page_lists_its_samples_each_linked_to_the_viewer(original: Deployment) -> None:
    browser, _ = original.signed_in(original.world.reviewer)

    page = browser.get(f"/reviews/{original.review}/evaluations/{original.run}").text

    for epoch in (1, 2):
        path = f"/reviews/{original.review}/evaluations/{original.run}/samples/{original.sample}"
        assert f'href="{path}?epoch={epoch}&amp;task=memory-corruption%2Foneshot"' in page


def test_api_gives_the_same_view_of_a_sample(original: Deployment) -> None:
    browser, _ = original.signed_in(original.world.reviewer)
    url = f"/api/v1/reviews/{original.review}/evaluations/{original.run}/samples/{original.sample}"

    answer = browser.get(url, params={"epoch": 1})

    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert (view["verdict"], view["epoch"], view["messages"][-1]["role"]) == ("exploit", 1, "assistant")
    listed = browser.get(f"/api/v1/reviews/{original.review}/evaluations/{original.run}/samples").json()
    assert [(s["sample"], s["epoch"]) for s in listed["samples"]] == [(original.sample, 1), (original.sample, 2)]


# Findings and the report ------------------------------------------------------------------------------------


def test_each_finding_carries_its_samples_and_the_report_page_links_them_to_the_viewer(scratch: Deployment) -> None:
    airlock, world = scratch.airlock, scratch.world
    key = f"{scratch.run}/memory-corruption/oneshot/{scratch.sample}/1"
    airlock.findings.add(world.reviewer, scratch.review, title="Overflow written by hand", body="See.", samples=[key])

    built = airlock.reports.build(world.reviewer, scratch.review)

    full = json.loads(next(f for f in built.files["full"] if f.name.endswith(".json")).data)
    redacted = json.loads(next(f for f in built.files["redacted"] if f.name.endswith(".json")).data)
    by_kind = {finding["kind"]: finding for finding in full["findings"]}
    success = {"run": scratch.run, "task": "memory-corruption/oneshot", "sample": scratch.sample}
    assert by_kind["notable_success"]["samples"] in ([{**success, "epoch": 1}], [{**success, "epoch": 2}])
    assert by_kind["reviewer"]["samples"] == [{**success, "epoch": 1}]
    assert scratch.sample not in json.dumps(redacted), "the redacted report names samples by commitment"
    assert all(len(s["sample"]) == 16 for f in redacted["findings"] for s in f["samples"])
    browser, _ = scratch.signed_in(world.reviewer)
    page = browser.get(f"/reviews/{scratch.review}/report/full").text
    assert (
        f'href="/reviews/{scratch.review}/evaluations/{scratch.run}/samples/{scratch.sample}?epoch=1&amp;task=' in page
    )
    partner, _ = scratch.signed_in(world.partner)
    redacted_page = partner.get(f"/reviews/{scratch.review}/report/redacted").text
    assert scratch.sample not in redacted_page
    assert "/samples/" not in redacted_page


def test_a_memory_error_proven_where_nothing_was_planted_is_a_finding_of_its_own_and_never_a_success(
    scratch: Deployment,
) -> None:
    # The run's two attempts, as a discovery task records them: the first proved a memory error at a place no flaw
    # was planted (the oracle's verdict "finding"), the second proved a planted flaw ("found").
    airlock = scratch.airlock
    with airlock.database.transaction() as session:
        rows = session.scalars(select(SampleVerdict).where(SampleVerdict.subject == "model")).all()
        for row in rows:
            row.task = "memory-corruption/oneshot/discover"
            row.verdict = "finding" if row.epoch == 1 else "found"

    built = airlock.reports.build(scratch.world.reviewer, scratch.review)

    full = json.loads(next(f for f in built.files["full"] if f.name.endswith(".json")).data)
    by_kind = {finding["kind"]: finding for finding in full["findings"]}
    sample = {"run": scratch.run, "task": "memory-corruption/oneshot/discover", "sample": scratch.sample}
    assert by_kind["unplanted_crash"]["samples"] == [{**sample, "epoch": 1}]
    assert by_kind["unplanted_crash"]["title"].startswith("Memory error at a place nobody planted")
    assert by_kind["unplanted_crash"]["evidence"]["instance"]
    assert by_kind["notable_success"]["samples"] == [{**sample, "epoch": 2}]
    assert by_kind["notable_success"]["title"].startswith("Flaw found and proven")
    # One success in two attempts: the unplanted crash counts as a failure, on the row of finding flaws.
    (row,) = [r for r in full["results"]["by_family"] if r["subject"] == "model" and r["family"] != "all"]
    assert (row["family"], row["attempts"], row["value"]) == ("memory-corruption/discover", 2, 0.5)
    redacted = json.loads(next(f for f in built.files["redacted"] if f.name.endswith(".json")).data)
    unplanted = next(f for f in redacted["findings"] if f["kind"] == "unplanted_crash")
    assert unplanted["evidence"] is None
    assert "Unplanted memory error" in next(f for f in built.files["full"] if f.name.endswith(".html")).data.decode()


def test_a_finding_naming_a_sample_the_review_does_not_have_is_refused_in_one_line_and_changes_nothing(
    scratch: Deployment,
) -> None:
    before = database_snapshot(scratch.airlock.database)
    for named, words in (
        ("not-a-sample", "does not name a sample"),
        (f"{scratch.run}/no-such-sample/1", "has no sample no-such-sample, epoch 1"),
        (f"{scratch.run}/{scratch.sample}/9", f"has no sample {scratch.sample}, epoch 9"),
        (f"E-00000000/{scratch.sample}/1", "has no evaluation run E-00000000"),
    ):
        outcome = scratch.cli(
            "finding", "add", scratch.review, "--title", "T", "--body", "B", "--sample", named,
            "--as", scratch.world.reviewer.email,
        )  # fmt: skip
        assert outcome.exit_code == 1, outcome.stdout
        assert len(outcome.error_lines) == 1, outcome.stderr
        assert words in outcome.stderr, outcome.stderr
    assert database_snapshot(scratch.airlock.database) == before


# Invalidation -----------------------------------------------------------------------------------------------


def _model_figure(built: Any) -> dict[str, Any]:
    report = json.loads(next(f for f in built.files["full"] if f.name.endswith(".json")).data)
    return next(r for r in report["results"]["by_family"] if r["subject"] == "model" and r["family"] == "all")


def test_an_invalidated_sample_is_left_out_of_every_figure_listed_with_why_and_audited(scratch: Deployment) -> None:
    airlock, world = scratch.airlock, scratch.world
    reason = "the sandbox host ran out of disk during this attempt"
    seq = last_seq(airlock)

    changed = airlock.samples.invalidate(world.lead, scratch.run, scratch.sample, epoch=2, reason=reason)
    built = airlock.reports.build(world.reviewer, scratch.review)

    assert changed.invalidation is not None
    assert changed.invalidation.reason == reason
    assert (_model_figure(built)["attempts"], _model_figure(built)["instances"]) == (1, 1)
    full = json.loads(next(f for f in built.files["full"] if f.name.endswith(".json")).data)
    (listed,) = full["invalidated"]
    assert (listed["instance"], listed["epoch"], listed["verdict"]) == (f"{scratch.run}/{scratch.sample}", 2, "exploit")
    assert (listed["reason"], listed["by"]) == (reason, world.lead.email)
    assert any("invalidated by a lead reviewer" in note for note in full["notes"])
    assert all(s["epoch"] == 1 for finding in full["findings"] for s in finding["samples"])
    assert reason in next(f for f in built.files["full"] if f.name.endswith(".html")).data.decode()
    redacted = json.loads(next(f for f in built.files["redacted"] if f.name.endswith(".json")).data)
    (hidden,) = redacted["invalidated"]
    assert (hidden["reason"], hidden["by"]) == (None, None)
    assert scratch.sample not in hidden["instance"]
    entries = [e for e in audit_after(airlock, seq) if e.action == "sample.invalidate"]
    assert [(e.actor, e.outcome, e.purpose) for e in entries] == [(world.lead.email, "done", reason)]
    timeline = airlock.reviews.show(world.lead, scratch.review).events
    assert any(reason in event.reason and "invalidated" in event.reason for event in timeline)


def test_a_reinstated_sample_counts_in_every_figure_again(scratch: Deployment) -> None:
    airlock, world = scratch.airlock, scratch.world
    airlock.samples.invalidate(world.lead, scratch.run, scratch.sample, epoch=2, reason="the host ran out of disk")

    outcome = scratch.cli(
        "eval", "reinstate", scratch.run, scratch.sample, "--epoch", "2",
        "--reason", "the disk filled up after it ended", "--as", world.lead.email,
    )  # fmt: skip
    built = airlock.reports.build(world.reviewer, scratch.review)

    assert outcome.exit_code == 0, outcome.stderr
    assert "is reinstated" in outcome.stdout
    assert _model_figure(built)["attempts"] == 2
    report = json.loads(next(f for f in built.files["full"] if f.name.endswith(".json")).data)
    assert report["invalidated"] == []
    assert airlock.samples.show(world.lead, scratch.run, scratch.sample, epoch=2).invalidation is None


@pytest.mark.parametrize("who", ["reviewer", "unassigned lead", "partner", "auditor", "developer"])
def test_only_an_assigned_lead_reviewer_may_invalidate_and_a_refusal_changes_nothing_but_is_audited(
    scratch: Deployment, who: str
) -> None:
    airlock, world = scratch.airlock, scratch.world
    if who == "unassigned lead":
        airlock.reviews.unassign(world.lead, scratch.review, world.lead.email)
    user = {
        "reviewer": world.reviewer,
        "unassigned lead": world.lead,
        "partner": world.partner,
        "auditor": world.auditor,
        "developer": world.acme_admin,
    }[who]
    before = database_snapshot(airlock.database)
    seq = last_seq(airlock)

    with pytest.raises((PermissionDeniedError, NotFoundError)):
        airlock.samples.invalidate(user, scratch.run, scratch.sample, epoch=1, reason="I would rather it did not count")

    assert database_snapshot(airlock.database) == before
    entries = audit_after(airlock, seq)
    assert [(e.actor, e.action, e.outcome) for e in entries] == [(user.email, "sample.invalidate", "refused")]


@pytest.mark.parametrize("reason", ["", "   \n "])
def test_an_invalidation_needs_a_reason(scratch: Deployment, reason: str) -> None:
    before = database_snapshot(scratch.airlock.database, with_audit=True)

    with pytest.raises(InvalidInputError, match="A reason is required to invalidate a sample"):
        scratch.airlock.samples.invalidate(scratch.world.lead, scratch.run, scratch.sample, epoch=1, reason=reason)
    outcome = scratch.cli(
        "eval",
        "invalidate",
        scratch.run,
        scratch.sample,
        "--epoch",
        "1",
        "--reason",
        reason,
        "--as",
        scratch.world.lead.email,
    )

    assert outcome.exit_code == 1
    assert outcome.error_lines == [
        "Error: A reason is required to invalidate a sample; say what went wrong outside the model (--reason)."
    ]
    assert database_snapshot(scratch.airlock.database, with_audit=True) == before


def test_a_sample_is_invalidated_once_and_only_while_the_findings_can_change(scratch: Deployment) -> None:
    airlock, world = scratch.airlock, scratch.world
    airlock.samples.invalidate(world.lead, scratch.run, scratch.sample, epoch=1, reason="the host failed")
    with pytest.raises(TransitionError, match="is invalidated already"):
        airlock.samples.invalidate(world.lead, scratch.run, scratch.sample, epoch=1, reason="again")
    with pytest.raises(TransitionError, match="is not invalidated"):
        airlock.samples.reinstate(world.lead, scratch.run, scratch.sample, epoch=2, reason="nothing to undo")
    airlock.reviews.transition(world.reviewer, scratch.review, ReviewState.DRAFT_REPORT)
    airlock.reports.build(world.reviewer, scratch.review)
    for state in (ReviewState.DEVELOPER_RESPONSE, ReviewState.FINAL_REPORT):
        airlock.reviews.transition(world.lead, scratch.review, state)

    with pytest.raises(TransitionError, match="before the final report is issued"):
        airlock.samples.reinstate(world.lead, scratch.run, scratch.sample, epoch=1, reason="too late")


def test_the_viewer_page_invalidates_with_a_reason_and_shows_a_refusal_at_its_form(scratch: Deployment) -> None:
    browser, csrf = scratch.signed_in(scratch.world.lead)
    page = browser.get(scratch.viewer_url(1)).text
    assert "Invalidate this sample" in page
    action = f"/reviews/{scratch.review}/evaluations/{scratch.run}/samples/{scratch.sample}/invalidation"
    form = {"csrf": csrf, "epoch": "1", "task": "memory-corruption/oneshot"}

    refused = browser.post(action, data={**form, "reason": " "})
    done = browser.post(
        action, data={**form, "reason": "the endpoint answered for another model"}, follow_redirects=False
    )

    assert refused.status_code == 422
    assert 'id="invalidation-error"' in refused.text
    assert "A reason is required" in refused.text
    assert done.status_code == 303
    shown = browser.get(done.headers["location"]).text
    assert "Invalidated</strong> by lead@lab.test" in shown
    assert "the endpoint answered for another model" in shown
    reviewer, _ = scratch.signed_in(scratch.world.reviewer)
    assert "Invalidate this sample" not in reviewer.get(scratch.viewer_url(2)).text


def test_the_api_invalidates_and_reinstates_as_the_service_does(scratch: Deployment) -> None:
    browser, csrf = scratch.signed_in(scratch.world.lead)
    path = f"/api/v1/reviews/{scratch.review}/evaluations/{scratch.run}/samples/{scratch.sample}"
    headers = {"X-CSRF-Token": csrf}

    invalidated = browser.post(f"{path}/invalidation", json={"epoch": 2, "reason": "disk full"}, headers=headers)
    reinstated = browser.post(f"{path}/reinstatement", json={"epoch": 2, "reason": "not so"}, headers=headers)
    empty = browser.post(f"{path}/invalidation", json={"epoch": 2, "reason": ""}, headers=headers)

    assert invalidated.status_code == 200, invalidated.text
    assert invalidated.json()["invalidation"]["reason"] == "disk full"
    assert reinstated.status_code == 200
    assert reinstated.json()["invalidation"] is None
    assert empty.status_code == 422


# Bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["eval", "invalidate", "E-00000000", "x", "--epoch", "1", "--reason", "r"], "no evaluation run E-00000000"),
        (["eval", "invalidate", "{run}", "no-such-sample", "--epoch", "1", "--reason", "r"], "has no sample"),
        (["eval", "invalidate", "{run}", "{sample}", "--epoch", "7", "--reason", "r"], "epoch 7"),
        (["eval", "invalidate", "{run}", "{sample}", "--epoch", "1", "--task", "web/x", "--reason", "r"], "of task"),
        (["eval", "reinstate", "not-a-run", "{sample}", "--epoch", "1", "--reason", "r"], "no evaluation run"),
        (["eval", "samples", "E-ZZZZZZZZ"], "no evaluation run E-ZZZZZZZZ"),
        (["eval", "export", "E-ZZZZZZZZ"], "no evaluation run E-ZZZZZZZZ"),
    ],
)
def test_an_unknown_run_or_sample_is_refused_in_one_line_and_changes_nothing(
    scratch: Deployment, command: list[str], words: str, tmp_path: Path
) -> None:
    args = [part.format(run=scratch.run, sample=scratch.sample) for part in command]
    before = database_snapshot(scratch.airlock.database)

    outcome = scratch.cli(*args, "--as", scratch.world.lead.email)

    assert outcome.exit_code == 1, outcome.stdout
    assert len(outcome.error_lines) == 1, outcome.stderr
    assert words in outcome.stderr, outcome.stderr
    assert database_snapshot(scratch.airlock.database) == before


def test_a_run_of_another_review_is_no_run_at_all_in_the_pages_and_the_api(original: Deployment) -> None:
    browser, _ = original.signed_in(original.world.lead)
    other = accepted_review(original.airlock, original.world, base_url="http://127.0.0.1:9/v1")

    page = browser.get(f"/reviews/{other}/evaluations/{original.run}")
    api = browser.get(f"/api/v1/reviews/{other}/evaluations/{original.run}/samples")

    assert page.status_code == 404
    assert api.status_code == 404
    assert f"no evaluation run {original.run}" in api.json()["title"]


# Exporting the logs -----------------------------------------------------------------------------------------


def test_an_exported_log_opens_with_inspect_and_marks_the_invalidated_sample(
    scratch: Deployment, tmp_path: Path
) -> None:
    airlock, world = scratch.airlock, scratch.world
    airlock.samples.invalidate(world.lead, scratch.run, scratch.sample, epoch=2, reason="the host ran out of disk")
    seq = last_seq(airlock)

    outcome = scratch.cli("eval", "export", scratch.run, "--out", str(tmp_path / "logs"), "--as", world.reviewer.email)

    assert outcome.exit_code == 0, outcome.stderr
    assert "inspect view --log-dir" in outcome.stdout
    logs = sorted((tmp_path / "logs").rglob("*.eval"))
    assert [path.parent.name for path in logs] == ["epoch-1", "epoch-2"]
    assert all(path.stat().st_mode & 0o077 == 0 for path in logs), "readable by the person who asked only"
    first, second = (read_eval_log(str(path)) for path in logs)
    assert [str(sample.id) for sample in first.samples or []] == [scratch.sample]
    assert [sample.invalidation for sample in first.samples or []] == [None]
    (marked,) = second.samples or []
    assert marked.invalidation is not None
    assert (marked.invalidation.author, marked.invalidation.reason) == (world.lead.email, "the host ran out of disk")
    assert second.invalidated
    reads = [e for e in audit_after(airlock, seq) if e.action == "content.read"]
    assert {(e.actor, e.details["kind"]) for e in reads} == {(world.reviewer.email, "eval_log")}
    assert len(reads) >= 2


def test_the_api_gives_the_runs_logs_as_a_zip_and_refuses_a_partner(original: Deployment, tmp_path: Path) -> None:
    browser, _ = original.signed_in(original.world.reviewer)
    path = f"/api/v1/reviews/{original.review}/evaluations/{original.run}/log"

    answer = browser.get(path)
    partner, _ = original.signed_in(original.world.partner)
    refused = partner.get(path)

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        names = [name for name in archive.namelist() if name.endswith(".eval")]
        archive.extractall(tmp_path)
    assert len(names) == 2
    assert all(read_eval_log(str(tmp_path / name)).status == "success" for name in names)
    assert refused.status_code == 403


@pytest.mark.parametrize("who", ["partner", "auditor"])
def test_a_partner_and_an_auditor_cannot_export_the_logs(original: Deployment, who: str, tmp_path: Path) -> None:
    user = original.world.partner if who == "partner" else original.world.auditor

    outcome = original.cli("eval", "export", original.run, "--out", str(tmp_path / "logs"), "--as", user.email)

    assert outcome.exit_code == 1
    assert len(outcome.error_lines) == 1
    assert "may not see the samples of evaluation run" in outcome.stderr
    assert not (tmp_path / "logs").exists()
