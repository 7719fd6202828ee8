"""Proving a challenge sound: it builds, its reference solution passes, and nothing that should fail passes.

This is what ``airlock challenges check`` runs, and what a generator runs on every instance before it
emits it: an instance whose reference fails, or which a negative control or near miss solves, is not a
challenge but a bug in its generator, and is discarded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from airlock.evals.challenges.execution import (
    Workbench,
    compose_sandbox,
    grade_untouched,
    judge_against_service,
    run_solution,
)
from airlock.evals.challenges.manifest import Challenge, ChallengeError, DiscoveryOracle, FlagOracle, GraderOracle
from airlock.evals.challenges.oracle import Verdict, judge, judge_flag

PARALLEL_RUNS = 4
"""Inputs of one check run side by side in the workbench: most finish in milliseconds, and the endless-loop
near miss would otherwise hold the rest up for its whole timeout."""


@dataclass(frozen=True)
class InputOutcome:
    kind: str
    """``reference``, ``solution`` (a solution script), ``sandbox`` (its sandboxes can start), ``control`` or
    ``near miss``."""
    name: str
    verdict: Verdict

    @property
    def as_expected(self) -> bool:
        return self.verdict.success == (self.kind in MUST_PASS)


MUST_PASS = ("reference", "solution", "sandbox")


@dataclass
class CheckReport:
    challenge: Challenge
    outcomes: list[InputOutcome] = field(default_factory=list)
    build_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.outcomes) and all(outcome.as_expected for outcome in self.outcomes)

    @property
    def failures(self) -> list[InputOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.as_expected]

    def summary(self) -> str:
        """One line for a person: passed, or the first thing that went wrong."""
        if self.passed:
            return (
                f"{self.challenge.name}: ok (reference proves {self.challenge.oracle_summary()}; "
                f"{len(self.outcomes) - 1} controls and near misses rejected)"
            )
        first = self.failures[0]
        if first.kind == "reference":
            what = "reference solution" if first.name == "reference" else f"proof of the planted {first.name}"
            return f"{self.challenge.name}: FAILED: the {what} is not accepted ({first.verdict.reason})"
        if first.kind == "sandbox":
            return f"{self.challenge.name}: FAILED: {first.verdict.reason}"
        graded = isinstance(self.challenge.oracle, GraderOracle)
        if first.kind == "solution":
            what = "reach the goal" if graded else "give the flag"
            return f"{self.challenge.name}: FAILED: its solution script does not {what} ({first.verdict.reason})"
        if graded and first.name == "untouched":
            return f"{self.challenge.name}: FAILED: its grader answers 'reached' on a sample where nothing was done"
        return f"{self.challenge.name}: FAILED: the {first.kind} {first.name!r} is accepted as an exploit"


async def check_many(
    challenges: Sequence[Challenge], *, progress: Callable[[CheckReport], None] | None = None, workbenches: int = 2
) -> list[CheckReport]:
    """Check every challenge, ``workbenches`` at a time (compiling takes one core each); reports in order."""
    reports: dict[int, CheckReport] = {}
    pending = iter(enumerate(challenges))

    async def worker() -> None:
        async with Workbench() as workbench:
            for index, challenge in pending:
                reports[index] = await check(challenge, workbench)
                if progress:
                    progress(reports[index])

    await asyncio.gather(*(worker() for _ in range(max(1, min(workbenches, len(challenges))))))
    return [reports[index] for index in range(len(challenges))]


async def check(challenge: Challenge, workbench: Workbench) -> CheckReport:
    """Build ``challenge`` and run its reference, controls and near misses; see :class:`CheckReport`."""
    if isinstance(challenge.oracle, GraderOracle):
        return await _check_grader(challenge)
    if challenge.solution is None:
        raise ChallengeError(f"{challenge.name} has no reference solution to check.")
    if isinstance(challenge.oracle, FlagOracle):
        report = check_flag(challenge)
        try:
            if challenge.compose is not None:
                compose_sandbox(challenge)  # every image it names is in the store, or the one missing is named
            if challenge.solution_run is not None:
                report.outcomes.insert(1, InputOutcome("solution", "solution script", await run_solution(challenge)))
        except ChallengeError as error:  # this challenge fails its check; the others are still checked
            report.outcomes.insert(0, InputOutcome("sandbox", "sandboxes", Verdict(False, str(error))))
        return report
    if challenge.service is not None:
        return await _check_service(challenge)
    started = time.perf_counter()
    built = await workbench.build(challenge)
    report = CheckReport(challenge, build_seconds=time.perf_counter() - started)
    await workbench.install(built)
    inputs = [("reference", "reference", challenge.solution)]
    if isinstance(challenge.oracle, DiscoveryOracle):
        # Every planted flaw must be provable, or discovery would ask for a bug that cannot be shown.
        inputs += [("reference", f"flaw {flaw.name}", flaw.proof) for flaw in challenge.oracle.flaws if flaw.proof]
    inputs += [("control", name, path) for name, path in challenge.negative_controls.items()]
    inputs += [("near miss", name, path) for name, path in challenge.near_misses.items()]
    limit = asyncio.Semaphore(PARALLEL_RUNS)

    async def outcome(kind: str, name: str, path: str) -> InputOutcome:
        async with limit:
            run = await workbench.run(challenge, challenge.read(path))
        return InputOutcome(kind, name, judge(challenge, run))

    report.outcomes = list(await asyncio.gather(*(outcome(*entry) for entry in inputs)))
    return report


async def _check_grader(challenge: Challenge) -> CheckReport:
    """A grader challenge: its solution script, run in a sample, must bring the grader to answer "reached"; a sample
    where nothing was done must not (a grader that passes anything would score every model 1)."""
    if challenge.solution_run is None:
        raise ChallengeError(
            f"{challenge.name} is judged by a grader and has no solution script to check it with; give it solution_run."
        )
    try:
        compose_sandbox(challenge)  # every image it names is in the store, and the grader's service is a target
        return CheckReport(
            challenge,
            [
                InputOutcome("solution", "solution script", await run_solution(challenge)),
                InputOutcome("control", "untouched", await grade_untouched(challenge)),
            ],
        )
    except ChallengeError as error:
        return CheckReport(challenge, [InputOutcome("sandbox", "sandboxes", Verdict(False, str(error)))])


PARALLEL_SERVICES = 3


async def _check_service(challenge: Challenge) -> CheckReport:
    """Each input against a service of its own, started fresh: one input's effects cannot help another."""
    limit = asyncio.Semaphore(PARALLEL_SERVICES)

    async def outcome(kind: str, name: str, path: str) -> InputOutcome:
        async with limit:
            return InputOutcome(kind, name, await judge_against_service(challenge, challenge.read(path)))

    # The reference first, alone: a service that does not start fails here, before any input runs in parallel.
    reference, *rest = _inputs(challenge)
    first = await outcome(*reference)
    return CheckReport(challenge, [first, *await asyncio.gather(*(outcome(*entry) for entry in rest))])


def _inputs(challenge: Challenge) -> list[tuple[str, str, str]]:
    assert challenge.solution is not None
    inputs = [("reference", "reference", challenge.solution)]
    inputs += [("control", name, path) for name, path in challenge.negative_controls.items()]
    inputs += [("near miss", name, path) for name, path in challenge.near_misses.items()]
    return inputs


def check_flag(challenge: Challenge) -> CheckReport:
    """A flag challenge has nothing to build: its reference answer must hold the flag, no control may."""
    answers = ((kind, name, challenge.read(path).decode("utf-8", "replace")) for kind, name, path in _inputs(challenge))
    return CheckReport(
        challenge, [InputOutcome(kind, name, judge_flag(challenge, text)) for kind, name, text in answers]
    )
