"""``airlock submit`` and ``airlock review ...``: the lifecycle and the clock."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from airlock.cli._common import AsOption, JsonOption, ReasonOption, console, opened, print_json
from airlock.cli.render import print_review, print_review_table
from airlock.errors import InvalidInputError
from airlock.review import ReviewDetail, SubmissionRequest

review_app = typer.Typer(help="Reviews: their state, their clock and the moves between states.", no_args_is_help=True)

ReviewArgument = Annotated[str, typer.Argument(help="Review identifier, e.g. R-7Q2M4KXA.", show_default=False)]
ConsentFromOption = Annotated[
    str | None,
    typer.Option(
        "--consent-from",
        help="Email of the developer_admin who consented (not needed when they act themselves).",
        show_default=False,
    ),
]
ConsentRefOption = Annotated[
    str | None,
    typer.Option("--consent-ref", help="Where the consent was given, e.g. 'email of 2026-12-03'.", show_default=False),
]


def submit(
    ctx: typer.Context,
    model: Annotated[str, typer.Option(help="Inspect model name, provider/model.", show_default=False)],
    version: Annotated[str, typer.Option(help="The model's version label.", show_default=False)],
    release_date: Annotated[str, typer.Option(help="Planned public release date, YYYY-MM-DD.", show_default=False)],
    model_card: Annotated[
        str | None, typer.Option(help="File holding the model card text ('-' reads standard input).")
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="Endpoint base URL, for API-served models.")] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            help="Name of an environment variable holding the endpoint's API key "
            "(never pass a key on the command line: it would land in shell history)."
        ),
    ] = None,
    artefact: Annotated[
        list[str] | None, typer.Option(help="NAME=SHA256 of an artefact handed over; repeatable.")
    ] = None,
    artefact_file: Annotated[
        list[Path] | None, typer.Option(help="A file whose SHA-256 to record; repeatable.")
    ] = None,
    marking: Annotated[str, typer.Option(help="confidential or highly_confidential.")] = "confidential",
    draft: Annotated[bool, typer.Option("--draft", help="Keep the review in draft instead of submitting.")] = False,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Submit a model for voluntary review (developers only). The review is not a licence or a clearance.

    \b
    Example:
      ACME_KEY=... airlock submit --model openai-api/acme/frontier-1 --version 2026.11 \\
        --release-date 2027-01-15 --model-card card.md --base-url https://api.acme.example/v1 \\
        --api-key-env ACME_KEY --as dev@acme.example
    """
    with opened(ctx, json_output) as airlock:
        request = SubmissionRequest(
            model=model,
            model_version=version,
            planned_release_date=release_date,
            model_card=_read_model_card(model_card),
            base_url=base_url,
            endpoint_credentials=_read_api_key(api_key_env),
            artefacts=[*(artefact or []), *(_hash_file(path) for path in artefact_file or [])],
            confidentiality_marking=marking,
            as_draft=draft,
        )
        detail = airlock.submissions.submit(airlock.directory.principal(as_), request)
    _show(
        detail,
        json_output,
        f"Submitted {detail.model} for review as {detail.id}."
        if not draft
        else f"Saved {detail.model} as draft review {detail.id}.",
    )


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="Only reviews in this state.")] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the reviews you may see, with their clocks.

    \b
    Example:
      airlock review list --state evaluating --as lead@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        reviews = airlock.reviews.list_visible(airlock.directory.principal(as_), state=state)
    if json_output:
        print_json(reviews)
    else:
        print_review_table(reviews)


