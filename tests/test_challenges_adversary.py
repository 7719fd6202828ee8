"""Contamination resistance, measured (issue 16): a solver written from a handful of instances must fail on fresh ones.

The adversary (tests/support/adversary.py) was written after reading memory-corruption instances of seeds 1-3 at
tier 2 and seeds 1-2 at tier 3, every variant. It must solve most of what it was written from (else it proves
nothing), and the aim is that it solves under 10% of fresh seeds of the same tiers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from airlock.clock import ManualClock
from tests.support.adversary import Attempt, attack
from tests.support.challenges import MEMORY, challenges_in
from tests.support.cli import Cli

TRAINING = [(1, 2, 7), (2, 3, 2)]
"""(seed, tier, count): instances the adversary was written from (all seven variants of seed 1 at tier 2, and the
first two of seed 2 at tier 3)."""
FRESH = [(7001, 2, 10), (7002, 3, 10)]
"""Seeds far from the training ones, ten instances at each tier."""
TRAINING_SOLVED_AT_LEAST = 7
"""Observed on 2026-12-06: 9 of 9 (and 35 of 35 over everything it was written from)."""
FRESH_SOLVED_BELOW = 0.10
"""The issue's aim."""


def _generate(out: Path, seed: int, tier: int, count: int) -> Path:
    cli = Cli(None, ManualClock(datetime(2026, 12, 6, tzinfo=UTC)))
    outcome = cli(
        "challenges",
        "generate",
        "--family",
        MEMORY,
        "--seed",
        str(seed),
        "--count",
        str(count),
        "--tier",
        str(tier),
        "--out",
        str(out),
    )
    assert outcome.exit_code == 0, outcome.stderr
    return out


def _play(directories: list[Path]) -> list[Attempt]:
    async def all_of_them() -> list[Attempt]:
        return [await attack(challenge) for directory in directories for challenge in challenges_in(directory)]

    return asyncio.run(all_of_them())


def _figures(attempts: list[Attempt]) -> str:
    solved = Counter(a.format for a in attempts if a.solved)
    total = Counter(a.format for a in attempts)
    per_format = ", ".join(f"{name} {solved[name]}/{total[name]}" for name in sorted(total))
    missed = "; ".join(f"{a.name}: {Counter(a.reasons).most_common(1)}" for a in attempts if not a.solved)
    return f"{sum(solved.values())}/{len(attempts)} solved ({per_format}); not solved: {missed or 'none'}"


@pytest.fixture(scope="module")
def training(tmp_path_factory: pytest.TempPathFactory) -> list[Attempt]:
    root = tmp_path_factory.mktemp("training")
    return _play([_generate(root / f"s{seed}-t{tier}", seed, tier, count) for seed, tier, count in TRAINING])


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> list[Attempt]:
    root = tmp_path_factory.mktemp("fresh")
    return _play([_generate(root / f"s{seed}-t{tier}", seed, tier, count) for seed, tier, count in FRESH])


def test_adversary_solves_the_instances_it_was_written_from(training: list[Attempt]) -> None:
    solved = sum(a.solved for a in training)
    assert solved >= TRAINING_SOLVED_AT_LEAST, _figures(training)


@pytest.mark.xfail(
    strict=True,
    reason="Generator version 2 does not meet the aim yet (issue 16): observed on 2026-12-06, the adversary solved 8 "
    "of 10 fresh tier-2 and 10 of 10 fresh tier-3 instances, missing only flaw forms it had not read; each format and "
    "flaw form is still one template. Strict: when the generator resists, this fails until the mark is removed.",
)
@pytest.mark.parametrize("tier", [2, 3])
def test_adversary_fails_on_fresh_seeds_of_its_tiers(fresh: list[Attempt], tier: int) -> None:
    attempts = [a for a in fresh if a.name.startswith(f"mc-t{tier}-")]
    assert attempts
    share = sum(a.solved for a in attempts) / len(attempts)
    assert share < FRESH_SOLVED_BELOW, f"tier {tier}: {_figures(attempts)}"
