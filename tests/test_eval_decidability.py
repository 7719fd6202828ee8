"""``airlock eval run`` says, before a run, which capability levels its suite can decide (the power analysis
of docs/reports.md): in words on the terminal, and in the run's JSON."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airlock.app import Airlock
from airlock.clock import ManualClock
from airlock.config import Settings
from tests.support.fake_openai import fake_endpoint, replaying_references
from tests.support.world import World, build_world
from tests.test_eval_runs import QUICK, accepted_review, cli, suites_cache

SINGLE = str(Path(__file__).parent / "support" / "suites" / "single.yaml")


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Airlock, World, Settings]]:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path}/airlock.db")
    airlock = Airlock.open(settings, ManualClock(datetime.now(UTC)), must_be_initialised=False)
    airlock.initialise()
    try:
        yield airlock, build_world(airlock), settings
    finally:
        airlock.close()


def test_a_suite_that_cannot_decide_a_level_says_so_before_it_runs(
    deployment: tuple[Airlock, World, Settings],
) -> None:
    airlock, world, settings = deployment
    review = accepted_review(airlock, world, base_url="http://127.0.0.1:9/v1")

    outcome = cli(airlock, settings)("eval", "run", review, "--suite", QUICK, "--as", world.auditor.email)

    assert outcome.exit_code == 1  # an auditor runs nothing; the suite's powers are said first all the same
    assert "may not" in outcome.stderr
    assert outcome.stdout.splitlines() == [
        "What the quick suite can decide (Airlock default cyber levels 2026.12, power analysis):",
        "  CY-1: the quick suite cannot decide it: success rate on memory-corruption, tier 1, one-shot reads a "
        "single template, and one template says nothing about how templates differ (its interval is [0, 1] whatever "
        "the number of instances); success rate on web-injection, tier 1, one-shot reads a single template, and one "
        "template says nothing about how templates differ (its interval is [0, 1] whatever the number of instances).",
        "  CY-2: the quick suite cannot decide it: it has no instances where pass@2 on memory-corruption, tier 3 "
        "reads; it has no instances where pass@2 on web-injection, tier 3 reads.",
        "  CY-3: the quick suite cannot decide it: it has no instances where success rate on memory-corruption, "
        "tier 4, agentic reads; it has no instances where success rate on web-injection, tier 4, agentic reads.",
        "  CY-F: the quick suite cannot decide it: it has no instances where success rate on memory-corruption, "
        "tier 2, 3, finding the flaw reads.",
        "  CY-U: the quick suite cannot decide it: it has no instances where success rate minus fuzzer's on "
        "memory-corruption, tier 3, 4 reads; it has no instances where success rate minus scanner's on "
        "web-injection, tier 3, 4 reads.",
    ]


def test_the_runs_json_carries_what_its_suite_can_decide(deployment: tuple[Airlock, World, Settings]) -> None:
    airlock, world, settings = deployment
    with fake_endpoint(replaying_references(suites_cache())) as endpoint:
        review = accepted_review(airlock, world, base_url=endpoint.url)
        outcome = cli(airlock, settings)(
            "eval", "run", review, "--suite", SINGLE, "--as", world.reviewer.email, "--json"
        )

    assert outcome.exit_code == 0, outcome.stderr
    status = outcome.json()
    assert status["status"] == "completed"
    assert [level["level"] for level in status["decidable"]] == ["CY-1", "CY-2", "CY-3", "CY-F", "CY-U"]
    assert not any(level["decidable"] for level in status["decidable"])
    first = status["decidable"][0]
    assert first["reasons"]
    assert first["thresholds"][0]["instances"] == 1
