"""The command line's import budget: a command loads only what it uses (bench/cli.py times it).

Each check runs in a fresh interpreter, since this test process has long since imported everything, and
reads ``sys.modules`` there after the import or the command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

HEAVY = ["inspect_ai", "scipy", "matplotlib", "sqlalchemy", "weasyprint", "numpy", "airlock.reports", "airlock.app"]
"""What no command needs merely to start: evaluation, statistics, plots, the database, PDF, the services."""
EVALUATION_AND_ANALYSIS = ["inspect_ai", "scipy", "matplotlib"]
"""What a review command needs only when it runs an evaluation or builds a report."""


def loaded_after(code: str) -> list[str]:
    """The modules (of :data:`HEAVY`) loaded in a fresh interpreter after running ``code``."""
    script = textwrap.dedent(code) + textwrap.dedent(f"""
        import json as _json, sys as _sys
        _sys.__stdout__.write("\\nLOADED " + _json.dumps([m for m in {HEAVY!r} if m in _sys.modules]) + "\\n")
    """)
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert finished.returncode == 0, finished.stderr
    marker = finished.stdout.rsplit("LOADED ", 1)[1]
    loaded: list[str] = json.loads(marker)
    return loaded


def run_command(*args: str) -> str:
    """Code that runs ``airlock ARGS`` in-process, as the console script does, and carries on after it exits."""
    return f"""
        from airlock.cli.main import app
        try:
            app({list(args)!r}, prog_name="airlock")
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
    """


def test_importing_the_entry_module_loads_nothing_heavy() -> None:
    assert loaded_after("import airlock.cli.main") == []


def test_airlock_help_loads_nothing_heavy() -> None:
    assert loaded_after(run_command("--help")) == []


@pytest.mark.parametrize("command", [["review", "list"], ["review"], ["report", "export"], ["finding", "add"]])
def test_a_review_commands_help_loads_no_evaluation_or_analysis(command: list[str]) -> None:
    loaded = loaded_after(run_command(*command, "--help"))
    assert [module for module in loaded if module in EVALUATION_AND_ANALYSIS] == []
    assert "airlock.app" not in loaded


def test_the_challenges_package_loads_its_parts_on_first_use() -> None:
    loaded = loaded_after("""
        import sys
        from airlock.evals.challenges import load_challenge
        assert "airlock.evals.challenges.manifest" in sys.modules
        for part in ("generation", "validation", "tasks", "importing"):
            assert f"airlock.evals.challenges.{part}" not in sys.modules, part
    """)
    assert loaded == []


def test_listing_reviews_loads_neither_evaluation_nor_analysis(tmp_path: Path) -> None:
    """A command that reads the database opens the deployment, and still not Inspect, the statistics or plots."""
    home = tmp_path / "home"
    environment = {**os.environ, "AIRLOCK_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "airlock.cli.main", "init"], env=environment, check=True, capture_output=True)
    code = f"import os; os.environ['AIRLOCK_HOME'] = {str(home)!r}\n" + textwrap.dedent(run_command("review", "list"))
    loaded = loaded_after(code)
    assert "airlock.app" in loaded, "the command did open the deployment"
    assert [module for module in loaded if module in EVALUATION_AND_ANALYSIS] == []
