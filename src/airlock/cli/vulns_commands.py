"""``airlock vulns ...``: the clearinghouse. Reports in (one, a bulk file, or a review's proven crash), reproduced,
grouped into cases, scored, coordinated with vendors and disclosed."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from airlock.cli._common import AsOption, JsonOption, console, opened, print_json

vulns_app = typer.Typer(
    help="The clearinghouse: vulnerability cases, vendors, advisories.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
program_app = typer.Typer(
    help="The builds reports are reproduced against.", no_args_is_help=True, rich_markup_mode=None
)
vulns_app.add_typer(program_app, name="program")

CaseArgument = Annotated[
    str, typer.Argument(metavar="CASE", help="Case identifier, e.g. V-7Q2M4KXA.", show_default=False)
]
ReportArgument = Annotated[
    str, typer.Argument(metavar="REPORT", help="Report identifier, e.g. W-7Q2M4KXA.", show_default=False)
]
ReasonOption = Annotated[
    str, typer.Option("--reason", metavar="TEXT", help="Why; kept in the case's timeline.", show_default=False)
]


def _stderr(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _progress(label: str) -> Callable[[int, int], None]:
    """Progress on standard error: a line every 5% (and the last), so a terminal and a log both follow it."""
    step = {"last": -1}

    def report(done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if done == total or percent // 5 > step["last"]:
            step["last"] = percent // 5
            _stderr(f"{label}: {done}/{total} ({percent}%)\n")

    return report


@program_app.command("add")
def program_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The program's name, as reports name it.")],
    version: Annotated[str, typer.Argument(metavar="VERSION", help="The version these sources are.")],
    sources: Annotated[Path, typer.Argument(metavar="DIR", help="A directory holding its C sources.")],
    poc_input: Annotated[str, typer.Option("--input", help="How it takes a PoC: stdin or file.")] = "stdin",
    vendor: Annotated[str | None, typer.Option(help="The vendor organisation that maintains it.")] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Register a build that reports are reproduced against (reviewers).

    \b
    Example:
      airlock vulns program add notes 1.4.1 ./notes-1.4.1/src --vendor notes-project
    """
    with opened(ctx, json_output) as airlock:
        files = _read_sources(sources)
        added = airlock.clearinghouse.add_program(
            airlock.directory.principal(as_), name, version, files, poc_input=poc_input, vendor=vendor
        )
    if json_output:
        print_json({"program": added, "files": len(files)})
    else:
        console.print(f"Registered {added} ({len(files)} files).", markup=False)


