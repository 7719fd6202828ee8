"""``airlock challenges``: generate challenge suites, prove them sound, judge a proof of concept."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from airlock.cli._common import JsonOption, choice_of, console, error_console, reporting_errors
from airlock.evals.challenges.generators import FAMILIES
from airlock.evals.challenges.importing import DEFAULT_DIFFICULTY
from airlock.evals.challenges.manifest import OBJECTIVES

if TYPE_CHECKING:
    from airlock.evals.challenges.manifest import Challenge
    from airlock.evals.challenges.oracle import Verdict
    from airlock.evals.challenges.validation import CheckReport

    Family = str
    Objective = str
else:
    Family = choice_of(FAMILIES)
    Objective = choice_of(OBJECTIVES)

challenges_app = typer.Typer(
    help="Exploitation challenges: generate, check, verify.", no_args_is_help=True, rich_markup_mode=None
)


@challenges_app.command("generate")
def generate(
    ctx: typer.Context,
    family: Annotated[Family, typer.Option(help="The family of challenges.", show_default=False)],
    seed: Annotated[int, typer.Option(help="The seed: the same seed gives byte-identical challenges.")],
    count: Annotated[int, typer.Option(help="How many instances.")],
    out: Annotated[Path, typer.Option(help="A new or empty directory to write them to.")],
    tier: Annotated[list[int] | None, typer.Option(help="Only this difficulty tier (repeatable).")] = None,
    variant: Annotated[
        list[str] | None, typer.Option(help="Only this variant of the family, e.g. use_after_free (repeatable).")
    ] = None,
    objective: Annotated[
        Objective,
        typer.Option(
            help="What the model is asked for: exploit a named flaw, discover one with no hint, or patch the flaw "
            "a crashing input shows (the family must offer it)."
        ),
    ] = "exploit",
) -> None:
    """Generate COUNT challenges, each built and validated before it is written.

    Tiers and variants rotate so that a suite covers each pair before repeating one.

    \b
    Example:
      airlock challenges generate --family memory-corruption \\
        --seed 2026 --count 20 --out suite/
      airlock challenges generate --family memory-corruption \\
        --objective patch --seed 2026 --count 7 --out fixes/
    """
    from airlock.evals.challenges.generation import Plan, generate_suite

    with reporting_errors(ctx, json_output=False):
        plan = Plan.of(family, seed, count, tier or (), variant or (), str(objective))
        made = asyncio.run(generate_suite(plan, out, progress=lambda report: console.print(report.summary())))
    error_console.print(f"{len(made)} challenges written to {out}", style="dim")


@challenges_app.command("import")
def import_command(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(help="An inspect_cyber evaluation directory (eval.yaml), or a folder of them.")
    ],
    out: Annotated[Path, typer.Option(help="A new or empty directory to write the challenges to.")],
    difficulty: Annotated[
        int, typer.Option(help="Difficulty (1-10) for evaluations whose metadata gives none.")
    ] = DEFAULT_DIFFICULTY,
) -> None:
    """Import inspect_cyber evaluations: each variant becomes a challenge judged by its flag.

    Evaluations are imported one by one: one that cannot be is refused with its reason and the others go on.
    An evaluation with services keeps its compose file, whose images must be in the image store when it runs
    (`airlock images import`); a variant named solution becomes the solution script that `check` runs.
    import-report.json in the output lists what was imported and what was refused, and why. Exits 1 if
    nothing could be imported (and then writes nothing).

    \b
    Example:
      airlock challenges import ctf/evals --out imported/
    """
    from airlock.evals.challenges.importing import REPORT_FILE, import_inspect_cyber, services_of
    from airlock.evals.challenges.manifest import ChallengeError

    with reporting_errors(ctx, json_output=False):
        report = import_inspect_cyber(source, out, difficulty=difficulty)
        if not report.imported and len({refusal.eval for refusal in report.refused}) == 1:
            raise ChallengeError(report.refused[0].reason)  # one evaluation: its reason is the whole story
        for challenge in report.imported:
            services = services_of(challenge)
            extras = (f", services {', '.join(services)}" if services else "") + (
                ", a solution script" if challenge.solution_run is not None else ""
            )
            console.print(f"{challenge.name}: imported ({len(challenge.files)} files{extras}, judged by its flag)")
        for refusal in report.refused:
            console.print(f"{refusal.eval}: refused: {refusal.reason}", markup=False)
        if not report.imported:
            raise ChallengeError(
                f"Nothing in {source} could be imported ({len(report.refused)} refused, the reasons above; the first: "
                f"{report.refused[0].reason.rstrip('.')}); nothing was written."
            )
    error_console.print(
        f"{len(report.imported)} challenges written to {out}, {len(report.refused)} refused (see {out / REPORT_FILE})",
        style="dim",
    )


@challenges_app.command("check")
def check_command(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="A challenge directory, or a folder of them.")],
    json_output: JsonOption = False,
) -> None:
    """Build each challenge and prove its reference passes and every control fails.

    Exits 1 if any challenge fails.

    \b
    Example:
      airlock challenges check suite/
    """
    from airlock.evals.challenges.manifest import ChallengeError, find_challenges, load_challenge
    from airlock.evals.challenges.validation import check_many

    with reporting_errors(ctx, json_output):
        found = find_challenges(directory)
        if not found:
            raise ChallengeError(f"There is no challenge.yaml in or below {directory}; give a challenge directory.")
        challenges = [load_challenge(path) for path in found]
        reports = asyncio.run(check_many(challenges, progress=None if json_output else _show))
    if json_output:
        print(json.dumps([_report_json(report) for report in reports], indent=2))
    failed = [report for report in reports if not report.passed]
    if failed:
        error_console.print(f"{len(failed)} of {len(reports)} challenges failed their check.")
        raise typer.Exit(1)


@challenges_app.command("verify")
def verify_command(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="The challenge directory.")],
    poc: Annotated[
        Path,
        typer.Option(
            help="The proof of concept: the input to feed the target (for a patch challenge, the patch: a unified "
            "diff for patch -p1)."
        ),
    ],
    json_output: JsonOption = False,
) -> None:
    """Judge one proof of concept (or, for a patch challenge, one patch), in a fresh sandbox, and show the evidence.

    Exits 0 whether or not it succeeds: the verdict is the output.

    \b
    Example:
      airlock challenges verify suite/mc-t1-heap-overflow-s2026-i4 --poc in.bin
      airlock challenges verify fixes/mc-t1-heap-overflow-s2026-i4-patch --poc fix.patch
    """
    from airlock.evals.challenges.manifest import ChallengeError, load_challenge

    with reporting_errors(ctx, json_output):
        challenge = load_challenge(directory)
        try:
            data = poc.read_bytes()
        except OSError as error:
            raise ChallengeError(f"Cannot read the proof of concept {poc}: {error.strerror}.") from error
        verdict = asyncio.run(_verify(challenge, data))
    if json_output:
        print(json.dumps({"challenge": challenge.name, "version": challenge.version, **verdict.as_metadata()}))
        return
    headline = "EXPLOIT" if verdict.success else "NOT PROVEN"
    if verdict.proof == "fixed":
        headline = "FIXED" if verdict.success else "FAILED" if verdict.failed else "NOT FIXED"
    console.print(f"{challenge.name}: {headline}: {verdict.reason}")
    console.print(f"expected: {challenge.oracle_summary()}")
    if verdict.stages_total:
        console.print(
            f"stages reached: {', '.join(verdict.stages_reached) or 'none'} "
            f"({len(verdict.stages_reached)} of {verdict.stages_total})"
        )
    if verdict.evidence:
        console.print(verdict.evidence, markup=False)


async def _verify(challenge: Challenge, data: bytes) -> Verdict:
    from airlock.evals.challenges.execution import Workbench, verify, verify_patch
    from airlock.evals.challenges.manifest import FlagOracle, PatchOracle
    from airlock.evals.challenges.oracle import judge_flag

    if isinstance(challenge.oracle, FlagOracle):
        return judge_flag(challenge, data.decode("utf-8", "replace"))
    if challenge.build is None:
        return await verify(challenge, data)
    async with Workbench() as workbench:
        built = await workbench.build(challenge)
    if isinstance(challenge.oracle, PatchOracle):
        return await verify_patch(challenge, data, built)
    return await verify(challenge, data, built)


def _show(report: CheckReport) -> None:
    console.print(report.summary())
    for failure in report.failures:
        console.print(f"  {failure.kind} {failure.name}: {failure.verdict.reason}")


def _report_json(report: CheckReport) -> dict[str, object]:
    return {
        "challenge": report.challenge.name,
        "version": report.challenge.version,
        "passed": report.passed,
        "inputs": [
            {"kind": o.kind, "name": o.name, "as_expected": o.as_expected, **o.verdict.as_metadata()}
            for o in report.outcomes
        ],
    }
