"""Contamination resistance, measured (issue 16): a solver written from a handful of instances must fail on fresh ones.

The adversary (tests/support/adversary.py) was written after reading memory-corruption instances of generator
version 3, seeds 1-3 at tier 2 and seeds 1-2 at tier 3, every variant. It must solve most of what it was written from
(else it proves nothing), and the aim is that it solves under 10% of fresh seeds of the same tiers; tier 4, which it
never read, is measured too (it fails there: tier 4 adds framing layers it has not seen).
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

TRAINING = [(1, 2, 7), (2, 3, 7)]
"""(seed, tier, count): instances the adversary was written from that the test replays: all seven variants of seed 1
at tier 2 and of seed 2 at tier 3 (it was written from seeds 1-3 at tier 2 and 1-2 at tier 3, 35 instances)."""
FRESH_COUNT = 7
"""Fresh instances per tier: one of each variant (indices 0-6). The figures in docs/challenges.md are over ten per
tier; seven keep this file at 73-134 s on the shared two-core machine (load 7-10), about 50 s of CPU."""
FRESH = {2: 7001, 3: 7002, 4: 7003}
"""Seeds far from the training ones, one per tier. Tier 4 was not among the tiers the adversary read."""
TRAINING_SOLVED_AT_LEAST = 12
"""Observed on 2026-12-06 (generator version 3): 14 of 14 (and 35 of 35 over everything it was written from)."""
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
    return _play([_generate(root / f"s{seed}-t{tier}", seed, tier, FRESH_COUNT) for tier, seed in FRESH.items()])


def test_adversary_solves_the_instances_it_was_written_from(training: list[Attempt]) -> None:
    solved = sum(a.solved for a in training)
    assert solved >= TRAINING_SOLVED_AT_LEAST, _figures(training)


_STILL_WINS = pytest.mark.xfail(
    strict=True,
    reason="Generator version 3 does not meet the aim at the tiers the adversary read (issue 16): observed on "
    "2026-12-06 over ten fresh instances per tier, it solved 8 of 10 at tier 2 (seed 7001) and 7 of 10 at tier 3 "
    "(seed 7002); the misses were flaw forms and a sub-request check it had not read. Strict: when the generator "
    "resists, this fails until the mark is removed.",
)


@pytest.mark.parametrize("tier", [pytest.param(2, marks=_STILL_WINS), pytest.param(3, marks=_STILL_WINS), 4])
def test_adversary_fails_on_fresh_seeds_of_its_tiers(fresh: list[Attempt], tier: int) -> None:
    attempts = [a for a in fresh if a.name.startswith(f"mc-t{tier}-")]
    assert attempts
    share = sum(a.solved for a in attempts) / len(attempts)
    assert share < FRESH_SOLVED_BELOW, f"tier {tier}: {_figures(attempts)}"
