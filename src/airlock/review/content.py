"""Confidential content of submissions: what kinds exist, and reading and writing them through the gate.

Everything a developer hands over that is not needed to run the workflow (the model card, the endpoint's
credentials, later the evaluation logs, transcripts and reports) lives only in the vault, encrypted under
the submission's data key. Every read or write passes the access policy and is audited.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.orm import Session

from airlock.access import Action, Principal
from airlock.errors import NotFoundError
from airlock.review.context import ServiceContext
from airlock.review.models import Review, Submission
from airlock.review.scope import review_scope, submission_ref
from airlock.vault import ContentDestroyedError, StoredBlob


class ContentKind(StrEnum):
    MODEL_CARD = "model_card"
    ENDPOINT_CREDENTIALS = "endpoint_credentials"
    FULL_REPORT = "full_report"
    REDACTED_REPORT = "redacted_report"
    EVAL_TRANSCRIPT = "eval_transcript"
    """One sample's transcript (Inspect's sample record: messages, tool calls, score and evidence)."""
    EVAL_LOG = "eval_log"
    """An Inspect log file of an evaluation run."""
    FINDING = "finding"
    """A finding's title, body and evidence."""
    FINDING_RESPONSE = "finding_response"
    """The developer's answer to a finding."""


GRANTABLE_TO_PARTNERS = frozenset({ContentKind.MODEL_CARD, ContentKind.FULL_REPORT, ContentKind.REDACTED_REPORT})
"""What a developer may grant a trusted partner; endpoint credentials never leave the review team."""


def write_content(
    context: ServiceContext,
    session: Session,
    actor: Principal,
    review: Review,
    kind: ContentKind,
    data: bytes,
    *,
    purpose: str,
) -> StoredBlob:
    """Encrypt ``data`` into the vault as the ``kind`` of the review's submission, if ``actor`` may."""
    submission = review.submission
    context.gate.admit(
        session,
        actor,
        Action.WRITE_CONTENT,
        review_scope(review, content_kind=kind),
        submission=submission.public_id,
        purpose=purpose,
    )
    _refuse_if_destroyed(submission)  # after the policy: whoever may not write learns only that
    return context.vault.store(session, submission_ref(submission), kind, data)


def read_content(
    context: ServiceContext,
    session: Session,
    actor: Principal,
    review: Review,
    kind: ContentKind,
    *,
    purpose: str,
    justification: str | None = None,
) -> bytes:
    """Decrypt the latest ``kind`` of the review's submission for ``actor``, if the policy allows it."""
    submission = _admit_read(context, session, actor, review, kind, purpose, justification)
    stored = context.vault.latest(session, submission.id, kind)
    if stored is None:
        raise NotFoundError(
            f"Submission {submission.public_id} holds no {kind}.", "Nothing of that kind was handed over."
        )
    return context.vault.load(session, submission_ref(submission), stored.address)


def read_content_at(
    context: ServiceContext,
    session: Session,
    actor: Principal,
    review: Review,
    kind: ContentKind,
    address: str,
    *,
    purpose: str,
) -> bytes:
    """Decrypt the ``kind`` blob at ``address`` (one of many of its kind: a transcript, a finding)."""
    submission = _admit_read(context, session, actor, review, kind, purpose, None)
    return context.vault.load(session, submission_ref(submission), address)


def _admit_read(
    context: ServiceContext,
    session: Session,
    actor: Principal,
    review: Review,
    kind: ContentKind,
    purpose: str,
    justification: str | None,
) -> Submission:
    """Pass the gate for reading ``kind`` of the review's submission (audited); the submission, if allowed."""
    submission = review.submission
    context.gate.admit(
        session,
        actor,
        Action.READ_CONTENT,
        review_scope(review, content_kind=kind),
        submission=submission.public_id,
        purpose=purpose,
        justification=justification,
    )
    _refuse_if_destroyed(submission)  # after the policy: whoever may not read learns only that
    return submission


def _refuse_if_destroyed(submission: Submission) -> None:
    if submission.content_destroyed_at is not None:
        raise ContentDestroyedError(
            f"The content of submission {submission.public_id} was destroyed on "
            f"{submission.content_destroyed_at:%Y-%m-%d %H:%M} UTC and can never be read again.",
            "Only the audit record of the review remains.",
        )
