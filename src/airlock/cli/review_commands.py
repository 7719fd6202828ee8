"""``airlock submit`` and ``airlock review ...``: the lifecycle, the clock, the team and the partners."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from airlock.cli._common import (
    AsOption,
    JsonOption,
    ReasonOption,
    ReviewArgument,
    choice_of,
    console,
    opened,
    print_json,
)
from airlock.cli.render import print_review, print_review_table
from airlock.errors import InvalidInputError
from airlock.review import ConfidentialityMarking, ReviewDetail, ReviewState, SubmissionRequest
from airlock.review.content import GRANTABLE_TO_PARTNERS

if TYPE_CHECKING:
    GrantableContent = str
else:
    GrantableContent = choice_of(GRANTABLE_TO_PARTNERS)

review_app = typer.Typer(
    help="Reviews: their state, clock, team and partners.", no_args_is_help=True, rich_markup_mode=None
)

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
    typer.Option(
        "--consent-ref",
        help="Where the consent was given, e.g. 'email of 2026-12-03'; required with --consent-from.",
        show_default=False,
    ),
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
        list[str] | None,
        typer.Option(metavar="NAME=SHA256", help="An artefact handed over, by its SHA-256; repeatable."),
    ] = None,
    artefact_file: Annotated[
        list[Path] | None, typer.Option(metavar="FILE", help="A file whose SHA-256 to record; repeatable.")
    ] = None,
    marking: Annotated[
        ConfidentialityMarking, typer.Option(help="How the content is marked wherever it is shown.")
    ] = ConfidentialityMarking.CONFIDENTIAL,
    draft: Annotated[bool, typer.Option("--draft", help="Keep the review in draft instead of submitting.")] = False,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Submit a model for voluntary review (developers only). A review is never a licence or a clearance.

    The model card and API key go straight into the vault, encrypted under the submission's own key.

    \b
    Example:
      airlock submit --model openai-api/acme/frontier-1 --version 2.0 \\
        --release-date 2027-01-15 --model-card card.md \\
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
    headline = (
        f"Saved {detail.model} as draft review {detail.id}."
        if draft
        else f"Submitted {detail.model} for review as {detail.id}."
    )
    _show(detail, json_output, headline)


@review_app.command("list")
def review_list(
    ctx: typer.Context,
    state: Annotated[ReviewState | None, typer.Option(help="Only reviews in this state.", show_default=False)] = None,
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
    content: Annotated[
        bool, typer.Option("--content", help="Also print the confidential model card (audited).")
    ] = False,
    purpose: Annotated[str, typer.Option(help="Why you read the content; recorded in the audit log.")] = "review work",
    break_glass: Annotated[
        str | None,
        typer.Option(help="Operators only: the emergency that justifies reading content (recorded, flagged)."),
    ] = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one review: state, clock, timeline, team, partners and the moves open to it.

    \b
    Example:
      airlock review show R-7Q2M4KXA --content --purpose triage
    """
    with opened(ctx, json_output) as airlock:
        actor = airlock.directory.principal(as_)
        detail = airlock.reviews.show(actor, review)
        wanted = content or break_glass is not None
        has_card = any(item.kind == "model_card" for item in detail.content)
        card = (
            airlock.reviews.read_content(actor, review, "model_card", purpose=purpose, break_glass=break_glass)
            if wanted and (has_card or detail.content_destroyed_at is not None)
            else None
        )
    if json_output:
        print_json({**detail.model_dump(mode="json"), "model_card": None if card is None else card.decode()})
        return
    print_review(detail)
    if card is not None:
        console.print("Model card (confidential)")
        console.print(card.decode(errors="replace"), markup=False)
    elif wanted:
        console.print("Model card: none was handed over.")


