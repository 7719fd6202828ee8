"""``airlock eval``: run a suite against a review's model (resumably), see where a run stands, list a run's
samples, export its Inspect logs, and invalidate (or reinstate) a sample that went wrong outside the model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from airlock.cli._common import (
    AsOption,
    JsonOption,
    ReviewArgument,
    choice_of,
    console,
    error_console,
    opened,
    print_json,
    reporting_errors,
)
from airlock.errors import InvalidInputError
from airlock.evals.suites import SHIPPED

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from airlock.analysis.power import LevelPower
    from airlock.evals.runner import Executor
    from airlock.review.evaluations import RunStatus
    from airlock.review.samples import ExportedLog, SampleSummary

if TYPE_CHECKING:
    ExecutorName = str
else:
    ExecutorName = choice_of(["local", "ray"])

eval_app = typer.Typer(
    help="Evaluation runs: run, follow, read and export the evidence.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

RunArgument = Annotated[
    str,
    typer.Argument(
        metavar="RUN", help="Evaluation run identifier, e.g. E-1A2B3C4D (eval status lists them).", show_default=False
    ),
]
SampleArgument = Annotated[
    str, typer.Argument(metavar="SAMPLE", help="The sample's id, as eval samples lists it.", show_default=False)
]
EpochOption = Annotated[int, typer.Option(min=1, help="The sample's epoch (its attempt), as eval samples lists it.")]
TaskOption = Annotated[
    str | None,
    typer.Option(
        metavar="TASK",
        help="The sample's task (memory-corruption/oneshot), where the same id is in two of the run's tasks.",
        show_default=False,
    ),
]
ChangeReasonOption = Annotated[
    str, typer.Option(metavar="TEXT", help="Why; recorded in the review's timeline and listed in the report.")
]


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
    executor: Annotated[
        ExecutorName,
        typer.Option(
            help="Where the samples run: this machine, or the nodes of a Ray cluster (docs/cluster.md).",
        ),
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            metavar="HOST:PORT",
            help="The Ray cluster's head (its GCS address), with --executor ray; default: $RAY_ADDRESS.",
            show_default=False,
        ),
    ] = None,
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
      airlock eval run R-7Q2M4KXA --suite full --executor ray --address 10.1.0.5:6379 --as lead@agency.example
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
    cluster = _cluster_executor(executor, address)
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
                executor=cluster,
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


def _cluster_executor(executor: str, address: str | None) -> Executor | None:
    """The executor --executor names (None: the service's local one), its notices printed on standard error."""
    if executor == "local":
        if address is not None:
            raise typer.BadParameter(
                "an address is for --executor ray; leave it out to run here.", param_hint="--address"
            )
        return None
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise typer.BadParameter("name the cluster's head as HOST:PORT, or set RAY_ADDRESS.", param_hint="--address")
    # Loaded only here: Ray takes seconds to import, and every other command does without it.
    from airlock.evals.executors.ray_cluster import RayExecutor, split_address

    if not split_address(address)[0]:
        raise typer.BadParameter(f"{address!r} is not HOST:PORT (the head's GCS address).", param_hint="--address")

    return RayExecutor(address, notice=lambda line: error_console.print(line, markup=False))


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


@eval_app.command("samples")
def samples(ctx: typer.Context, run: RunArgument, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """List the model's samples of a run: each one's task, epoch, verdict and any invalidation.

    Reads no transcript; the portal's transcript viewer and eval export do.

    \b
    Example:
      airlock eval samples E-1A2B3C4D --as lead@agency.example
    """
    with opened(ctx, json_output) as airlock:
        listed = airlock.samples.of_run(airlock.directory.principal(as_), run)
    if json_output:
        print_json(listed)
        return
    console.print(f"Run {listed.run} ({listed.suite}, {listed.model}) of review {listed.review}: {listed.status}")
    if not listed.samples:
        console.print("  No sample of the model has a verdict yet.")
    for sample in listed.samples:
        _print_sample(sample)


@eval_app.command("export")
def export(
    ctx: typer.Context,
    run: RunArgument,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Where to write the logs (default: ./airlock-logs/RUN).", show_default=False
        ),
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write the run's Inspect logs to --out, to open with `inspect view --log-dir DIR`.

    Each log is decrypted for you and the read is audited. Samples a lead reviewer invalidated are marked
    as Inspect marks an invalidated sample (who, when, why). The files are plaintext, readable by you only.

    \b
    Example:
      airlock eval export E-1A2B3C4D --out ./logs --as lead@agency.example
    """
    with opened(ctx, json_output) as airlock:
        logs = airlock.samples.export_logs(airlock.directory.principal(as_), run)
    directory = out or Path("airlock-logs") / run.strip().upper()
    paths = _write_logs(ctx, directory, logs)
    if json_output:
        print_json({"directory": str(directory), "files": [str(path) for path in paths]})
        return
    for path in paths:
        console.print(str(path), markup=False)
    console.print(f"Open them with: inspect view --log-dir {directory}", markup=False)


@eval_app.command("invalidate")
def invalidate(
    ctx: typer.Context,
    run: RunArgument,
    sample: SampleArgument,
    epoch: EpochOption,
    reason: ChangeReasonOption,
    task: TaskOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Invalidate a sample of the model that went wrong for a reason outside the model (lead reviewers).

    The sample is left out of every figure of the next report, which lists it with the reason. Until the
    final report is issued; eval reinstate withdraws it.

    \b
    Example:
      airlock eval invalidate E-1A2B3C4D mc-t1-stack-overflow-s1-i0 --epoch 2 \\
        --reason "the sandbox host ran out of disk mid-sample" --as lead@agency.example
    """
    with opened(ctx, json_output) as airlock:
        changed = airlock.samples.invalidate(
            airlock.directory.principal(as_), run, sample, epoch=epoch, reason=reason, task=task
        )
    _show_change(changed, json_output)


@eval_app.command("reinstate")
def reinstate(
    ctx: typer.Context,
    run: RunArgument,
    sample: SampleArgument,
    epoch: EpochOption,
    reason: ChangeReasonOption,
    task: TaskOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Withdraw a sample's invalidation (lead reviewers): it counts in every figure again.

    \b
    Example:
      airlock eval reinstate E-1A2B3C4D mc-t1-stack-overflow-s1-i0 --epoch 2 \\
        --reason "the disk was full after the sample ended" --as lead@agency.example
    """
    with opened(ctx, json_output) as airlock:
        changed = airlock.samples.reinstate(
            airlock.directory.principal(as_), run, sample, epoch=epoch, reason=reason, task=task
        )
    _show_change(changed, json_output)


def _print_sample(sample: SampleSummary) -> None:
    left_out = (
        ""
        if sample.invalidation is None
        else f"; INVALIDATED by {sample.invalidation.by}: {sample.invalidation.reason}"
    )
    console.print(f"  {sample.ref.text}: {sample.verdict} ({sample.reason}){left_out}", markup=False)


def _show_change(sample: SampleSummary, json_output: bool) -> None:
    if json_output:
        print_json(sample)
        return
    if sample.invalidation is None:
        console.print(f"Sample {sample.ref.text} is reinstated: it counts in every figure again.", markup=False)
    else:
        console.print(
            f"Sample {sample.ref.text} is invalidated: the next report leaves it out of every figure and lists it.",
            markup=False,
        )


def _write_logs(ctx: typer.Context, directory: Path, logs: list[ExportedLog]) -> list[Path]:
    """Write the decrypted logs for the person who asked, keeping Inspect's layout (one directory per epoch), in
    a directory only they can read."""
    with reporting_errors(ctx, json_output=False):
        paths = []
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            for log in logs:
                relative = Path(log.name)
                if relative.is_absolute() or ".." in relative.parts:
                    continue  # the runner names its logs within its own directory: anything else is not one
                path = directory / relative
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                path.write_bytes(log.data)
                path.chmod(0o600)
                paths.append(path)
        except OSError as error:
            raise InvalidInputError(
                f"The logs cannot be written to {directory}: {error.strerror}.",
                "Give --out a directory you can write to (it is created if missing).",
            ) from error
    return paths
