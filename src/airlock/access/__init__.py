"""Access: roles, and the one answer to "may this user do this action on this resource"."""

from airlock.access.policy import (
    Action,
    Credential,
    Principal,
    ReviewVisibility,
    Scope,
    acts_for_own_organisation_only,
    authorize,
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
    "Credential",
    "OrganisationKind",
    "Principal",
    "ReviewVisibility",
    "Role",
    "Scope",
    "acts_for_own_organisation_only",
    "authorize",
    "granted_to",
    "is_permitted",
    "refusal",
    "review_visibility",
]
