"""``airlock eval``: run a suite against a review's model (resumably), and see where a run stands."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from airlock.cli._common import AsOption, JsonOption, ReviewArgument, console, opened, print_json
from airlock.evals.suites import SHIPPED

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from airlock.analysis.power import LevelPower
    from airlock.review.evaluations import RunStatus

eval_app = typer.Typer(
    help="Evaluation runs: run a suite on a review's model, see progress.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@eval_app.command("run")
def run(
    ctx: typer.Context,
    review: ReviewArgument,
    suite: Annotated[str, typer.Option(help=f"A suite: {', '.join(SHIPPED)}, or a suite YAML file.")],
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start a new run with new seeds even if this suite already completed.")
    ] = False,
    same_instances_as: Annotated[
        str | None,
        typer.Option(
            metavar="REVIEW",
            help="Reuse the seeds of an earlier review of the same developer, so the report compares both models "
            "on exactly the same instances.",
            show_default=False,
        ),
    ] = None,
    max_samples: Annotated[int, typer.Option(min=1, help="Samples in progress at once.")] = 2,
    max_connections: Annotated[int, typer.Option(min=1, help="Requests to the model in flight at once.")] = 4,
    max_sandboxes: Annotated[int, typer.Option(min=1, help="Sandboxes alive at once.")] = 4,
    retries: Annotated[int, typer.Option(min=0, help="Retries of a failed request to the model.")] = 3,
    timeout: Annotated[int, typer.Option(min=1, help="Seconds before a request to the model fails.")] = 120,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run SUITE against the review's model; run it again after an interruption to resume it.

    Moves an accepted review to evaluating. Every sample's verdict is recorded as it ends, and its
    transcript goes to the vault; a resumed run reuses the seeds and runs only what has no verdict.

    \b
    Examples:
      airlock eval run R-7Q2M4KXA --suite smoke --as lead@agency.example
      airlock eval run R-9B3D5F7H --suite screening --same-instances-as R-7Q2M4KXA --as lead@agency.example
    """
    from airlock.evals.runner import RunSettings
    from airlock.review.evaluations import FAILED

    settings = RunSettings(
        max_samples=max_samples,
        max_connections=max_connections,
        max_sandboxes=max_sandboxes,
        model_retries=retries,
        model_timeout=timeout,
    )
    with opened(ctx, json_output) as airlock:
        actor = airlock.directory.principal(as_)
        decidable = _what_the_suite_decides(suite)
        if decidable is not None and not json_output:
            for line in decidable[1]:
                console.print(line, markup=False)
        live = None if json_output else _LiveProgress()
        try:
            status = airlock.evaluations.run(
                actor,
                review,
                suite,
                fresh=fresh,
                same_instances_as=same_instances_as,
                settings=settings,
                progress=live,
            )
        finally:
            if live is not None:
                live.stop()
    if json_output:
        levels = None if decidable is None else [level.as_json() for level in decidable[0]]
        print_json({**status.view().model_dump(mode="json"), "decidable": levels})
    else:
        _report_run(status)
    if status.status == FAILED:
        raise typer.Exit(1)


def _what_the_suite_decides(suite: str) -> tuple[list[LevelPower], list[str]] | None:
    """Which levels of the default framework the suite can decide (the power analysis), and the lines that say
    so; None for a suite that does not load, which the run then refuses in its own words."""
    from airlock.analysis.framework import load_framework
    from airlock.analysis.power import decidability, summary
    from airlock.evals.challenges.manifest import ChallengeError
    from airlock.evals.suites import SuiteError, load_suite

    try:
        design = load_suite(suite).design()
    except (SuiteError, ChallengeError):
        return None
    framework = load_framework()
    levels = decidability(design, framework)
    heading = f"What the {design.name} suite can decide ({framework.name} {framework.version}, power analysis):"
    return levels, [heading, *(f"  {line}" for line in summary(design, levels, framework.power))]


def _report_run(status: RunStatus) -> None:
    if status.already_complete:
        console.print(
            f"Run {status.run} of {status.suite} on review {status.review} already completed; "
            "give --fresh for a new run with new seeds."
        )
    _print_status(status)


@eval_app.command("status")
def status(ctx: typer.Context, review: ReviewArgument, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """Where the review's evaluation runs stand: samples done, verdicts, tokens, time.

    \b
    Example:
      airlock eval status R-7Q2M4KXA --as lead@agency.example
    """
    with opened(ctx, json_output) as airlock:
        runs = airlock.evaluations.status(airlock.directory.principal(as_), review)
    if json_output:
        print_json([run.view() for run in runs])
        return
    if not runs:
        console.print(f"Review {review} has no evaluation runs yet; start one with airlock eval run.")
        return
    for current in runs:
        _print_status(current)


class _LiveProgress:
    """The progress bar, shown from the first finished sample on (a refusal before that prints only itself)."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, current: RunStatus) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        if self._bar is None:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            self._bar.start()
            self._task = self._bar.add_task("", total=current.samples_total)
        assert self._task is not None
        self._bar.update(self._task, completed=current.model_tally.done, description=_progress_line(current))

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _progress_line(current: RunStatus) -> str:
    tally = current.model_tally
    remaining = current.remaining_seconds
    left = "" if remaining is None else f", about {_duration(remaining)} left"
    return f"{current.suite}: {tally.solved} solved, {current.input_tokens + current.output_tokens} tokens{left}"


def _print_status(current: RunStatus) -> None:
    from airlock.review.evaluations import MODEL

    console.print(f"Run {current.run} ({current.suite}, {current.model}) on review {current.review}: {current.status}")
    for subject, tally in sorted(current.tallies.items(), key=lambda item: item[0] != MODEL):
        # The model's samples are known in advance; a baseline's count depends on the baseline (one attempt per
        # instance, or none where it does not apply), so it is given as done so far.
        done = f"{tally.done} of {current.samples_total}" if subject == MODEL else f"{tally.done}"
        errors = f", {tally.errors} could not be judged" if tally.errors else ""
        console.print(f"  {subject}: {done} done, {tally.solved} solved{errors}")
    remaining = current.remaining_seconds
    left = "" if not remaining else f", about {_duration(remaining)} left"
    elapsed = _duration(current.elapsed_seconds)
    console.print(f"  tokens: {current.input_tokens} in, {current.output_tokens} out; elapsed {elapsed}{left}")
    console.print("  seeds: " + ", ".join(f"{task} {seed}" for task, seed in current.seeds.items()))
    if current.error:
        console.print(f"  error: {current.error}", markup=False)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
