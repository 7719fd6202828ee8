"""The facts about a review that the access policy and the vault need, taken from its rows."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, false, true

from airlock.access import DEVELOPER_ROLES, Principal, Role, Scope
from airlock.review.models import PartnerGrant, Review, ReviewAssignment, Submission
from airlock.vault import SubmissionRef


def review_scope(review: Review, *, content_kind: str | None = None) -> Scope:
    return scope_of(
        organisation_id=review.submission.organisation_id,
        state=review.state,
        assigned_user_ids=[assignment.user_id for assignment in review.assignments],
        partner_grants=[(grant.organisation_id, grant.content_kinds) for grant in review.grants],
        content_kind=content_kind,
    )


def scope_of(
    *,
    organisation_id: int,
    state: str,
    assigned_user_ids: Iterable[int],
    partner_grants: Iterable[tuple[int, Iterable[str]]],
    content_kind: str | None = None,
) -> Scope:
    """The scope from a review's facts, for lists that read columns rather than whole reviews."""
    return Scope(
        developer_organisation_id=organisation_id,
        assigned_user_ids=frozenset(assigned_user_ids),
        partner_grants=frozenset((organisation, kind) for organisation, kinds in partner_grants for kind in kinds),
        content_kind=content_kind,
        is_draft=state == "draft",
    )


def submission_ref(submission: Submission) -> SubmissionRef:
    return SubmissionRef(id=submission.id, public_id=submission.public_id, organisation_id=submission.organisation_id)


def visible_reviews(viewer: Principal) -> ColumnElement[bool]:
    """The access policy's ``VIEW_REVIEW`` as an SQL condition, so that a list of reviews can be read a page
    at a time. It must select exactly the reviews the policy lets ``viewer`` see (a test compares the two for
    every role); the list still checks each review it returns with the policy itself.
    """
    if viewer.role in DEVELOPER_ROLES:
        return Review.submission.has(Submission.organisation_id == viewer.organisation_id)
    submitted = Review.state != "draft"
    if viewer.role is Role.REVIEWER:
        return and_(submitted, Review.assignments.any(ReviewAssignment.user_id == viewer.user_id))
    if viewer.role is Role.PARTNER:
        return and_(submitted, Review.grants.any(PartnerGrant.organisation_id == viewer.organisation_id))
    if viewer.role in (Role.LEAD_REVIEWER, Role.AUDITOR, Role.OPERATOR):
        return and_(submitted, true())
    return false()
