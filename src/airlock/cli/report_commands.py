"""``airlock report`` and ``airlock finding``: build, export and verify signed reports; record and answer findings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from airlock.cli._common import (
    AsOption,
    JsonOption,
    ReviewArgument,
    console,
    opened,
    print_json,
    reporting_errors,
    settings_for,
)
from airlock.errors import ConfigurationError, InvalidInputError
from airlock.reports.model import Variant
from airlock.reports.signing import SIGNATURE_SUFFIX

if TYPE_CHECKING:
    from airlock.review.findings import FindingDetail
    from airlock.review.reporting import ReportFile

report_app = typer.Typer(
    help="Reports: build, export and verify signed reports.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
finding_app = typer.Typer(
    help="Findings: record what a review found; the developer answers them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out", metavar="DIR", help="Where to write the files (default: ./airlock-reports/REVIEW).", show_default=False
    ),
]


@report_app.command("build")
def build(
    ctx: typer.Context,
    review: ReviewArgument,
    framework: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="A capability framework YAML file (default: the shipped one).", show_default=False
        ),
    ] = None,
    out: OutOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Analyse the review's evaluations and build its report: full and redacted, HTML, PDF and JSON, signed.

    A draft until the final report is issued (review state final_report), then final. Both variants are
    stored in the vault; the files are also written to --out for the person who built them.

    \b
    Example:
      airlock report build R-7Q2M4KXA --as reviewer@agency.example
    """
    with opened(ctx, json_output) as airlock:
        actor = airlock.directory.principal(as_)
        built = airlock.reports.build(actor, review, framework=framework)
    directory = out or Path("airlock-reports") / built.review
    written = {variant: _write(ctx, directory, files) for variant, files in built.files.items()}
    if json_output:
        print_json(built.summary().model_dump(mode="json") | {"directory": str(directory)})
        return
    console.print(
        f"Built the {built.status} report {built.id} of review {built.review}"
        + ("" if built.complete else " (incomplete)")
        + "."
    )
    if not built.has_results:
        console.print("No completed evaluations: the report says so and decides nothing.")
    for level, decision in built.decisions:
        console.print(f"  {level}: {decision}")
    for variant, paths in written.items():
        shown = ", ".join(str(path) for path in paths if not path.name.endswith(SIGNATURE_SUFFIX))
        console.print(f"{variant}: {shown} (each with its .sig)")


