"""Access: roles, and the one answer to "may this user do this action on this resource"."""

from airlock.access.policy import (
    Action,
    CaseVisibility,
    Credential,
    Principal,
    ReviewVisibility,
    Scope,
    acts_for_own_organisation_only,
    authorize,
    case_visibility,
    granted_to,
    is_permitted,
    refusal,
    review_visibility,
)
from airlock.access.roles import (
    DEVELOPER_ROLES,
    REVIEWER_ROLES,
    ROLES_BY_ORGANISATION_KIND,
    OrganisationKind,
    Role,
)

__all__ = [
    "DEVELOPER_ROLES",
    "REVIEWER_ROLES",
    "ROLES_BY_ORGANISATION_KIND",
    "Action",
    "CaseVisibility",
    "Credential",
    "OrganisationKind",
    "Principal",
    "ReviewVisibility",
    "Role",
    "Scope",
    "acts_for_own_organisation_only",
    "authorize",
    "case_visibility",
    "granted_to",
    "is_permitted",
    "refusal",
    "review_visibility",
]
