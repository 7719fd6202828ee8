"""Human-readable rendering of what the services return."""

from __future__ import annotations

from datetime import datetime

from rich.markup import escape
from rich.table import Table

from airlock.cli._common import console
from airlock.review import ClockStatus, ClockView, OrganisationView, ReviewDetail, ReviewSummary, UserView


def when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def describe_clock(clock: ClockView, state: str) -> str:
    """One line saying where the review clock stands."""
    if clock.status is ClockStatus.NOT_STARTED:
        return "not started (it starts when the review is accepted)"
    left = f"{clock.days_left} day{'s' if clock.days_left != 1 else ''} left"
    deadline = f"deadline {when(clock.deadline)}"
    notes = []
    if clock.capped_by_release_date:
        notes.append("set by the planned release date")
    if clock.extension_days:
        notes.append(f"extended by {clock.extension_days} days")
    suffix = f" ({'; '.join(notes)})" if notes else ""
    if clock.status is ClockStatus.STOPPED:
        if state == "expired":
            return f"expired: the {deadline} passed with no final report{suffix}"
        return f"stopped at {state} with {left}, {deadline}{suffix}"
    risk = " [bold red]AT RISK[/]" if clock.at_risk else ""
    if clock.status is ClockStatus.PAUSED:
        return f"paused with {left}; the deadline moves while paused, now {when(clock.deadline)}{suffix}{risk}"
    return f"running: {deadline}, {left}{suffix}{risk}"


def print_review_table(reviews: list[ReviewSummary]) -> None:
    if not reviews:
        console.print("No reviews that you can see.")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column, wraps in (
        ("review", False),
        ("state", False),
        ("organisation", True),
        ("model", True),
        ("deadline", False),
        ("days left", False),
    ):
        table.add_column(column, no_wrap=not wraps, overflow="fold")
    for review in reviews:
        clock = review.clock
        days = "-" if clock.days_left is None or clock.status is ClockStatus.STOPPED else str(clock.days_left)
        if clock.status is ClockStatus.PAUSED:
            days += " paused"
        if clock.at_risk and clock.status is not ClockStatus.STOPPED:
            days = f"[bold red]{days} at risk[/]"
        table.add_row(
            review.id,
            review.state,
            escape(review.organisation),
            escape(f"{review.model} {review.model_version}"),
            f"{clock.deadline:%Y-%m-%d}" if clock.deadline is not None else "-",
            days,
        )
    console.print(table)


def print_review(review: ReviewDetail, headline: str | None = None) -> None:
    if headline:
        console.print(headline, style="bold", markup=False)
    console.print(f"Review [bold]{review.id}[/] (submission {review.submission_id}): [bold]{review.state}[/]")
    if review.limited_view:
        console.print("  (the view granted to a trusted partner: state, clock and granted content only)")
    clock_line = describe_clock(review.clock, review.state)
    rows = [
        ("model", f"{review.model}, version {review.model_version}"),
        ("organisation", review.organisation),
        ("planned release", str(review.planned_release_date)),
        ("marking", review.confidentiality_marking),
        ("endpoint", review.base_url or "the provider's default"),
        ("submitted by", f"{review.submitted_by} on {when(review.created_at)}"),
        ("assigned", ", ".join(review.assigned) or "nobody yet"),
    ]
    if review.content_destroyed_at is not None:
        rows.append(("content", f"DESTROYED on {when(review.content_destroyed_at)}; only the audit record remains"))
    else:
        held = ", ".join(f"{item.kind} ({item.bytes} bytes)" for item in review.content) or "none"
        rows.append(("content (vault)", held))
    rows += [(f"partner {grant.partner}", "granted " + ", ".join(grant.content)) for grant in review.partner_grants]
    rows += [(f"artefact {artefact.name}", f"sha256 {artefact.sha256}") for artefact in review.artefacts]
    for label, value in rows:
        console.print(f"  {label:<16} {escape(value)}")
    console.print(f"  {'clock':<16} {clock_line}")
    console.print("Timeline")
    for event in review.events:
        console.print(f"  {when(event.at)}  {event.describe()}", markup=False)
    if review.next_moves:
        console.print("Next moves")
        for move in review.next_moves:
            verb = move.verb.removesuffix(" of")
            console.print(f"  {move.target:<19} {verb}, by {' or '.join(move.roles)}", markup=False)


def print_organisations(organisations: list[OrganisationView]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("organisation", "name", "kind"):
        table.add_column(column, overflow="fold")
    for organisation in organisations:
        table.add_row(organisation.slug, escape(organisation.name), organisation.kind)
    console.print(table)


def print_users(users: list[UserView]) -> None:
    table = Table(show_edge=False, pad_edge=False)
    for column in ("email", "name", "role", "organisation"):
        table.add_column(column, overflow="fold")
    for user in users:
        table.add_row(escape(user.email), escape(user.name), user.role, user.organisation)
    console.print(table)
