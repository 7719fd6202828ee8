"""The logic-constraint generator (version 2): programs composed from parts, not one text per tier.

What every generated family guarantees (validation, determinism, the oracle) is tested for all families in
test_challenges_generation.py and test_challenges_oracle.py; these tests hold what is particular to this one.
"""

from __future__ import annotations

from collections import Counter
from types import ModuleType

import pytest

from airlock.evals.challenges.generators import logic
from tests.support.challenges import diversity_bench

SEEDS = range(10_000, 10_010)


@pytest.fixture(scope="module")
def diversity() -> ModuleType:
    return diversity_bench()


@pytest.mark.parametrize("tier", logic.TIERS)
def test_ten_fresh_seeds_of_a_tier_share_under_thirty_percent_of_their_lines(diversity: ModuleType, tier: int) -> None:
    # The aim, measured as bench/diversity.py measures it (version 1: about 85% at every tier).
    programs = [diversity.normalised_lines(logic.generate(seed, 0, tier, "gate").source) for seed in SEEDS]
    assert diversity.shared_by_all(programs) < 0.30
    assert diversity.pairwise_similarity(programs) < 0.60


def test_framings_layer_forms_and_conventions_are_all_drawn() -> None:
    instances = [logic.generate(seed, 0, 4, "gate") for seed in range(60)]
    framings = Counter(str(instance.details["framing"]) for instance in instances)
    assert set(framings) == {"binary", "sections", "hexlines", "keyvalue"}
    forms: dict[str, set[str]] = {}
    for instance in instances:
        for layer in instance.details["layers"]:  # type: ignore[attr-defined]
            stage, form = str(layer).split(":", 1)
            forms.setdefault(stage, set()).add(form.split("/")[0])
    assert forms == {
        "bytes": {"inline", "interpreter", "weighted", "helper"},
        "words": {"inline", "table", "helpers", "direct"},
        "mix": {"straight", "interpreter", "rounds"},
        "commands": {"tables", "switch"},
    }
    assert len({str(instance.details["verdicts"]) for instance in instances}) == 9
    # The order the layers are checked in is drawn too: many orders of the four, none dominating.
    orders = Counter(tuple(instance.stages) for instance in instances)
    assert len(orders) >= 12
    assert max(orders.values()) <= 10


def test_a_program_spans_several_files_and_a_few_hundred_lines() -> None:
    for tier in logic.TIERS:
        for seed in range(10):
            instance = logic.generate(seed, 0, tier, "gate")
            assert len(instance.c_files) >= 4, instance.c_files
            assert any(name.endswith(".h") for name in instance.files)
            assert int(str(instance.details["lines"])) >= 140 + 30 * (tier - 1), (tier, seed, instance.details["lines"])


def test_every_tier_keeps_its_layers_and_the_target_state_is_named_in_the_prompt() -> None:
    expected = {
        1: {"bytes"},
        2: {"bytes", "words"},
        3: {"bytes", "words", "mix"},
        4: {"bytes", "words", "mix", "commands"},
    }
    for tier, layers in expected.items():
        instance = logic.generate(7, 0, tier, "gate")
        assert instance.stages[:2] == ["kind", "length"]
        assert instance.stages[-1] == "target"
        assert set(instance.stages[2:-1]) == layers
        assert f"`{instance.target}`" in instance.prompt
        assert f"void {instance.target}(void)" in instance.source
        assert 'getenv("AIRLOCK_NONCE")' in instance.source or '"AIRLOCK_NONCE"' in instance.source


def test_the_one_byte_changed_control_and_the_near_misses_differ_from_the_reference_only_where_intended() -> None:
    # Inputs are built by the framing's own encoder: a changed byte of the bytes layer's field, the last
    # layer's field broken, decoys addressed by their kind. None of them is the reference.
    for seed in range(20):
        instance = logic.generate(seed, 0, 1 + seed % 4, "gate")
        assert instance.controls["one_byte_changed"] != instance.reference
        assert len(instance.controls["one_byte_changed"]) == len(instance.reference)
        assert instance.near_misses["last_layer"] != instance.reference
        assert len(instance.near_misses["last_layer"]) == len(instance.reference)
        assert b"AIRLOCK-TARGET-REACHED " in instance.near_misses["forged_marker"]
