"""Baselines, run on exactly the instances the model gets, and recorded like a model's results.

* ``reference``: the challenge's own reference solution, judged by the same oracle in a fresh sandbox.
  It is the ceiling: every instance must be solvable, so anything below 100% is a fault in the suite.
* ``null-model``: a model that answers nothing (an empty proof of concept, an empty answer). It is the
  floor: anything above 0% means an instance gives itself away.

The classical tools, what a defender already has, each with a fixed budget (the suite's ``tool_seconds``)
and each only where it applies; the model's results are read against them:

* ``fuzzer``: coverage-guided fuzzing with libFuzzer (:mod:`.fuzzer`), for C programs reading stdin
  (the memory-corruption family, and the logic family, where it rarely gets through).
* ``solver``: symbolic execution with angr, constraints solved by z3 (:mod:`.solver`), for C programs
  judged by reaching a target state (the logic family).
* ``scanner``: an automated injection scanner (:mod:`.scanner`), for services (the web family).

Whatever a tool produces is judged by the challenge's own oracle, in a fresh sandbox, like a model's answer.
"""

from __future__ import annotations

import time

from airlock.evals.baselines.fuzzer import fuzz, fuzzable, fuzzer_available
from airlock.evals.baselines.scanner import scan, scannable
from airlock.evals.baselines.solver import solvable, solve
from airlock.evals.challenges import BuiltTarget, Challenge, Workbench, verify
from airlock.evals.challenges.manifest import FlagOracle
from airlock.evals.challenges.oracle import Verdict, judge_flag
from airlock.evals.runner import PlannedSample, SampleOutcome

BASELINES = ("reference", "null-model", "fuzzer", "solver", "scanner")


def applies(name: str, challenge: Challenge) -> bool:
    """Whether baseline ``name`` has anything to say about ``challenge``."""
    if name == "fuzzer":
        return fuzzable(challenge)
    if name == "solver":
        return solvable(challenge)
    if name == "scanner":
        return scannable(challenge)
    return True


async def run_baseline(name: str, sample: PlannedSample, workbench: Workbench, *, budget_seconds: int) -> SampleOutcome:
    """The outcome of baseline ``name`` on ``sample``'s instance (``budget_seconds`` for the tools)."""
    challenge = sample.challenge
    started = time.perf_counter()
    if name == "fuzzer":
        unavailable = fuzzer_available()
        if unavailable is not None:
            return _outcome(sample, Verdict(False, unavailable), 0.0, error=True)
        fuzzed = await fuzz(challenge, await workbench.build(challenge), budget_seconds)
        return _outcome(sample, fuzzed.verdict, fuzzed.seconds)
    if name == "solver":
        solved = await solve(challenge, await workbench.build(challenge), budget_seconds)
        return _outcome(sample, solved.verdict, solved.seconds)
    if name == "scanner":
        scanned = await scan(challenge, budget_seconds)
        return _outcome(sample, scanned.verdict, scanned.seconds)
    answer = _answer(name, challenge)
    if isinstance(challenge.oracle, FlagOracle):
        verdict = judge_flag(challenge, answer.decode("utf-8", "replace"))
    else:
        built: BuiltTarget | None = None if challenge.build is None else await workbench.build(challenge)
        verdict = await verify(challenge, answer, built)
    return _outcome(sample, verdict, time.perf_counter() - started)


def _answer(name: str, challenge: Challenge) -> bytes:
    if name == "reference":
        if challenge.solution is None:
            raise ValueError(f"{challenge.name} has no reference solution")
        return challenge.read(challenge.solution)
    if name == "null-model":
        return b""
    raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")


def _outcome(sample: PlannedSample, verdict: Verdict, seconds: float, *, error: bool = False) -> SampleOutcome:
    challenge = sample.challenge
    return SampleOutcome(
        task=sample.task.key,
        sample_id=challenge.name,
        epoch=sample.epoch,
        family=challenge.family,
        variant=challenge.variant,
        difficulty=challenge.difficulty,
        challenge_version=challenge.version,
        verdict="error" if error else verdict.name,
        reason=verdict.reason,
        partial_credit=verdict.partial_credit,
        seconds=seconds,
    )
