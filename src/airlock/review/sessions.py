"""Browser sessions for the web portal: passwords, sign-in with throttling, sessions, CSRF tokens and form
receipts.

Decisions:

* **Passwords** are hashed with scrypt (``hashlib.scrypt``, N=2^14, r=8, p=1: about 50 ms and 16 MiB per
  check) with a per-user salt. At least 12 characters; nothing else is imposed (NIST SP 800-63B).
* **Nobody acts as someone else without break-glass, or unseen.** Whoever knows a user's password acts as
  them, so a password set by anyone but its user is *one-time*: it signs in only to choose one's own (NIST SP
  800-63B 5.1.1.2 for passwords an administrator assigns), and reads nothing. A first one goes to a user who
  has no credentials yet (onboarding): from their developer organisation's administrator, or from an operator
  (the agency's and partners' users, and a developer's first administrator). Replacing the credentials a
  user has (a password they chose or could have, API tokens), or an operator handing a first password to a
  developer whose organisation's administrator could, is a **reset**, a break-glass act with a recorded reason
  (:data:`airlock.access.Action.SET_PASSWORD`). A reset ends the user's sessions and API tokens and is
  reported by ``airlock audit unusual``; at their next sign-in the user is shown who reset it, when and why.
  Whoever sets a first password can use it, which nothing inside Airlock can prevent, so ``audit unusual``
  also reports every content read and self-assignment through an account in the day after it took over a
  password someone else set (first or reset), naming who set it.
* **What a password grants is made while it still holds**: the session of a sign-in and a changed password
  are stored in a transaction that locks the user's row and requires the credentials version the password
  was checked at (:mod:`airlock.review.credentials`), so a reset racing them leaves nothing standing.
* **Every new password** (chosen, handed out or reset) ends every session and every API token of the account:
  whoever learnt or used the old one keeps nothing that outlives it.
* **Every authentication event is an audit entry** (sign-in, failed or not; sign-out; a password set,
  changed or reset; token issue and revoke in :mod:`airlock.review.tokens`), written through
  :meth:`ServiceContext.operation`, which signs no checkpoint over a log changed behind its back: on such a
  log none of these operations happens.
* **Sign-in is throttled** per account and per client address: after 5 failures for an account (or 20 from
  one address) within 15 minutes, further attempts are refused, without checking the password, until the
  oldest failure is 15 minutes old. An attempt is counted *before* its password is checked (as a failure,
  until it turns out right), in a transaction that queues behind every other sign-in's, so attempts made in
  parallel never check more passwords than the limit. A refused attempt checks nothing and is not written
  to the audit log (anyone could fill it so); the failures that led to it are.
* **Sessions** last 12 hours. The cookie holds 256 random bits; the database keeps only their SHA-256, as for
  API tokens. Each session has its own CSRF token, which every form and every htmx request sends back.
* **Form receipts**: a form carries a one-time token; the first submission claims it and records what it
  made, so a second submission of the same form (a double click, a reload) finds that instead of making a
  second submission.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from airlock.access import Action, Credential, OrganisationKind, Principal, Scope, authorize, is_permitted
from airlock.errors import (
    AirlockError,
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    ThrottledError,
)
from airlock.review.context import ServiceContext
from airlock.review.credentials import CredentialsChangedError, replace_credentials, require_version
from airlock.review.directory import find_user, principal_of
from airlock.review.inputs import check_characters, clean_reason, normalise_email, shorten
from airlock.review.models import ApiToken, Deployment, FormReceipt, SignInAttempt, User, WebSession
from airlock.review.tokens import end_tokens_of

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MAX_RESET_REASON_LENGTH = 500
SESSION_LIFETIME = timedelta(hours=12)
THROTTLE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_CLIENT = 20

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
# Checked against when the account does not exist, so that an unknown email costs the same time as a wrong
# password and the response time does not tell who has an account.
_DUMMY_HASH = f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${'00' * 16}${'00' * 64}"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=64)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def password_matches(stored: str, password: str) -> bool:
    scheme, n, r, p, salt, expected = stored.split("$")
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected) // 2
    )
    return hmac.compare_digest(digest.hex(), expected)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    """A new session: the cookie's value is shown this once."""

    principal: Principal
    cookie: str
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SessionUser:
    """The user a session cookie stands for, with the session's CSRF token."""

    principal: Principal
    csrf_token: str
    name: str