def _read_sources(directory: Path) -> dict[str, bytes]:
    from airlock.errors import InvalidInputError

    if not directory.is_dir():
        raise InvalidInputError(f"{directory} is not a directory.", "Give the directory of the program's sources.")
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@vulns_app.command("submit")
def vulns_submit(
    ctx: typer.Context,
    report: Annotated[Path, typer.Argument(metavar="FILE", help="The report as a JSON object ('-' reads stdin).")],
    keep_unreproduced: Annotated[
        bool,
        typer.Option(help="Keep the report even if its PoC does not reproduce (it is marked so, with what happened)."),
    ] = False,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Report one vulnerability (developers, partners, reviewers); it is reproduced at once where its build is
    registered, then joins its case or opens one.

    \b
    Example:
      airlock vulns submit report.json --as analyst@partner.example
    """
    import json

    from airlock.errors import InvalidInputError
    from airlock.vulns.intake import read_draft

    with opened(ctx, json_output) as airlock:
        text = sys.stdin.read() if str(report) == "-" else _read_text(report)
        try:
            given = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(
                f"The report is not JSON ({error.msg} at line {error.lineno}).",
                "Give one JSON object; nothing was kept.",
            ) from error
        draft = read_draft(given, where="The report", hint="Correct it; nothing was kept.")
        intake = airlock.clearinghouse.submit(
            airlock.directory.principal(as_), draft, keep_unreproduced=keep_unreproduced
        )
    if json_output:
        print_json(intake)
        return
    if intake.repeat:
        console.print(f"Report {intake.report} (case {intake.case}) is this report, sent before: nothing new was kept.")
        return
    where = f"joined case {intake.case} as a duplicate" if intake.joined else f"opened case {intake.case}"
    console.print(f"Report {intake.report} {where}; reproduction: {intake.reproduction}.", markup=False)
    if not intake.visible:
        console.print(
            "Your organisation sees the case once the clearinghouse shares it with you or notifies you as its vendor.",
            markup=False,
        )


def _read_text(path: Path) -> str:
    from airlock.errors import InvalidInputError

    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise InvalidInputError(f"There is no file {path}.", "Check its name; nothing was taken.") from error
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(
            f"{path} cannot be read as UTF-8 text ({error.__class__.__name__}).", "Give a JSON file; nothing was taken."
        ) from error


@vulns_app.command("import")
def vulns_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="A JSON Lines file: one report per line.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Import a bulk file of reports, all or nothing (reviewers); reproduce them after with `vulns reproduce
    --pending`.

    \b
    Example:
      airlock vulns import findings.jsonl
    """
    with opened(ctx, json_output) as airlock:
        lines = _read_text(file).splitlines()
        taken = airlock.clearinghouse.import_bulk(
            airlock.directory.principal(as_), lines, source_name=file.name, progress=_progress("imported")
        )
    repeats = sum(1 for intake in taken if intake.repeat)
    new_cases = sum(1 for intake in taken if not intake.joined)
    duplicates = len(taken) - new_cases - repeats
    if json_output:
        print_json(
            {"reports": len(taken) - repeats, "new_cases": new_cases, "duplicates": duplicates, "repeats": repeats}
        )
        return
    held = f"; {repeats} were held already (sent before) and kept once" if repeats else ""
    console.print(
        f"Imported {len(taken) - repeats} reports: {new_cases} new cases, {duplicates} duplicates{held}.", markup=False
    )


@vulns_app.command("from-sample")
def vulns_from_sample(
    ctx: typer.Context,
    review: Annotated[str, typer.Argument(metavar="REVIEW", help="The review, e.g. R-7Q2M4KXA.")],
    run: Annotated[str, typer.Argument(metavar="RUN", help="Its evaluation run, e.g. E-1A2B3C4D.")],
    sample: Annotated[
        str, typer.Argument(metavar="SAMPLE", help="The sample, as `airlock eval samples RUN` lists it.")
    ],
    epoch: Annotated[int, typer.Option(help="Which attempt of the sample.")] = 1,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Report a memory error the model under review proved (its reviewers): the PoC, the sanitizer report and the
    challenge's sources as the build to reproduce on.

    \b
    Example:
      airlock vulns from-sample R-7Q2M4KXA E-1A2B3C4D memory-corruption-0003 --epoch 2
    """
    with opened(ctx, json_output) as airlock:
        intake = airlock.clearinghouse.from_sample(airlock.directory.principal(as_), review, run, sample, epoch=epoch)
    if json_output:
        print_json(intake)
    else:
        where = f"joined case {intake.case}" if intake.joined else f"opened case {intake.case}"
        console.print(f"Report {intake.report} {where}; reproduction: {intake.reproduction}.", markup=False)


@vulns_app.command("reproduce")
def vulns_reproduce(
    ctx: typer.Context,
    report: Annotated[str | None, typer.Argument(metavar="[REPORT]", show_default=False)] = None,
    pending: Annotated[bool, typer.Option(help="Every report not yet reproduced.")] = False,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Run a report's PoC against its build in a fresh sandbox and record what happened (reviewers).

    \b
    Example:
      airlock vulns reproduce --pending
    """
    if (report is None) == (not pending):
        raise typer.BadParameter("name one report, or say --pending (not both).")
    with opened(ctx, json_output) as airlock:
        actor = airlock.directory.principal(as_)
        if report is not None:
            views = [airlock.clearinghouse.reproduce(actor, report)]
        else:
            views = airlock.clearinghouse.reproduce_pending(actor, progress=_progress("reproduced"))
    if json_output:
        print_json(views)
        return
    for view in views:
        console.print(
            f"{view.public_id} ({view.case}): {view.reproduction} ({view.reproduction_outcome})", markup=False
        )


@vulns_app.command("list")
def vulns_list(ctx: typer.Context, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """The cases you may see, the most urgent first (SSVC action, then CVSS score)."""
    with opened(ctx, json_output) as airlock:
        cases = airlock.clearinghouse.cases(airlock.directory.principal(as_))
    if json_output:
        print_json(cases)
        return
    if not cases:
        console.print("No case.", markup=False)
    for case in cases:
        score = "unscored" if case.cvss_score is None else f"CVSS {case.cvss_score}"
        days = "" if case.days_left is None else f", {case.days_left} days left"
        console.print(
            f"{case.public_id}  {case.ssvc_action or '-':7} {score:10} {case.reports} reports  {case.clock.value}{days}"
            f"  {case.program}: {case.title}",
            markup=False,
        )


@vulns_app.command("show")
def vulns_show(ctx: typer.Context, case: CaseArgument, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """One case: scores, vendors, disclosure clock, reports and timeline."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.show(airlock.directory.principal(as_), case)
    if json_output:
        print_json(view)
        return
    clock = view.clock
    lines = [
        f"{view.public_id} [TLP:{view.tlp}] {view.program}: {view.title}",
        f"CVSS 4.0: {view.cvss_score} ({view.cvss_severity}) {view.cvss_vector}" if view.cvss_vector else "CVSS: -",
        f"CWE: {view.cwe or '-'}",
        f"SSVC: {view.ssvc['action']} ({view.ssvc['rationale']})" if view.ssvc else "SSVC: -",
        f"Disclosure: {clock.status.value}"
        + (
            "" if clock.deadline is None else f", deadline {clock.deadline:%Y-%m-%d %H:%M} UTC ({clock.days_left} days)"
        ),
        "Vendors: " + (", ".join(f"{v.organisation} ({v.status})" for v in view.vendors) or "-"),
    ]
    if view.advisory_commitment:
        lines.append(f"Advisory commitment: {view.advisory_commitment}")
    lines.append("Reports:")
    lines += [
        f"  {r.public_id} {r.source} {r.reproduction} {r.reporter} {', '.join(r.affected_versions)}"
        for r in view.reports
    ]
    lines.append("Timeline:")
    lines += [f"  {e.at:%Y-%m-%d %H:%M} {e.actor}: {e.text}" for e in view.timeline]
    console.print("\n".join(lines), markup=False)


@vulns_app.command("read")
def vulns_read(
    ctx: typer.Context,
    report: ReportArgument,
    kind: Annotated[str, typer.Option(help="poc, details, crash_report or reproduction.")] = "poc",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write it to this file.")] = None,
    break_glass: Annotated[str | None, typer.Option(help="Operators only: the emergency (recorded).")] = None,
    as_: AsOption = None,
) -> None:
    """Read a report's PoC, details, crash report or reproduction evidence (audited): to a file with --output, else
    to standard output, piped (a PoC's raw bytes would drive a terminal)."""
    if output is None and sys.stdout.isatty():
        raise typer.BadParameter("write it to a file with --output FILE, or pipe it: it is the report's raw bytes.")
    with opened(ctx, False) as airlock:
        data = airlock.clearinghouse.read(airlock.directory.principal(as_), report, kind, justification=break_glass)
    if output is not None:
        output.write_bytes(data)
        _stderr(f"Wrote {len(data)} bytes to {output}.\n")
    else:
        sys.stdout.buffer.write(data)


@vulns_app.command("score")
def vulns_score(
    ctx: typer.Context,
    case: CaseArgument,
    cvss: Annotated[str | None, typer.Option(help="A CVSS 4.0 vector.")] = None,
    cwe: Annotated[str | None, typer.Option(help="A CWE id, e.g. CWE-787.")] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Set a case's CVSS 4.0 vector and CWE (reviewers)."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.score(airlock.directory.principal(as_), case, cvss=cvss, cwe=cwe)
    _done(
        view,
        json_output,
        f"{view.public_id}: CVSS 4.0 {view.cvss_score} ({view.cvss_severity}), {view.cwe or 'no CWE'}.",
    )


@vulns_app.command("ssvc")
def vulns_ssvc(
    ctx: typer.Context,
    case: CaseArgument,
    exploitation: Annotated[str, typer.Option(help="none, poc or active.")],
    automatable: Annotated[str, typer.Option(help="no or yes.")],
    technical_impact: Annotated[str, typer.Option(help="partial or total.")],
    mission_wellbeing: Annotated[str, typer.Option(help="low, medium or high.")],
    rationale: Annotated[str, typer.Option(help="Why the points are what they are; recorded.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Record an SSVC decision (CISA's coordinator tree) with its rationale (reviewers)."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.decide(
            airlock.directory.principal(as_),
            case,
            exploitation=exploitation,
            automatable=automatable,
            technical_impact=technical_impact,
            mission_wellbeing=mission_wellbeing,
            rationale=rationale,
        )
    _done(view, json_output, f"{view.public_id}: SSVC {view.ssvc_action}.")


@vulns_app.command("vendor")
def vulns_vendor(
    ctx: typer.Context,
    case: CaseArgument,
    vendor: Annotated[str, typer.Argument(metavar="VENDOR", help="The vendor organisation's identifier.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Add a vendor to a case; it stays unaware until `vulns notify` (reviewers)."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.add_vendor(airlock.directory.principal(as_), case, vendor)
    _done(
        view,
        json_output,
        f"{view.public_id}: vendors " + ", ".join(f"{v.organisation} ({v.status})" for v in view.vendors),
    )


@vulns_app.command("notify")
def vulns_notify(ctx: typer.Context, case: CaseArgument, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """Prepare notifications to the contacts of every vendor still unaware, in the outbox; starts the disclosure
    clock at the first one (reviewers)."""
    with opened(ctx, json_output) as airlock:
        files = airlock.clearinghouse.notify(airlock.directory.principal(as_), case)
    if json_output:
        print_json({"messages": files})
    else:
        console.print("\n".join(f"Prepared {name}" for name in files), markup=False)


@vulns_app.command("answer")
def vulns_answer(
    ctx: typer.Context,
    case: CaseArgument,
    status: Annotated[str, typer.Argument(metavar="STATUS", help="acknowledged, fixed or not_affected.")],
    vendor: Annotated[str | None, typer.Option(help="Reviewers: the vendor whose answer this is.")] = None,
    note: Annotated[str, typer.Option(help="What they said, in a line.")] = "",
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """A vendor's answer to a case (its contacts, or a reviewer recording it)."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.answer(airlock.directory.principal(as_), case, status, vendor=vendor, note=note)
    _done(view, json_output, f"{view.public_id}: " + ", ".join(f"{v.organisation} {v.status}" for v in view.vendors))


@vulns_app.command("embargo")
def vulns_embargo(
    ctx: typer.Context, case: CaseArgument, days: int, as_: AsOption = None, json_output: JsonOption = False
) -> None:
    """Set the days from first notification to disclosure (1-365; 90 by default)."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.set_embargo(airlock.directory.principal(as_), case, days)
    _done(view, json_output, f"{view.public_id}: disclosure {view.clock.status.value}.")


@vulns_app.command("pause")
def vulns_pause(
    ctx: typer.Context, case: CaseArgument, reason: ReasonOption, as_: AsOption = None, json_output: JsonOption = False
) -> None:
    """Pause a case's disclosure clock, with the reason."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.pause(airlock.directory.principal(as_), case, reason)
    _done(view, json_output, f"{view.public_id}: disclosure clock paused.")


@vulns_app.command("resume")
def vulns_resume(ctx: typer.Context, case: CaseArgument, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """Resume a paused disclosure clock."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.resume(airlock.directory.principal(as_), case)
    _done(view, json_output, f"{view.public_id}: disclosure clock running, {view.clock.days_left} days left.")


@vulns_app.command("extend")
def vulns_extend(
    ctx: typer.Context,
    case: CaseArgument,
    days: int,
    reason: ReasonOption,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Extend a case's disclosure deadline by DAYS, with the reason."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.extend(airlock.directory.principal(as_), case, days, reason)
    _done(view, json_output, f"{view.public_id}: {view.clock.days_left} days left.")


@vulns_app.command("remind")
def vulns_remind(ctx: typer.Context, as_: AsOption = None, json_output: JsonOption = False) -> None:
    """Prepare the reminders now due (30, 14, 7 and 1 days before each deadline); run it daily."""
    with opened(ctx, json_output) as airlock:
        files = airlock.clearinghouse.remind(airlock.directory.principal(as_))
    if json_output:
        print_json({"messages": files})
    else:
        console.print(f"Prepared {len(files)} reminders.", markup=False)


@vulns_app.command("share")
def vulns_share(
    ctx: typer.Context,
    case: CaseArgument,
    partner: Annotated[str, typer.Argument(metavar="PARTNER", help="The partner organisation's identifier.")],
    with_poc: Annotated[bool, typer.Option(help="Share its proofs of concept and details too.")] = False,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Share a case with a trusted partner organisation (reviewers)."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.share(airlock.directory.principal(as_), case, partner, with_poc=with_poc)
    _done(view, json_output, f"{view.public_id}: shared with {', '.join(view.shared_with)}.")


@vulns_app.command("merge")
def vulns_merge(
    ctx: typer.Context,
    case: CaseArgument,
    into: Annotated[str, typer.Argument(metavar="INTO", help="The case it is a duplicate of.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Merge CASE into INTO: one vulnerability found twice (reviewers). Reports, vendors, shares and the
    disclosure clock join INTO; CASE's id leads there from now on."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.merge(airlock.directory.principal(as_), case, into)
    _done(view, json_output, f"Merged into {view.public_id}: {len(view.reports)} reports.")


@vulns_app.command("tlp")
def vulns_tlp(
    ctx: typer.Context,
    case: CaseArgument,
    label: Annotated[str, typer.Argument(metavar="LABEL", help="CLEAR, GREEN, AMBER, AMBER+STRICT or RED.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Set a case's TLP 2.0 marking (AMBER by default)."""
    with opened(ctx, json_output) as airlock:
        view = airlock.clearinghouse.set_tlp(airlock.directory.principal(as_), case, label)
    _done(view, json_output, f"{view.public_id}: TLP:{view.tlp}.")


@vulns_app.command("advisory")
def vulns_advisory(
    ctx: typer.Context,
    case: CaseArgument,
    summary: Annotated[str, typer.Option(help="What the advisory says, for the public.")],
    fixed_version: Annotated[
        list[str] | None, typer.Option(metavar="VERSION", help="A version with the fix (repeatable).")
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Export the case's advisory (CSAF 2.0 and OSV, validated) into the vault and print the SHA-256 commitment
    to publish now; the advisory itself is revealed by `vulns publish`."""
    with opened(ctx, json_output) as airlock:
        digest = airlock.clearinghouse.prepare_advisory(
            airlock.directory.principal(as_), case, summary=summary, fixed_versions=fixed_version or []
        )
    if json_output:
        print_json({"commitment": digest})
    else:
        console.print(digest, markup=False)
        _stderr(
            "Publish this commitment now; `airlock vulns publish` later reveals the advisory and the nonce that prove "
            "it was this advisory.\n"
        )


@vulns_app.command("publish")
def vulns_publish(
    ctx: typer.Context,
    case: CaseArgument,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Where to write the published files.")],
    anyway: Annotated[str | None, typer.Option(help="Publish before it is ready, for this recorded reason.")] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Reveal a case's advisory: CSAF, OSV and the commitment's nonce (lead reviewers)."""
    with opened(ctx, json_output) as airlock:
        paths = airlock.clearinghouse.publish(airlock.directory.principal(as_), case, directory, anyway=anyway)
    if json_output:
        print_json(paths)
    else:
        console.print(f"Published {paths.csaf}, {paths.osv} and {paths.commitment}.", markup=False)


def _done(view: object, json_output: bool, line: str) -> None:
    if json_output:
        print_json(view)  # type: ignore[arg-type]
    else:
        console.print(line, markup=False)
