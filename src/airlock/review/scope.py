"""The facts about a review that the access policy and the vault need, taken from its rows."""

from __future__ import annotations

from airlock.access import Scope
from airlock.review.models import Review, Submission
from airlock.vault import SubmissionRef


def review_scope(review: Review, *, content_kind: str | None = None) -> Scope:
    return Scope(
        developer_organisation_id=review.submission.organisation_id,
        assigned_user_ids=frozenset(assignment.user_id for assignment in review.assignments),
        partner_grants=frozenset(
            (grant.organisation_id, kind) for grant in review.grants for kind in grant.content_kinds
        ),
        content_kind=content_kind,
        is_draft=review.state == "draft",
    )


def submission_ref(submission: Submission) -> SubmissionRef:
    return SubmissionRef(id=submission.id, public_id=submission.public_id, organisation_id=submission.organisation_id)
