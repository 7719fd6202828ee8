"""Generating suites of challenges: seeded, deterministic, and validated before anything is emitted.

Instance ``i`` of a suite takes its tier and variant from a fixed rotation over those asked for, and all its
randomness from (family, generator version, seed, i). The same seed and version therefore give the same
bytes on every machine. An instance that fails validation is discarded and drawn again from the next
attempt number, which is recorded in its manifest, so that the retry is reproducible too.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

import yaml

from airlock.evals.challenges.execution import Workbench
from airlock.evals.challenges.generators import logic, memory, web
from airlock.evals.challenges.manifest import MANIFEST, Challenge, ChallengeError, load_challenge, manifest_text
from airlock.evals.challenges.validation import CheckReport, check

MAX_ATTEMPTS = 5
WORKBENCHES = 2
"""Instances validated side by side: compiling is the expensive part, and it uses one core each."""


class Instance(Protocol):
    name: str

    def layout(self, seed: int, index: int, attempt: int) -> tuple[dict[str, object], dict[str, bytes]]: ...


class MultiObjectiveInstance(Protocol):
    """An instance that can be put as another task than exploiting it (discovering its flaws, fixing one)."""

    name: str

    def layout(
        self, seed: int, index: int, attempt: int, objective: str = "exploit"
    ) -> tuple[dict[str, object], dict[str, bytes]]: ...


class Generator(Protocol):
    FAMILY: str
    TIERS: tuple[int, ...]
    VARIANTS: tuple[str, ...]

    def generate(self, seed: int, index: int, tier: int, variant: str, attempt: int = 0) -> Instance: ...


GENERATORS: dict[str, ModuleType] = {memory.FAMILY: memory, logic.FAMILY: logic, web.FAMILY: web}
GENERATED_OBJECTIVES = ("exploit", "discover", "patch")
"""The objectives suites are generated for (each family offers those its generator lays out: ``OBJECTIVES``)."""


def generator(family: str) -> Generator:
    try:
        module: Generator = GENERATORS[family]
    except KeyError as error:
        known = ", ".join(sorted(GENERATORS))
        raise ChallengeError(f"There is no challenge family {family!r}; the families are: {known}.") from error
    return module


@dataclass(frozen=True)
class Plan:
    """What a suite holds: which tier and variant each instance index gets."""

    family: str
    seed: int
    count: int
    tiers: tuple[int, ...]
    variants: tuple[str, ...]
    objective: str = "exploit"

    @classmethod
    def of(
        cls,
        family: str,
        seed: int,
        count: int,
        tiers: Sequence[int] = (),
        variants: Sequence[str] = (),
        objective: str = "exploit",
    ) -> Plan:
        chosen = generator(family)
        offered = [o for o in getattr(chosen, "OBJECTIVES", ("exploit",)) if o in GENERATED_OBJECTIVES]
        if objective not in offered:
            raise ChallengeError(f"{family} offers the objectives {_listed(offered)}; not {objective!r}.")
        for tier in tiers:
            if tier not in chosen.TIERS:
                raise ChallengeError(f"{family} has tiers {_listed(chosen.TIERS)}; there is no tier {tier}.")
        for variant in variants:
            if variant not in chosen.VARIANTS:
                raise ChallengeError(f"{family} has the variants {_listed(chosen.VARIANTS)}; not {variant!r}.")
        if count < 1:
            raise ChallengeError("Ask for at least one challenge (--count 1 or more).")
        return cls(family, seed, count, tuple(tiers) or chosen.TIERS, tuple(variants) or chosen.VARIANTS, objective)

    def slot(self, index: int) -> tuple[int, str]:
        """Every tier with every variant before any pair repeats."""
        tier = self.tiers[index % len(self.tiers)]
        variant = self.variants[(index // len(self.tiers)) % len(self.variants)]
        return tier, variant


def write_challenge(directory: Path, manifest: dict[str, object], files: dict[str, bytes]) -> Challenge:
    """Write a challenge's files and manifest, with its version computed over both."""
    directory.mkdir(parents=True)
    for name in sorted(files):
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
    challenge = Challenge.model_validate({**manifest, "directory": directory})
    challenge.version = challenge.content_hash()
    (directory / MANIFEST).write_text(manifest_text(challenge), encoding="utf-8")
    return challenge


async def generate_suite(
    plan: Plan, out: Path, *, progress: Callable[[CheckReport], None] | None = None
) -> list[Challenge]:
    """Generate, validate and write every instance of ``plan`` under ``out`` (one directory each)."""
    if out.exists() and any(out.iterdir()):
        raise ChallengeError(f"{out} is not empty; give a new directory so no earlier challenge is overwritten.")
    out.mkdir(parents=True, exist_ok=True)
    staging = out / ".staging"
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(plan.count):
        queue.put_nowait(index)
    made: dict[int, Challenge] = {}

    async def worker() -> None:
        async with Workbench() as workbench:
            while not queue.empty():
                index = queue.get_nowait()
                made[index] = await _validated_instance(plan, index, staging, out, workbench, progress)

    try:
        await asyncio.gather(*(worker() for _ in range(min(WORKBENCHES, plan.count))))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    challenges = [made[index] for index in range(plan.count)]
    suite_index(out, challenges)
    return challenges


async def _validated_instance(
    plan: Plan,
    index: int,
    staging: Path,
    out: Path,
    workbench: Workbench,
    progress: Callable[[CheckReport], None] | None,
) -> Challenge:
    tier, variant = plan.slot(index)
    reasons = []
    for attempt in range(MAX_ATTEMPTS):
        instance = generator(plan.family).generate(plan.seed, index, tier, variant, attempt)
        if plan.objective == "exploit":
            manifest, files = instance.layout(plan.seed, index, attempt)
        else:
            manifest, files = cast(MultiObjectiveInstance, instance).layout(plan.seed, index, attempt, plan.objective)
        name = str(manifest["name"])
        draft = staging / f"{name}-a{attempt}"
        write_challenge(draft, manifest, files)
        report = await check(load_challenge(draft), workbench)
        if report.passed:
            final = out / name
            draft.rename(final)
            if progress:
                progress(report)
            return load_challenge(final)
        reasons.append(report.summary())
        shutil.rmtree(draft)
    raise ChallengeError(
        f"Instance {index} of {plan.family} seed {plan.seed} failed validation {MAX_ATTEMPTS} times "
        f"(last: {reasons[-1]}); this is a generator bug, please report it with the seed."
    )


def _listed(values: Sequence[object]) -> str:
    return ", ".join(str(value) for value in values)


def suite_index(out: Path, challenges: Sequence[Challenge]) -> None:
    """``suite.yaml``: what the suite holds, for people and for the Inspect tasks."""
    entries = [
        {"name": c.name, "difficulty": c.difficulty, "variant": c.variant, "version": c.version} for c in challenges
    ]
    (out / "suite.yaml").write_text(yaml.safe_dump({"challenges": entries}, sort_keys=False), encoding="utf-8")
