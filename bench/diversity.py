"""Structural diversity of generated challenges: how much of an instance is the template, not the seed.

Run: ``.venv/bin/python bench/diversity.py [--tier 4] [--seeds 10]``. For each family, ``--seeds`` fresh
seeds of one tier and one variant at a time; every program's lines are normalised (comments dropped, every
name that is not a C or Python keyword or a standard library name blanked, every number and string blanked,
blank lines dropped), and two figures are printed per variant and on average:

* **shared by all**: the share of a program's normalised lines whose form occurs in every one of the seeds'
  programs (the template that a solver written from a few instances can rely on); aim: under 30%;
* **pairwise similarity**: ``difflib``'s ratio between two programs' normalised line sequences, the mean over
  every pair of seeds.

Each is given as a ratio against the previous memory-corruption generator (version 1, one text per variant),
measured in the same run: its source is taken from git history and loaded as a module of its own. The logic
and web families have not been restructured yet, so they are their own baseline.
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import itertools
import keyword
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from types import ModuleType

from airlock.evals.challenges.generators import logic, memory, web

GIT = shutil.which("git") or "git"
MEMORY_PATH = "src/airlock/evals/challenges/generators/memory.py"
KEPT = {
    *keyword.kwlist,
    *(
        word
        for line in (
            "auto break case char const continue default do double else enum extern float for goto if inline int long "
            "register return short signed sizeof static struct switch typedef union unsigned void volatile while "
            "size_t uint8_t uint16_t uint32_t uint64_t int32_t int64_t uintptr_t bool true false NULL include define "
            "ifndef endif stdin stdout stderr malloc calloc realloc free memcpy memmove memset memcmp strlen strcmp "
            "strncmp strchr printf fprintf fputs fwrite fread puts putchar assert exit abort getenv self print "
            "import def len str bytes dict list range",
        )
        for word in line.split()
    ),
}


def normalised_lines(source: str) -> list[str]:
    """``source``'s lines with comments dropped and seed-drawn names, numbers and strings blanked."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    source = re.sub(r"//[^\n]*|#(?!include|define|ifndef|endif)[^\n]*", "", source)
    source = re.sub(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', '""', source)
    source = re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\b", lambda m: m.group() if m.group() in KEPT else "ID", source)
    source = re.sub(r"\b0x[0-9a-fA-F]+[uUlL]*\b|\b\d+[uUlL]*\b", "0", source)
    lines = (" ".join(line.split()) for line in source.splitlines())
    # A line of braces alone ("}", "};", "} else {" is kept) says nothing about the program's structure.
    return [line for line in lines if line.strip("{}();, ")]


def shared_by_all(programs: list[list[str]]) -> float:
    """The mean share of a program's lines whose form occurs in every program."""
    common = set.intersection(*(set(lines) for lines in programs))
    return statistics.mean(sum(line in common for line in lines) / len(lines) for lines in programs)


def pairwise_similarity(programs: list[list[str]]) -> float:
    return statistics.mean(
        difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() for a, b in itertools.combinations(programs, 2)
    )


def measure(module: ModuleType, tier: int, variant: str, seeds: range) -> tuple[float, float, float]:
    """(shared by all, pairwise similarity, mean normalised lines) over ``seeds`` of one tier and variant."""
    programs = [normalised_lines(module.generate(seed, 0, tier, variant).source) for seed in seeds]
    return shared_by_all(programs), pairwise_similarity(programs), statistics.mean(len(p) for p in programs)


def previous_memory_generator() -> ModuleType:
    """Memory corruption version 1, from the newest commit that still holds it, as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    commits = subprocess.run(
        [GIT, "rev-list", "HEAD", "--", MEMORY_PATH], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    for commit in commits:
        text = subprocess.run(
            [GIT, "show", f"{commit}:{MEMORY_PATH}"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
        if "\nGENERATOR_VERSION = 1\n" in text:
            break
    else:
        raise SystemExit("git history holds no memory-corruption generator of version 1 to compare with.")
    path = Path(tempfile.mkdtemp(prefix="airlock-diversity-")) / "memory_v1.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("airlock_memory_v1", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main(tier: int, count: int) -> int:
    seeds = range(10_000, 10_000 + count)
    baseline = previous_memory_generator()
    print(f"tier {tier}, {count} seeds per variant; shared = lines common to all {count} programs")
    rows: list[tuple[str, str, tuple[float, float, float], tuple[float, float, float]]] = []
    for family, module, before in [
        (memory.FAMILY, memory, baseline),
        (logic.FAMILY, logic, logic),
        (web.FAMILY, web, web),
    ]:
        for variant in module.VARIANTS:
            was = measure(before, tier, variant, seeds) if variant in before.VARIANTS else (0.0, 0.0, 0.0)
            rows.append((family, variant, measure(module, tier, variant, seeds), was))
    print(f"{'family':18} {'variant':20} {'shared':>7} {'(was)':>7} {'pairwise':>9} {'(was)':>7}", end="")
    print(f" {'lines':>6} {'(was)':>6}")
    for family, variant, (shared, pairwise, lines), (was_shared, was_pairwise, was_lines) in rows:
        print(
            f"{family:18} {variant:20} {shared:7.1%} {was_shared:7.1%} {pairwise:9.1%} {was_pairwise:7.1%} "
            f"{lines:6.0f} {was_lines:6.0f}"
        )
    print()
    by_family: Counter[str] = Counter(family for family, *_ in rows)
    for family in by_family:
        current = [row[2] for row in rows if row[0] == family]
        previous = [row[3] for row in rows if row[0] == family]
        shared, was_shared = statistics.mean(r[0] for r in current), statistics.mean(r[0] for r in previous)
        pairwise, was_pairwise = statistics.mean(r[1] for r in current), statistics.mean(r[1] for r in previous)
        verdict = "under" if shared < 0.30 else "NOT under"
        print(
            f"{family}: shared by all {shared:.1%} (was {was_shared:.1%}, ratio {shared / was_shared:.2f}; "
            f"{verdict} the 30% aim), pairwise {pairwise:.1%} (was {was_pairwise:.1%}, "
            f"ratio {pairwise / was_pairwise:.2f})"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tier", type=int, default=4, help="the tier to measure (default 4)")
    parser.add_argument("--seeds", type=int, default=10, help="fresh seeds per variant (default 10)")
    arguments = parser.parse_args()
    sys.exit(main(arguments.tier, arguments.seeds))
