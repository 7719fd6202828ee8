"""``airlock demo``: the demonstration review on a temporary deployment."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from airlock.cli._common import Overrides, console, reporting_errors
from airlock.demo import DEMO_SUITE, run_demo
from airlock.errors import InvalidInputError


def demo(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(help="Directory for the demo deployment (default: a new temporary directory)."),
    ] = None,
    suite: Annotated[str, typer.Option(help="The evaluation suite the demo runs: a shipped one or a YAML file.")] = (
        DEMO_SUITE
    ),
) -> None:
    """Run a complete demonstration review on a fresh deployment, printing each step.

    It submits the bundled local model, accepts it, runs the smoke suite with its baselines (a few minutes
    on a laptop), analyses the results, builds the signed draft report, records the developer's response,
    issues the signed final report (HTML, PDF, JSON) and prints where it is. Your own deployment
    (AIRLOCK_HOME, AIRLOCK_DATABASE_URL) is not touched.

    \b
    Example:
      airlock demo
    """
    with reporting_errors(ctx, json_output=False):
        if home is None:
            home = Path(tempfile.mkdtemp(prefix="airlock-demo-"))
        elif home.exists() and any(home.iterdir()):
            raise InvalidInputError(f"{home} is not empty; give a new or empty directory for the demo.")
        overrides = ctx.find_object(Overrides)
        end = overrides.clock.now() if overrides and overrides.clock else None
        outcome = run_demo(home, lambda line: console.print(line, markup=False), end, suite=suite)
    command = shutil.which("airlock") or str(Path(sys.argv[0]).resolve())
    console.print("")
    console.print(
        f"Demo complete. Review {outcome.completed_review} reached its final report and closed; "
        f"review {outcome.withdrawn_review} was withdrawn and its content destroyed.\n"
        f"The final report (signed; each file has its .sig):\n"
        f"  HTML: {outcome.reports['html']}\n"
        f"  PDF:  {outcome.reports['pdf']}\n"
        f"  JSON: {outcome.reports['json']}\n"
        f"  redacted for partners (PDF): {outcome.reports['redacted']}\n"
        f"Verify one with:\n  AIRLOCK_HOME={outcome.home} {command} report verify {outcome.reports['pdf']}\n"
        f"The demo deployment is in {outcome.home}; look around with:\n"
        f"  AIRLOCK_HOME={outcome.home} {command} review list --as lead@lab.test",
        markup=False,
    )