@review_app.command("show")
def review_show(
    ctx: typer.Context,
    review: ReviewArgument,
    content: Annotated[bool, typer.Option("--content", help="Also print the confidential model card.")] = False,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one review: its state, clock, timeline and the moves open to it.

    \b
    Example:
      airlock review show R-7Q2M4KXA
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.show(airlock.directory.principal(as_), review, include_content=content)
    _show(detail, json_output)


@review_app.command("accept")
def review_accept(
    ctx: typer.Context,
    review: ReviewArgument,
    reason: ReasonOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Accept a submitted review and start its clock (lead reviewers).

    \b
    Example:
      airlock review accept R-7Q2M4KXA --as lead@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.accept(airlock.directory.principal(as_), review, reason=reason)
    _show(detail, json_output, f"Accepted review {detail.id}; its clock is running.")


@review_app.command("decline")
def review_decline(
    ctx: typer.Context,
    review: ReviewArgument,
    reason: Annotated[str, typer.Option(help="Why the agency declines; the developer sees it.")],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Decline a submitted review (lead reviewers); a reason is required.

    \b
    Example:
      airlock review decline R-7Q2M4KXA --reason "outside the programme's scope" --as lead@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.decline(airlock.directory.principal(as_), review, reason=reason)
    _show(detail, json_output, f"Declined review {detail.id}.")


@review_app.command("withdraw")
def review_withdraw(
    ctx: typer.Context,
    review: ReviewArgument,
    reason: ReasonOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Withdraw a review (the developer's administrators, at any time before it ends).

    \b
    Example:
      airlock review withdraw R-7Q2M4KXA --reason "release postponed" --as admin@acme.example
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.withdraw(airlock.directory.principal(as_), review, reason=reason)
    _show(detail, json_output, f"Withdrew review {detail.id}.")


@review_app.command("transition")
def review_transition(
    ctx: typer.Context,
    review: ReviewArgument,
    state: Annotated[str, typer.Argument(help="The state to move to, e.g. evaluating.", show_default=False)],
    reason: ReasonOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move a review to another state of its lifecycle, if the lifecycle and your role allow it.

    `review show` lists the moves open to a review and the roles that may make them.

    \b
    Example:
      airlock review transition R-7Q2M4KXA evaluating --as reviewer@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.transition(airlock.directory.principal(as_), review, state, reason=reason)
    _show(detail, json_output, f"Review {detail.id} is now {detail.state}.")


@review_app.command("pause")
def review_pause(
    ctx: typer.Context,
    review: ReviewArgument,
    reason: Annotated[str, typer.Option(help="Why, e.g. 'model endpoint down'.")],
    consent_from: ConsentFromOption = None,
    consent_ref: ConsentRefOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Pause a review's clock, with the developer's recorded consent.

    \b
    Example:
      airlock review pause R-7Q2M4KXA --reason "endpoint down" \\
        --consent-from admin@acme.example --consent-ref "email of 2026-12-03" --as lead@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.pause(
            airlock.directory.principal(as_),
            review,
            reason=reason,
            consent_from=consent_from,
            consent_reference=consent_ref,
        )
    _show(detail, json_output, f"Paused the clock of review {detail.id}.")


@review_app.command("resume")
def review_resume(
    ctx: typer.Context,
    review: ReviewArgument,
    reason: ReasonOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Resume a paused review clock.

    \b
    Example:
      airlock review resume R-7Q2M4KXA --reason "endpoint back" --as lead@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.resume(airlock.directory.principal(as_), review, reason=reason)
    _show(detail, json_output, f"Resumed the clock of review {detail.id}.")


@review_app.command("extend")
def review_extend(
    ctx: typer.Context,
    review: ReviewArgument,
    days: Annotated[int, typer.Option(help="How many days to add to the deadline (1-30).", show_default=False)],
    reason: Annotated[str, typer.Option(help="Why the extension is needed.")],
    consent_from: ConsentFromOption = None,
    consent_ref: ConsentRefOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Extend a review's deadline, with the developer's recorded consent.

    \b
    Example:
      airlock review extend R-7Q2M4KXA --days 7 --reason "second suite" \\
        --consent-from admin@acme.example --as lead@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.extend(
            airlock.directory.principal(as_),
            review,
            days=days,
            reason=reason,
            consent_from=consent_from,
            consent_reference=consent_ref,
        )
    _show(detail, json_output, f"Extended the clock of review {detail.id} by {days} days.")


@review_app.command("tick")
def review_tick(ctx: typer.Context, json_output: JsonOption = False) -> None:
    """Apply the review clock now: expire every review whose deadline passed with no final report.

    Every command does this first; `tick` is for cron jobs and scripts that want it explicitly.

    \b
    Example:
      airlock review tick --json
    """
    with opened(ctx, json_output) as airlock:
        expired = airlock.reviews.expire_overdue()
    if json_output:
        print_json({"expired": expired})
    elif not expired:
        console.print("No review has passed its deadline.")
    else:
        for review in expired:
            console.print(f"Expired review {review.id} ({review.model}): its deadline passed.", markup=False)


def _show(detail: ReviewDetail, json_output: bool, headline: str | None = None) -> None:
    if json_output:
        print_json(detail)
    else:
        print_review(detail, headline)


def _read_model_card(path: str | None) -> str:
    if path is None:
        return ""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "it is not UTF-8 text"
        raise InvalidInputError(f"Cannot read the model card {path}: {reason}; give a readable text file.") from None


def _read_api_key(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise InvalidInputError(
            f"The environment variable {variable} named by --api-key-env is not set; export the API key in it first."
        )
    return value


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    except OSError as error:
        raise InvalidInputError(f"Cannot read the artefact {path}: {error.strerror}; give a readable file.") from None
    return f"{path.name}={digest.hexdigest()}"
