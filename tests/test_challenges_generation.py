"""Generated challenges: every tier and variant builds and proves itself, the same seed gives the same
bytes, and different seeds give different programs."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from airlock.evals.challenges import GENERATORS, Plan, generate_suite
from airlock.evals.challenges.generators import logic, memory, web
from airlock.evals.challenges.generators.common import CANARY_PREFIX
from tests.support.challenges import LOGIC, MEMORY, SUITE_SEED, WEB, challenges_in, program, source_files, tree_bytes
from tests.support.cli import Cli

FAMILIES = {MEMORY: memory, LOGIC: logic, WEB: web}
CHEAP_CONTROLS = {
    MEMORY: {"empty", "random", "one_byte_changed", "trivial-letters"},
    LOGIC: {"empty", "random", "one_byte_changed", "trivial-letters"},
    WEB: {"empty", "benign", "trivial"},
}


@pytest.fixture(params=FAMILIES)
def family(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def suite(family: str, request: pytest.FixtureRequest) -> Path:
    """The session's generated suite of ``family``."""
    return Path(request.getfixturevalue({MEMORY: "memory_suite", LOGIC: "logic_suite", WEB: "web_suite"}[family]))


def test_a_generated_suite_holds_every_tier_and_variant_and_each_passes_its_check(
    family: str, suite: Path, cli_without_deployment: Cli
) -> None:
    generator = FAMILIES[family]
    challenges = challenges_in(suite)
    assert {(c.difficulty, c.variant) for c in challenges} == {
        (tier, variant) for tier in generator.TIERS for variant in generator.VARIANTS
    }
    outcome = cli_without_deployment("challenges", "check", str(suite), "--json")
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    reports = outcome.json()
    assert len(reports) == len(challenges)
    for report in reports:
        assert report["passed"], report
        reference = next(entry for entry in report["inputs"] if entry["kind"] == "reference")
        assert reference["verdict"] == "exploit"
        assert reference["partial_credit"] == 1.0
        controls = [entry for entry in report["inputs"] if entry["kind"] == "control"]
        assert CHEAP_CONTROLS[family] <= {entry["name"] for entry in controls}
        assert all(entry["verdict"] == "not proven" for entry in controls)


def test_higher_tiers_put_more_stages_before_the_goal(memory_suite: Path, logic_suite: Path) -> None:
    for variant in memory.VARIANTS:
        depths = [len(c.stages) for c in challenges_in(memory_suite) if c.variant == variant]
        assert len(depths) == len(memory.TIERS)
        assert depths == sorted(set(depths)), variant  # strictly deeper at each tier
    tier_three = next(c for c in challenges_in(memory_suite) if c.difficulty == 3)
    assert "checksum" in tier_three.stages
    assert {"bad_checksum", "wrong_length"} <= set(tier_three.negative_controls)
    layers = {c.difficulty: c.stages for c in challenges_in(logic_suite)}
    assert layers[1] == ["kind", "length", "bytes", "target"]
    # The order the layers are checked in is drawn (logic version 2); which layers a tier has is not.
    assert layers[4][:2] == ["kind", "length"]
    assert layers[4][-1] == "target"
    assert sorted(layers[4][2:-1]) == ["bytes", "commands", "mix", "words"]


def test_the_same_seed_gives_byte_identical_challenges(
    family: str, suite: Path, tmp_path: Path, cli_without_deployment: Cli
) -> None:
    again = tmp_path / "again"
    outcome = cli_without_deployment(
        "challenges", "generate", "--family", family, "--seed", str(SUITE_SEED), "--count", "3", "--out", str(again)
    )
    assert outcome.exit_code == 0, outcome.stderr
    names = sorted(path.name for path in again.iterdir() if path.is_dir())
    assert len(names) == 3
    for name in names:
        assert tree_bytes(again / name) == tree_bytes(suite / name)


