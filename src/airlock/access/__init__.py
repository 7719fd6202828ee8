"""Access: roles, and the one answer to "may this user do this action on this resource"."""

from airlock.access.policy import Action, Principal, Scope, authorize, is_permitted, refusal
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
    "OrganisationKind",
    "Principal",
    "Role",
    "Scope",
    "authorize",
    "is_permitted",
    "refusal",
]