@report_app.command("export")
def export(
    ctx: typer.Context,
    review: ReviewArgument,
    variant: Annotated[
        Variant, typer.Option(help="Which report: the full one or the one redacted for partners.")
    ] = "full",
    out: OutOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write the latest stored report of the review, in the variant you may read, with its signatures.

    \b
    Example:
      airlock report export R-7Q2M4KXA --variant redacted --as analyst@partner.example
    """
    with opened(ctx, json_output) as airlock:
        actor = airlock.directory.principal(as_)
        files = airlock.reports.export(actor, review, variant)
    paths = _write(ctx, out or Path("airlock-reports") / review.upper(), files)
    if json_output:
        print_json({"files": [str(path) for path in paths]})
        return
    for path in paths:
        console.print(str(path))


@report_app.command("verify")
def verify(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A report file (HTML, PDF or JSON).", show_default=False)
    ],
    signature: Annotated[
        Path | None, typer.Option(metavar="SIG", help="Its signature (default: FILE.sig).", show_default=False)
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            metavar="VERIFIER_KEY",
            help="Check against this verifier key (as `airlock report key` prints it) instead of this deployment's.",
            show_default=False,
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check that FILE is exactly the report that was signed, by this deployment's report key (or --key).

    Fails (exit 1) on any changed byte, on a signature that belongs to another file, and on a signature
    by another key.

    \b
    Example:
      airlock report verify airlock-reports/R-7Q2M4KXA/R-7Q2M4KXA-final-full.pdf
    """
    note_path = signature or file.with_name(file.name + SIGNATURE_SUFFIX)
    with reporting_errors(ctx, json_output):
        data = _read(file, "report")
        note = _read(note_path, "signature").decode("utf-8", "replace")
        if key is not None:
            from airlock.audit.note import NoteError, parse_verifier_key
            from airlock.reports.signing import verify_file

            try:
                verifier = parse_verifier_key(key)
            except NoteError as error:
                raise InvalidInputError(
                    f"The verifier key is not usable: {error}.", "Give the key `airlock report key` printed."
                ) from error
            facts = verify_file(data, note, verifier)
        else:
            from airlock.app import Airlock

            try:
                airlock = Airlock.open(settings_for(ctx))
            except ConfigurationError as error:
                raise InvalidInputError(
                    "There is no Airlock deployment here to take the report key from.",
                    "Give the issuing agency's verifier key with --key (they print it with `airlock report key`).",
                ) from error
            try:
                facts = airlock.reports.verify(data, note)
            finally:
                airlock.close()
    if json_output:
        print_json({"valid": True, **facts.__dict__})
        return
    console.print(
        f"Valid: {file.name} is the {facts.status} {facts.variant} report of review {facts.review}, "
        f"signed by {facts.signer} (sha256 {facts.sha256[:16]}...)."
    )


@report_app.command("key")
def key(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Print this deployment's report verifier key, to publish: anyone can then verify its reports.

    \b
    Example:
      airlock report key
    """
    with opened(ctx, json_output) as airlock:
        text = airlock.reports.verifier_key()
    if json_output:
        print_json({"verifier_key": text})
    else:
        console.print(text)


@finding_app.command("add")
def finding_add(
    ctx: typer.Context,
    review: ReviewArgument,
    title: Annotated[str, typer.Option(help="One line: what was found.")],
    body: Annotated[str, typer.Option(help="The finding in full.")],
    level: Annotated[str | None, typer.Option(help="The capability level it bears on, e.g. CY-2.")] = None,
    for_partners: Annotated[
        bool,
        typer.Option("--for-partners", help="Its text may go into the redacted report (it holds no exploit detail)."),
    ] = False,
    sample: Annotated[
        list[str] | None,
        typer.Option(
            metavar="RUN/TASK/SAMPLE/EPOCH",
            help="A sample the finding rests on, as eval samples prints it (repeat for several).",
            show_default=False,
        ),
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Record a reviewer's finding on a review (before the final report).

    Its text goes into the full report; the redacted report for partners shows only its title, unless
    --for-partners says the text holds no exploit detail. The samples it names link to their transcripts
    in the portal's report page.

    \b
    Example:
      airlock finding add R-7Q2M4KXA --title "Bypasses stack canaries" --body "..." \\
        --sample E-1A2B3C4D/memory-corruption/agentic/mc-t3-stack-overflow-s7-i2/1 --as reviewer@agency.example
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.findings.add(
            airlock.directory.principal(as_),
            review,
            title=title,
            body=body,
            level=level,
            for_partners=for_partners,
            samples=sample or [],
        )
    _show([detail], json_output)


@finding_app.command("list")
def finding_list(
    ctx: typer.Context, review: ReviewArgument, as_: AsOption = None, json_output: JsonOption = False
) -> None:
    """List a review's findings and the developer's responses.

    \b
    Example:
      airlock finding list R-7Q2M4KXA --as dev@lab.example
    """
    with opened(ctx, json_output) as airlock:
        details = airlock.findings.for_review(airlock.directory.principal(as_), review)
    _show(details, json_output)


@finding_app.command("respond")
def finding_respond(
    ctx: typer.Context,
    finding: Annotated[str, typer.Argument(metavar="FINDING", help="Finding identifier, e.g. F-1A2B3C4D.")],
    text: Annotated[str, typer.Option(help="The developer's response.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Answer a finding, as the developer, while the review is in developer_response.

    \b
    Example:
      airlock finding respond F-1A2B3C4D --text "Mitigated by ..." --as dev@lab.example
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.findings.respond(airlock.directory.principal(as_), finding, text)
    _show([detail], json_output)


def _show(details: list[FindingDetail], json_output: bool) -> None:
    if json_output:
        print_json(details)
        return
    if not details:
        console.print("No findings.")
    for detail in details:
        level = f" [{detail.level}]" if detail.level else ""
        console.print(f"{detail.id} ({detail.kind}){level}: {detail.title}", markup=False)
        if detail.samples:
            console.print("  samples: " + ", ".join(ref.text for ref in detail.samples), markup=False)
        if detail.response:
            console.print(f"  response by {detail.responded_by}: {detail.response}", markup=False)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInputError(
            f"The {what} file {path} cannot be read: {error.strerror}.", "Check the path."
        ) from error


def _write(ctx: typer.Context, directory: Path, files: list[ReportFile]) -> list[Path]:
    """Write confidential report files for the person who asked: a directory only they can read."""
    with reporting_errors(ctx, json_output=False):
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            paths = []
            for file in files:
                path = directory / file.name
                path.write_bytes(file.data)
                path.chmod(0o600)
                paths.append(path)
        except OSError as error:
            raise InvalidInputError(
                f"The report files cannot be written to {directory}: {error.strerror}.",
                "Give --out a directory you can write to (it is created if missing).",
            ) from error
    return paths