@dataclass(frozen=True)
class FormClaim:
    """What claiming a form's token found: ``None`` as ``earlier_result`` means go ahead and make it."""

    earlier_result: str | None


@dataclass(frozen=True)
class PasswordReset:
    """An operator's reset of a user's password, as the user is shown it: who, when and why."""

    by: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class PasswordSet:
    """What setting a password did."""

    email: str
    kind: Literal["set", "change", "reset"]
    """``set``: a first password (handed out, or one's own first); ``change``: one's own replaced; ``reset``:
    an operator replaced the credentials the user had (break-glass)."""
    one_time: bool
    """Someone else set it: it signs in only to choose one's own."""
    sessions_ended: int
    tokens_ended: int

    @property
    def ended(self) -> str:
        """What the new password ended, in words: ``1 session and 2 API tokens``."""
        sessions = f"{self.sessions_ended} session{'' if self.sessions_ended == 1 else 's'}"
        return f"{sessions} and {self.tokens_ended} API token{'' if self.tokens_ended == 1 else 's'}"


class PasswordChoiceRequired(AirlockError):
    """The password was right, but someone else set it: it lets its user choose their own, nothing else."""

    kind = "password_choice_required"

    def __init__(self, reset: PasswordReset | None) -> None:
        super().__init__(
            "This password was set for you by someone else: it signs in only to choose your own.",
            "Type it again with a new password of your own (12 characters or more).",
            field="new_password",
        )
        self.reset = reset
        """The reset that set it, to show the user; None for a first password."""


@dataclass(frozen=True)
class _Checked:
    """An account whose password was just checked and found right."""

    user_id: int
    principal: Principal
    one_time: bool
    reset: PasswordReset | None
    credentials_version: int
    """The version the password was checked at: what the check grants is made only while it still holds."""


