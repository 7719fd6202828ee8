"""Finishing the upgrade of a deployment made by an earlier Airlock: encrypting what it kept in plaintext."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from airlock.review.content import ContentKind
from airlock.review.context import ServiceContext
from airlock.review.models import LegacySubmissionContent, Submission
from airlock.review.scope import submission_ref


def legacy_content_waiting(session: Session) -> bool:
    return session.scalar(select(LegacySubmissionContent.submission_id).limit(1)) is not None


def encrypt_legacy_content(context: ServiceContext, session: Session, operator: str) -> int:
    """Move every legacy plaintext model card and credential into the vault; returns how many submissions.

    The plaintext rows are deleted in the same transaction, and the vault is asked to purge the database
    files afterwards, so the plaintext does not linger in free pages.
    """
    moved = 0
    for row in list(session.scalars(select(LegacySubmissionContent))):
        submission = session.get_one(Submission, row.submission_id)
        reference = submission_ref(submission)
        if not context.vault.has_data_key(session, submission.id) and submission.content_destroyed_at is None:
            context.vault.create_data_key(session, reference)
        if submission.content_destroyed_at is None:
            for kind, text in (
                (ContentKind.MODEL_CARD, row.model_card),
                (ContentKind.ENDPOINT_CREDENTIALS, row.endpoint_credentials),
            ):
                if text:
                    context.vault.store(session, reference, kind, text.encode())
        context.audit.append(
            session,
            actor=operator,
            action="content.migrate",
            target=f"submission:{submission.public_id}",
            details={"into": "vault"},
        )
        session.delete(row)
        moved += 1
    if moved:
        context.vault.request_purge(session)
    return moved
