"""Contamination resistance, measured (issue 16): a solver written from a handful of instances must fail on fresh ones.

The adversary (tests/support/adversary_v4.py) was written by engineers who read generated memory-corruption instances
of generator version 4 (sources, prompts, reference inputs), never the generator or its description: from 14
instances of each of three successive releases of version 4 (one of each variant at tier 2 and at tier 3 each time;
the last, the release measured here, seeds 8502 and 8503): each time the issue's "handful of instances of a tier".
It must solve most of what it was written from (else it proves nothing), and the aim is that it solves under 10% of
fresh seeds of the same tiers; tier 4, which it did not read, is measured too.

The adversaries written from version 3 (adversary.py from 35 instances, adversary_handful.py from 14; in git
history) solved 0 of 14 fresh version-4 instances at tiers 2-3: they had overfit version 3's layers, which says
nothing about version 4 (docs/challenges.md, "Contamination resistance, measured"); they were retired with it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import pytest

from airlock.clock import ManualClock
from airlock.evals.challenges import Challenge
from tests.support import adversary_v4
from tests.support.challenges import MEMORY, challenges_in
from tests.support.cli import Cli


class Attempt(Protocol):
    name: str
    format: str
    reasons: list[str]

    @property
    def solved(self) -> bool: ...


@dataclass(frozen=True)
class Adversary:
    attack: Callable[[Challenge], Awaitable[Attempt]]
    training: list[tuple[int, int, int]]
    """(seed, tier, count): instances it was written from that the test replays."""
    training_solved_at_least: int


ADVERSARIES = {
    # Replays the 14 of the current release it read (the earlier releases' 28 are instances of no released version).
    "handful-v4": Adversary(adversary_v4.attack, [(8502, 2, 7), (8503, 3, 7)], 12),
}
"""Observed on 2026-12-06 (generator version 4): 14 of 14 replayed, and 28 of 28 of the earlier releases'."""
FRESH_COUNT = 7
"""Fresh instances per tier: one of each variant (indices 0-6). The figures in docs/challenges.md are over ten per
tier; seven keep this file at a few minutes on the shared two-core machine."""
FRESH = {2: 7001, 3: 7002, 4: 7003}
"""Seeds far from the training ones, one per tier. Tier 4 was not among the tiers the adversary read."""
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


def _play(attack: Callable[[Challenge], Awaitable[Attempt]], directories: list[Path]) -> list[Attempt]:
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
def fresh_instances(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("fresh")
    return [_generate(root / f"s{seed}-t{tier}", seed, tier, FRESH_COUNT) for tier, seed in FRESH.items()]


@pytest.fixture(scope="module")
def fresh(fresh_instances: list[Path]) -> dict[str, list[Attempt]]:
    return {name: _play(player.attack, fresh_instances) for name, player in ADVERSARIES.items()}


@pytest.mark.parametrize("name", sorted(ADVERSARIES))
def test_adversary_solves_the_instances_it_was_written_from(
    name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    player = ADVERSARIES[name]
    root = tmp_path_factory.mktemp(f"training-{name}")
    directories = [_generate(root / f"s{seed}-t{tier}", seed, tier, count) for seed, tier, count in player.training]
    training = _play(player.attack, directories)
    assert sum(a.solved for a in training) >= player.training_solved_at_least, _figures(training)


_STILL_WINS = pytest.mark.xfail(
    strict=True,
    reason="Generator version 4 does not meet the aim against an adversary that read 14 instances of it (and 28 of "
    "earlier releases; issue 16): observed on 2026-12-06 over ten fresh instances per tier, it solved 10 of 10 at "
    "tier 2 (seed 7001) and 10 of 10 at tier 3 (seed 7002), all but three with its first input: its C interpreter "
    "and z3 pass every composed check and decoder, and its flaw shapes cover the flaw forms. "
    "Strict: when the generator resists, this fails until the mark is removed.",
)


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        pytest.param("handful-v4", 2, marks=_STILL_WINS),
        pytest.param("handful-v4", 3, marks=_STILL_WINS),
        ("handful-v4", 4),
    ],
)
def test_adversary_fails_on_fresh_seeds_of_its_tiers(fresh: dict[str, list[Attempt]], name: str, tier: int) -> None:
    attempts = [a for a in fresh[name] if a.name.startswith(f"mc-t{tier}-")]
    assert attempts
    share = sum(a.solved for a in attempts) / len(attempts)
    assert share < FRESH_SOLVED_BELOW, f"{name} at tier {tier}: {_figures(attempts)}"
