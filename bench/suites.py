"""A public suite, imported and run with its own solutions: how much of it Airlock can run, and why not the rest.

Run: ``.venv/bin/python bench/suites.py PATH [--images DIR] [--solution-timeout S] [--only NAME]``, where ``PATH`` is
a folder of inspect_cyber definitions (``eval.yaml``, or ``samples.yaml`` as CAISI's suites name them). The folder is
imported into a temporary directory (``airlock challenges import``), then every imported challenge is checked
(``airlock challenges check``): its images looked up in the image store, its solution script run in the sandboxes a
sample gets, and what it printed judged by the flag. Prints, per challenge, imported or refused (with the reason) and
solved or not solved (with the reason), then the totals by evaluation (a definition's variants count once: it is
solved if one of them is) and the images the suite needs that the store lacks.

A challenge whose image is not in the store fails before any sandbox starts; ``--solution-timeout`` (default 120 s)
caps each solution script, so a suite that cannot run is measured in seconds. Not a test: a lab runs it on the suite
and images it has.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from airlock.config import Settings
from airlock.evals.challenges.importing import import_inspect_cyber
from airlock.evals.challenges.manifest import Challenge, ChallengeError
from airlock.evals.challenges.validation import CheckReport, check_many
from airlock.sandbox import SandboxConfigError


def capped(challenge: Challenge, seconds: int) -> Challenge:
    """The challenge with its solution script's timeout at most ``seconds`` (in memory only)."""
    if challenge.solution_run is None or challenge.solution_run.timeout <= seconds:
        return challenge
    return challenge.model_copy(update={"solution_run": challenge.solution_run.model_copy(update={"timeout": seconds})})


def missing_images(challenge: Challenge, store: Path) -> list[str]:
    """Every image the challenge's compose file names that the store lacks (the check names only the first)."""
    from airlock.sandbox.compose import config_from_compose
    from airlock.sandbox.images import ImageError, ImageStore

    if challenge.compose is None:
        return []
    config = config_from_compose(challenge.path(challenge.compose))
    missing = []
    for image in dict.fromkeys(i for i in [config.image, *(s.image for s in config.services)] if i):
        try:
            ImageStore(store).resolve(image)
        except ImageError:
            missing.append(image)
    return missing


def outcome(report: CheckReport) -> tuple[bool, str]:
    """Solved (its own solution printed the flag), or why not, in one line."""
    challenge = report.challenge
    if challenge.solution_run is None:
        return False, "it ships no solution script (no solution variant, no solution/solution.sh)"
    if report.passed:
        return True, "its solution script printed the flag"
    reason = report.summary().removeprefix(f"{challenge.name}: FAILED: ")
    reason = reason.removeprefix(f"{challenge.name} ").replace("\n", " ")
    said = " ".join(report.failures[0].verdict.evidence.split())[-200:] if report.failures else ""
    return False, reason + (f"; its output ends: {said}" if said and "wrong flag" in reason else "")


async def main(source: Path, store: Path, solution_timeout: int, only: list[str]) -> int:
    os.environ["AIRLOCK_IMAGES"] = str(store)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="airlock-suite-") as scratch:
        try:
            imported = import_inspect_cyber(source, Path(scratch) / "imported")
        except ChallengeError as error:
            print(f"bench/suites.py: {error}", file=sys.stderr)
            return 1
        import_seconds = time.perf_counter() - began
        challenges = [
            capped(challenge, solution_timeout) for challenge in imported.imported if _chosen(challenge, only)
        ]
        reports = await check_many(challenges)
        needed: Counter[str] = Counter()
        for challenge in challenges:
            with contextlib.suppress(SandboxConfigError):  # the check has already said what is wrong with it
                needed.update(missing_images(challenge, store))
    seconds = time.perf_counter() - began

    evaluations = sorted({r.eval for r in imported.refused} | {str(c.generator.get("eval")) for c in challenges})
    solved_evaluations: set[str] = set()
    imported_evaluations = {str(c.generator.get("eval")) for c in challenges}
    reasons: Counter[str] = Counter()
    for report in reports:
        solved, why = outcome(report)
        where = str(report.challenge.generator.get("eval"))
        if solved:
            solved_evaluations.add(where)
        else:
            reasons[_kind_of(why)] += 1
        print(f"{report.challenge.name}: imported, {'solved' if solved else 'not solved'}: {why}")
    for refusal in imported.refused:
        print(f"{refusal.name}: refused: {refusal.reason}")

    total = len(evaluations)
    print()
    print(f"suite: {source} ({total} evaluations, {len(challenges)} challenges imported)")
    print(f"imported: {len(imported_evaluations)} of {total} evaluations ({len(imported.refused)} refused)")
    scripts = sum(challenge.solution_run is not None for challenge in challenges)
    print(f"with a solution script: {scripts} of {len(challenges)} challenges")
    print(f"solved by their own solutions: {len(solved_evaluations)} of {total} evaluations")
    for kind, count in reasons.most_common():
        print(f"  not solved, {kind}: {count}")
    if needed:
        listed = ", ".join(f"{image} ({count})" for image, count in sorted(needed.items(), key=lambda i: (-i[1], i[0])))
        print(f"images not in the store {store}: {len(needed)}, by the challenges needing each: {listed}")
    print(f"time: {seconds:.1f} s (import {import_seconds:.1f} s)")
    return 0


def _chosen(challenge: Challenge, only: list[str]) -> bool:
    """Whether ``--only`` lets the challenge run (every challenge when it names none)."""
    return not only or any(word in challenge.name for word in only)


def _kind_of(reason: str) -> str:
    """A not-solved reason's kind, for the totals."""
    if "not in the image store" in reason or "no image store is set" in reason:
        return "an image it needs is not in the store"
    if "no solution script" in reason:
        return "no solution script"
    if "timeout" in reason:
        return "its solution ran past its timeout"
    if "does not give the flag" in reason:
        return "its solution did not print the flag"
    return "other (see its line)"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="a folder of inspect_cyber definitions")
    parser.add_argument("--images", type=Path, help="the image store (default: AIRLOCK_IMAGES, else Airlock's own)")
    parser.add_argument("--solution-timeout", type=int, default=120, help="cap on each solution script, in seconds")
    parser.add_argument("--only", action="append", default=[], help="run only challenges whose name contains this")
    arguments = parser.parse_args()
    images = arguments.images or Settings().image_store  # Settings reads AIRLOCK_IMAGES
    sys.exit(asyncio.run(main(arguments.path, images, arguments.solution_timeout, arguments.only)))
