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


def test_the_demo_walks_one_review_to_its_final_report_and_one_to_withdrawal(tmp_path: Path) -> None:
    lines: list[str] = []
    outcome = run_demo(tmp_path / "demo", lines.append, START)
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
        if event.reason:
            assert event.reason in text


def test_the_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    outcome = Cli(None, clock)("demo", "--home", str(tmp_path))
    assert outcome.exit_code == 1
    assert "is not empty" in outcome.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


def test_the_demo_command_prints_every_step(tmp_path: Path, clock: ManualClock) -> None:
    outcome = Cli(None, clock)("demo", "--home", str(tmp_path / "demo"))
    assert outcome.exit_code == 0, outcome.stderr
    assert "[17]" in outcome.stdout
    assert "Demo complete" in outcome.stdout
