"""Proving a challenge sound: it builds, its reference solution passes, and nothing that should fail passes.

This is what ``airlock challenges check`` runs, and what a generator runs on every instance before it
emits it: an instance whose reference fails, or which a negative control or near miss solves, is not a
challenge but a bug in its generator, and is discarded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from airlock.evals.challenges.execution import (
    PARALLEL_RUNS,
    PATCH_SANITIZER_OPTIONS,
    Workbench,
    behaviour_of,
    compose_sandbox,
    grade_untouched,
    judge_against_service,
    keep_behaviour,
    run_solution,
    verify_patch,
)
from airlock.evals.challenges.manifest import (
    Challenge,
    ChallengeError,
    DiscoveryOracle,
    FlagOracle,
    GraderOracle,
    PatchOracle,
)
from airlock.evals.challenges.oracle import (
    PATCH_STAGES,
    RunResult,
    Verdict,
    judge,
    judge_flag,
    judge_flaw,
    trouble,
)

PARALLEL_PATCHES = 2
"""Patches of one check verified side by side: each is a build, which takes a core."""
PATCH_CONTROL_STOPS = {
    "unrelated_change": "crash_fixed",
    "blocks_the_crash_input": "variants_fixed",
    "deletes_the_function": "tests_pass",
    "exits_early": "tests_pass",
    "silences_the_sanitizer": "applies",
}
"""The stage at which each cheap fix the memory generator lays out must be stopped (the first it does not reach): a
change elsewhere leaves the crash; refusing the crash input's length leaves the held-out variants; deleting the
function or exiting early changes the functionality tests; turning the sanitizer off is refused before anything is
applied. A control patch of another name need only fail."""


@dataclass(frozen=True)
class InputOutcome:
    kind: str
    """``reference``, ``solution`` (a solution script), ``sandbox`` (its sandboxes can start), ``control`` or
    ``near miss``."""
    name: str
    verdict: Verdict
    stops_at: str | None = None
    """A control patch: the stage at which it must be stopped (see :data:`PATCH_CONTROL_STOPS`)."""

    @property
    def stopped_at(self) -> str | None:
        """The first stage a patch did not reach (None: it reached them all)."""
        return next((stage for stage in PATCH_STAGES if stage not in self.verdict.stages_reached), None)

    @property
    def as_expected(self) -> bool:
        if self.verdict.success != (self.kind in MUST_PASS):
            return False
        return self.stops_at is None or self.stopped_at == self.stops_at


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
            rejected = sum(outcome.kind not in MUST_PASS for outcome in self.outcomes)
            return (
                f"{self.challenge.name}: ok (reference proves {self.challenge.oracle_summary()}; "
                f"{rejected} controls and near misses rejected)"
            )
        first = self.failures[0]
        if isinstance(self.challenge.oracle, PatchOracle) and first.kind in ("reference", "control"):
            return f"{self.challenge.name}: FAILED: {_patch_failure(first)}"
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
    if isinstance(challenge.oracle, PatchOracle):
        return await _check_patch(challenge, challenge.oracle, workbench)
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


async def _check_patch(challenge: Challenge, oracle: PatchOracle, workbench: Workbench) -> CheckReport:
    """A patch challenge is sound if, on the program as given, the crash and every held-out variant show the planted
    flaw and every functionality test runs cleanly (its output is then what a fix must keep, and is kept in the
    cache); and if the reference patch is judged ``fixed`` and each control patch is not, stopped where it should be."""
    assert challenge.solution is not None
    started = time.perf_counter()
    built = await workbench.build(challenge)
    report = CheckReport(challenge, build_seconds=time.perf_counter() - started)
    await workbench.install(built)
    limit = asyncio.Semaphore(PARALLEL_RUNS)

    async def shows_the_flaw(name: str, path: str) -> InputOutcome:
        async with limit:
            return InputOutcome(
                "reference", name, judge_flaw(challenge, await workbench.run(challenge, challenge.read(path)))
            )

    async def test_run(name: str, path: str) -> tuple[str, InputOutcome, RunResult]:
        async with limit:
            run = await workbench.run(challenge, challenge.read(path), options=PATCH_SANITIZER_OPTIONS)
        wrong = trouble(challenge, run)
        verdict = Verdict(True, "runs cleanly") if wrong is None else replace(wrong, reason=f"it {wrong.reason}")
        return name, InputOutcome("reference", f"functionality test {name}", verdict), run

    flaws = [shows_the_flaw("crash input", oracle.crash)]
    flaws += [shows_the_flaw(f"held-out variant {name}", path) for name, path in oracle.variants.items()]
    shown = list(await asyncio.gather(*flaws))
    tested = await asyncio.gather(*(test_run(name, path) for name, path in oracle.tests.items()))
    report.outcomes = [*shown, *(outcome for _, outcome, _ in tested)]
    if not report.passed:
        return report  # no fix can be judged against a program that does not crash, or fails its own tests
    keep_behaviour(challenge, behaviour_of(challenge, {name: run for name, _, run in tested}))
    patching = asyncio.Semaphore(PARALLEL_PATCHES)

    async def patch_outcome(kind: str, name: str, path: str) -> InputOutcome:
        async with patching:
            verdict = await verify_patch(challenge, challenge.read(path), built)
        return InputOutcome(kind, name, verdict, None if kind == "reference" else PATCH_CONTROL_STOPS.get(name))

    patches = [("reference", "reference", challenge.solution)]
    patches += [("control", name, path) for name, path in challenge.negative_controls.items()]
    report.outcomes += await asyncio.gather(*(patch_outcome(*entry) for entry in patches))
    return report


def _patch_failure(outcome: InputOutcome) -> str:
    """What went wrong with a patch challenge's check, in words."""
    reason = outcome.verdict.reason
    if outcome.kind == "reference" and outcome.name == "reference":
        return f"the reference patch is not judged fixed ({reason})"
    if outcome.kind == "reference":
        return f"on the program as given, the {outcome.name} does not do what it must ({reason})"
    if outcome.verdict.success:
        return f"the control patch {outcome.name!r} is judged fixed"
    return (
        f"the control patch {outcome.name!r} is stopped at {outcome.stopped_at}, not at {outcome.stops_at} ({reason})"
    )


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
