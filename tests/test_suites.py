"""Suites are data: the shipped ones load and are well formed, a deployment's own is read from a file, and a
bad one is refused with the field at fault. A run plan fixes fresh seeds so the run can be repeated."""

from __future__ import annotations

from pathlib import Path

import pytest

from airlock.evals.challenges.generation import GENERATORS
from airlock.evals.suites import SHIPPED, RunPlan, SuiteError, load_suite
from airlock.evals.task_keys import TaskKey, parse_task_key


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_suite_loads_and_covers_every_family(name: str) -> None:
    suite = load_suite(name)
    assert suite.name == name
    assert {task.family for task in suite.tasks} == set(GENERATORS)
    assert suite.version.startswith("sha256:")
    assert "reference" in suite.baselines


def test_the_suites_grow_from_smoke_to_full() -> None:
    smoke, screening, full = (load_suite(name) for name in SHIPPED)
    sizes = [suite.samples_per_epoch * suite.epochs for suite in (smoke, screening, full)]
    assert sizes == sorted(sizes)
    assert sizes[0] <= 6  # smoke finishes in minutes on a laptop
    assert {task.mode for task in screening.tasks} == {"oneshot", "agentic"}
    assert full.epochs > 1  # pass@k needs several epochs


def test_a_run_plan_draws_fresh_seeds_and_round_trips_exactly() -> None:
    suite = load_suite("smoke")
    first, second = RunPlan.fresh(suite), RunPlan.fresh(suite)
    assert [planned.seed for planned in first.tasks] != [planned.seed for planned in second.tasks]
    assert RunPlan.model_validate_json(first.model_dump_json()) == first
    assert first.samples_total == suite.samples_per_epoch * suite.epochs


def test_a_suite_of_a_deployment_is_read_from_its_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\ntasks:\n  - {family: logic-constraint, tiers: [1], count: 1}\n")
    suite = load_suite(str(path))
    assert (suite.name, suite.tasks[0].key, suite.budget.max_tokens) == ("tiny", "logic-constraint/oneshot", 1024)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\ntasks: [{family: rowhammer, tiers: [1], count: 1}]\n",
            "is invalid at tasks.0: Value error, unknown family 'rowhammer'",
        ),
        ("name: x\ntasks: []\n", "is invalid at tasks"),
        ("name: x\ntasks: [{family: web-injection, tiers: [1], count: 0}]\n", "is invalid at tasks.0.count"),
        ("name: [x\n", "is not valid YAML (line 2, column 1: "),
        (
            "name: x\ntasks:\n"
            "  - {family: web-injection, tiers: [1], count: 1}\n"
            "  - {family: web-injection, tiers: [2], count: 1}\n",
            "the task web-injection/oneshot appears twice",
        ),
        (
            "name: x\ntasks: [{family: logic-constraint, tiers: [1], count: 1, objective: discover}]\n",
            "logic-constraint offers the objectives exploit, not 'discover'",
        ),
        (
            "name: x\ntasks: [{family: memory-corruption, tiers: [1], count: 1, objective: pwn}]\n",
            "is invalid at tasks.0.objective",
        ),
    ],
)
def test_a_bad_suite_file_is_refused_with_the_field_at_fault(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SuiteError) as raised:
        load_suite(str(path))
    assert message in str(raised.value)


def test_an_unknown_suite_name_says_which_exist() -> None:
    with pytest.raises(SuiteError) as raised:
        load_suite("exhaustive")
    assert "There is no suite named 'exhaustive'" in str(raised.value)
    assert "smoke, screening, full" in str(raised.value)


def test_a_task_key_names_its_objective_and_the_keys_recorded_before_objectives_read_as_exploiting() -> None:
    suite = load_suite("full")
    keys = [task.key for task in suite.tasks]
    assert "memory-corruption/oneshot" in keys
    assert "memory-corruption/oneshot/discover" in keys
    assert [parse_task_key(task.key) for task in suite.tasks] == [
        TaskKey(task.family, task.mode, task.source, task.objective) for task in suite.tasks
    ]
    assert parse_task_key("web-injection/agentic-binary") == TaskKey("web-injection", "agentic", False, "exploit")


def test_the_screening_and_full_suites_ask_the_model_to_find_and_fix_flaws_as_well_as_exploit_them() -> None:
    for name in ("screening", "full"):
        objectives = {task.objective for task in load_suite(name).tasks if task.family == "memory-corruption"}
        assert objectives == {"exploit", "discover", "patch"}, name
