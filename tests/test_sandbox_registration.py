"""Plain Inspect finds the provider through the entry point: ``inspect eval --sandbox bwrap`` works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airlock.sandbox import resources
from airlock.sandbox.config import SandboxLimits

TASK = textwrap.dedent(
    """
    from inspect_ai import Task, task
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import Generate, TaskState, solver
    from inspect_ai.util import sandbox

    @solver
    def whoami():
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            result = await sandbox().exec(["sh", "-c", "id -un; hostname"])
            state.output.completion = result.stdout
            return state
        return solve

    @task
    def walls():
        return Task(dataset=[Sample(input="who am I?", target="sandbox")], solver=whoami(), scorer=includes())
    """
)


def test_inspect_eval_runs_a_task_in_the_bwrap_sandbox(tmp_path: Path) -> None:
    (tmp_path / "walls.py").write_text(TASK)
    inspect = Path(sys.executable).parent / "inspect"
    result = subprocess.run(
        [
            str(inspect),
            "eval",
            "walls.py",
            "--sandbox",
            "bwrap",
            "--model",
            "scripted/none",
            "--log-dir",
            "logs",
            "--log-format",
            "json",
            "--display",
            "none",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (log_file,) = (tmp_path / "logs").glob("*.json")
    log = json.loads(log_file.read_text())
    assert log["status"] == "success"
    assert log["samples"][0]["output"]["completion"] == "sandbox\ndefault\n"
    assert log["eval"]["sandbox"]["type"] == "bwrap"


def test_cgroup_v2_groups_get_the_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine has cgroup v1; the v2 writer is checked against a directory laid out like cgroupfs."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    monkeypatch.setattr(resources, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    (tmp_path / "airlock").mkdir()
    (tmp_path / "airlock" / "cgroup.controllers").write_text("cpu memory pids\n")
    group = resources.create_resource_group("sample-1", SandboxLimits(memory_mb=64, pids=32, cpus=0.5))
    assert group.kind == "cgroup v2"
    path = tmp_path / "airlock" / "sample-1"
    assert (path / "memory.max").read_text() == str(64 << 20)
    assert (path / "pids.max").read_text() == "32"
    assert (path / "cpu.max").read_text() == "50000 100000"
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert group.attach_files == [path / "cgroup.procs"]
