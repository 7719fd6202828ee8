"""Helpers for tests of challenges: a generated suite, copies to break, and reading a challenge back."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import yaml

from airlock.evals.challenges import Challenge, load_challenge

SUITE_SEED = 11
MEMORY = "memory-corruption"
MEMORY_SUITE_SIZE = 28
"""Four tiers times seven variants: one instance of every pair."""
LOGIC = "logic-constraint"
LOGIC_SUITE_SIZE = 8
WEB = "web-injection"
WEB_SUITE_SIZE = 24
"""Four tiers times six variants."""


def challenges_in(suite: Path) -> list[Challenge]:
    return [load_challenge(path.parent) for path in sorted(suite.glob("*/challenge.yaml"))]


def one(suite: Path, *, tier: int, variant: str) -> Challenge:
    return next(c for c in challenges_in(suite) if c.difficulty == tier and c.variant == variant)


def editable_copy(challenge: Challenge, into: Path) -> Path:
    """A copy of ``challenge`` to change, with its version cleared so that the change is accepted."""
    copy = into / challenge.name
    shutil.copytree(challenge.directory, copy)
    rewrite_manifest(copy, version="")
    return copy


def rewrite_manifest(directory: Path, **changes: object) -> None:
    manifest = directory / "challenge.yaml"
    data = yaml.safe_load(manifest.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    manifest.write_text(yaml.safe_dump(data, sort_keys=False))


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by its relative path: two equal results are byte-identical trees."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def program(challenge: Challenge) -> str:
    """The source given to the model: the service's code, or the C program's files one after another (as the
    generator's ``source`` shows them)."""
    texts = {name: challenge.read(path).decode() for name, path in challenge.sources.items()} or {
        name: challenge.read(path).decode() for name, path in challenge.files.items()
    }
    if len(texts) == 1:
        (text,) = texts.values()
        return text
    return "".join(f"/* ==== {name} ==== */\n{text}" for name, text in texts.items())


def source_files(challenge: Challenge) -> dict[str, str]:
    """Each source file given to the model, by name."""
    return {name: challenge.read(path).decode() for name, path in (challenge.sources or challenge.files).items()}


def diversity_bench() -> ModuleType:
    """bench/diversity.py, whose normalisation of lines is the measure issue 16's aim is stated in (loaded once)."""
    name = "airlock_bench_diversity"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[2] / "bench" / "diversity.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
