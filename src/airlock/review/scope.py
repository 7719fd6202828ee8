"""The facts about a review that the access policy and the vault need, taken from its rows."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, false, true

from airlock.access import Principal, Scope, review_visibility
from airlock.review.lifecycle import ReviewState
from airlock.review.models import PartnerGrant, Review, ReviewAssignment, Submission
from airlock.vault import SubmissionRef

REVIEW_RESULTS = frozenset({"full_report", "redacted_report", "finding"})
"""The content kinds (:class:`~airlock.review.content.ContentKind` values) that the review produces rather
than its developer hands over: its reports and findings, which reach the developer with the draft report."""


def review_scope(review: Review, *, content_kind: str | None = None) -> Scope:
    return scope_of(
        organisation_id=review.submission.organisation_id,
        state=review.state,
        assigned_user_ids=[assignment.user_id for assignment in review.assignments],
        partner_grants=[(grant.organisation_id, grant.content_kinds) for grant in review.grants],
        content_kind=content_kind,
        sent_to_developer=sent_to_developer(review),
    )


def scope_of(
    *,
    organisation_id: int,
    state: str,
    assigned_user_ids: Iterable[int],
    partner_grants: Iterable[tuple[int, Iterable[str]]],
    content_kind: str | None = None,
    sent_to_developer: bool = False,
) -> Scope:
    """The scope from a review's facts, for lists that read columns rather than whole reviews."""
    return Scope(
        developer_organisation_id=organisation_id,
        assigned_user_ids=frozenset(assigned_user_ids),
        partner_grants=frozenset((organisation, kind) for organisation, kinds in partner_grants for kind in kinds),
        content_kind=content_kind,
        content_is_result=content_kind in REVIEW_RESULTS,
        is_draft=state == "draft",
        sent_to_developer=sent_to_developer,
    )


def sent_to_developer(review: Review) -> bool:
    """Whether the review's draft report (and with it its findings) was sent to the developer: a fact of its
    history, so it stays true after the review moves on (to its final report, or past its deadline)."""
    return any(event.to_state == ReviewState.DEVELOPER_RESPONSE for event in review.events)


def submission_ref(submission: Submission) -> SubmissionRef:
    return SubmissionRef(id=submission.id, public_id=submission.public_id, organisation_id=submission.organisation_id)


def visible_reviews(viewer: Principal) -> ColumnElement[bool]:
    """The access policy's ``VIEW_REVIEW`` as an SQL condition (:func:`airlock.access.review_visibility`
    translated), so that a list of reviews can be read a page at a time. It must select exactly the reviews
    the policy lets ``viewer`` see (tests/test_access_consistency.py compares the dashboard with the policy
    for every role in every state); the list still checks each review it returns with the policy itself.
    """
    visibility = review_visibility(viewer)
    if visibility.none:
        return false()
    conditions: list[ColumnElement[bool]] = []
    if not visibility.drafts:
        conditions.append(Review.state != ReviewState.DRAFT.value)
    if visibility.organisation_id is not None:
        conditions.append(Review.submission.has(Submission.organisation_id == visibility.organisation_id))
    if visibility.assigned_user_id is not None:
        conditions.append(Review.assignments.any(ReviewAssignment.user_id == visibility.assigned_user_id))
    if visibility.granted_organisation_id is not None:
        conditions.append(Review.grants.any(PartnerGrant.organisation_id == visibility.granted_organisation_id))
    return and_(true(), *conditions)