@review_app.command("accept")
def review_accept(
    ctx: typer.Context,
    review: ReviewArgument,
    reason: ReasonOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Accept a submitted review, start its clock and join its team (lead reviewers).

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
      airlock review decline R-7Q2M4KXA --reason "out of scope"
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
    """Withdraw a review (the developer's administrators, at any time). Its content is destroyed at once.

    \b
    Example:
      airlock review withdraw R-7Q2M4KXA --as admin@acme.example
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.withdraw(airlock.directory.principal(as_), review, reason=reason)
    _show(detail, json_output, f"Withdrew review {detail.id}; its confidential content was destroyed.")


@review_app.command("transition")
def review_transition(
    ctx: typer.Context,
    review: ReviewArgument,
    state: Annotated[ReviewState, typer.Argument(help="The state to move to.", show_default=False)],
    reason: ReasonOption = None,
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move a review to another state of its lifecycle, if the lifecycle and your role allow it.

    `review show` lists the moves open to a review and the roles that may make them.

    \b
    Example:
      airlock review transition R-7Q2M4KXA evaluating
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
        --consent-from admin@acme.example --consent-ref "email, 3 Dec"
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
      airlock review resume R-7Q2M4KXA --reason "endpoint back"
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
        --consent-from admin@acme.example --consent-ref "letter, 4 Dec"
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
    """Apply the review clock now: expire overdue reviews, destroy content whose retention ended.

    Every command does this first; `tick` is for cron jobs and scripts that want it explicitly.

    \b
    Example:
      airlock review tick --json
    """
    with opened(ctx, json_output) as airlock:
        sweep = airlock.reviews.apply_clock(even_if_recent=True)
    if json_output:
        print_json({"expired": sweep.expired, "content_destroyed": sweep.destroyed})
        return
    if not sweep.expired and not sweep.destroyed:
        console.print("No review has passed its deadline or its retention period.")
    for summary in sweep.expired:
        console.print(f"Expired review {summary.id} ({summary.model}): its deadline passed.", markup=False)
    for summary in sweep.destroyed:
        console.print(f"Destroyed the content of review {summary.id}: its retention period ended.", markup=False)


@review_app.command("assign")
def review_assign(
    ctx: typer.Context,
    review: ReviewArgument,
    reviewer: Annotated[str, typer.Option(help="Email of the reviewer to assign.", show_default=False)],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Assign a reviewer to a review: only assigned reviewers see it and read its content (lead reviewers).

    \b
    Example:
      airlock review assign R-7Q2M4KXA --reviewer rae@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.assign(airlock.directory.principal(as_), review, reviewer)
    _show(detail, json_output, f"Assigned {reviewer} to review {detail.id}.")


@review_app.command("unassign")
def review_unassign(
    ctx: typer.Context,
    review: ReviewArgument,
    reviewer: Annotated[str, typer.Option(help="Email of the reviewer to take off.", show_default=False)],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Take a reviewer off a review (lead reviewers).

    \b
    Example:
      airlock review unassign R-7Q2M4KXA --reviewer rae@lab.gov
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.unassign(airlock.directory.principal(as_), review, reviewer)
    _show(detail, json_output, f"Took {reviewer} off review {detail.id}.")


@review_app.command("grant")
def review_grant(
    ctx: typer.Context,
    review: ReviewArgument,
    partner: Annotated[str, typer.Option(help="Identifier of the partner organisation.", show_default=False)],
    content: Annotated[
        list[GrantableContent],
        typer.Option(
            metavar="KIND", help=f"What they may read: {' or '.join(sorted(GRANTABLE_TO_PARTNERS))}; repeatable."
        ),
    ],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Name a trusted partner for a review and what of it they may read (developer administrators).

    \b
    Example:
      airlock review grant R-7Q2M4KXA --partner grid-cert \\
        --content redacted_report
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.grant(airlock.directory.principal(as_), review, partner, content)
    _show(detail, json_output, f"Granted {partner} {', '.join(content)} of review {detail.id}.")


@review_app.command("revoke")
def review_revoke(
    ctx: typer.Context,
    review: ReviewArgument,
    partner: Annotated[str, typer.Option(help="Identifier of the partner organisation.", show_default=False)],
    as_: AsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Withdraw a trusted partner's access to a review (developer administrators).

    \b
    Example:
      airlock review revoke R-7Q2M4KXA --partner grid-cert
    """
    with opened(ctx, json_output) as airlock:
        detail = airlock.reviews.revoke(airlock.directory.principal(as_), review, partner)
    _show(detail, json_output, f"Revoked {partner}'s access to review {detail.id}.")


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
        raise InvalidInputError(f"Cannot read the model card {path}: {reason}; give a readable text file.") from error


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
        raise InvalidInputError(f"Cannot read the artefact {path}: {error.strerror}; give a readable file.") from error
    return f"{path.name}={digest.hexdigest()}"
