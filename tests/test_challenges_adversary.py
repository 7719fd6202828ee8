"""Contamination resistance, measured (issue 16): a solver written from a handful of instances must fail on fresh ones.

Two adversaries play, each written by someone who read generated memory-corruption instances of generator version 3
(sources, prompts, reference inputs), never the generator or its description of the flaw forms:

- ``handful`` (tests/support/adversary_handful.py): written from 14 instances, one of each variant at tier 2 (seed
  8102) and at tier 3 (seed 8103): the issue's "handful of instances of a tier";
- ``read-35`` (tests/support/adversary.py): written from 35 instances (seeds 1-3 at tier 2, 1-2 at tier 3), which is
  more than a handful, to show what more reading buys an attacker.

Each must solve most of what it was written from (else it proves nothing), and the aim is that it solves under 10% of
fresh seeds of the same tiers; tier 4, which neither read, is measured too.
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
from tests.support import adversary as read_35_adversary
from tests.support import adversary_handful as handful_adversary
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
    # Replays seven of each tier it read (all seven variants of seed 1 at tier 2 and of seed 2 at tier 3).
    "read-35": Adversary(read_35_adversary.attack, [(1, 2, 7), (2, 3, 7)], 12),
    # Replays all fourteen it read.
    "handful": Adversary(handful_adversary.attack, [(8102, 2, 7), (8103, 3, 7)], 12),
}
"""Observed on 2026-12-06 (generator version 3): read-35 14 of 14 replayed (35 of 35 over everything it read),
handful 14 of 14."""
FRESH_COUNT = 7
"""Fresh instances per tier: one of each variant (indices 0-6). The figures in docs/challenges.md are over ten per
tier; seven keep this file at a few minutes on the shared two-core machine."""
FRESH = {2: 7001, 3: 7002, 4: 7003}
"""Seeds far from the training ones, one per tier. Tier 4 was not among the tiers either adversary read."""
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
    reason="Generator version 3 does not meet the aim against an adversary that read 35 instances (issue 16): "
    "observed on 2026-12-06 over ten fresh instances per tier, it solved 8 of 10 at tier 2 (seed 7001) and 7 of 10 "
    "at tier 3 (seed 7002); the misses were flaw forms and a sub-request check it had not read. Strict: when the "
    "generator resists, this fails until the mark is removed.",
)
_HANDFUL_WINS = pytest.mark.xfail(
    strict=True,
    reason="Generator version 3 does not meet the aim against an adversary that read 14 instances (issue 16): "
    "observed on 2026-12-06 over ten fresh instances per tier, it solved 9 of 10 at tier 2 (seed 7001) and 9 of 10 "
    "at tier 3 (seed 7002), most with its first input; it missed a framing and a sub-operation it had not read. "
    "Strict: when the generator resists, this fails until the mark is removed.",
)


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        pytest.param("read-35", 2, marks=_STILL_WINS),
        pytest.param("read-35", 3, marks=_STILL_WINS),
        ("read-35", 4),
        pytest.param("handful", 2, marks=_HANDFUL_WINS),
        pytest.param("handful", 3, marks=_HANDFUL_WINS),
        ("handful", 4),
    ],
)
def test_adversary_fails_on_fresh_seeds_of_its_tiers(fresh: dict[str, list[Attempt]], name: str, tier: int) -> None:
    attempts = [a for a in fresh[name] if a.name.startswith(f"mc-t{tier}-")]
    assert attempts
    share = sum(a.solved for a in attempts) / len(attempts)
    assert share < FRESH_SOLVED_BELOW, f"{name} at tier {tier}: {_figures(attempts)}"
