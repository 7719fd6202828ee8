"""Challenge benchmark: generation with validation, and verification once the build is cached.

Run: ``.venv/bin/python bench/challenges.py [--count 200]``. Uses a private, empty build cache, so every
build is real. Prints

* instances generated and validated per minute (each one built, its reference and every control and near
  miss run, the endless-loop near miss included), and the time for the whole suite; aim: 200 instances in
  under 5 minutes on 2 cores;
* the median time of one build, and of one verification (a fresh sandbox, the target run on the proof of
  concept, the verdict) once the build is cached, with their ratio; aim: a verification under 50 ms;
* the same two figures for the web family (no build: a verification starts the service fresh, with a new
  secret, runs the script against it and looks at the service), as a ratio to the C build.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from airlock.evals.challenges import Plan, Workbench, generate_suite, load_challenge, verify
from airlock.evals.challenges.execution import BuiltTarget, build_cache_path

VERIFICATIONS = 40


async def main(count: int, web_count: int) -> int:
    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as scratch:
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        began = time.perf_counter()
        made = await generate_suite(Plan.of("memory-corruption", 2026, count), Path(scratch) / "suite")
        generation = time.perf_counter() - began

        # Builds, measured on fresh copies of the cache: remove each build and make it again.
        builds = []
        async with Workbench() as workbench:
            for challenge in made[:8]:
                build_cache_path(challenge).unlink()
                started = time.perf_counter()
                await workbench.build(challenge)
                builds.append(time.perf_counter() - started)
        build = statistics.median(builds)

        challenge = load_challenge(made[0].directory)
        built = BuiltTarget.cached(challenge)
        assert built is not None
        assert challenge.solution is not None
        poc = challenge.read(challenge.solution)
        timings = []
        for _ in range(VERIFICATIONS):
            started = time.perf_counter()
            verdict = await verify(challenge, poc, built)
            timings.append(time.perf_counter() - started)
            assert verdict.success, verdict
        verification = statistics.median(timings)

        web_generation, web_verification, web_timings = (
            await _web(web_count, Path(scratch) / "web") if web_count else (0.0, 0.0, [])
        )

    per_minute = count / generation * 60
    print(f"generated and validated: {count} instances in {generation:.1f} s = {per_minute:.0f} per minute")
    print(f"  a 200-instance suite: {200 / per_minute:.1f} min (aim: under 5 min on 2 cores)")
    print(f"one build (gcc + ASan, median of {len(builds)}): {build * 1000:.0f} ms")
    print(f"one verification once built (median of {VERIFICATIONS}): {verification * 1000:.1f} ms (aim: under 50 ms)")
    print(f"  = {verification / build:.2f}x the build; {1 / verification:.0f} verifications per second")
    if web_count:
        web_per_minute = web_count / web_generation * 60
        print(f"web family: {web_count} instances in {web_generation:.1f} s = {web_per_minute:.0f} per minute")
        print(
            f"  one verification against a fresh service (median of {len(web_timings)}): "
            f"{web_verification * 1000:.0f} ms = {web_verification / build:.1f}x the C build"
        )
    return 0


async def _web(count: int, directory: Path) -> tuple[float, float, list[float]]:
    """(generation seconds, median verification seconds, every verification's seconds) for the web family."""
    began = time.perf_counter()
    web = await generate_suite(Plan.of("web-injection", 2026, count), directory)
    generation = time.perf_counter() - began
    service = load_challenge(web[0].directory)
    assert service.solution is not None
    script = service.read(service.solution)
    timings = []
    for _ in range(VERIFICATIONS // 4):
        started = time.perf_counter()
        verdict = await verify(service, script)
        timings.append(time.perf_counter() - started)
        assert verdict.success, verdict
    return generation, statistics.median(timings), timings


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=200, help="instances to generate (default 200)")
    parser.add_argument("--web-count", type=int, default=24, help="web instances to generate (default 24; 0: none)")
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.count, arguments.web_count)))