def test_every_challenge_carries_a_canary_and_its_content_hash(suite: Path) -> None:
    for challenge in challenges_in(suite):
        assert challenge.canary.startswith(CANARY_PREFIX)
        for name, text in source_files(challenge).items():
            assert challenge.canary in text, name
        assert challenge.version == challenge.content_hash()
    canaries = [c.canary for c in challenges_in(suite)]
    assert len(set(canaries)) == len(canaries)


def skeleton(source: str) -> str:
    """``source`` with comments, names, numbers and strings blanked: what is left is its structure."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.DOTALL)
    source = re.sub(r"#.*", "", source)  # Python comments, and C's #include lines alike
    source = re.sub(r"\b0x[0-9a-fA-F]+\b|\b\d+u?\b", "N", source)
    source = re.sub(r'"[^"\n]*"', '"S"', source)
    return re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\b", lambda m: m.group() if m.group() in C_WORDS else "ID", source)


C_WORDS = {"if", "for", "while", "switch", "case", "break", "return", "static", "const", "void", "size_t", "uint8_t"}


def test_different_seeds_give_different_programs_not_renamed_copies(family: str) -> None:
    generator = FAMILIES[family]
    for tier in generator.TIERS:
        for variant in generator.VARIANTS:
            structures = {skeleton(generator.generate(seed, 0, tier, variant).source) for seed in range(20)}
            # Twenty seeds: nearly every one a different structure, even with every name and number blanked.
            assert len(structures) >= 18, (tier, variant, len(structures))


def test_a_tier_holds_a_thousand_distinct_instances(family: str) -> None:
    # A thousand a tier: enough to show that seeds do not collide, in half the time two thousand took (make test
    # keeps within its 30 minutes).
    generator = FAMILIES[family]
    for tier in generator.TIERS:
        sources = {
            generator.generate(seed, 0, tier, generator.VARIANTS[seed % len(generator.VARIANTS)]).source
            for seed in range(1000)
        }
        assert len(sources) == 1000


def test_the_manifest_records_how_to_regenerate_the_instance(family: str, suite: Path) -> None:
    generator = FAMILIES[family]
    challenge = challenges_in(suite)[-1]
    recorded = yaml.safe_load((challenge.directory / "challenge.yaml").read_text())["generator"]
    regenerated = generator.generate(
        recorded["seed"], recorded["index"], challenge.difficulty, challenge.variant, recorded["attempt"]
    )
    assert recorded["version"] == generator.GENERATOR_VERSION
    assert regenerated.source == program(challenge)


def test_an_instance_that_fails_validation_is_discarded_and_drawn_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def flawed_first_attempt(seed: int, index: int, tier: int, variant: str, attempt: int = 0) -> memory.MemoryInstance:
        instance = memory.generate(seed, index, tier, variant, attempt)
        if attempt == 0:
            # A generator bug: a "solution" that a trivial input (all zeros) is as good as.
            instance.reference = instance.trivial["zeros"]
        return instance

    flawed = SimpleNamespace(
        FAMILY="flawed",
        TIERS=memory.TIERS,
        VARIANTS=memory.VARIANTS,
        GENERATOR_VERSION=1,
        generate=flawed_first_attempt,
    )
    monkeypatch.setitem(GENERATORS, "flawed", flawed)
    (challenge,) = asyncio.run(generate_suite(Plan.of("flawed", 3, 1, [1], ["stack_overflow"]), tmp_path / "out"))
    assert challenge.generator["attempt"] == 1
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [challenge.name, "suite.yaml"]


def test_the_family_names_known_without_loading_the_generators_are_the_generators_own() -> None:
    from airlock.evals.challenges.generation import GENERATORS
    from airlock.evals.challenges.generators import FAMILIES

    assert sorted(FAMILIES) == sorted(GENERATORS)


def _memory_forms(instance: memory.MemoryInstance) -> set[str]:
    """Which composable forms an instance shows: in its dispatcher (version 3), and in its flawed handler (version
    3's layers, and version 4's composed checks and encodings)."""
    forms = set()
    text = instance.source
    if "unsigned slot = " in text:
        forms.add("computed kind")
    if re.search(r"static void \w+\(unsigned sub, int kind", text):
        forms.add("sub-dispatch")
    file = instance.program.files[instance.program.features_file[instance.function]]
    start = re.search(rf"^\w[^\n]*\b{instance.function}\([^\n]*\{{$", file, re.MULTILINE)
    assert start is not None
    text = file[start.start() : file.index("\n}\n", start.start())]
    if re.search(r"uint8_t sub = \w+\[0\];", text):
        forms.add("sub-operation")
    if "check byte" in text:
        forms.add("check byte")
    if re.search(r"size_t (inner|declared_len|body_len|span) = ", text):
        forms.add("nested length")
    if re.search(r'short \w+ header"\)', text):  # every composed check refuses a body shorter than its header
        forms.add("composed check")
    encodings = {
        "symbol pairs": 'symbol")',
        "byte stuffing": 'not terminated")',
        "sealed blocks": 'block check")',
        "counted runs": 'run list")',
    }
    forms.update(name for name, why in encodings.items() if why in text)
    return forms


def test_tier_one_stays_plain_for_the_classical_baselines() -> None:
    # The fuzzer baseline must still get through tier 1 on its framing alone: no computed kinds, no preambles.
    for seed in range(30):
        instance = memory.generate(seed, 0, 1, memory.VARIANTS[seed % len(memory.VARIANTS)])
        assert _memory_forms(instance) == set(), (seed, _memory_forms(instance))


def test_from_tier_two_the_forms_themselves_vary_from_seed_to_seed() -> None:
    # The ways a record reaches its flawed handler and what the handler peels off first differ between seeds, not
    # only the names and numbers; every form occurs, and no one combination dominates. Version 4: every flawed
    # handler from tier 2 has a composed check.
    combinations = Counter(
        frozenset(_memory_forms(memory.generate(seed, 0, tier, memory.VARIANTS[seed % len(memory.VARIANTS)])))
        for seed in range(60)
        for tier in (2, 3)
    )
    seen = set().union(*combinations)
    assert seen == {
        "computed kind",
        "sub-dispatch",
        "sub-operation",
        "check byte",
        "nested length",
        "composed check",
        "symbol pairs",
        "byte stuffing",
        "sealed blocks",
        "counted runs",
    }
    assert all("composed check" in forms for forms in combinations)
    assert len(combinations) >= 12
    assert max(combinations.values()) < 0.25 * sum(combinations.values())


def test_checksums_are_drawn_as_parameters_and_their_python_twins_are_right() -> None:
    # The C of each drawn checksum, compiled and run, gives what the encoders compute in Python.
    import shutil
    import subprocess
    import tempfile

    from airlock.evals.challenges.generators.cchecksums import draw
    from airlock.evals.challenges.generators.common import rng_for

    rng = rng_for("checksums", 3, 0, 0)
    specs = [draw(rng) for _ in range(40)]
    assert len({(s.family, s.poly, s.init, s.modulus, s.multiplier, s.rendering) for s in specs}) >= 30
    data = bytes(rng.randrange(256) for _ in range(301))
    program = ["#include <stdint.h>", "#include <stdio.h>", "#include <string.h>", ""]
    for index, spec in enumerate(specs):
        program += [*spec.code(f"sum{index}"), ""]
    program += [f"static const uint8_t data[{len(data)}] = {{{', '.join(str(b) for b in data)}}};", "int main(void) {"]
    program += [f'    printf("%u\\n", (unsigned)sum{index}(data, sizeof data));' for index in range(len(specs))]
    program += ["    return 0;", "}"]
    with tempfile.TemporaryDirectory() as scratch:
        source, binary = Path(scratch) / "sums.c", Path(scratch) / "sums"
        source.write_text("\n".join(program))
        subprocess.run(
            [shutil.which("gcc") or "gcc", "-std=c11", "-Wall", "-Werror", "-o", str(binary), str(source)], check=True
        )
        printed = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout.split()
    assert [int(value) for value in printed] == [spec.value(data) for spec in specs]
