"""Named evaluation suites, as data: which families, tiers, modes and counts, the epochs, the budgets.

The suites Airlock ships are YAML files beside this module (``smoke``, ``screening``, ``full``); a path
to a YAML file of the same shape names a suite of a deployment's own. A suite says nothing about seeds: a
run draws fresh ones for every review and records them in its :class:`RunPlan`, so that instances are new
to the model yet the run can be repeated exactly.
"""

from __future__ import annotations

import hashlib
import secrets
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from airlock.errors import AirlockError, yaml_problem
from airlock.evals.challenges.generation import GENERATED_OBJECTIVES, GENERATORS, Plan
from airlock.evals.task_keys import task_key

if TYPE_CHECKING:
    from airlock.analysis.power import Design

SHIPPED = ("smoke", "screening", "full")
Mode = Literal["oneshot", "agentic"]
Objective = Literal["exploit", "discover", "patch"]
Baseline = Literal["reference", "null-model", "fuzzer", "solver", "scanner"]
DEFAULT_BASELINES: tuple[Baseline, ...] = ("reference", "null-model")


class SuiteError(AirlockError):
    kind = "invalid_input"


class SuiteTask(BaseModel, frozen=True):
    """One family in one mode: ``count`` fresh instances spread over ``tiers``."""

    family: str
    tiers: list[int] = Field(min_length=1)
    count: int = Field(ge=1, le=10_000)
    variants: list[str] = Field(default_factory=list)
    mode: Mode = "oneshot"
    source: bool = True
    """Agentic mode only: give the source (True) or only the built target (False)."""
    objective: Objective = "exploit"
    """What the model is asked to do: ``exploit`` a named flaw, ``discover`` one with no hint, or ``patch`` the
    flaw a crashing input shows. Levels are stated in these terms: finds, exploits, fixes."""

    @property
    def key(self) -> str:
        """The task's name within the suite: ``memory-corruption/agentic-binary``, and for an objective other
        than exploiting, that objective after it (``memory-corruption/oneshot/discover``): the keys recorded
        before objectives existed stay as they were."""
        return task_key(self.family, self.mode, self.source, self.objective)

    @model_validator(mode="after")
    def _known_family(self) -> SuiteTask:
        if self.family not in GENERATORS:
            raise ValueError(f"unknown family {self.family!r} (known: {', '.join(sorted(GENERATORS))})")
        offered = getattr(GENERATORS[self.family], "OBJECTIVES", ("exploit",))
        if self.objective not in offered or self.objective not in GENERATED_OBJECTIVES:
            can = [o for o in offered if o in GENERATED_OBJECTIVES]
            raise ValueError(f"{self.family} offers the objectives {', '.join(can)}, not {self.objective!r}")
        return self


WALL_CLOCK_FACTOR = 4
"""A sample's wall-clock backstop, as a multiple of its working-time limit (``Budget.time_limit``)."""


class Budget(BaseModel, frozen=True):
    """What one sample may spend."""

    max_tokens: int = Field(default=1024, ge=16)
    """Tokens per model generation."""
    message_limit: int = Field(default=40, ge=2)
    """Messages per sample (agentic mode)."""
    time_limit: int = Field(default=900, ge=10)
    """Seconds per sample of working time: what the sample spends waiting for a turn at the model (a connection slot
    other samples hold, as every sample waits for a local model that computes one answer at a time, or a rate
    limit) does not count, so a sample is not cut short for queueing behind others. A wall-clock backstop of
    ``WALL_CLOCK_FACTOR`` times as long ends a sample that waits for ever."""
    token_limit: int | None = Field(default=None, ge=100)
    """Tokens per sample, all generations together."""
    tool_seconds: int = Field(default=60, ge=5)
    """Seconds for a classical tool baseline (fuzzer, solver, scanner) on one instance."""


class Suite(BaseModel, frozen=True):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    description: str = ""
    tasks: list[SuiteTask] = Field(min_length=1)
    epochs: int = Field(default=1, ge=1, le=100)
    budget: Budget = Budget()
    scaffold: Literal["react"] = "react"
    """The agent for agentic tasks: Inspect's ReAct agent with bash and python tools."""
    baselines: list[Baseline] = Field(default_factory=lambda: list(DEFAULT_BASELINES))

    @model_validator(mode="after")
    def _distinct_tasks(self) -> Suite:
        keys = [task.key for task in self.tasks]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"the task {repeated[0]} appears twice; merge them into one with a larger count")
        return self

    @property
    def version(self) -> str:
        """``sha256:`` of the suite's content: two runs with the same version ran the same suite."""
        return "sha256:" + hashlib.sha256(self.model_dump_json().encode()).hexdigest()

    @property
    def samples_per_epoch(self) -> int:
        return sum(task.count for task in self.tasks)

    def design(self) -> Design:
        """What the suite makes, per template and mode: what the power analysis needs to say which levels of a
        capability framework it can decide (:func:`airlock.analysis.power.decidability`)."""
        from airlock.analysis.power import Design, Planned  # numpy and scipy: only when asked

        counts: dict[tuple[str, str, int, str, str], int] = {}
        for task in self.tasks:
            plan = Plan.of(task.family, 0, task.count, task.tiers, task.variants, task.objective)
            for index in range(task.count):
                tier, variant = plan.slot(index)
                key = (task.family, variant, tier, task.mode, task.objective)
                counts[key] = counts.get(key, 0) + 1
        planned = tuple(Planned(*key, instances=count) for key, count in sorted(counts.items()))
        return Design(self.name, self.epochs, planned, tuple(self.baselines))


class PlannedTask(BaseModel, frozen=True):
    task: SuiteTask
    seed: int

    def challenge_plan(self) -> Plan:
        """Which instances the task holds with this seed (generated on first use, then cached)."""
        task = self.task
        return Plan.of(task.family, self.seed, task.count, task.tiers, task.variants, task.objective)


class RunPlan(BaseModel, frozen=True):
    """A suite with the seeds of one run: everything needed to run it again, exactly."""

    suite: Suite
    tasks: list[PlannedTask]
    instances_from: str | None = None
    """``REVIEW/RUN`` when the seeds were taken from another review's run, to compare two models on exactly
    the same instances (a developer's earlier model and its successor)."""

    @classmethod
    def fresh(cls, suite: Suite) -> RunPlan:
        """The suite with a new random seed per task."""
        return cls(suite=suite, tasks=[PlannedTask(task=task, seed=secrets.randbelow(2**31)) for task in suite.tasks])

    def reused_by(self, source: str) -> RunPlan:
        """This plan's suite and seeds, for another review's run: the same instances, exactly."""
        return RunPlan(suite=self.suite, tasks=self.tasks, instances_from=source)

    @property
    def samples_total(self) -> int:
        return self.suite.samples_per_epoch * self.suite.epochs


def load_suite(name: str) -> Suite:
    """A shipped suite by name, or the suite in a YAML file given by its path."""
    if name in SHIPPED:
        text = resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")
        where = f"the shipped suite {name}"
    else:
        path = Path(name)
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            raise SuiteError(
                f"There is no suite named {name!r}.",
                f"Choose one of {', '.join(SHIPPED)}, or give the path of a suite YAML file.",
            )
        text = path.read_text(encoding="utf-8")
        where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SuiteError(f"{where} is not valid YAML ({yaml_problem(error)}).") from error
    try:
        return Suite.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        at = ".".join(str(part) for part in first["loc"]) or "the suite"
        raise SuiteError(f"{where} is invalid at {at}: {first['msg']}.") from error
