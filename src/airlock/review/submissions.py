"""Submitting a model for review: the developer's side of the first step."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.access import Action, Principal, Scope, authorize
from airlock.errors import InvalidInputError
from airlock.review.content import ContentKind, write_content
from airlock.review.context import ServiceContext
from airlock.review.inputs import (
    check_model_name,
    new_public_id,
    parse_artefact_hash,
    parse_choice,
    parse_date,
    require_text,
)
from airlock.review.lifecycle import ReviewState
from airlock.review.models import Review, Submission
from airlock.review.reviews import EventKind, move_review, record_event, review_detail
from airlock.review.scope import submission_ref
from airlock.review.views import ReviewDetail


class ConfidentialityMarking(StrEnum):
    """How a submission's content is marked on every page that shows it."""

    CONFIDENTIAL = "confidential"
    """Commercially sensitive, voluntarily submitted: the default."""
    HIGHLY_CONFIDENTIAL = "highly_confidential"
    """As above, and to be shown to named individuals only."""


@dataclass(frozen=True)
class SubmissionRequest:
    """What a developer hands over. Text fields are validated by :meth:`Submissions.submit`."""

    model: str
    """Inspect model name, ``provider/model``."""
    model_version: str
    planned_release_date: str | date
    model_card: str = ""
    base_url: str | None = None
    endpoint_credentials: str | None = None
    artefacts: Sequence[str] = field(default_factory=tuple)
    """``NAME=SHA256`` of each artefact handed over (weights, system card, ...)."""
    confidentiality_marking: str = ConfidentialityMarking.CONFIDENTIAL
    as_draft: bool = False
    """Keep the review in ``draft`` instead of submitting it at once."""


class Submissions:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def submit(self, actor: Principal, request: SubmissionRequest) -> ReviewDetail:
        """Record the submission and its review, submitted at once unless ``as_draft``.

        The model card and the endpoint credentials go straight into the vault, encrypted under the new
        submission's own data key; the database holds only their encrypted blobs' names.
        """
        context = self._context
        now = context.clock.now()
        model = check_model_name(request.model)
        version = _check_version(request.model_version)
        release = _check_release_date(request.planned_release_date, now.date())
        marking = _check_marking(request.confidentiality_marking)
        artefacts = [parse_artefact_hash(text) for text in request.artefacts]
        base_url = _check_base_url(request.base_url)
        with context.operation(actor, "submission.create") as session:
            authorize(actor, Action.SUBMIT, Scope(developer_organisation_id=actor.organisation_id))
            submission = Submission(
                public_id=_unused_id(session, "S", Submission),
                organisation_id=actor.organisation_id,
                submitted_by_id=actor.user_id,
                model=model,
                model_version=version,
                base_url=base_url,
                planned_release_date=release,
                artefact_hashes=artefacts,
                confidentiality_marking=marking,
                created_at=now,
            )
            review = Review(
                public_id=_unused_id(session, "R", Review),
                submission=submission,
                state=ReviewState.DRAFT,
                created_at=now,
                state_changed_at=now,
                paused_seconds=0,
                extension_days=0,
            )
            session.add_all([submission, review])
            session.flush()
            created_version = context.vault.create_data_key(session, submission_ref(submission))
            if created_version is not None:
                context.audit.append(
                    session,
                    actor=actor.email,
                    action="key.organisation.create",
                    target=f"organisation:{submission.organisation.slug}",
                    details={"version": created_version},
                )
            context.audit.append(
                session, actor=actor.email, action="key.data.create", target=f"submission:{submission.public_id}"
            )
            context.audit.append(
                session,
                actor=actor.email,
                action="submission.create",
                target=f"submission:{submission.public_id}",
                details={"review": review.public_id, "model": model, "version": version},
            )
            record_event(context, session, review, EventKind.CREATED, actor, "", to_state=ReviewState.DRAFT)
            for kind, data in (
                (ContentKind.MODEL_CARD, request.model_card),
                (ContentKind.ENDPOINT_CREDENTIALS, request.endpoint_credentials),
            ):
                if data:
                    write_content(context, session, actor, review, kind, data.encode(), purpose="submission")
            if not request.as_draft:
                move_review(context, session, review, ReviewState.SUBMITTED, actor, None)
            return review_detail(context, session, review, actor)

    def field_problems(self, request: SubmissionRequest) -> dict[str, str]:
        """Every field of ``request`` that :meth:`submit` would refuse, with why: for a form that shows each
        message next to its field, where :meth:`submit` stops at the first."""
        today = self._context.clock.now().date()
        checks: dict[str, Callable[[], object]] = {
            "model": lambda: check_model_name(request.model),
            "model_version": lambda: _check_version(request.model_version),
            "planned_release_date": lambda: _check_release_date(request.planned_release_date, today),
            "confidentiality_marking": lambda: _check_marking(request.confidentiality_marking),
            "artefacts": lambda: [parse_artefact_hash(text) for text in request.artefacts],
            "base_url": lambda: _check_base_url(request.base_url),
        }
        problems = {}
        for name, check in checks.items():
            try:
                check()
            except InvalidInputError as error:
                problems[name] = error.diagnostics()
        return problems


def _check_version(version: str) -> str:
    return require_text(version, "model version", max_length=100)


def _check_release_date(value: str | date, today: date) -> date:
    release = value if isinstance(value, date) else parse_date(value, "planned release date")
    if release <= today:
        raise InvalidInputError(
            f"The planned release date {release} is not after today ({today}); "
            "give the future date on which the model is planned to become public."
        )
    return release


def _check_marking(marking: str) -> ConfidentialityMarking:
    return parse_choice(ConfidentialityMarking, marking, "confidentiality marking")


def _check_base_url(url: str | None) -> str | None:
    """The endpoint's base URL, which is metadata: it must not carry a secret (and, in case it does, the
    URL is not echoed back in the errors)."""
    if not url:
        return None
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidInputError("The base URL is not an http(s) URL; give one like https://api.example.com/v1.")
    if parsed.username or parsed.password or parsed.query or parsed.fragment:
        raise InvalidInputError(
            "The base URL carries credentials or parameters (user@ or ?key=...), which would be stored "
            "unencrypted; give the bare endpoint URL, and the key as the endpoint's credentials.",
            field="base_url",
        )
    return url.strip()


def _unused_id(session: Session, prefix: str, table: type[Submission] | type[Review]) -> str:
    while True:
        candidate = new_public_id(prefix)
        if session.scalar(select(table.id).where(table.public_id == candidate)) is None:
            return candidate
