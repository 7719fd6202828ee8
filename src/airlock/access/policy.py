"""The access policy: the one place that answers "may this user do this action on this resource".

Services describe the actor as a :class:`Principal` and the resource as a :class:`Scope`, and call
:func:`authorize` before they act. Nothing else in Airlock decides access.

The rules, in words:

* a role may take an action only if the action lists it (:data:`ROLES_FOR_ACTION`); a review transition
  lists its own roles in the review state machine and passes them in;
* developer roles act only on their own organisation's submissions and users;
* agency roles act on any review (need-to-know assignment of reviewers comes with the vault);
* partners and auditors see no submission content.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from airlock.access.roles import DEVELOPER_ROLES, OrganisationKind, Role
from airlock.errors import PermissionDeniedError


@dataclass(frozen=True)
class Principal:
    """The user an operation is performed as."""

    user_id: int
    email: str
    role: Role
    organisation_id: int
    organisation_kind: OrganisationKind


@dataclass(frozen=True)
class Scope:
    """What the policy needs to know about the resource an action touches."""

    developer_organisation_id: int | None = None
    """The organisation that submitted the model, for anything belonging to a submission."""
    target_organisation_id: int | None = None
    """The organisation being administered, for user management."""


class Action(StrEnum):
    ADD_ORGANISATION = "add an organisation"
    ADD_USER = "add a user"
    LIST_DIRECTORY = "list organisations and users"
    SUBMIT = "submit a model"
    VIEW_REVIEW = "view a review"
    READ_SUBMISSION_CONTENT = "read a submission's confidential content"
    CHANGE_REVIEW_STATE = "change a review's state"
    PAUSE_CLOCK = "pause a review clock"
    RESUME_CLOCK = "resume a review clock"
    EXTEND_CLOCK = "extend a review clock"
    GIVE_CLOCK_CONSENT = "consent to a change of the review clock"
    EXPIRE_OVERDUE = "expire overdue reviews"


_AGENCY_STAFF = frozenset({Role.REVIEWER, Role.LEAD_REVIEWER, Role.AUDITOR, Role.OPERATOR})

ROLES_FOR_ACTION: dict[Action, frozenset[Role]] = {
    Action.ADD_ORGANISATION: frozenset({Role.OPERATOR}),
    Action.ADD_USER: frozenset({Role.OPERATOR, Role.DEVELOPER_ADMIN}),
    Action.LIST_DIRECTORY: _AGENCY_STAFF,
    Action.SUBMIT: DEVELOPER_ROLES,
    Action.VIEW_REVIEW: DEVELOPER_ROLES | _AGENCY_STAFF,
    Action.READ_SUBMISSION_CONTENT: DEVELOPER_ROLES | {Role.REVIEWER, Role.LEAD_REVIEWER},
    # CHANGE_REVIEW_STATE has no default: each transition names its roles.
    Action.CHANGE_REVIEW_STATE: frozenset(),
    Action.PAUSE_CLOCK: frozenset({Role.REVIEWER, Role.LEAD_REVIEWER, Role.DEVELOPER_ADMIN}),
    Action.RESUME_CLOCK: frozenset({Role.REVIEWER, Role.LEAD_REVIEWER, Role.DEVELOPER_ADMIN}),
    Action.EXTEND_CLOCK: frozenset({Role.REVIEWER, Role.LEAD_REVIEWER, Role.DEVELOPER_ADMIN}),
    Action.GIVE_CLOCK_CONSENT: frozenset({Role.DEVELOPER_ADMIN}),
    # Any user may trigger the expiry sweep: it only applies the clock's own rule.
    Action.EXPIRE_OVERDUE: frozenset(Role),
}


def is_permitted(
    principal: Principal, action: Action, scope: Scope = Scope(), *, roles: frozenset[Role] | None = None
) -> bool:
    """Whether ``principal`` may take ``action`` on the resource described by ``scope``.

    ``roles`` replaces the action's default roles; the review state machine uses it to pass the roles
    that a particular transition names.
    """
    return _refusal(principal, action, scope, roles) is None


def authorize(
    principal: Principal,
    action: Action,
    scope: Scope = Scope(),
    *,
    roles: frozenset[Role] | None = None,
    what: str | None = None,
) -> None:
    """Raise :class:`PermissionDeniedError` unless ``principal`` may take ``action``.

    ``what`` names the concrete operation for the message (``"accept review R-7Q2M4K"``).
    """
    refusal = _refusal(principal, action, scope, roles)
    if refusal is not None:
        raise PermissionDeniedError(f"{principal.email} ({principal.role}) may not {what or action.value}.", refusal)


def _refusal(principal: Principal, action: Action, scope: Scope, roles: frozenset[Role] | None) -> str | None:
    """Why the action is refused, as a hint for the person, or None when it is permitted."""
    allowed = ROLES_FOR_ACTION[action] if roles is None else roles
    if principal.role not in allowed:
        names = ", ".join(sorted(role.value for role in allowed)) or "none"
        return f"It needs one of the roles: {names}; act as such a user with --as EMAIL."
    if principal.role in DEVELOPER_ROLES:
        owner = scope.developer_organisation_id
        if owner is not None and owner != principal.organisation_id:
            return "Developers act only on their own organisation's submissions."
        target = scope.target_organisation_id
        if target is not None and target != principal.organisation_id:
            return "Developer administrators manage only their own organisation's users."
    return None