class WebSessions:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    # Passwords -------------------------------------------------------------------------------------

    def set_password(
        self, actor: Principal, email: str, password: str, *, break_glass: str | None = None
    ) -> PasswordSet:
        """Set ``email``'s password: one's own; or someone else's, one-time: a first password for a user who has
        no credentials yet (an operator; a developer's administrator in their own organisation, who alone does
        it there once they have credentials of their own), or an operator's reset with ``break_glass`` (the
        reason, shown to the user) where the policy asks for one."""
        address = normalise_email(email)
        _check_new_password(address, password, field="password")
        reason = _reset_reason(break_glass)
        own = address == actor.email
        if not own:
            # The role first, so that someone who may not set others' passwords never learns who exists.
            authorize(actor, Action.SET_PASSWORD, what="set another user's password")
        hashed = hash_password(password)
        with self._context.operation(actor, "user.password.set", f"user:{address}", purpose=reason or "") as session:
            if own:
                user = find_user(session, address)
                return self._store_password(session, actor, user, hashed, own=True, reset_reason=None)
            found = session.scalar(select(User).where(User.email == address))
            # A developer's administrator sets passwords in their own organisation only, and must not learn who
            # exists elsewhere: an unknown user is refused as another organisation's would be.
            authorize(
                actor,
                Action.SET_PASSWORD,
                Scope(target_organisation_id=found.organisation_id if found is not None else _NO_ORGANISATION),
                what="set another user's password",
            )
            user = find_user(session, address) if found is None else found
            scope = Scope(
                target_organisation_id=user.organisation_id,
                target_user_is_onboarded=_has_credentials(session, user),
                target_organisation_onboards_itself=_organisation_onboards_itself(session, user),
            )
            # A new password needs a reason where the policy refuses it without one: it is then a reset.
            is_reset = not is_permitted(actor, Action.SET_PASSWORD, scope)
            authorize(actor, Action.SET_PASSWORD, scope, justification=reason, what=f"set the password of {address}")
            return self._store_password(
                session, actor, user, hashed, own=False, reset_reason=reason if is_reset else None
            )

    def change_password(self, actor: Principal, current: str, new: str, *, client: str) -> PasswordSet:
        """Change one's own password on the web, proving the current one first: a session left open on a
        shared screen must not be enough to take the account over. A wrong current password counts as a
        failed sign-in (and is throttled like one); the change ends every session, this one included, and
        every API token."""
        _check_new_password(actor.email, new, field="password")
        where = _client_key(client)
        checked, attempt = self._check_password(
            actor.email, current, where, actor=actor.email, action="user.password.change"
        )
        if checked is None:
            raise InvalidInputError(
                "The current password is wrong.", "Type the one you signed in with.", field="current_password"
            )
        hashed = hash_password(new)
        try:
            with self._context.operation(actor, "user.password.change", f"user:{actor.email}") as session:
                # A reset that came after the check stands: whoever knew the old password does not replace it.
                require_version(session, checked.user_id, checked.credentials_version, doing="changing it")
                _mark_succeeded(session, attempt)
                user = session.get_one(User, checked.user_id)
                return self._store_password(session, actor, user, hashed, own=True, reset_reason=None)
        except CredentialsChangedError:
            self._record_failure(actor.email, where, actor=actor.email, action="user.password.change", why="changed")
            raise

    def last_reset(self, actor: Principal) -> PasswordReset | None:
        """The last time an operator reset ``actor``'s password, if ever: shown on their account page."""
        with self._context.database.transaction(read_only=True) as session:
            return _reset_of(session.get_one(User, actor.user_id))

    def _store_password(
        self, session: Session, actor: Principal, user: User, hashed: str, *, own: bool, reset_reason: str | None
    ) -> PasswordSet:
        """Replace ``user``'s password inside an audited operation: every session and API token of theirs
        ends, and the audit log records what kind of change it was."""
        now = self._context.clock.now()
        # First: it locks the user's row, so a sign-in racing this either made its session already (ended
        # below) or finds the new version and makes none (:mod:`airlock.review.credentials`).
        replace_credentials(session, user)
        had_password = user.password_hash is not None
        kind: Literal["set", "change", "reset"] = (
            "reset" if reset_reason is not None else "change" if own and had_password else "set"
        )
        sessions_ended = _end_sessions(session, user.id, now)
        tokens_ended = end_tokens_of(session, user.id, now)
        replaced_one_time = user.password_is_one_time
        user.password_hash = hashed
        user.password_is_one_time = not own
        if reset_reason is not None:
            user.password_reset_at, user.password_reset_by, user.password_reset_reason = now, actor.email, reset_reason
        details: dict[str, object] = {
            "one_time": not own,
            "sessions_ended": sessions_ended,
            "tokens_ended": tokens_ended,
        }
        if own and replaced_one_time:
            details["replaced_one_time_password"] = True
        if reset_reason is not None:
            details["break_glass"] = True
        self._context.audit.append(
            session,
            actor=actor.email,
            action=f"user.password.{kind}",
            target=f"user:{user.email}",
            purpose=reset_reason or "",
            details=details,
        )
        return PasswordSet(user.email, kind, not own, sessions_ended, tokens_ended)

    # Sign-in ---------------------------------------------------------------------------------------

    def sign_in(self, email: str, password: str, *, client: str, new_password: str | None = None) -> SignedIn:
        """A new session for the account, if the password is right and sign-in is not throttled.

        A one-time password (set by an operator) signs in only together with ``new_password``, the user's
        own, which replaces it; without one, :class:`PasswordChoiceRequired` says so and carries the reset
        to show the user.
        """
        address = check_characters(email.strip().lower()[:254], "The email address")
        where = _client_key(client)
        if new_password is not None:
            _check_new_password(address, new_password, field="new_password")
            if new_password == password:
                raise InvalidInputError(
                    "The new password is the one you were given.", "Choose one of your own.", field="new_password"
                )
        checked, attempt = self._check_password(address, password, where, actor="airlock", action="session.sign_in")
        if checked is None:
            raise AuthenticationError(
                "The email address or the password is wrong.",
                "Check both and try again; after 5 failures, sign-in is paused for 15 minutes.",
            )
        if checked.one_time and new_password is None:
            # The password was right: it does not count towards throttling.
            with self._context.database.transaction() as session:
                _mark_succeeded(session, attempt)
            raise PasswordChoiceRequired(checked.reset)
        hashed = hash_password(new_password) if checked.one_time and new_password is not None else None
        try:
            return self._open_session(checked, attempt, address, where, hashed)
        except CredentialsChangedError:
            self._record_failure(address, where, actor="airlock", action="session.sign_in", why="changed")
            raise

    def _open_session(
        self, checked: _Checked, attempt: int, address: str, where: str, new_password_hash: str | None
    ) -> SignedIn:
        """The session a right password grants (storing the user's own password first, if they chose one in
        place of a one-time one), made only while the password is still the one that was checked."""
        cookie, csrf_token = secrets.token_hex(32), secrets.token_hex(32)
        principal = checked.principal
        now = self._context.clock.now()
        with self._context.operation(principal, "session.sign_in", f"user:{address}") as session:
            require_version(session, checked.user_id, checked.credentials_version, doing="signing in")
            _mark_succeeded(session, attempt)
            if new_password_hash is not None:
                user = session.get_one(User, checked.user_id)
                self._store_password(session, principal, user, new_password_hash, own=True, reset_reason=None)
            session.add(
                WebSession(
                    secret_hash=_hash(cookie),
                    csrf_token=csrf_token,
                    user_id=checked.user_id,
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
            self._context.audit.append(
                session,
                actor=principal.email,
                action="session.sign_in",
                target=f"user:{address}",
                details={"client": where},
            )
        return SignedIn(principal, cookie, csrf_token, now + SESSION_LIFETIME)

    def _check_password(
        self, email: str, password: str, client: str, *, actor: str, action: str
    ) -> tuple[_Checked | None, int]:
        """Check ``password`` for the account ``email`` under the throttle; returns the account if it was
        right (else None, the failure recorded and audited as ``action`` + ``_failed``) and the attempt's
        record, which the caller marks as succeeded in the transaction that acts on it."""
        now = self._context.clock.now()
        attempt = self._count_attempt(email, client, now)
        with self._context.database.transaction(read_only=True) as session:
            user = session.scalar(select(User).where(User.email == email))
            stored = user.password_hash if user is not None else None
            found = (
                None
                if user is None
                else _Checked(
                    user.id,
                    principal_of(user),
                    user.password_is_one_time,
                    _reset_of(user),
                    user.credentials_version,
                )
            )
        matches = password_matches(stored or _DUMMY_HASH, password) and stored is not None
        if found is None or not matches:
            self._record_failure(email, client, actor=actor, action=action)
            return None, attempt
        return found, attempt

    def _record_failure(
        self, email: str, client: str, *, actor: str, action: str, why: Literal["wrong", "changed"] = "wrong"
    ) -> None:
        """Audit a failed sign-in or password change (``action`` + ``_failed``): a wrong password or unknown
        account, or (``changed``) a right one that was replaced before what it granted was made."""
        details: dict[str, object] = {"client": client}
        if why == "changed":
            details["password_changed_meanwhile"] = True
        with self._context.operation(actor, action, f"user:{email}") as session:
            self._context.audit.append(
                session, actor=actor, action=f"{action}_failed", target=f"user:{email}", details=details
            )

    def _count_attempt(self, email: str, client: str, now: datetime) -> int:
        """Record an attempt for ``email`` from ``client`` as a failure before its password is checked, unless
        the account or the address is throttled (:class:`ThrottledError`); returns the attempt's id.

        Counting first, in a transaction that queues behind every other sign-in's, is what keeps parallel
        attempts within the limit: each one sees the others that came before it, checked or not. An attempt
        whose check never finished (the process died) stays a failure.
        """
        since = now - THROTTLE_WINDOW
        with self._context.database.transaction() as session:
            # SQLite's write transactions queue already (BEGIN IMMEDIATE); on PostgreSQL the deployment's row is
            # the queue: locked here for the milliseconds of the count, never during a password check.
            session.execute(select(Deployment.id).where(Deployment.id == 1).with_for_update())
            for column, value, limit in (
                (SignInAttempt.email, email, MAX_FAILURES_PER_ACCOUNT),
                (SignInAttempt.client, client, MAX_FAILURES_PER_CLIENT),
            ):
                failures, oldest = session.execute(
                    select(func.count(), func.min(SignInAttempt.at)).where(
                        column == value, SignInAttempt.at > since, SignInAttempt.succeeded.is_(False)
                    )
                ).one()
                if failures >= limit:
                    raise ThrottledError(
                        f"Sign-in is paused after {failures} failed attempts in {THROTTLE_WINDOW.seconds // 60} "
                        f"minutes; try again after {oldest + THROTTLE_WINDOW:%H:%M} UTC.",
                        "If you forgot your password, ask your deployment's operator to reset it.",
                    )
            attempt = SignInAttempt(email=email, client=client, at=now, succeeded=False)
            session.add(attempt)
            session.flush()
            return attempt.id

    def authenticate(self, cookie: str) -> SessionUser:
        """The user of an open session; :class:`AuthenticationError` for anything else."""
        refused = AuthenticationError("You are not signed in, or your session has ended.", "Sign in again.")
        if not cookie:
            raise refused
        with self._context.database.transaction(read_only=True) as session:
            found = session.scalar(select(WebSession).where(WebSession.secret_hash == _hash(cookie)))
            if found is None or found.ended_at is not None or found.expires_at <= self._context.clock.now():
                raise refused
            credential = Credential("session", found.id, found.user.credentials_version)
            return SessionUser(principal_of(found.user, credential), found.csrf_token, found.user.name)

    def sign_out(self, cookie: str) -> None:
        """End the session of ``cookie`` (an audited event); nothing for a cookie of no open session."""
        if not cookie:
            return
        with self._context.operation("airlock", "session.sign_out") as session:
            found = session.scalar(select(WebSession).where(WebSession.secret_hash == _hash(cookie)))
            if found is None or found.ended_at is not None:
                return
            found.ended_at = self._context.clock.now()
            email = found.user.email
            self._context.audit.append(session, actor=email, action="session.sign_out", target=f"user:{email}")

    # Form receipts ---------------------------------------------------------------------------------

    @staticmethod
    def new_form_token() -> str:
        return secrets.token_hex(16)

    def claim_form(self, actor: Principal, token: str) -> FormClaim:
        """Claim a form's one-time token before acting on the form (see the module's docstring)."""
        if not 16 <= len(token) <= 64:
            raise InvalidInputError("The form is incomplete.", "Reload the page and fill it in again.")
        found: tuple[int, str | None] | None
        try:
            with self._context.database.transaction() as session:
                receipt = session.scalar(select(FormReceipt).where(FormReceipt.token == token))
                if receipt is None:
                    now = self._context.clock.now()
                    session.add(FormReceipt(token=token, user_id=actor.user_id, created_at=now, result=None))
                    return FormClaim(earlier_result=None)
                found = (receipt.user_id, receipt.result)
        except ConflictError:  # the same form, submitted twice at the same moment: the other one claimed it
            with self._context.database.transaction(read_only=True) as session:
                receipt = session.scalar(select(FormReceipt).where(FormReceipt.token == token))
                found = None if receipt is None else (receipt.user_id, receipt.result)
        if found is None or found[0] != actor.user_id:
            raise InvalidInputError("The form is incomplete.", "Reload the page and fill it in again.")
        if found[1] is None:
            raise ConflictError("This form is already being submitted.", "Wait a moment and reload the page.")
        return FormClaim(earlier_result=found[1])

    def complete_form(self, token: str, result: str) -> None:
        with self._context.database.transaction() as session:
            receipt = session.scalar(select(FormReceipt).where(FormReceipt.token == token))
            if receipt is not None:
                receipt.result = result

    def release_form(self, token: str) -> None:
        """Give a claimed token back (the submission was refused), so the corrected form can be sent again."""
        with self._context.database.transaction() as session:
            receipt = session.scalar(select(FormReceipt).where(FormReceipt.token == token))
            if receipt is not None and receipt.result is None:
                session.delete(receipt)


def _check_new_password(email: str, password: str, *, field: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"A password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters; this one has "
            f"{len(password)}.",
            "A few unrelated words make a long password that is easy to remember.",
            field=field,
        )
    if password.strip().lower() == email:
        raise InvalidInputError(
            "A password must not be the account's email address.", "Choose another one.", field=field
        )
    check_characters(password, "The password", field=field, in_a_name=False)


def _reset_reason(break_glass: str | None) -> str | None:
    """The reason given for a reset, checked; None when none was given (or one that shows nothing)."""
    reason = clean_reason(
        break_glass, "The reason for the reset", field="break_glass", max_length=MAX_RESET_REASON_LENGTH
    )
    return reason or None


def _has_credentials(session: Session, user: User) -> bool:
    """Whether ``user`` has credentials a new password would replace: a password other than a first one
    still unused (one-time and never reset), or any API token, live or not (they have used the system)."""
    first_one_unused = user.password_is_one_time and user.password_reset_at is None
    if user.password_hash is not None and not first_one_unused:
        return True
    return session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id).limit(1)) is not None


