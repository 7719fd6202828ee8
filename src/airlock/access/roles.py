"""Organisation kinds and the roles their users hold."""

from __future__ import annotations

from enum import StrEnum


class OrganisationKind(StrEnum):
    """Who an organisation is in a review."""

    DEVELOPER = "developer"
    """An AI company that submits models."""
    AGENCY = "agency"
    """The evaluation lab (or another government agency) that reviews them."""
    PARTNER = "partner"
    """A trusted partner or partner agency that a developer may grant early access."""
    VENDOR = "vendor"
    """A vendor or maintainer of software that the clearinghouse holds a vulnerability case about."""


class Role(StrEnum):
    """What a user does in Airlock. Each user account holds exactly one role."""

    DEVELOPER_ADMIN = "developer_admin"
    DEVELOPER_MEMBER = "developer_member"
    REVIEWER = "reviewer"
    LEAD_REVIEWER = "lead_reviewer"
    PARTNER = "partner"
    AUDITOR = "auditor"
    OPERATOR = "operator"
    VENDOR_CONTACT = "vendor_contact"
    """A vendor's contact: reads the clearinghouse's cases about their organisation's software, and answers them."""


ROLES_BY_ORGANISATION_KIND: dict[OrganisationKind, frozenset[Role]] = {
    OrganisationKind.DEVELOPER: frozenset({Role.DEVELOPER_ADMIN, Role.DEVELOPER_MEMBER}),
    OrganisationKind.AGENCY: frozenset({Role.REVIEWER, Role.LEAD_REVIEWER, Role.AUDITOR, Role.OPERATOR}),
    OrganisationKind.PARTNER: frozenset({Role.PARTNER}),
    OrganisationKind.VENDOR: frozenset({Role.VENDOR_CONTACT}),
}

DEVELOPER_ROLES = ROLES_BY_ORGANISATION_KIND[OrganisationKind.DEVELOPER]
REVIEWER_ROLES = frozenset({Role.REVIEWER, Role.LEAD_REVIEWER})
