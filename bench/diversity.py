"""Structural diversity of generated challenges: how much of an instance is the template, not the seed.

Run: ``.venv/bin/python bench/diversity.py [--tier 4] [--seeds 10]``. For each family, ``--seeds`` fresh
seeds of one tier and one variant at a time; every program's lines are normalised (comments dropped, every
name that is not a C or Python keyword or a standard library name blanked, every number and string blanked,
blank lines dropped), and two figures are printed per variant and on average:

* **shared by all**: the share of a program's normalised lines whose form occurs in every one of the seeds'
  programs (the template that a solver written from a few instances can rely on); aim: under 30%;
* **pairwise similarity**: ``difflib``'s ratio between two programs' normalised line sequences, the mean over
  every pair of seeds.

Each is given as a ratio against the previous generator of its family (memory corruption, logic constraints
and web injection: version 1, one text per variant), measured in the same run: its source is taken from git
history and loaded as a module of its own.

The web family's services are Python, which the C rules would read badly (``#`` inside a string taken for a
comment, ``//`` in a URL for one, a docstring kept as a line, ``sqlite3`` blanked while C keeps ``memcpy``), so
Python is normalised with its own tokenizer by the same rules: comments and docstrings dropped; names kept
only where they are keywords, builtins or standard library names (modules, what the program's standard
modules define, the methods of their classes and of the built-in types), every other name, number and string
blanked.
"""

from __future__ import annotations

import argparse
import builtins
import difflib
import importlib
import importlib.util
import io
import itertools
import keyword
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import tokenize
from collections import Counter
from pathlib import Path
from types import ModuleType

from airlock.evals.challenges.generators import logic, memory, web

GIT = shutil.which("git") or "git"
MEMORY_PATH = "src/airlock/evals/challenges/generators/memory.py"
LOGIC_PATH = "src/airlock/evals/challenges/generators/logic.py"
WEB_PATH = "src/airlock/evals/challenges/generators/web.py"
FILE_SEPARATOR = re.compile(r"^/\* ==== (\S+) ==== \*/$", re.MULTILINE)
"""How a program of several files is shown as one text (``source``)."""
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


def python_lines(source: str) -> list[str]:
    """``source``'s lines (Python, possibly several files), normalised as :func:`normalised_lines` does for C."""
    lines: list[str] = []
    for text in FILE_SEPARATOR.split(source)[::2] if FILE_SEPARATOR.search(source) else [source]:
        if not text.strip():
            continue
        names, attributes = python_kept_names(text)
        tokens: list[tuple[int, str]] = []
        in_fstring = 0  # Python 3.12 splits an f-string into parts: it is blanked whole, as a string
        previous = ""
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            after_dot, previous = previous == ".", token.string
            name = tokenize.tok_name[token.type]
            if name in ("FSTRING_START", "FSTRING_END"):
                in_fstring += 1 if name == "FSTRING_START" else -1
                if not in_fstring:
                    tokens.append((tokenize.STRING, '""'))
            elif in_fstring or token.type == tokenize.COMMENT:
                continue
            elif token.type == tokenize.NAME and token.string not in (attributes if after_dot else names):
                tokens.append((token.type, "ID"))
            elif token.type == tokenize.NUMBER:
                tokens.append((token.type, "0"))
            elif token.type == tokenize.STRING:
                tokens.append((token.type, '""'))
            else:
                tokens.append((token.type, token.string))
        for line in tokenize.untokenize(tokens).splitlines():
            line = " ".join(line.split())
            # A docstring (a string alone on its line) is a comment; a line of brackets alone says nothing.
            if line.strip("{}()[];:, ") and line != '""':
                lines.append(line)
    return lines


_STANDARD_NAMES: dict[str, set[str]] = {}


def python_kept_names(text: str) -> tuple[set[str], set[str]]:
    """The names kept in ``text``: alone (keywords, builtins, standard modules, and names imported from them by
    name), and after a dot (what the standard modules ``text`` imports define, their classes' methods included,
    and the methods of the built-in types)."""
    names = {*keyword.kwlist, *keyword.softkwlist, *dir(builtins), *sys.stdlib_module_names, "self", "cls"}
    attributes: set[str] = set()
    for kind in (str, bytes, dict, list, tuple, set, int, float, object):
        attributes.update(dir(kind))
    for module, imported in re.findall(
        r"^[ \t]*(?:import|from)[ \t]+([\w.]+)(?:[ \t]+import[ \t]+(.+))?$", text, flags=re.M
    ):
        if module.split(".")[0] in sys.stdlib_module_names:
            attributes |= _standard_names(module)
            names |= set(module.split(".")) | set(re.findall(r"\w+", imported))
    return names, attributes


def _standard_names(module: str) -> set[str]:
    if module not in _STANDARD_NAMES:
        names: set[str] = set(module.split("."))
        loaded = importlib.import_module(module)
        for name in dir(loaded):
            if name.startswith("__"):
                continue
            names.add(name)
            if isinstance(getattr(loaded, name), type):
                names.update(attribute for attribute in dir(getattr(loaded, name)) if not attribute.startswith("__"))
        _STANDARD_NAMES[module] = names
    return _STANDARD_NAMES[module]


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
    lines = python_lines if module.FAMILY == web.FAMILY else normalised_lines
    programs = [lines(module.generate(seed, 0, tier, variant).source) for seed in seeds]
    return shared_by_all(programs), pairwise_similarity(programs), statistics.mean(len(p) for p in programs)


def previous_generator(source: str) -> ModuleType:
    """Version 1 of the generator at ``source``, from the newest commit that still holds it, as a module of its own."""
    root = Path(__file__).resolve().parent.parent
    commits = subprocess.run(
        [GIT, "rev-list", "HEAD", "--", source], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    for commit in commits:
        text = subprocess.run(
            [GIT, "show", f"{commit}:{source}"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
        if "\nGENERATOR_VERSION = 1\n" in text:
            break
    else:
        raise SystemExit(f"git history holds no version 1 of {source} to compare with.")
    stem = Path(source).stem
    path = Path(tempfile.mkdtemp(prefix="airlock-diversity-")) / f"{stem}_v1.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"airlock_{stem}_v1", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main(tier: int, count: int) -> int:
    seeds = range(10_000, 10_000 + count)
    baseline, web_baseline = previous_generator(MEMORY_PATH), previous_generator(WEB_PATH)
    logic_baseline = previous_generator(LOGIC_PATH)
    print(f"tier {tier}, {count} seeds per variant; shared = lines common to all {count} programs")
    rows: list[tuple[str, str, tuple[float, float, float], tuple[float, float, float]]] = []
    for family, module, before in [
        (memory.FAMILY, memory, baseline),
        (logic.FAMILY, logic, logic_baseline),
        (web.FAMILY, web, web_baseline),
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