_NO_ORGANISATION = 0
"""No organisation has this id: the organisation of a user who does not exist, as the policy is asked it."""


def _organisation_onboards_itself(session: Session, user: User) -> bool:
    """Whether ``user`` belongs to a developer organisation with another administrator who has credentials of
    their own, and so hands out its users' first passwords."""
    if OrganisationKind(user.organisation.kind) is not OrganisationKind.DEVELOPER:
        return False
    colleagues = session.scalars(
        select(User).where(User.organisation_id == user.organisation_id, User.id != user.id).order_by(User.id)
    )
    return any(
        is_permitted(principal_of(colleague), Action.SET_PASSWORD, Scope(target_organisation_id=user.organisation_id))
        and _has_credentials(session, colleague)
        for colleague in colleagues
    )


def _reset_of(user: User) -> PasswordReset | None:
    if user.password_reset_at is None:
        return None
    return PasswordReset(user.password_reset_by or "", user.password_reset_at, user.password_reset_reason or "")


def _end_sessions(session: Session, user_id: int, now: datetime) -> int:
    open_sessions = session.scalars(
        select(WebSession).where(
            WebSession.user_id == user_id, WebSession.ended_at.is_(None), WebSession.expires_at > now
        )
    ).all()
    for open_session in open_sessions:
        open_session.ended_at = now
    return len(open_sessions)


def _mark_succeeded(session: Session, attempt: int) -> None:
    session.get_one(SignInAttempt, attempt).succeeded = True


def _client_key(client: str) -> str:
    """The address a sign-in came from, as the throttle counts it and the audit log records it (the server's
    to say, so written out rather than refused if it holds anything odd)."""
    return shorten(client, 64)[:64] or "unknown"
