"""``airlock demo``: the scenario that ``make demo`` runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.demo import SIMULATED_DAYS, run_demo
from tests.conftest import START
from tests.support.cli import Cli

QUICK = str(Path(__file__).parent / "support" / "suites" / "quick.yaml")
"""The smoke suite's instances without its classical tools: the demo's own flow is what these tests check."""


def test_the_demo_walks_one_review_to_its_final_report_and_one_to_withdrawal(tmp_path: Path) -> None:
    lines: list[str] = []
    outcome = run_demo(tmp_path / "demo", lines.append, START, suite=QUICK)
    deployment = Airlock.open(Settings(home=tmp_path / "demo"), ManualClock(START))
    try:
        lead = deployment.directory.principal("lead@lab.test")
        completed = deployment.reviews.show(lead, outcome.completed_review)
        withdrawn = deployment.reviews.show(lead, outcome.withdrawn_review)
    finally:
        deployment.close()
    assert [e.to_state for e in completed.events if e.kind == "transition"] == [
        "submitted",
        "accepted",
        "evaluating",
        "draft_report",
        "developer_response",
        "final_report",
        "closed",
    ]
    assert withdrawn.state == "withdrawn"
    assert {e.kind for e in withdrawn.events} >= {"clock_paused", "clock_resumed", "clock_extended"}
    text = "\n".join(lines)
    day_zero = START - timedelta(days=SIMULATED_DAYS)
    assert f"deadline {day_zero + timedelta(days=30):%Y-%m-%d %H:%M} UTC, 30 days left" in text
    assert "AT RISK" in text
    assert "withdrew" in text
    # The commands printed are the ones that were run, reasons included.
    for event in completed.events[1:]:
        if event.kind == "transition" and event.reason:
            assert event.reason in text
    # The evaluation ran, the reports were built, and the final one is signed, in every format.
    assert {e.kind for e in completed.events} >= {"evaluation", "report"}
    assert outcome.reports["pdf"].read_bytes().startswith(b"%PDF-")
    assert all(path.with_name(path.name + ".sig").is_file() for path in outcome.reports.values())
    assert "Verified the PDF's signature: the final full report" in text


def test_the_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    outcome = Cli(None, clock)("demo", "--home", str(tmp_path))
    assert outcome.exit_code == 1
    assert "is not empty" in outcome.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


def test_the_demo_command_prints_every_step_and_where_the_signed_final_report_is(
    tmp_path: Path, clock: ManualClock
) -> None:
    outcome = Cli(None, clock)("demo", "--home", str(tmp_path / "demo"), "--suite", QUICK)
    assert outcome.exit_code == 0, outcome.stderr
    assert "[20]" in outcome.stdout
    assert "Demo complete" in outcome.stdout
    pdf = Path(outcome.stdout.split("PDF:", 1)[1].split()[0])
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert pdf.with_name(pdf.name + ".sig").is_file()
    verified = Cli(Settings(home=tmp_path / "demo"), clock)("report", "verify", str(pdf))
    assert verified.exit_code == 0, verified.stderr
    assert "the final full report" in verified.stdout
