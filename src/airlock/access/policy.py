"""The access policy: the one place that answers "may this user do this action on this resource".

Services describe the actor as a :class:`Principal` and the resource as a :class:`Scope` (the facts
about it that matter: whose submission it is, who is assigned to review it, what partners were granted),
and call :func:`authorize` before they act. Nothing else in Airlock decides access.

The rules, in words:

* A role may take an action only if the action lists it (:data:`ROLES_FOR_ACTION`); a review transition
  lists its own roles in the review state machine and passes them in.
* **Developers** act only on their own organisation's submissions, and read all of their content, except
  the review's results (its findings and reports): those reach them with the draft report, once it was
  sent to them (``sent_to_developer``), and stay theirs afterwards. A draft is theirs alone: nobody else
  sees it until it is submitted.
* **Reviewers** act on, see and read only the reviews they are assigned to (need-to-know), and they alone
  are put on a review's team.
  **Lead reviewers** see every review's metadata (they triage submissions and assign reviewers) but read
  content only of reviews they are assigned to; accepting a review assigns them to it.
  Invalidating a sample of an evaluation (a verdict that went wrong for a reason outside the model, left out
  of every figure) is a lead reviewer's decision, on a review they are assigned to; a transcript is read
  with ``VIEW_EVALUATION`` (its verdict is a result) and ``READ_CONTENT`` of ``eval_transcript`` (audited).
* **Trusted partners** see a review only when the developer granted their organisation something on it,
  and then only its state and clock (not its team, timeline or endpoint), and read exactly the content
  kinds granted (:func:`granted_to`).
* **Auditors** see review metadata and the audit trail, never content.
* **The clearinghouse** (vulnerability cases, :mod:`airlock.vulns`): reviewers and lead reviewers are its analysts
  and act on every case (a case is about someone else's software, not a developer's submission, so the review's
  need-to-know does not apply; every read of a proof of concept or a report's details is audited all the same).
  Developers and partners may submit reports. A **vendor's contact** sees only the cases their organisation was
  notified of (not while it is still ``unaware``), reads their proofs of concept (audited) and answers them
  (acknowledged, fixed, not affected). A **partner** sees only the cases shared with their organisation, and reads
  their content only when it was shared with it. Auditors see cases, never their content; operators read it only
  with a break-glass justification.
* **Operators** administer; they read content only with a break-glass justification, which is recorded
  and reported as unusual access, and they see and revoke every user's API tokens. They add the agency's
  and partners' users, but only the first user of a developer organisation (its administrator): after
  that, the developer manages its own people, so an
  operator cannot make themselves a developer account to read content unseen. For the same reason an
  operator hands out only a *first* password: replacing the credentials a user already has is a reset, a
  break-glass act with a recorded reason (:data:`Action.SET_PASSWORD`; see :mod:`airlock.review.sessions`).
  A developer organisation's users get their first password from its administrator (who can hand out only
  that, and only in their organisation); an operator hands one to a developer's user only while the
  organisation has no administrator with credentials of their own (its first one), and otherwise only as a
  reset, with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from airlock.access.roles import DEVELOPER_ROLES, OrganisationKind, Role
from airlock.errors import PermissionDeniedError


@dataclass(frozen=True)
class Credential:
    """What a principal proved who they are with: a session or an API token (its row's id), checked while the
    user's credentials were at ``version``. An operation that grants a credential in turn (an API token) checks
    in its own transaction that this one still holds (:mod:`airlock.review.credentials`)."""

    kind: Literal["session", "token"]
    id: int
    version: int


@dataclass(frozen=True)
class Principal:
    """The user an operation is performed as."""

    user_id: int
    email: str
    role: Role
    organisation_id: int
    organisation_kind: OrganisationKind
    credential: Credential | None = field(default=None, compare=False)
    """How the portal authenticated them; None on the command line, which acts as the user ``--as`` names."""


@dataclass(frozen=True)
class Scope:
    """What the policy needs to know about the resource an action touches."""

    developer_organisation_id: int | None = None
    """The organisation that submitted the model, for anything belonging to a submission."""
    target_organisation_id: int | None = None
    """The organisation being administered, for user management."""
    assigned_user_ids: frozenset[int] = frozenset()
    """Reviewers and lead reviewers assigned to the review."""
    partner_grants: frozenset[tuple[int, str]] = frozenset()
    """(partner organisation id, content kind) pairs the developer granted on the review."""
    content_kind: str | None = None
    """For content actions: which kind of content (``model_card``, ``redacted_report``, ...)."""
    is_draft: bool = False
    """The review has not been submitted yet."""
    target_organisation_kind: OrganisationKind | None = None
    """For user management: the kind of organisation being administered."""
    target_organisation_has_users: bool = False
    """For user management: whether that organisation already has users."""
    content_is_result: bool = False
    """For content actions: the content is a result of the review (a finding, a report), not something its
    developer handed over."""
    sent_to_developer: bool = False
    """The review's draft report was sent to its developer (the review reached ``developer_response``), and
    with it the review's findings."""
    target_user_is_onboarded: bool = False
    """For setting another user's password: whether the user already has credentials (a password that is
    not a first one still unused, or an API token), which a new password would replace: a reset."""
    case_vendor_organisation_ids: frozenset[int] = frozenset()
    """For a clearinghouse case: the vendor organisations that were notified of it (a vendor still unaware is not
    among them)."""
    case_shares: frozenset[tuple[int, bool]] = frozenset()
    """For a clearinghouse case: (partner organisation id, with its content) for each organisation it was shared
    with."""
    target_organisation_onboards_itself: bool = False
    """For setting another user's password: the user belongs to a developer organisation that has an
    administrator with credentials of their own, who hands out its users' first passwords."""


class Action(StrEnum):
    ADD_ORGANISATION = "add an organisation"
    ADD_USER = "add a user"
    LIST_DIRECTORY = "list organisations and users"
    SUBMIT = "submit a model"
    VIEW_REVIEW = "view a review"
    VIEW_REVIEW_DETAILS = "view a review's team, timeline and endpoint"
    READ_CONTENT = "read a submission's confidential content"
    WRITE_CONTENT = "write a submission's confidential content"
    CHANGE_REVIEW_STATE = "change a review's state"
    PAUSE_CLOCK = "pause a review clock"
    RESUME_CLOCK = "resume a review clock"
    EXTEND_CLOCK = "extend a review clock"
    GIVE_CLOCK_CONSENT = "consent to a change of the review clock"
    ASSIGN_REVIEWER = "assign reviewers to a review"
    GRANT_PARTNER = "grant a trusted partner access to a review"
    READ_AUDIT = "read and verify the audit trail"
    MANAGE_KEYS = "rotate the vault's keys"
    RUN_EVALUATION = "run an evaluation of a review's model"
    VIEW_EVALUATION = "see a review's evaluation runs and verdicts"
    INVALIDATE_SAMPLE = "invalidate a sample of a review's evaluation, or reinstate it"
    RECORD_FINDING = "record a finding on a review"
    VIEW_FINDINGS = "see a review's findings"
    RESPOND_TO_FINDING = "answer a review's findings"
    BUILD_REPORT = "build a review's report"
    JOIN_REVIEW_TEAM = "be assigned to a review's team"
    MANAGE_ALL_TOKENS = "see and revoke every user's API tokens"
    SET_PASSWORD = "set another user's password"  # noqa: S105 (an action's name, not a password)
    SUBMIT_VULNERABILITY = "report a vulnerability to the clearinghouse"
    IMPORT_VULNERABILITIES = "import a bulk file of vulnerability reports"
    VIEW_CASE = "see a vulnerability case"
    READ_CASE_CONTENT = "read a vulnerability case's proofs of concept and details"
    MANAGE_CASE = "reproduce, score, coordinate and disclose a vulnerability case"
    ANSWER_CASE = "record a vendor's answer to a vulnerability case"
    PUBLISH_ADVISORY = "publish a vulnerability case's advisory"
    MANAGE_PROGRAMS = "register the builds the clearinghouse reproduces reports against"
    SEND_REMINDERS = "prepare the clearinghouse's reminders of disclosure deadlines"


_REVIEWERS = frozenset({Role.REVIEWER, Role.LEAD_REVIEWER})
_AGENCY_STAFF = _REVIEWERS | {Role.AUDITOR, Role.OPERATOR}

ROLES_FOR_ACTION: dict[Action, frozenset[Role]] = {
    Action.ADD_ORGANISATION: frozenset({Role.OPERATOR}),
    Action.ADD_USER: frozenset({Role.OPERATOR, Role.DEVELOPER_ADMIN}),
    Action.LIST_DIRECTORY: _AGENCY_STAFF,
    Action.SUBMIT: DEVELOPER_ROLES,
    Action.VIEW_REVIEW: DEVELOPER_ROLES | _AGENCY_STAFF | {Role.PARTNER},
    Action.VIEW_REVIEW_DETAILS: DEVELOPER_ROLES | _AGENCY_STAFF,
    Action.READ_CONTENT: DEVELOPER_ROLES | _REVIEWERS | {Role.PARTNER, Role.OPERATOR},
    Action.WRITE_CONTENT: DEVELOPER_ROLES | _REVIEWERS,
    # CHANGE_REVIEW_STATE has no default: each transition names its roles.
    Action.CHANGE_REVIEW_STATE: frozenset(),
    Action.PAUSE_CLOCK: _REVIEWERS | {Role.DEVELOPER_ADMIN},
    Action.RESUME_CLOCK: _REVIEWERS | {Role.DEVELOPER_ADMIN},
    Action.EXTEND_CLOCK: _REVIEWERS | {Role.DEVELOPER_ADMIN},
    Action.GIVE_CLOCK_CONSENT: frozenset({Role.DEVELOPER_ADMIN}),
    Action.ASSIGN_REVIEWER: frozenset({Role.LEAD_REVIEWER}),
    Action.GRANT_PARTNER: frozenset({Role.DEVELOPER_ADMIN}),
    Action.READ_AUDIT: frozenset({Role.AUDITOR, Role.OPERATOR}),
    Action.MANAGE_KEYS: frozenset({Role.OPERATOR}),
    Action.RUN_EVALUATION: _REVIEWERS,
    Action.VIEW_EVALUATION: _REVIEWERS,
    Action.INVALIDATE_SAMPLE: frozenset({Role.LEAD_REVIEWER}),
    Action.RECORD_FINDING: _REVIEWERS,
    Action.VIEW_FINDINGS: DEVELOPER_ROLES | _REVIEWERS,
    Action.RESPOND_TO_FINDING: DEVELOPER_ROLES,
    Action.BUILD_REPORT: _REVIEWERS,
    Action.JOIN_REVIEW_TEAM: _REVIEWERS,
    Action.MANAGE_ALL_TOKENS: frozenset({Role.OPERATOR}),
    # Everyone sets their own password; an operator sets someone else's, a developer's administrator the first
    # password of their own organisation's users.
    Action.SET_PASSWORD: frozenset({Role.OPERATOR, Role.DEVELOPER_ADMIN}),
    Action.SUBMIT_VULNERABILITY: _REVIEWERS | DEVELOPER_ROLES | {Role.PARTNER},
    Action.IMPORT_VULNERABILITIES: _REVIEWERS,
    Action.VIEW_CASE: _AGENCY_STAFF | {Role.PARTNER, Role.VENDOR_CONTACT},
    Action.READ_CASE_CONTENT: _REVIEWERS | {Role.PARTNER, Role.VENDOR_CONTACT, Role.OPERATOR},
    Action.MANAGE_CASE: _REVIEWERS,
    Action.ANSWER_CASE: _REVIEWERS | {Role.VENDOR_CONTACT},
    Action.PUBLISH_ADVISORY: frozenset({Role.LEAD_REVIEWER}),
    # Registering a build and the daily reminders read no report's content: an operator's housekeeping as well.
    Action.MANAGE_PROGRAMS: _REVIEWERS | {Role.OPERATOR},
    Action.SEND_REMINDERS: _REVIEWERS | {Role.OPERATOR},
}

_CASE_ACTIONS = frozenset({Action.VIEW_CASE, Action.READ_CASE_CONTENT, Action.ANSWER_CASE})
"""What a vendor's contact or a partner may do on a case, within what the case gives their organisation."""

# Actions on a review for which a reviewer (but not a lead reviewer) must be assigned to it.
_NEED_TO_KNOW_FOR_REVIEWERS = frozenset(
    {
        Action.VIEW_REVIEW,
        Action.VIEW_REVIEW_DETAILS,
        Action.WRITE_CONTENT,
        Action.CHANGE_REVIEW_STATE,
        Action.PAUSE_CLOCK,
        Action.RESUME_CLOCK,
        Action.EXTEND_CLOCK,
    }
)

# Actions for which even a lead reviewer must be assigned: they touch the submission's content (an
# evaluation reads the endpoint's credentials and writes transcripts; its verdicts are results).
_NEED_TO_KNOW_FOR_ALL_REVIEWERS = frozenset(
    {
        Action.READ_CONTENT,
        Action.RUN_EVALUATION,
        Action.VIEW_EVALUATION,
        Action.INVALIDATE_SAMPLE,
        Action.RECORD_FINDING,
        Action.VIEW_FINDINGS,
        Action.BUILD_REPORT,
    }
)


def is_permitted(
    principal: Principal,
    action: Action,
    scope: Scope = Scope(),
    *,
    roles: frozenset[Role] | None = None,
    justification: str | None = None,
) -> bool:
    """Whether ``principal`` may take ``action`` on the resource described by ``scope``.

    ``roles`` replaces the action's default roles (the state machine passes a transition's roles);
    ``justification`` is an operator's break-glass reason for reading content.
    """
    return refusal(principal, action, scope, roles=roles, justification=justification) is None


def authorize(
    principal: Principal,
    action: Action,
    scope: Scope = Scope(),
    *,
    roles: frozenset[Role] | None = None,
    justification: str | None = None,
    what: str | None = None,
) -> None:
    """Raise :class:`PermissionDeniedError` unless ``principal`` may take ``action``.

    ``what`` names the concrete operation for the message (``"accept review R-7Q2M4KX"``).
    """
    reason = refusal(principal, action, scope, roles=roles, justification=justification)
    if reason is not None:
        raise PermissionDeniedError(f"{principal.email} ({principal.role}) may not {what or action.value}.", reason)


def refusal(
    principal: Principal,
    action: Action,
    scope: Scope,
    *,
    roles: frozenset[Role] | None = None,
    justification: str | None = None,
) -> str | None:
    """Why the action is refused, as a hint for the person, or None when it is permitted."""
    allowed = ROLES_FOR_ACTION[action] if roles is None else roles
    role = principal.role
    if role not in allowed:
        names = ", ".join(sorted(allowed)) or "none"
        return f"It needs one of the roles: {names}; act as a user who has one."
    if role in DEVELOPER_ROLES:
        return _developer_refusal(principal, action, scope)
    if action in _CASE_ACTIONS and role in (Role.VENDOR_CONTACT, Role.PARTNER):
        return _case_refusal(principal, action, scope)
    if scope.is_draft:
        return "A draft is visible to its developer only, until it is submitted."
    if (
        action is Action.ADD_USER
        and scope.target_organisation_kind is OrganisationKind.DEVELOPER
        and scope.target_organisation_has_users
    ):
        return "A developer organisation manages its own users; its developer_admin adds them."
    needs_assignment = (role is Role.REVIEWER and action in _NEED_TO_KNOW_FOR_REVIEWERS) or (
        role in {Role.REVIEWER, Role.LEAD_REVIEWER} and action in _NEED_TO_KNOW_FOR_ALL_REVIEWERS
    )
    if needs_assignment and principal.user_id not in scope.assigned_user_ids:
        return "Only reviewers assigned to the review may; a lead reviewer assigns them."
    if role is Role.PARTNER:
        granted = granted_to(principal, scope)
        if action is Action.VIEW_REVIEW and not granted:
            return "Partners see only reviews on which the developer granted them access."
        if action is Action.READ_CONTENT and scope.content_kind not in granted:
            return f"The developer has not granted {scope.content_kind} to your organisation."
    reads_content = action in (Action.READ_CONTENT, Action.READ_CASE_CONTENT)
    if role is Role.OPERATOR and reads_content and not (justification or "").strip():
        return "Operators read content only in an emergency, with a recorded justification (--break-glass REASON)."
    if action is Action.SET_PASSWORD and not (justification or "").strip():
        # Whoever knows a user's password acts as them: replacing one is break-glass, like reading content.
        if scope.target_user_is_onboarded:
            return (
                "The user already has credentials of their own, so a new password is a reset: a break-glass act "
                "that needs a recorded reason, which the user is shown (--break-glass REASON)."
            )
        if scope.target_organisation_onboards_itself:
            return (
                "The first passwords of a developer organisation's users come from its developer_admin; an "
                "operator's is a reset: a break-glass act that needs a recorded reason (--break-glass REASON)."
            )
    return None


def _developer_refusal(principal: Principal, action: Action, scope: Scope) -> str | None:
    owner = scope.developer_organisation_id
    if owner is not None and owner != principal.organisation_id:
        return "Developers act only on their own organisation's submissions."
    target = scope.target_organisation_id
    if target is not None and target != principal.organisation_id:
        return "Developer administrators manage only their own organisation's users."
    if action is Action.SET_PASSWORD and scope.target_user_is_onboarded:
        return (
            "The user already has credentials of their own: a new password for them is a reset, an operator's "
            "break-glass act."
        )
    reads_results = action is Action.VIEW_FINDINGS or (action is Action.READ_CONTENT and scope.content_is_result)
    if reads_results and not scope.sent_to_developer:
        return (
            "The review's findings and report are not yet sent to the developer: they are shared with the draft "
            "report, when the lead reviewer moves the review to developer_response."
        )
    return None


def _case_refusal(principal: Principal, action: Action, scope: Scope) -> str | None:
    organisation = principal.organisation_id
    if principal.role is Role.VENDOR_CONTACT:
        if organisation not in scope.case_vendor_organisation_ids:
            return "A vendor's contacts see only the cases their organisation was notified of."
        return None
    shares = dict(scope.case_shares)
    if organisation not in shares:
        return "Partners see only the cases the clearinghouse shared with their organisation."
    if action is Action.ANSWER_CASE:
        return "Only the case's vendors answer it."
    if action is Action.READ_CASE_CONTENT and not shares[organisation]:
        return "The case was shared with your organisation without its proofs of concept and details."
    return None


@dataclass(frozen=True)
class CaseVisibility:
    """The cases :data:`Action.VIEW_CASE` lets a principal see, as conditions a query filters on (as
    :class:`ReviewVisibility` for reviews)."""

    none: bool = False
    vendor_organisation_id: int | None = None
    """Only cases this vendor organisation was notified of."""
    shared_with_organisation_id: int | None = None
    """Only cases shared with this partner organisation."""


def case_visibility(principal: Principal) -> CaseVisibility:
    """:data:`Action.VIEW_CASE` for every case at once (a test checks it against :func:`refusal`)."""
    role = principal.role
    if role not in ROLES_FOR_ACTION[Action.VIEW_CASE]:
        return CaseVisibility(none=True)
    if role is Role.VENDOR_CONTACT:
        return CaseVisibility(vendor_organisation_id=principal.organisation_id)
    if role is Role.PARTNER:
        return CaseVisibility(shared_with_organisation_id=principal.organisation_id)
    return CaseVisibility()


def granted_to(principal: Principal, scope: Scope) -> frozenset[str]:
    """The content kinds the developer granted ``principal``'s organisation on the review (a partner's)."""
    return frozenset(kind for organisation, kind in scope.partner_grants if organisation == principal.organisation_id)


def acts_for_own_organisation_only(principal: Principal) -> bool:
    """Whether everything ``principal`` may do is confined to their own organisation: a developer's users act
    only on their own organisation's submissions and people (what a page says beside such a form)."""
    return principal.role in DEVELOPER_ROLES


@dataclass(frozen=True)
class ReviewVisibility:
    """The reviews :data:`Action.VIEW_REVIEW` lets a principal see, as conditions a query filters on: a list
    is read a page at a time, so it cannot ask the policy review by review first (it still does, for each
    review it returns). A review is visible when it meets every condition that is set."""

    none: bool = False
    """No review at all."""
    drafts: bool = False
    """Drafts too (a developer's own); otherwise only submitted reviews."""
    organisation_id: int | None = None
    """Only reviews of this developer organisation's submissions."""
    assigned_user_id: int | None = None
    """Only reviews this user is assigned to."""
    granted_organisation_id: int | None = None
    """Only reviews on which the developer granted this organisation something."""


def review_visibility(principal: Principal) -> ReviewVisibility:
    """:data:`Action.VIEW_REVIEW` for every review at once (a test checks it against :func:`refusal`)."""
    role = principal.role
    if role not in ROLES_FOR_ACTION[Action.VIEW_REVIEW]:
        return ReviewVisibility(none=True)
    if role in DEVELOPER_ROLES:
        return ReviewVisibility(drafts=True, organisation_id=principal.organisation_id)
    if role is Role.REVIEWER:
        return ReviewVisibility(assigned_user_id=principal.user_id)
    if role is Role.PARTNER:
        return ReviewVisibility(granted_organisation_id=principal.organisation_id)
    return ReviewVisibility()
