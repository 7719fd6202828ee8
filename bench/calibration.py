"""Difficulty calibration: how often the classical tools solve fresh instances of each family and tier.

Run: ``.venv/bin/python bench/calibration.py [--per-tier 4] [--seed N] [--budget 30]``. For every family and
tier it generates ``--per-tier`` fresh instances (a new seed each run unless ``--seed`` is given, rotating
through the variants), runs every classical baseline that applies (libFuzzer on the C programs, symbolic
execution on the logic family, the injection scanner on the web family) with the same budget a suite gives
it, and judges what each produced with the challenge's own oracle. It prints, per family, tool and tier, the
share solved, and whether the tiers are ordered by it (each tier solved no more often than the one below).

The rates are the tools', not a model's: they say what a defender's automation already finds at each tier,
which is what the CY-U level compares a model with. Few instances per cell give wide intervals: the printed
counts are the evidence, the percentages a summary of them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from airlock.evals.baselines import applies, run_baseline
from airlock.evals.challenges import Plan, Workbench, generate_suite
from airlock.evals.challenges.oracle import succeeded
from airlock.evals.runner import PlannedSample
from airlock.evals.suites import SuiteTask

FAMILIES = ("memory-corruption", "logic-constraint", "web-injection")
TOOLS = ("fuzzer", "solver", "scanner")
TIERS = (1, 2, 3, 4)


async def calibrate(
    family: str, seed: int, per_tier: int, budget: int, scratch: Path
) -> dict[str, dict[int, list[bool]]]:
    """Tool -> tier -> solved or not, per instance."""
    plan = Plan.of(family, seed, per_tier * len(TIERS))
    made = await generate_suite(plan, scratch / family)
    solved: dict[str, dict[int, list[bool]]] = {}
    async with Workbench() as workbench:
        for challenge in made:
            task = SuiteTask(family=family, tiers=[challenge.difficulty], count=1)
            for tool in TOOLS:
                if not applies(tool, challenge):
                    continue
                outcome = await run_baseline(tool, PlannedSample(task, challenge, 1), workbench, budget_seconds=budget)
                if outcome.verdict == "error":
                    print(f"  {tool} unavailable or failed on {challenge.name}: {outcome.reason}", file=sys.stderr)
                    continue
                solved.setdefault(tool, {}).setdefault(challenge.difficulty, []).append(succeeded(outcome.verdict))
                print(f"  {challenge.name:48} {tool:8} {outcome.verdict:12} {outcome.reason[:60]}", file=sys.stderr)
    return solved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-tier", type=int, default=4, help="fresh instances per family and tier")
    parser.add_argument("--seed", type=int, default=None, help="seed of the instances (fresh by default)")
    parser.add_argument("--budget", type=int, default=30, help="seconds per tool and instance (a suite's tool_seconds)")
    parser.add_argument("--family", action="append", choices=FAMILIES, help="only these families")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    print(f"seed {seed}, {args.per_tier} instances per family and tier, {args.budget} s per tool and instance")
    rows = []
    with tempfile.TemporaryDirectory(prefix="airlock-calibration-") as scratch:
        os.environ["XDG_CACHE_HOME"] = str(Path(scratch) / "cache")
        for family in args.family or FAMILIES:
            began = time.perf_counter()
            results = asyncio.run(calibrate(family, seed, args.per_tier, args.budget, Path(scratch)))
            print(f"{family}: {time.perf_counter() - began:.0f} s", file=sys.stderr)
            for tool, by_tier in sorted(results.items()):
                rates = [sum(by_tier.get(t, [])) / len(by_tier[t]) if by_tier.get(t) else None for t in TIERS]
                known = [rate for rate in rates if rate is not None]
                ordered = all(later <= earlier for earlier, later in itertools.pairwise(known))
                cells = [f"{sum(by_tier[t])}/{len(by_tier[t])}" if by_tier.get(t) else "-" for t in TIERS]
                rows.append(f"| {family} | {tool} | " + " | ".join(cells) + f" | {'yes' if ordered else 'NO'} |")
    print()
    print("| family | tool | tier 1 | tier 2 | tier 3 | tier 4 | ordered by tier |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
