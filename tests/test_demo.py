"""``airlock demo``: the scenario that ``make demo`` runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from airlock.demo import SIMULATED_DAYS
from tests.support.cli import Cli

SINGLE = str(Path(__file__).parent / "support" / "suites" / "single.yaml")
"""One instance judged against its reference: the demo's own flow is what these tests check. `make demo` runs the
smoke suite whole, and tests/test_local_model_smoke.py runs that suite with the bundled model and every tool."""


def test_the_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path, clock: ManualClock) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    outcome = Cli(None, clock)("demo", "--home", str(tmp_path))
    assert outcome.exit_code == 1
    assert "is not empty" in outcome.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


@pytest.mark.timeout(600)  # about a minute alone on 2 cores, several beside the other test processes
def test_the_demo_walks_one_review_to_its_signed_final_report_and_one_to_withdrawal(
    tmp_path: Path, clock: ManualClock
) -> None:
    """One run of `airlock demo` (a full demo takes most of a minute): what it prints, and what it leaves."""
    outcome = Cli(None, clock)("demo", "--home", str(tmp_path / "demo"), "--suite", SINGLE)
    assert outcome.exit_code == 0, outcome.stderr
    text = outcome.stdout
    assert "[20]" in text
    assert "Demo complete" in text
    deployment = Airlock.open(Settings(home=tmp_path / "demo"), ManualClock(clock.now()))
    try:
        lead = deployment.directory.principal("lead@lab.test")
        by_state = {review.state: review.id for review in deployment.reviews.list_visible(lead)}
        completed = deployment.reviews.show(lead, by_state["closed"])
        withdrawn = deployment.reviews.show(lead, by_state["withdrawn"])
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
    assert {e.kind for e in withdrawn.events} >= {"clock_paused", "clock_resumed", "clock_extended"}
    day_zero = clock.now() - timedelta(days=SIMULATED_DAYS)
    assert f"deadline {day_zero + timedelta(days=30):%Y-%m-%d %H:%M} UTC, 30 days left" in text
    assert "AT RISK" in text
    assert "withdrew" in text
    # The commands printed are the ones that were run, reasons included.
    for event in completed.events[1:]:
        if event.kind == "transition" and event.reason:
            assert event.reason in text
    # The evaluation ran, the reports were built, and the final one is signed, in every format.
    assert {e.kind for e in completed.events} >= {"evaluation", "report"}
    assert "Verified the PDF's signature: the final full report" in text
    pdf = Path(text.split("PDF:", 1)[1].split()[0])
    assert pdf.read_bytes().startswith(b"%PDF-")
    for extension in ("html", "json", "pdf"):
        assert pdf.with_suffix(f".{extension}").is_file()
        assert pdf.with_suffix(f".{extension}.sig").is_file()
    verified = Cli(Settings(home=tmp_path / "demo"), clock)("report", "verify", str(pdf))
    assert verified.exit_code == 0, verified.stderr
    assert "the final full report" in verified.stdout
